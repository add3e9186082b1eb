"""Recommendations for every direction, plus the named views investors and operators use."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from api.deps import MatcherServiceDep
from api.errors import RATE_LIMITED_RESPONSES, ApiError
from api.ids import RowId
from api.limits import RecommendRateLimit
from api.security import KIND_POLICIES, Authenticated, OwnProfile, Principal
from api.web.exposure import shown_log
from matcher.directions import DIRECTIONS
from matcher.matcher import Match
from models.enums import AccountRole, EntityKind
from models.kinds import KIND_OF_ENTITY

MAX_K = 100

# Authentication first, so the rate limit can count per account.
router = APIRouter(
    tags=["recommendations"],
    dependencies=[Authenticated, RecommendRateLimit],
    responses=RATE_LIMITED_RESPONSES,
)


class ReasonPublic(BaseModel):
    feature: str
    zh: str
    en: str


class MatchPublic(BaseModel):
    kind: EntityKind
    id: int
    external_id: str
    name: str
    rank: int = Field(description="Position in this list, 1 = first.")
    display_score: float = Field(
        description="The mutual score on a 0-100 scale to read: 100 = the best candidate scored for "
        "this query, 0 = the median one or below. Ranks follow it unless moved_by says otherwise."
    )
    score_rank: int = Field(description="Where the score alone would have placed it (1 = highest).")
    moved_by: Literal["applied", "applicants", "diversity", "exposure"] | None = Field(
        description="Why rank differs from score_rank: an open application lifts it first "
        "(applied), open applications placed first push it down (applicants), the diversity "
        "re-rank (MMR) spreads similar candidates, or the exposure cap moves candidates shown in "
        "many recent lists behind the others. None: placed by score."
    )
    score: float = Field(
        description="Raw mutual score in [0, 1]: both sides' fit fused (harmonic mean by default)."
    )
    asker_score: float = Field(description="How well the candidate fits the one who asked.")
    candidate_score: float = Field(description="How well the one who asked fits the candidate.")
    reasons: list[ReasonPublic]
    summary: dict[str, Any] = Field(
        description="The facts to decide by, in the candidate kind's own terms (a startup's stage, "
        "ask, district and founding date; an investor's tickets and recent deals; a post's company …)."
    )
    features: dict[str, float]
    asker_contributions: dict[str, float]
    candidate_contributions: dict[str, float]


class Recommendations(BaseModel):
    asker_kind: EntityKind
    asker_id: int
    candidate_kind: EntityKind
    items: list[MatchPublic]
    why: str | None = Field(
        None,
        description="When items is empty, why, Chinese then English (e.g. '没有空余工位 / no vacant seats').",
    )
    partial: bool = Field(
        False,
        description="Some shards of a sharded deployment did not answer (one restarting): their "
        "candidates are missing from items.",
    )
    missing_shards: list[int] = Field(
        default_factory=list, description="The shards that did not answer, when partial."
    )


InvestorOwner = Annotated[Principal, Depends(OwnProfile(EntityKind.investor, AccountRole.investor))]
SpaceOperator = Annotated[Principal, Depends(OwnProfile(EntityKind.space, AccountRole.operator))]
K = Annotated[int, Query(ge=1, le=MAX_K, description="How many matches to return.")]


def _public(match: Match) -> MatchPublic:
    return MatchPublic.model_validate(match, from_attributes=True)


def _recommend(
    request: Request,
    service: MatcherServiceDep,
    asker_kind: EntityKind,
    row_id: int,
    target: EntityKind,
    k: int,
) -> Any:
    """Called from ``async`` routes, so on the event loop: a recommendation is a few ms of CPU
    under the GIL either way, and a hop to a worker thread and back cost a third as much again.
    Several cores are used by running several worker processes (``matcher serve --workers``).
    The matches count as shown (the dashboard's exposure), as the portal's pages do.
    """
    try:
        matches, empty, missing = service.recommend(asker_kind, row_id, target, k=k)
    except LookupError as error:
        raise ApiError(status.HTTP_404_NOT_FOUND, str(error), field="path.row_id") from None
    except ValueError as error:
        field, _, reason = str(error).partition(": ")
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, reason or field, field="query.target") from None
    shown_log(request).add(matches)
    items = [_public(m) for m in matches]
    answer = Recommendations(
        asker_kind=asker_kind,
        asker_id=row_id,
        candidate_kind=target,
        items=items,
        why=None if empty is None else f"{empty.zh} / {empty.en}",
        partial=bool(missing),
        missing_shards=list(missing),
    )
    # Serialised here from a model already validated: FastAPI would validate it again.
    return Response(answer.model_dump_json(), media_type="application/json")


def _targets_of(kind: EntityKind) -> list[str]:
    """What ``kind`` may ask for; a person asks as talent, or for their startup as its founder."""
    askers = {kind, EntityKind.startup} if kind is EntityKind.person else {kind}
    return sorted({t.value for q, t in DIRECTIONS if q in askers})


def _add_recommendations_route(kind: EntityKind) -> None:
    slug = KIND_OF_ENTITY[kind].slug
    asker: Any = Annotated[Principal, Depends(OwnProfile(kind, *KIND_POLICIES[slug].owners))]
    # The schema lists exactly the targets this kind may ask for.
    target_of_kind: Any = Literal[tuple(_targets_of(kind))]

    @router.get(
        f"/v1/{slug}/{{row_id}}/recommendations",
        response_model=Recommendations,
        summary=f"Recommendations for one of {slug}",
        description=f"Ranked counterparts with reasons. target: one of {', '.join(_targets_of(kind))}.",
    )
    async def recommendations(
        request: Request,
        _asker: asker,
        service: MatcherServiceDep,
        row_id: RowId,
        target: target_of_kind,
        k: K = 10,
    ) -> Any:
        return _recommend(request, service, kind, row_id, EntityKind(target), k)


# In EntityKind's order, not a set's: the routes (and the OpenAPI document) come out the same in
# every process.
_ASKERS = {q for q, _ in DIRECTIONS} | {EntityKind.person}
for _kind in [kind for kind in EntityKind if kind in _ASKERS]:
    _add_recommendations_route(_kind)


@router.get(
    "/v1/investors/{row_id}/deal-flow", response_model=Recommendations, summary="An investor's deal flow"
)
async def deal_flow(
    request: Request, _investor: InvestorOwner, service: MatcherServiceDep, row_id: RowId, k: K = 20
) -> Any:
    """Startups ranked for this investor: fit with its thesis, stage, ticket and network."""
    return _recommend(request, service, EntityKind.investor, row_id, EntityKind.startup, k)


@router.get(
    "/v1/spaces/{row_id}/candidates", response_model=Recommendations, summary="Applicants to fill a space"
)
async def space_candidates(
    request: Request, _operator: SpaceOperator, service: MatcherServiceDep, row_id: RowId, k: K = 20
) -> Any:
    """Startups ranked to fill this space's vacant seats; those who applied count for more."""
    return _recommend(request, service, EntityKind.space, row_id, EntityKind.startup, k)
