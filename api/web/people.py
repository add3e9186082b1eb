"""Pages of the counterparts: incoming introductions (investors, mentors), the mentor's
capacity and suggestions, young talent's openings, and the space operator's vacancies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from api.deps import MatcherServiceDep, RepositoryDep
from api.errors import ApiError
from api.ids import RowId
from api.security import readable_row, writable_row
from api.web.charts import Point, line_chart
from api.web.deps import FormDep, Role, WebUser, page_of, render
from api.web.exposure import shown_log
from api.web.i18n import gettext_for
from api.web.introductions import incoming, pair_status, pending_count, record, statuses, with_contacts
from api.web.notices import announce
from api.web.ranked import ranked_page
from matcher.matcher import Match
from models.enums import AccountRole, EntityKind, InteractionKind
from models.kinds import KIND_OF_ENTITY, kind_spec
from models.occupancy import occupancy_since
from models.repository import Repository
from models.tables import Interaction, Mentor, Space

router = APIRouter(include_in_schema=False)
Counterpart = Annotated[
    WebUser, Depends(Role(AccountRole.investor, AccountRole.mentor, AccountRole.operator))
]
MentorUser = Annotated[WebUser, Depends(Role(AccountRole.mentor))]
Talent = Annotated[WebUser, Depends(Role(AccountRole.founder))]
Operator = Annotated[WebUser, Depends(Role(AccountRole.operator))]
PER_PAGE = 10
SUGGESTION_DEPTH = 50
OPENINGS = {"practice_base": EntityKind.practice_base, "post": EntityKind.post}
# What a "yes" records, by who answers: an operator admits, a mentor mentors, others meet.
ANSWER_YES = InteractionKind.contacted


def _owned(user: WebUser, kind: EntityKind) -> list[int]:
    return sorted(row_id for owned_kind, row_id in user.principal.owned if owned_kind is kind)


def _suggested(
    request: Request,
    service: MatcherServiceDep,
    asker: tuple[EntityKind, int],
    target: EntityKind,
    page: int,
) -> tuple[list[Match], dict[str, int]]:
    return ranked_page(
        service,
        asker,
        target,
        page=page,
        per_page=PER_PAGE,
        depth=SUGGESTION_DEPTH,
        shown=shown_log(request),
    )


def _paged(items: list[Any], page: int) -> tuple[list[Any], dict[str, int]]:
    paging = page_of(len(items), page, PER_PAGE)
    return items[paging["offset"] : paging["offset"] + PER_PAGE], paging


# --- incoming introductions --------------------------------------------------------------


@router.get("/intros")
async def intros(
    request: Request,
    user: Counterpart,
    repository: RepositoryDep,
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    views = incoming(repository.session, user.principal.owned)
    if q:
        views = [v for v in views if q.casefold() in v.their_name.casefold()]
    shown, paging = _paged(views, page)
    shown = with_contacts(repository.session, shown)
    return render(request, "intros.html", {"user": user, "views": shown, "p": paging, "q": q})


@router.post("/intros/{row_id}")
async def answer(
    request: Request, user: Counterpart, form: FormDep, repository: RepositoryDep, row_id: RowId
) -> Response:
    """Yes or no to a request made to one of the caller's profiles; only its first answer counts."""
    asked = repository.session.get(Interaction, row_id)
    if (
        asked is None
        or not user.principal.owns(asked.target_kind, asked.target_id)
        or user.principal.is_admin
    ):
        raise ApiError(status.HTTP_404_NOT_FOUND, "no such request to you", field="path.row_id")
    requester, ours = (asked.actor_kind, asked.actor_id), (asked.target_kind, asked.target_id)
    choice = str(form.get("answer") or "")
    kinds = {"yes": ANSWER_YES, "no": InteractionKind.declined, "admit": InteractionKind.admitted}
    if choice not in kinds or (choice == "admit" and ours[0] is not EntityKind.space):
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "answer: yes or no", field="answer")
    if pair_status(repository.session, requester, ours) == "pending":
        if choice == "admit":
            _admit(repository, user, ours[1], requester)
        else:
            if choice == "yes" and ours[0] is EntityKind.mentor:
                _take_mentee(repository, user, ours[1])
            record(repository, ours, requester, kinds[choice])
            announce(repository.session, ours, requester, kinds[choice])
        repository.session.commit()
    return RedirectResponse(
        str(form.get("back") or "/intros") if str(form.get("back") or "").startswith("/") else "/intros",
        status.HTTP_303_SEE_OTHER,
    )


