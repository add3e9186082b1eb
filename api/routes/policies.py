"""Policy matching (政策匹配): the plan's policies, a profile's policies, who is eligible but has
not applied (免申即享), and applications with their status trail."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import MatcherServiceDep, SessionDep
from api.errors import ApiError, ErrorBody
from api.ids import RowId
from api.policies import (
    ApplicationCreate,
    ApplicationPublic,
    DecisionCreate,
    EligiblePage,
    ExportFormat,
    PolicyPublic,
    ProfilePolicies,
    apply_for,
    check_public,
    eligible_not_applied,
    export_eligible,
    policies_for_profile,
    policy_public,
    unmet_message,
)
from api.security import KIND_POLICIES, Authenticated, Authorized, OwnProfile, Principal
from matcher.policies import today_in_wuhan
from models.db import SQL_INTEGER_MAX
from models.enums import AccountRole, EntityKind
from models.kinds import KIND_OF_ENTITY
from models.policies import POLICY_ID, Policy, PolicyLoadError, PolicyRegistry, PolicySet, write_policy
from models.policy_applications import ApplicationConflictError, ApplicationStatus, decide
from models.policy_fields import PROFILE_FIELDS
from models.tables import PROFILE_TABLES, PolicyApplication

MAX_PAGE = 1000
CONFLICT: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "model": ErrorBody,
        "description": "Not eligible, or not allowed in this state.",
    }
}

router = APIRouter(tags=["policies"], dependencies=[Authenticated])

Anyone = Annotated[Principal, Depends(Authorized(*AccountRole))]
Staff = Annotated[Principal, Depends(Authorized())]
PolicyIdPath = Annotated[str, Path(pattern=POLICY_ID, max_length=64, description="The policy's id.")]


def get_registry(request: Request) -> PolicyRegistry:
    registry: PolicyRegistry = request.app.state.policies
    return registry


RegistryDep = Annotated[PolicyRegistry, Depends(get_registry)]


def _policy(policies: PolicySet, policy_id: str) -> Policy:
    try:
        return policies.get(policy_id)
    except LookupError as error:
        raise ApiError(status.HTTP_404_NOT_FOUND, str(error), field="path.policy_id") from None


class PolicyList(BaseModel):
    items: list[PolicyPublic]
    load_error: str | None = Field(
        default=None,
        description="For staff: why the latest edit was refused (the set before it keeps serving).",
    )


@router.get("/v1/policies", response_model=PolicyList, summary="The plan's policies")
def list_policies(principal: Anyone, registry: RegistryDep, audience: EntityKind | None = None) -> Any:
    """Every policy in force, with its section of the plan, issuing units, benefits and criteria."""
    policies = registry.current().policies.values()
    items = [policy_public(p) for p in sorted(policies, key=lambda p: p.id) if audience in (None, p.audience)]
    # The refusal names server paths: staff's business only.
    error = registry.last_error if principal.is_admin else None
    return PolicyList(items=items, load_error=str(error) if error is not None else None)


@router.get("/v1/policies/{policy_id}", response_model=PolicyPublic, summary="One policy")
def get_policy(_anyone: Anyone, registry: RegistryDep, policy_id: PolicyIdPath) -> Any:
    return policy_public(_policy(registry.current(), policy_id))


class PolicyFileBody(BaseModel):
    toml: str = Field(min_length=1, max_length=200_000, description="The policy's file, as TOML.")


@router.put(
    "/v1/policies/{policy_id}",
    response_model=PolicyPublic,
    summary="Import or edit a policy (programme staff)",
)
def put_policy(
    staff: Staff, request: Request, registry: RegistryDep, policy_id: PolicyIdPath, body: PolicyFileBody
) -> Any:
    """Validated as at load, then stored in the database, where it adds to or replaces the
    shipped set on every host. A refused file changes nothing: 422 naming the line and the field."""
    try:
        policy = write_policy(
            request.app.state.session_factory,
            body.toml,
            author=f"account {staff.account_id}",
            expected_id=policy_id,
        )
    except PolicyLoadError as error:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), field=f"body.toml.{error.field}"
        ) from None
    registry.reload()
    return policy_public(registry.current().get(policy.id))


@router.get("/v1/policies/{policy_id}/file", summary="A policy's file (programme staff)")
def get_policy_file(_staff: Staff, registry: RegistryDep, policy_id: PolicyIdPath) -> Response:
    return Response(_policy(registry.current(), policy_id).text, media_type="application/toml; charset=utf-8")


@router.get(
    "/v1/policies/{policy_id}/eligible",
    response_model=EligiblePage,
    summary="Eligible but not applied (免申即享, programme staff)",
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
async def eligible(
    _staff: Staff,
    registry: RegistryDep,
    service: MatcherServiceDep,
    session: SessionDep,
    policy_id: PolicyIdPath,
    format: Annotated[
        ExportFormat | None, Query(description="csv or xlsx to download the whole list.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=SQL_INTEGER_MAX)] = 0,
) -> Any:
    """Every visible profile that meets the policy's criteria today and has not applied."""
    policy = _policy(registry.current(), policy_id)

    def listed() -> Any:
        with service.reading() as matcher:
            return eligible_not_applied(policy, matcher.catalog_, session)

    profiles = await run_in_threadpool(listed)
    if format is not None:
        content, media = export_eligible(profiles, format)
        extension = "xlsx" if media.startswith("application/vnd") else "csv"
        disposition = f'attachment; filename="{policy.id}-eligible.{extension}"'
        return Response(content, media_type=media, headers={"Content-Disposition": disposition})
    return EligiblePage(
        policy_id=policy.id,
        policy_version=policy.version,
        checked_on=today_in_wuhan(),
        total=len(profiles),
        items=profiles[offset : offset + limit],
    )


