"""Policy pages (政策匹配): a founder's policies for their startups and their own profile, with
applications; for programme staff, each policy's eligible-but-not-applied list (免申即享)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import MatcherServiceDep, RepositoryDep
from api.errors import ApiError
from api.matcher_service import MatcherService
from api.policies import (
    ApplicationCreate,
    EligibleProfile,
    ExportFormat,
    apply_for,
    eligible_not_applied,
    export_eligible,
    policies_for_profile,
)
from api.web.deps import FormDep, Role, WebUser, page_of, render
from api.web.forms import _marker
from api.web.i18n import gettext_for
from api.web.staff import STATUS_NAMES
from matcher.policies import PolicyCheck, eligible_ids, today_in_wuhan
from models.enums import AccountRole, EntityKind
from models.policies import POLICY_ID, Policy, PolicyRegistry, PolicySet
from models.policy_applications import (
    Applicant,
    ApplicationConflictError,
    ApplicationStatus,
    applicant_ids,
    applications_of,
    status_counts,
)
from models.tables import Person, PolicyApplication, Startup

router = APIRouter(include_in_schema=False)
Founder = Annotated[WebUser, Depends(Role(AccountRole.founder))]
Staff = Annotated[WebUser, Depends(Role())]  # admin only
PolicyIdPath = Annotated[str, Path(pattern=POLICY_ID, max_length=64)]
# The founder's profiles that policies are written for: their startups and themselves.
APPLICANT_KINDS = (EntityKind.startup, EntityKind.person)
KIND_LABELS = {EntityKind.startup: _marker("Startup"), EntityKind.person: _marker("You, as a person")}


def _registry(request: Request) -> PolicySet:
    registry: PolicyRegistry = request.app.state.policies
    return registry.current()


def _policy(policies: PolicySet, policy_id: str) -> Policy:
    try:
        return policies.get(policy_id)
    except LookupError as error:
        raise ApiError(status.HTTP_404_NOT_FOUND, str(error), field="path.policy_id") from None


# --- the founder's policies ----------------------------------------------------------------


@dataclass(frozen=True)
class ProfileSection:
    """One of the founder's profiles: its eligible and almost-eligible policies, its applications."""

    kind: EntityKind
    id: int
    name: str
    eligible: list[PolicyCheck]
    almost: list[PolicyCheck]
    applications: dict[str, PolicyApplication]


def _my_profiles(session: Session, user: WebUser) -> list[tuple[EntityKind, int, str]]:
    found: list[tuple[EntityKind, int, str]] = []
    for kind, table in ((EntityKind.startup, Startup), (EntityKind.person, Person)):
        ids = sorted(row_id for owned_kind, row_id in user.principal.owned if owned_kind is kind)
        if ids:
            rows = session.execute(select(table.id, table.name).where(table.id.in_(ids)).order_by(table.id))
            found += [(kind, int(row_id), str(name)) for row_id, name in rows]
    return found


def _sections(
    session: Session, service: MatcherService, policies: PolicySet, user: WebUser
) -> list[ProfileSection]:
    today = today_in_wuhan()
    sections = []
    for kind, row_id, name in _my_profiles(session, user):
        try:
            with service.reading() as matcher:
                checks = policies_for_profile(policies, matcher.catalog_, kind, row_id, today=today)
        except LookupError:  # hidden from matching (not yet verified, or withdrawn)
            checks = []
        latest = {a.policy_id: a for a in applications_of(session, Applicant(kind, row_id))}
        sections.append(
            ProfileSection(
                kind=kind,
                id=row_id,
                name=name,
                eligible=[c for c in checks if c.status == "eligible"],
                almost=[c for c in checks if c.status == "almost"],
                applications=latest,
            )
        )
    return sections


def _founder_page(
    request: Request,
    user: WebUser,
    repository: RepositoryDep,
    service: MatcherService,
    *,
    message: str = "",
    refusal: PolicyCheck | None = None,
    code: int = 200,
) -> Response:
    policies = _registry(request)
    sections = _sections(repository.session, service, policies, user)
    context = {
        "user": user,
        "sections": sections,
        "titles": {policy_id: policy.title for policy_id, policy in policies.policies.items()},
        "status_names": STATUS_NAMES,
        "kind_labels": KIND_LABELS,
        "message": message,
        "refusal": refusal,
        "applied": request.query_params.get("applied", ""),
    }
    return render(request, "founder_policies.html", context, status_code=code)


@router.get("/founder/policies")
async def founder_policies(
    request: Request, user: Founder, repository: RepositoryDep, service: MatcherServiceDep
) -> Response:
    return _founder_page(request, user, repository, service)


