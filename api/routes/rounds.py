"""Allocation rounds: create, rank, pin or forbid, solve, review, publish. Admin only, one router."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import MatcherServiceDep, RepositoryDep
from api.errors import RATE_LIMITED_RESPONSES, ErrorBody
from api.ids import RowId
from api.limits import HeavyRateLimit
from api.round_service import publish_and_inform, solve_and_store
from api.security import Authorized
from models.clock import beijing_now
from models.db import SQL_INTEGER_MAX
from models.rounds import (
    PairRequest,
    ProposalPublic,
    PublishResult,
    RankingSubmission,
    RoundCreate,
    RoundKind,
    RoundPublic,
    RoundStatus,
    RoundStore,
    RoundSummary,
    RoundUpdate,
    SolveRequest,
    StableSolve,
)

MAX_PAGE_SIZE = 200
CONFLICT: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {"model": ErrorBody, "description": "Not allowed in the round's status."}
}

router = APIRouter(
    prefix="/v1/rounds", tags=["allocation rounds"], dependencies=[Depends(Authorized())], responses=CONFLICT
)


def get_store(repository: RepositoryDep) -> RoundStore:
    return RoundStore(repository)


StoreDep = Annotated[RoundStore, Depends(get_store)]
# A schema built at import time (every Create field optional): FastAPI reads it as the body.
RoundUpdateBody: Any = RoundUpdate


class RoundPage(BaseModel):
    items: list[RoundSummary]
    total: int
    limit: int
    offset: int


class RoundListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: RoundStatus | None = None
    kind: RoundKind | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(default=0, ge=0, le=SQL_INTEGER_MAX)


@router.post("", response_model=RoundPublic, status_code=status.HTTP_201_CREATED, summary="Create a round")
def create_round(store: StoreDep, body: RoundCreate) -> Any:
    """A draft round: its kind, applicants, counterparts (capacity defaults to the profile's
    vacancy) and any rankings already submitted."""
    row = store.create(body)
    public = store.public(row)
    store.session.commit()
    return public


@router.get("", response_model=RoundPage, summary="List rounds")
def list_rounds(store: StoreDep, query: Annotated[RoundListQuery, Query()]) -> Any:
    rows, total = store.list_rows(
        status=query.status, kind=query.kind, limit=query.limit, offset=query.offset
    )
    return RoundPage(
        items=[store.summary(r) for r in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.get("/{row_id}", response_model=RoundPublic, summary="Get a round")
def get_round(store: StoreDep, row_id: RowId) -> Any:
    return store.public(store.get(row_id))


@router.patch("/{row_id}", response_model=RoundPublic, summary="Change a round (back to draft)")
def update_round(store: StoreDep, row_id: RowId, body: RoundUpdateBody) -> Any:
    row = store.update(row_id, body)
    public = store.public(row)
    store.session.commit()
    return public


@router.delete("/{row_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an unpublished round")
def delete_round(store: StoreDep, row_id: RowId) -> Response:
    store.delete(row_id)
    store.session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{row_id}/rankings/{external_id}",
    response_model=RoundPublic,
    summary="Submit a participant's ranking (until the deadline)",
)
def submit_ranking(store: StoreDep, row_id: RowId, external_id: str, body: RankingSubmission) -> Any:
    """An applicant's own ranked counterparts, or an operator's ranked applicants for its counterpart."""
    store.submit_ranking(row_id, external_id, body.ranking, now=beijing_now())
    public = store.public(store.get(row_id))
    store.session.commit()
    return public


@router.post("/{row_id}/pairs", response_model=RoundPublic, summary="Pin or forbid a pair")
def decide_pair(store: StoreDep, row_id: RowId, body: PairRequest) -> Any:
    """A pinned pair is in every proposal; a forbidden one in none. The proposal must be solved again."""
    store.decide(row_id, body)
    public = store.public(store.get(row_id))
    store.session.commit()
    return public


@router.delete("/{row_id}/pairs", response_model=RoundPublic, summary="Drop a pin or a ban")
def undecide_pair(
    store: StoreDep,
    row_id: RowId,
    applicant: Annotated[str, Query(max_length=64)],
    counterpart: Annotated[str, Query(max_length=64)],
) -> Any:
    store.undecide(row_id, applicant, counterpart)
    public = store.public(store.get(row_id))
    store.session.commit()
    return public


@router.post(
    "/{row_id}/solve",
    response_model=ProposalPublic,
    summary="Solve the round (a new proposal)",
    dependencies=[HeavyRateLimit],
    responses=RATE_LIMITED_RESPONSES,
)
def solve(
    store: StoreDep, service: MatcherServiceDep, row_id: RowId, body: SolveRequest | None = None
) -> Any:
    """Preferences from the matcher's two-sided scores (or submitted rankings), then the stable
    or the optimal solver; the proposal replaces the last one and the round is a draft again."""
    proposal = solve_and_store(store, service, row_id, body or StableSolve(solver="stable"))
    store.session.commit()
    return proposal


@router.get("/{row_id}/proposal", response_model=ProposalPublic, summary="The proposal, with reasons")
def proposal(store: StoreDep, row_id: RowId) -> Any:
    """Every match with both sides' ranks and the matcher's reasons; who got nothing and why;
    fill per counterpart; metrics (fill rate, share matched, mean ranks, blocking pairs, Gini, runtime)."""
    return store.proposal(row_id)


@router.post("/{row_id}/review", response_model=RoundPublic, summary="Mark the proposal reviewed")
def review(store: StoreDep, row_id: RowId) -> Any:
    row = store.review(row_id)
    public = store.public(row)
    store.session.commit()
    return public


@router.post("/{row_id}/publish", response_model=PublishResult, summary="Publish a reviewed round")
def publish(store: StoreDep, service: MatcherServiceDep, row_id: RowId) -> Any:
    """Writes every match as an interaction (admitted / placed / mentored / meeting) and takes
    the places from the counterparts' vacancies, in one transaction; then the matcher knows."""
    return publish_and_inform(store, service, row_id)