# --- mentor -------------------------------------------------------------------------------


@router.get("/mentor")
async def mentor_home(
    request: Request,
    user: MentorUser,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    page: Annotated[int, Query(ge=1, le=10)] = 1,
) -> Response:
    ids = _owned(user, EntityKind.mentor)
    if not ids:
        return render(request, "no_profile.html", {"user": user})
    mentor = repository.session.get(Mentor, ids[0])
    assert mentor is not None
    suggestions, paging = _suggested(
        request, service, (EntityKind.mentor, mentor.id), EntityKind.startup, page
    )
    asked = statuses(
        repository.session, (EntityKind.mentor, mentor.id), [(m.kind, m.id) for m in suggestions]
    )
    pending = pending_count(repository.session, user.principal.owned)
    context = {
        "user": user,
        "mentor": mentor,
        "matches": suggestions,
        "asked": asked,
        "p": paging,
        "pending": pending,
    }
    return render(request, "mentor.html", context)


@router.post("/mentor/offers")
async def offer(request: Request, user: MentorUser, form: FormDep, repository: RepositoryDep) -> Response:
    """The mentor offers to mentor a suggested startup: an introduction the founder answers."""
    ids = _owned(user, EntityKind.mentor)
    target = str(form.get("startup_id") or "")
    if not ids or not target.isdigit():
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "startup_id names a startup", field="startup_id"
        )
    startup = readable_row(
        user.principal, KIND_OF_ENTITY[EntityKind.startup], repository.session, int(target)
    )
    ours = (EntityKind.mentor, ids[0])
    if pair_status(repository.session, ours, (EntityKind.startup, startup.id)) is None:
        record(repository, ours, (EntityKind.startup, startup.id), InteractionKind.contacted)
        announce(repository.session, ours, (EntityKind.startup, startup.id), InteractionKind.contacted)
        repository.session.commit()
    return RedirectResponse("/mentor", status.HTTP_303_SEE_OTHER)


# --- students and young talent --------------------------------------------------------------


@router.get("/talent")
async def talent(
    request: Request,
    user: Talent,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    tab: Annotated[str, Query(pattern="^(practice_base|post)$")] = "practice_base",
    page: Annotated[int, Query(ge=1, le=10)] = 1,
) -> Response:
    person_id = user.principal.person_id
    if person_id is None:
        return render(request, "no_profile.html", {"user": user})
    matches, paging = _suggested(request, service, (EntityKind.person, person_id), OPENINGS[tab], page)
    asked = statuses(repository.session, (EntityKind.person, person_id), [(m.kind, m.id) for m in matches])
    return render(
        request, "talent.html", {"user": user, "matches": matches, "asked": asked, "p": paging, "tab": tab}
    )


@router.post("/talent/applications")
async def apply(request: Request, user: Talent, form: FormDep, repository: RepositoryDep) -> Response:
    person_id = user.principal.person_id
    kind = OPENINGS.get(str(form.get("target_kind") or ""))
    target = str(form.get("target_id") or "")
    if person_id is None or kind is None or not target.isdigit():
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "target_kind and target_id name an opening",
            field="target_id",
        )
    opening = readable_row(user.principal, KIND_OF_ENTITY[kind], repository.session, int(target))
    ours = (EntityKind.person, person_id)
    if pair_status(repository.session, ours, (kind, opening.id)) is None:
        record(repository, ours, (kind, opening.id), InteractionKind.applied)
        announce(repository.session, ours, (kind, opening.id), InteractionKind.applied)
        repository.session.commit()
    return RedirectResponse(f"/talent?tab={kind.value}", status.HTTP_303_SEE_OTHER)


# --- space operators -----------------------------------------------------------------------


