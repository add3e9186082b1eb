"""Allocation rounds for programme staff: create one from filters, solve it, review the
proposal with pins and bans, publish. The same store and services as the API's round routes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import or_, select

from api.deps import MatcherServiceDep, RepositoryDep
from api.errors import ApiError
from api.ids import RowId
from api.round_service import solve_and_store
from api.web.deps import FormDep, Role, WebUser, page_of, render
from api.web.forms import Picker, _marker, field_errors, form_values, optional_int, render_form
from api.web.i18n import gettext_for
from api.web.investor import _industry_codes
from api.web.notices import announce_round, kinds_of
from api.web.vocab import district_options, industry_options
from models.db import json_list_contains
from models.enums import EntityKind, PersonRole
from models.refs import ReferenceCheckError
from models.repository import ConflictError, NotFoundError, Repository
from models.rounds import (
    ROUND_KINDS,
    ApplicantEntry,
    CounterpartEntry,
    OptimalSolve,
    PairDecision,
    PairRequest,
    RoundCreate,
    RoundKind,
    RoundStatus,
    RoundStore,
    StableSolve,
)
from models.tables import PROFILE_TABLES, Person

router = APIRouter(include_in_schema=False)
Staff = Annotated[WebUser, Depends(Role())]
KIND_LABELS = {
    RoundKind.space_admission: _marker("Space admission"),
    RoundKind.practice_placement: _marker("Practice placement"),
    RoundKind.mentor_assignment: _marker("Mentor assignment"),
    RoundKind.investor_intro: _marker("Investor introductions"),
}
STATUS_LABELS = {
    RoundStatus.draft: _marker("Draft"),
    RoundStatus.reviewed: _marker("Reviewed"),
    RoundStatus.published: _marker("Published"),
}
UNMATCHED_LABELS = {
    "no_eligible_option": _marker("No eligible option"),
    "lost_to_higher_ranked": _marker("Places went to higher-ranked applicants"),
    "capacity": _marker("No place left"),
}
MAX_SIDE = 2000


@contextmanager
def _refusals_as_pages() -> Iterator[None]:
    """The store's refusals (wrong status, unknown participant) as a 409 page saying why."""
    try:
        yield
    except (ConflictError, ReferenceCheckError) as error:
        raise ApiError(status.HTTP_409_CONFLICT, str(error)) from None
    except NotFoundError as error:
        raise ApiError(status.HTTP_404_NOT_FOUND, str(error)) from None


def _store(repository: RepositoryDep) -> RoundStore:
    return RoundStore(repository)


StoreDep = Annotated[RoundStore, Depends(_store)]


