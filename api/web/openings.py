"""Owner pages of practice bases (实践基地) and R&D posts (研发岗位): their slots or headcount,
the young talent ranked for them with reasons, and the applications to accept or decline.

Owners are the API's: a practice base belongs to an operator or an enterprise account, a post
to an enterprise account, each to the account that runs it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from api.deps import MatcherServiceDep, RepositoryDep
from api.errors import ApiError
from api.ids import RowId
from api.security import writable_row
from api.web.deps import FormDep, Role, WebUser, page_of, render
from api.web.exposure import shown_log
from api.web.introductions import incoming, pair_status, record, statuses
from api.web.notices import announce
from api.web.ranked import ranked_page
from models.enums import AccountRole, EntityKind, InteractionKind
from models.kinds import KIND_OF_ENTITY, kind_spec
from models.repository import Repository
from models.schemas import MAX_ROW_ID
from models.tables import Interaction, PracticeBase, RdPost

router = APIRouter(include_in_schema=False)
Owner = Annotated[WebUser, Depends(Role(AccountRole.operator, AccountRole.enterprise))]
KINDS = {"practice_base": EntityKind.practice_base, "post": EntityKind.post}
PER_PAGE = 10
SUGGESTION_DEPTH = 50
ANSWERS = {"accept": InteractionKind.placed, "decline": InteractionKind.declined}


def _owned(user: WebUser) -> list[tuple[EntityKind, int]]:
    return sorted((kind, row_id) for kind, row_id in user.principal.owned if kind in KINDS.values())


def _rows(repository: Repository, owned: list[tuple[EntityKind, int]]) -> list[Any]:
    rows: list[Any] = []
    for table, kind in ((PracticeBase, EntityKind.practice_base), (RdPost, EntityKind.post)):
        ids = [row_id for k, row_id in owned if k is kind]
        if ids:
            rows += repository.session.scalars(select(table).where(table.id.in_(ids)).order_by(table.id))
    return rows


def placed_count(repository: Repository, opening: tuple[EntityKind, int]) -> int:
    """How many people the opening has taken (each acceptance records ``placed``)."""
    return int(
        repository.session.scalar(
            select(func.count()).where(
                Interaction.actor_kind == opening[0],
                Interaction.actor_id == opening[1],
                Interaction.kind == InteractionKind.placed,
            )
        )
        or 0
    )


@router.get("/openings")
async def openings_home(
    request: Request,
    user: Owner,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    kind: Annotated[str, Query(pattern="^(practice_base|post)$")] = "practice_base",
    id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    page: Annotated[int, Query(ge=1, le=5)] = 1,
    q: Annotated[str, Query(max_length=100)] = "",
    applications: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    owned = _owned(user)
    if not owned:
        return render(request, "no_profile.html", {"user": user})
    chosen_kind = KINDS[kind] if id is not None else owned[0][0]
    chosen_id = id if id is not None else owned[0][1]
    opening = writable_row(user.principal, KIND_OF_ENTITY[chosen_kind], repository.session, chosen_id)
    ours = (chosen_kind, opening.id)
    suggestions, paging = ranked_page(
        service,
        ours,
        EntityKind.person,
        page=page,
        per_page=PER_PAGE,
        depth=SUGGESTION_DEPTH,
        shown=shown_log(request),
    )
    asked = statuses(repository.session, ours, [(m.kind, m.id) for m in suggestions])
    received = incoming(repository.session, [ours])
    pending = sum(1 for v in received if v.status == "pending")
    if q:
        received = [v for v in received if q.casefold() in v.their_name.casefold()]
    received_paging = page_of(len(received), applications, PER_PAGE)
    start = received_paging["offset"]
    context = {
        "user": user,
        "openings": _rows(repository, owned),
        "opening": opening,
        "kind": chosen_kind.value,
        "taken": placed_count(repository, ours),
        "pending": pending,
        "matches": suggestions,
        "asked": asked,
        "p": paging,
        "received": received[start : start + PER_PAGE],
        "rp": received_paging,
        "q": q,
    }
    return render(request, "openings.html", context)


@router.post("/openings/{kind}/{row_id}/applications/{interaction_id}")
async def answer_application(
    user: Owner,
    form: FormDep,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    kind: Annotated[str, Path(pattern="^(practice_base|post)$")],
    row_id: RowId,
    # Not a RowId: that dependency reads the path's row_id whatever the parameter is called.
    interaction_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
) -> Response:
    """Accept (a place is taken) or decline an application; only the first answer counts, and
    an acceptance with no place left is refused with nothing written."""
    opening_kind = KINDS.get(kind)
    if opening_kind is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, "no such opening", field="path.kind")
    opening = writable_row(user.principal, KIND_OF_ENTITY[opening_kind], repository.session, row_id)
    ours = (opening_kind, opening.id)
    asked = repository.session.get(Interaction, interaction_id)
    if (
        asked is None
        or (asked.target_kind, asked.target_id) != ours
        or asked.kind is not InteractionKind.applied
    ):
        raise ApiError(status.HTTP_404_NOT_FOUND, "no such application to you", field="path.interaction_id")
    choice = ANSWERS.get(str(form.get("answer") or ""))
    if choice is None:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "answer: accept or decline", field="answer")
    applicant = (asked.actor_kind, asked.actor_id)
    if pair_status(repository.session, applicant, ours) == "pending":
        if choice is InteractionKind.placed:
            _take_place(repository, opening_kind, opening)
        record(repository, ours, applicant, choice)
        announce(repository.session, ours, applicant, choice)
        repository.session.commit()
        service.catch_up()
    return RedirectResponse(f"/openings?kind={kind}&id={opening.id}", status.HTTP_303_SEE_OTHER)


def _take_place(repository: Repository, kind: EntityKind, opening: Any) -> None:
    """A base's free slot goes down by one; a post counts its placements against its headcount."""
    if kind is EntityKind.practice_base:
        if opening.slots_free < 1:
            raise ApiError(status.HTTP_409_CONFLICT, "the practice base has no free slot", field="slots_free")
        spec = kind_spec("practice-bases")
        repository.save(
            spec, opening, repository.merged(spec, opening, {"slots_free": opening.slots_free - 1})
        )
    elif placed_count(repository, (kind, opening.id)) >= opening.headcount:
        raise ApiError(status.HTTP_409_CONFLICT, "the post's headcount is filled", field="headcount")