@router.post("/founder/policies/{policy_id}/apply")
async def apply(
    request: Request,
    user: Founder,
    form: FormDep,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    policy_id: PolicyIdPath,
) -> Response:
    """The API's application: for a profile of the founder's, checked against the policy's
    current version; a refusal names the unmet criteria on the page and writes nothing."""
    kind_text, id_text = str(form.get("applicant_kind") or ""), str(form.get("applicant_id") or "")
    kinds = {k.value: k for k in APPLICANT_KINDS}
    if kind_text not in kinds or not id_text.isdigit():
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "applicant_kind and applicant_id name one of your profiles",
            field="applicant_id",
        )
    kind, row_id = kinds[kind_text], int(id_text)
    if not user.principal.owns(kind, row_id) or user.principal.is_admin:
        # Staff own no profile: applying is the applicant's act, never staff's on their behalf.
        raise ApiError(status.HTTP_404_NOT_FOUND, f"no {kind.value} {row_id} of yours", field="applicant_id")
    policies = _registry(request)
    _policy(policies, policy_id)
    gettext = gettext_for(request.state.web_session.language)
    session = repository.session
    try:
        with service.reading() as matcher:
            check, application = apply_for(
                policies,
                matcher.catalog_,
                session,
                policy_id,
                ApplicationCreate(applicant_kind=kind, applicant_id=row_id),
                account_id=user.principal.account_id,
            )
    except ApplicationConflictError:
        session.rollback()
        message = gettext("This profile has already applied for this policy; its status is below.")
        return _founder_page(request, user, repository, service, message=message, code=409)
    except LookupError:
        message = gettext("This profile is not yet visible to matching, so its policies cannot be checked.")
        return _founder_page(request, user, repository, service, message=message, code=409)
    except ValueError as error:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), field="applicant_kind") from None
    if application is None:
        message = gettext("Not eligible yet: these criteria are not met.")
        return _founder_page(request, user, repository, service, message=message, refusal=check, code=409)
    session.commit()
    return RedirectResponse(f"/founder/policies?applied={policy_id}", status.HTTP_303_SEE_OTHER)


# --- staff: who is eligible and has not applied ---------------------------------------------


@dataclass(frozen=True)
class PolicyRow:
    policy: Policy
    eligible_not_applied: int
    applications: dict[str, int]


def _index_rows(session: Session, service: MatcherService, policies: PolicySet) -> list[PolicyRow]:
    counts = status_counts(session)
    today = today_in_wuhan()
    rows = []
    with service.reading() as matcher:
        for policy in sorted(policies.policies.values(), key=lambda p: p.id):
            applied = applicant_ids(session, policy.id, policy.audience)
            waiting = len(eligible_ids(policy, matcher.catalog_, today, exclude=applied))
            by_status = {s.value: counts.get((policy.id, s.value), 0) for s in ApplicationStatus}
            rows.append(PolicyRow(policy, waiting, by_status))
    return rows


@router.get("/staff/policies")
async def staff_policies(
    request: Request, user: Staff, repository: RepositoryDep, service: MatcherServiceDep
) -> Response:
    rows = _index_rows(repository.session, service, _registry(request))
    context = {"user": user, "rows": rows, "status_names": STATUS_NAMES}
    return render(request, "staff_policies.html", context)


def _waiting(session: Session, service: MatcherService, policy: Policy, q: str) -> list[EligibleProfile]:
    with service.reading() as matcher:
        profiles = eligible_not_applied(policy, matcher.catalog_, session)
    needle = q.casefold()
    return [p for p in profiles if needle in p.name.casefold() or needle in p.external_id.casefold()]


@router.get("/staff/policies/{policy_id}")
async def staff_policy(
    request: Request,
    user: Staff,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    policy_id: PolicyIdPath,
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    policy = _policy(_registry(request), policy_id)
    profiles = _waiting(repository.session, service, policy, q)
    paging = page_of(len(profiles), page)
    counts = status_counts(repository.session)
    context = {
        "user": user,
        "policy": policy,
        "profiles": profiles[paging["offset"] : paging["offset"] + paging["size"]],
        "p": paging,
        "q": q,
        "applications": {s.value: counts.get((policy.id, s.value), 0) for s in ApplicationStatus},
        "status_names": STATUS_NAMES,
        "checked_on": today_in_wuhan(),
    }
    return render(request, "staff_policy.html", context)


@router.get("/staff/policies/{policy_id}/eligible.{fmt}")
async def staff_policy_export(
    request: Request,
    user: Staff,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    policy_id: PolicyIdPath,
    fmt: Annotated[Literal["csv", "xlsx"], Path()],
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The list as shown (the search applied), for a spreadsheet."""
    policy = _policy(_registry(request), policy_id)
    profiles = _waiting(repository.session, service, policy, q)
    chosen: ExportFormat = fmt
    content, media = export_eligible(profiles, chosen)
    disposition = f'attachment; filename="{policy.id}-eligible.{fmt}"'
    return Response(content, media_type=media, headers={"Content-Disposition": disposition})