@router.get("/staff/rounds")
async def rounds(
    request: Request,
    user: Staff,
    store: StoreDep,
    show: Annotated[str, Query(pattern="^(|draft|reviewed|published)$")] = "",
    page: Annotated[int, Query(ge=1)] = 1,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    state = RoundStatus(show) if show else None
    total = store.list_rows(status=state, kind=None, limit=1, offset=0, name_contains=q.strip())[1]
    paging = page_of(total, page)
    rows, _ = store.list_rows(
        status=state, kind=None, limit=paging["size"], offset=paging["offset"], name_contains=q.strip()
    )
    context = {
        "user": user,
        "rounds": [store.summary(row) for row in rows],
        "p": paging,
        "q": q,
        "show": show,
        "kind_labels": KIND_LABELS,
        "status_labels": STATUS_LABELS,
    }
    return render(request, "rounds.html", context)


def _round_kinds(language: str) -> list[tuple[str, str]]:
    return [(kind.value, gettext_for(language)(label)) for kind, label in KIND_LABELS.items()]


ROUND_PICKERS: dict[str, Picker] = {
    "kinds": _round_kinds,
    "industries": industry_options,
    "districts": district_options,
}


@router.get("/staff/rounds/new")
async def new_round(request: Request, user: Staff) -> Response:
    deadline = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    defaults = {
        "kind": RoundKind.space_admission.value,
        "deadline": deadline,
        "max_applicants": "100",
        "max_counterparts": "20",
    }
    return render_form(request, "round_form.html", user, defaults, {}, pickers=ROUND_PICKERS)


def _pick(
    repository: Repository,
    kind: EntityKind,
    *,
    district: str,
    industry: str,
    limit: int,
    with_room: RoundKind | None,
) -> list[str]:
    """External ids of active, consenting profiles of ``kind`` matching the filters; for the
    counterparts only those with places left."""
    table: Any = PROFILE_TABLES[kind]
    conditions = [table.active, table.consent_matching]
    if district:
        conditions.append(table.district == district)
    if industry and hasattr(table, "industries"):
        conditions.append(_any_industry(table, industry))
    if kind is EntityKind.person:
        conditions.append(Person.role == PersonRole.student)
    rows = repository.session.scalars(select(table).where(*conditions).order_by(table.id).limit(limit * 4))
    spec = ROUND_KINDS[with_room] if with_room else None
    picked = [row.external_id for row in rows if spec is None or spec.places_left(row) > 0]
    return picked[:limit]


def _any_industry(table: Any, code: str) -> Any:
    return or_(*(json_list_contains(table.industries, c) for c in _industry_codes(code)))


@router.post("/staff/rounds/new")
async def create_round(request: Request, user: Staff, form: FormDep, store: StoreDep) -> Response:
    """Applicants and counterparts chosen by filters; a refusal writes nothing and says why."""
    values = form_values(form)
    gettext = gettext_for(request.state.web_session.language)
    errors: dict[str, str] = {}
    limits = {}
    for name in ("max_applicants", "max_counterparts"):
        number = optional_int(values.get(name, ""))
        if not isinstance(number, int) or not 1 <= number <= MAX_SIDE:
            errors[name] = gettext("Enter a whole number.")
        else:
            limits[name] = number
    try:
        kind = RoundKind(values.get("kind", ""))
    except ValueError:
        errors["kind"] = gettext("Choose one of the options.")
    if errors:
        return render_form(
            request, "round_form.html", user, values, errors, pickers=ROUND_PICKERS, status_code=422
        )
    spec = ROUND_KINDS[kind]
    repository = store.repository
    filters = {"district": values.get("district", ""), "industry": values.get("industry", "")}
    applicants = _pick(repository, spec.applicant, limit=limits["max_applicants"], with_room=None, **filters)
    counterparts = _pick(
        repository,
        spec.counterpart,
        limit=limits["max_counterparts"],
        with_room=kind,
        district=filters["district"],
        industry="",
    )
    if not applicants:
        errors["max_applicants"] = gettext("No applicant matches these filters; widen them.")
    if not counterparts:
        errors["max_counterparts"] = gettext(
            "No counterpart with places left matches these filters; widen them."
        )
    if errors:
        return render_form(
            request, "round_form.html", user, values, errors, pickers=ROUND_PICKERS, status_code=422
        )
    try:
        model = RoundCreate(
            name=values.get("name", ""),
            kind=kind,
            deadline=f"{values.get('deadline', '')}T23:59:00",
            applicants=[ApplicantEntry(external_id=e) for e in applicants],
            counterparts=[CounterpartEntry(external_id=e) for e in counterparts],
        )
    except ValidationError as error:
        return render_form(
            request,
            "round_form.html",
            user,
            values,
            field_errors(error, gettext),
            pickers=ROUND_PICKERS,
            status_code=422,
        )
    with _refusals_as_pages():
        row = store.create(model)
    store.session.commit()
    return RedirectResponse(f"/staff/rounds/{row.id}", status.HTTP_303_SEE_OTHER)


@router.get("/staff/rounds/{row_id}")
async def round_page(request: Request, user: Staff, store: StoreDep, row_id: RowId) -> Response:
    with _refusals_as_pages():
        public = store.public(store.get(row_id))
    proposal = store.proposal(row_id) if public.solved or public.status is not RoundStatus.draft else None
    context = {
        "user": user,
        "round": public,
        "proposal": proposal,
        "kind_labels": KIND_LABELS,
        "status_labels": STATUS_LABELS,
        "unmatched_labels": UNMATCHED_LABELS,
        "pins": {(d.applicant, d.counterpart): d.decision.value for d in public.decisions},
    }
    return render(request, "round.html", context)


@router.post("/staff/rounds/{row_id}/solve")
async def solve(
    user: Staff, form: FormDep, store: StoreDep, service: MatcherServiceDep, row_id: RowId
) -> Response:
    solver = str(form.get("solver") or "stable")
    settings = (
        OptimalSolve(solver="optimal", floor=True) if solver == "optimal" else StableSolve(solver="stable")
    )
    with _refusals_as_pages():
        solve_and_store(store, service, row_id, settings)
    store.session.commit()
    return RedirectResponse(f"/staff/rounds/{row_id}", status.HTTP_303_SEE_OTHER)


@router.post("/staff/rounds/{row_id}/pairs")
async def decide(user: Staff, form: FormDep, store: StoreDep, row_id: RowId) -> Response:
    """Pin or forbid a pair; the proposal must then be solved again."""
    try:
        request = PairRequest(
            applicant=str(form.get("applicant") or ""),
            counterpart=str(form.get("counterpart") or ""),
            decision=PairDecision(str(form.get("decision") or "")),
        )
    except (ValidationError, ValueError):
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "decision: pin or forbid a pair of the round"
        ) from None
    with _refusals_as_pages():
        store.decide(row_id, request)
    store.session.commit()
    return RedirectResponse(f"/staff/rounds/{row_id}", status.HTTP_303_SEE_OTHER)


@router.post("/staff/rounds/{row_id}/review")
async def review(user: Staff, form: FormDep, store: StoreDep, row_id: RowId) -> Response:
    with _refusals_as_pages():
        store.review(row_id)
    store.session.commit()
    return RedirectResponse(f"/staff/rounds/{row_id}", status.HTTP_303_SEE_OTHER)


@router.post("/staff/rounds/{row_id}/publish")
async def publish(
    user: Staff, form: FormDep, store: StoreDep, service: MatcherServiceDep, row_id: RowId
) -> Response:
    """The API's publication, with every matched side told in the same transaction."""
    with _refusals_as_pages():
        name = store.get(row_id).name
        published = store.publish(row_id, now=dt.datetime.now(dt.UTC))
    announce_round(store.session, name, kinds_of(published.interactions))
    store.session.commit()
    service.catch_up()
    return RedirectResponse(f"/staff/rounds/{row_id}", status.HTTP_303_SEE_OTHER)