@router.post(
    "/v1/policies/{policy_id}/applications",
    response_model=ApplicationPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Apply for a policy",
    responses=CONFLICT,
)
def create_application(
    principal: Anyone,
    registry: RegistryDep,
    service: MatcherServiceDep,
    session: SessionDep,
    policy_id: PolicyIdPath,
    body: ApplicationCreate,
) -> Any:
    """For a profile of yours. Checked against the policy's current version (named in the
    answer); 409 naming the unmet criteria when the profile is not eligible."""
    _refuse_unless_theirs(principal, session, body.applicant_kind, body.applicant_id)
    policies = registry.current()
    _policy(policies, policy_id)
    try:
        with service.reading() as matcher:
            check, application = apply_for(
                policies, matcher.catalog_, session, policy_id, body, account_id=principal.account_id
            )
    except LookupError as error:
        raise ApiError(status.HTTP_404_NOT_FOUND, str(error), field="body.applicant_id") from None
    except ValueError as error:
        field, _, reason = str(error).partition(": ")
        if isinstance(error, ApplicationConflictError):
            raise ApiError(status.HTTP_409_CONFLICT, str(error), field="body.applicant_id") from None
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, reason, field=f"body.{field}") from None
    if application is None:
        raise ApiError(
            status.HTTP_409_CONFLICT,
            unmet_message(check),
            code="not_eligible",
            field=f"policy.{check.unmet[0].path}",
        )
    public = ApplicationPublic.model_validate(application)
    session.commit()
    return public


def _refuse_unless_theirs(principal: Principal, session: Any, kind: EntityKind, row_id: int) -> None:
    if principal.owns(kind, row_id):
        return
    spec = KIND_OF_ENTITY[kind]
    row = session.get(PROFILE_TABLES[kind], row_id)
    if row is not None and KIND_POLICIES[spec.slug].readable(principal, spec, row):
        raise ApiError(
            status.HTTP_403_FORBIDDEN, f"{spec.slug} {row_id} is not yours", field="body.applicant_id"
        )
    raise ApiError(status.HTTP_404_NOT_FOUND, f"no {spec.slug} with id {row_id}", field="body.applicant_id")


@router.get(
    "/v1/policies/{policy_id}/applications",
    response_model=list[ApplicationPublic],
    summary="Applications for a policy (programme staff)",
)
def list_applications(
    _staff: Staff,
    registry: RegistryDep,
    session: SessionDep,
    policy_id: PolicyIdPath,
    status_filter: Annotated[ApplicationStatus | None, Query(alias="status")] = None,
) -> Any:
    _policy(registry.current(), policy_id)
    query = select(PolicyApplication).where(PolicyApplication.policy_id == policy_id)
    if status_filter is not None:
        query = query.where(PolicyApplication.status == status_filter.value)
    return [
        ApplicationPublic.model_validate(a) for a in session.scalars(query.order_by(PolicyApplication.id))
    ]


def _application(principal: Principal, session: Any, row_id: int) -> PolicyApplication:
    application = session.get(PolicyApplication, row_id)
    if application is None or not principal.owns(application.applicant_kind, application.applicant_id):
        raise ApiError(
            status.HTTP_404_NOT_FOUND, f"no policy application with id {row_id}", field="path.row_id"
        )
    return application  # type: ignore[no-any-return]


@router.get(
    "/v1/policy-applications/{row_id}",
    response_model=ApplicationPublic,
    summary="An application and its trail",
)
def get_application(principal: Anyone, session: SessionDep, row_id: RowId) -> Any:
    """The applicant's owner or staff; anyone else gets 404."""
    return ApplicationPublic.model_validate(_application(principal, session, row_id))


@router.post(
    "/v1/policy-applications/{row_id}/decisions",
    response_model=ApplicationPublic,
    summary="Move an application on (programme staff)",
    responses=CONFLICT,
)
def decide_application(principal: Staff, session: SessionDep, row_id: RowId, body: DecisionCreate) -> Any:
    """submitted → under_review → granted / refused; a refusal states its reason."""
    application = _application(principal, session, row_id)
    try:
        decide(
            session,
            application,
            ApplicationStatus(body.status),
            reason=body.reason,
            account_id=principal.account_id,
        )
    except ApplicationConflictError as error:
        raise ApiError(status.HTTP_409_CONFLICT, str(error), field="body.status") from None
    except ValueError as error:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, str(error).partition(": ")[2], field="body.reason"
        ) from None
    public = ApplicationPublic.model_validate(application)
    session.commit()
    return public


def _add_profile_route(kind: EntityKind) -> None:
    spec = KIND_OF_ENTITY[kind]
    owner: Any = Annotated[Principal, Depends(OwnProfile(kind, *KIND_POLICIES[spec.slug].owners))]

    @router.get(
        f"/v1/{spec.slug}/{{row_id}}/policies",
        response_model=ProfilePolicies,
        summary=f"Policies for one of {spec.slug}",
    )
    def profile_policies(
        _owner: owner, registry: RegistryDep, service: MatcherServiceDep, row_id: RowId
    ) -> Any:
        """Every policy for this kind of profile: eligible (each criterion met, best value first),
        almost eligible (the one or two unmet criteria and what would change them), not eligible."""
        today = today_in_wuhan()
        try:
            with service.reading() as matcher:
                checks = policies_for_profile(registry.current(), matcher.catalog_, kind, row_id, today=today)
        except LookupError as error:
            raise ApiError(status.HTTP_404_NOT_FOUND, str(error), field="path.row_id") from None
        return ProfilePolicies(
            kind=kind, id=row_id, checked_on=today, items=[check_public(c) for c in checks]
        )


for _kind in PROFILE_FIELDS:
    _add_profile_route(_kind)
