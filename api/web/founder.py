"""Founder pages: the startup's onboarding form, three tabs of recommendations, introduction
requests and space applications, and the status of every request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from api.deps import MatcherServiceDep, RepositoryDep
from api.errors import ApiError
from api.ids import RowId
from api.security import KIND_POLICIES, readable_row, writable_row
from api.web.deps import FormDep, Role, UserDep, WebUser, page_of, render
from api.web.eligibility import EligibilityWatch
from api.web.exposure import ShownLog, shown_log
from api.web.forms import field_errors, form_values, optional_int, render_form
from api.web.i18n import gettext_for
from api.web.introductions import outgoing, pair_status, record, statuses, with_contacts
from api.web.notices import announce
from api.web.ranked import ranked_page
from api.web.vocab import industry_label, stage_label
from matcher.matcher import Match
from models.enums import AccountRole, EntityKind, InteractionKind, MemberRole, PersonRole
from models.kinds import KIND_OF_ENTITY, kind_spec
from models.schemas import PersonCreate, StartupCreate, TeamMember
from models.tables import Person, Startup

router = APIRouter(include_in_schema=False)
Founder = Annotated[WebUser, Depends(Role(AccountRole.founder))]
TABS = {"investor": EntityKind.investor, "mentor": EntityKind.mentor, "space": EntityKind.space}
MATCHES_PER_PAGE = 10
MAX_MATCHES = 100
TEN_THOUSAND = 10_000
STARTUP_FIELDS = (
    "name",
    "one_liner",
    "description",
    "stage",
    "district",
    "funding_ask_wan",
    "founded_on",
    "team",
)


def _my_startups(repository: RepositoryDep, user: WebUser) -> list[Startup]:
    ids = sorted(row_id for kind, row_id in user.principal.owned if kind is EntityKind.startup)
    if not ids:
        return []
    return list(repository.session.scalars(select(Startup).where(Startup.id.in_(ids)).order_by(Startup.id)))


@router.get("/founder")
async def founder_home(request: Request, user: Founder, repository: RepositoryDep) -> Response:
    startups = _my_startups(repository, user)
    lang = request.state.web_session.language
    return render(
        request,
        "founder_home.html",
        {
            "user": user,
            "startups": startups,
            "stage_label": stage_label,
            "industry_label": industry_label,
            "lang": lang,
        },
    )


@router.get("/founder/startups/new")
async def new_startup(request: Request, user: Founder) -> Response:
    return render_form(request, "startup_form.html", user, {"industries": []}, {})


@router.post("/founder/startups/new")
async def create_startup(
    request: Request, user: Founder, form: FormDep, repository: RepositoryDep
) -> Response:
    """Everything is validated before anything is written; a refusal keeps what was typed."""
    values = form_values(form, multi=("industries",))
    gettext = gettext_for(request.state.web_session.language)
    if user.principal.person_id is None:
        raise ApiError(status.HTTP_403_FORBIDDEN, "only a person's account founds a startup")
    teammates = [line.strip() for line in values.get("team", "").splitlines() if line.strip()]
    ask = optional_int(values.get("funding_ask_wan", ""))
    errors: dict[str, str] = {}
    if isinstance(ask, str):
        errors["funding_ask_wan"] = gettext("Enter a whole number.")
    if len(teammates) > 20:
        errors["team"] = gettext("Too many chosen.")
    candidate = {
        "name": values.get("name", ""),
        "one_liner": values.get("one_liner", ""),
        "description": values.get("description", ""),
        "industries": values["industries"],
        "stage": values.get("stage", ""),
        "district": values.get("district") or None,
        "funding_ask_cny": ask * TEN_THOUSAND if isinstance(ask, int) else None,
        "founded_on": values.get("founded_on") or None,
        "seeking": ["investor", "mentor", "space"],
    }
    try:
        StartupCreate.model_validate(candidate)
    except ValidationError as error:
        found = field_errors(error, gettext)
        if "funding_ask_cny" in found:
            found["funding_ask_wan"] = found.pop("funding_ask_cny")
        errors = found | errors
    if errors:
        return render_form(request, "startup_form.html", user, values, errors, status_code=422)
    session = repository.session
    me = session.get(Person, user.principal.person_id)
    assert me is not None
    team = [TeamMember(person_external_id=me.external_id, role=MemberRole.founder)]
    for name in teammates:
        mate = repository.create(
            kind_spec("persons"),
            PersonCreate(name=name[:200], role=PersonRole.founder, district=candidate["district"]),
        )
        team.append(TeamMember(person_external_id=mate.external_id, role=MemberRole.cofounder))
    watch = EligibilityWatch.of(request, EntityKind.startup, None)
    startup = repository.create(
        kind_spec("startups"), StartupCreate.model_validate(candidate | {"team": team})
    )
    watch.announce(session, startup)
    session.commit()
    return RedirectResponse(f"/founder/startups/{startup.id}", status.HTTP_303_SEE_OTHER)


def _own_startup(user: WebUser, repository: RepositoryDep, row_id: int) -> Startup:
    """The API's rule: 403 for someone else's visible startup, 404 for one not theirs to see."""
    startup: Startup = writable_row(
        user.principal, KIND_OF_ENTITY[EntityKind.startup], repository.session, row_id
    )
    return startup


@router.get("/founder/startups/{row_id}")
async def startup_page(
    request: Request,
    user: Founder,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    row_id: RowId,
    tab: Annotated[str, Query(pattern="^(investor|mentor|space)$")] = "investor",
    page: Annotated[int, Query(ge=1, le=MAX_MATCHES)] = 1,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    startup = _own_startup(user, repository, row_id)
    target = TABS[tab]
    matches, paging = _matches(service, shown_log(request), row_id, target, page, q)
    ours = (EntityKind.startup, row_id)
    asked = statuses(repository.session, ours, [(m.kind, m.id) for m in matches])
    lang = request.state.web_session.language
    context = {
        "user": user,
        "startup": startup,
        "tab": tab,
        "matches": matches,
        "asked": asked,
        "p": paging,
        "q": q,
        "stage_label": stage_label,
        "industry_label": industry_label,
        "lang": lang,
    }
    template = "matches_fragment.html" if request.headers.get("hx-request") else "startup_page.html"
    return render(request, template, context)


def _matches(
    service: MatcherServiceDep, shown: ShownLog, row_id: int, target: EntityKind, page: int, q: str
) -> tuple[list[Match], dict[str, int]]:
    """One page of recommendations, optionally narrowed to names containing ``q``."""
    needle = q.casefold()
    return ranked_page(
        service,
        (EntityKind.startup, row_id),
        target,
        page=page,
        per_page=MATCHES_PER_PAGE,
        depth=MAX_MATCHES,
        keep=(lambda m, _: needle in m.name.casefold()) if q else None,
        shown=shown,
    )


@router.post("/founder/startups/{row_id}/requests")
async def request_counterpart(
    request: Request, user: Founder, form: FormDep, repository: RepositoryDep, row_id: RowId
) -> Response:
    """An introduction to an investor or mentor, or an application to a space; asking twice
    records nothing new."""
    _own_startup(user, repository, row_id)
    target_kind = TABS.get(str(form.get("target_kind") or ""))
    target_text = str(form.get("target_id") or "")
    if target_kind is None or not target_text.isdigit():
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "target_kind and target_id name a counterpart",
            field="target_id",
        )
    spec = KIND_OF_ENTITY[target_kind]
    target = readable_row(user.principal, spec, repository.session, int(target_text))
    if not KIND_POLICIES[spec.slug].readable(user.principal, spec, target):
        raise ApiError(status.HTTP_404_NOT_FOUND, "no such counterpart")
    ours, theirs = (EntityKind.startup, row_id), (target_kind, target.id)
    if pair_status(repository.session, ours, theirs) is None:
        kind = InteractionKind.applied if target_kind is EntityKind.space else InteractionKind.contacted
        record(repository, ours, theirs, kind)
        announce(repository.session, ours, theirs, kind)
        repository.session.commit()
    state = pair_status(repository.session, ours, theirs)
    if request.headers.get("hx-request"):
        return render(request, "request_state.html", {"state": state, "target_kind": target_kind.value})
    return RedirectResponse(f"/founder/startups/{row_id}?tab={target_kind.value}", status.HTTP_303_SEE_OTHER)


@router.get("/requests")
async def my_requests(
    request: Request,
    user: UserDep,
    repository: RepositoryDep,
    page: Annotated[int, Query(ge=1)] = 1,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """Every request the signed-in person's profiles made, with its status and, once both said
    yes, the other side's contacts."""
    views = outgoing(repository.session, user.principal.owned)
    if q:
        views = [
            v
            for v in views
            if q.casefold() in v.their_name.casefold() or q.casefold() in v.our_name.casefold()
        ]
    paging = page_of(len(views), page)
    shown = with_contacts(repository.session, views[paging["offset"] : paging["offset"] + paging["size"]])
    return render(request, "requests.html", {"user": user, "views": shown, "p": paging, "q": q})