@router.get("/operator")
async def operator_home(
    request: Request,
    user: Operator,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    space: Annotated[int | None, Query(ge=1)] = None,
    page: Annotated[int, Query(ge=1, le=10)] = 1,
) -> Response:
    ids = _owned(user, EntityKind.space)
    if not ids:
        return render(request, "no_profile.html", {"user": user})
    spaces = list(repository.session.scalars(select(Space).where(Space.id.in_(ids)).order_by(Space.id)))
    chosen = writable_row(
        user.principal, KIND_OF_ENTITY[EntityKind.space], repository.session, space or ids[0]
    )
    candidates, paging = _suggested(request, service, (EntityKind.space, chosen.id), EntityKind.startup, page)
    ours = (EntityKind.space, chosen.id)
    asked = statuses(repository.session, ours, [(m.kind, m.id) for m in candidates])
    applied = {
        (v.theirs[1]): v for v in incoming(repository.session, [ours]) if v.theirs[0] is EntityKind.startup
    }
    gettext = gettext_for(request.state.web_session.language)
    chart = line_chart(
        gettext("Seats filled, last 12 months"),
        _occupancy(repository, chosen),
        top=max(1, chosen.seats_total),
    )
    context = {
        "user": user,
        "spaces": spaces,
        "space": chosen,
        "matches": candidates,
        "asked": asked,
        "applied": applied,
        "p": paging,
        "chart": chart,
    }
    return render(request, "operator.html", context)


def _occupancy(repository: Repository, space: Space, months: int = 12) -> list[Point]:
    """Seats filled at each month's end, from the recorded history (months before it began are
    left out: nothing was recorded then)."""
    today = dt.datetime.now(dt.UTC)
    ends = []
    for back in range(months - 1, -1, -1):
        year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
        end = dt.datetime(year + (month + 1) // 12, (month + 1) % 12 + 1, 1, tzinfo=dt.UTC)
        ends.append((f"{year % 100:02d}/{month + 1:02d}", min(end, today)))
    history = occupancy_since(repository.session, space.id, ends[0][1] - dt.timedelta(days=31))
    points = []
    for label, end in ends:
        known = [row for row in history if _aware(row.recorded_at) <= end]
        if known:
            points.append(Point(label, known[-1].seats_total - known[-1].seats_vacant))
    return points


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@router.post("/operator/spaces/{row_id}/candidates")
async def act_on_candidate(
    request: Request, user: Operator, form: FormDep, repository: RepositoryDep, row_id: RowId
) -> Response:
    """Invite a ranked startup (an introduction it answers) or admit it (a seat is taken)."""
    space = writable_row(user.principal, KIND_OF_ENTITY[EntityKind.space], repository.session, row_id)
    target = str(form.get("startup_id") or "")
    action = str(form.get("action") or "")
    if not target.isdigit() or action not in {"invite", "admit"}:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "action: invite or admit a startup", field="action"
        )
    startup = readable_row(
        user.principal, KIND_OF_ENTITY[EntityKind.startup], repository.session, int(target)
    )
    ours, theirs = (EntityKind.space, space.id), (EntityKind.startup, startup.id)
    if action == "admit":
        _admit(repository, user, space.id, theirs)
    elif pair_status(repository.session, ours, theirs) is None:
        record(repository, ours, theirs, InteractionKind.contacted)
        announce(repository.session, ours, theirs, InteractionKind.contacted)
    repository.session.commit()
    return RedirectResponse(f"/operator?space={space.id}", status.HTTP_303_SEE_OTHER)


def _take_mentee(repository: Repository, user: WebUser, mentor_id: int) -> None:
    """A mentor's yes takes one of their mentee places; with none free it is refused and
    nothing is written."""
    mentor: Mentor = writable_row(
        user.principal, KIND_OF_ENTITY[EntityKind.mentor], repository.session, mentor_id
    )
    if mentor.current_mentees >= mentor.max_mentees:
        raise ApiError(
            status.HTTP_409_CONFLICT, "the mentor has no free mentee place", field="current_mentees"
        )
    spec = kind_spec("mentors")
    changes = {"current_mentees": mentor.current_mentees + 1}
    repository.save(spec, mentor, repository.merged(spec, mentor, changes))


def _admit(repository: Repository, user: WebUser, space_id: int, startup: tuple[EntityKind, int]) -> None:
    """Admission takes a vacant seat; with none left it is refused and nothing is written."""
    space: Space = writable_row(
        user.principal, KIND_OF_ENTITY[EntityKind.space], repository.session, space_id
    )
    if space.seats_vacant < 1:
        raise ApiError(status.HTTP_409_CONFLICT, "the space has no vacant seat", field="seats_vacant")
    record(repository, (EntityKind.space, space.id), startup, InteractionKind.admitted)
    announce(repository.session, (EntityKind.space, space.id), startup, InteractionKind.admitted)
    spec = kind_spec("spaces")
    repository.save(spec, space, repository.merged(spec, space, {"seats_vacant": space.seats_vacant - 1}))
