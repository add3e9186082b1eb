"""What goes in and out of a round: Create / Update / Public schemas, solve requests, and the
shapes a solver reads and writes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from models.enums import EntityKind
from models.rounds.kinds import MAX_PARTICIPANTS, MAX_RANKING, PairDecision, RoundKind, RoundStatus
from models.schemas import (
    CreateSchema,
    ExternalId,
    Name,
    PublicSchema,
    Timestamp,
    _dedupe,
    partial_model,
)
from models.tables import Interaction

Ranking = Annotated[list[ExternalId], Field(max_length=MAX_RANKING), AfterValidator(_dedupe)]


class ApplicantEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: ExternalId
    ranking: Ranking = Field(
        default=[], description="The applicant's own choices (counterparts' external ids), best first."
    )


class CounterpartEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: ExternalId
    capacity: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, description="Places in this round; defaults to the profile's vacancy."
    )
    ranking: Ranking = Field(
        default=[],
        description="The operator's ranked applicants (external ids); when given, unlisted applicants "
        "are not acceptable to this counterpart.",
    )


def _unique_ids(entries: Sequence[ApplicantEntry | CounterpartEntry], side: str) -> None:
    repeated = [key for key, n in Counter(e.external_id for e in entries).items() if n > 1]
    if repeated:
        raise ValueError(f"{side} lists {', '.join(repeated[:5])} more than once")


class RoundFields(BaseModel):
    name: Name
    kind: RoundKind
    deadline: Timestamp = Field(
        description="Rankings are accepted until then; without an offset, Beijing time."
    )
    preference_depth: Annotated[int, Field(ge=1, le=200)] = Field(
        default=20, description="How many eligible counterparts each applicant ranks (top N by the matcher)."
    )


class RoundCreate(CreateSchema, RoundFields):
    applicants: Annotated[list[ApplicantEntry], Field(min_length=1, max_length=MAX_PARTICIPANTS)]
    counterparts: Annotated[list[CounterpartEntry], Field(min_length=1, max_length=MAX_PARTICIPANTS)]

    @model_validator(mode="after")
    def _participants_unique(self) -> Self:
        _unique_ids(self.applicants, "applicants")
        _unique_ids(self.counterparts, "counterparts")
        return self


RoundUpdate = partial_model(RoundCreate, name="RoundUpdate")


class RankingSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ranking: Ranking


class PairRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    applicant: ExternalId
    counterpart: ExternalId
    decision: PairDecision


class _SolveFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignment_cap: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        default=None,
        description="No counterpart is given more than this many applicants in the round; fill rates are "
        "then measured against the capped places.",
    )


class StableSolve(_SolveFields):
    """Deferred acceptance: no blocking pair, and no applicant gains by misreporting."""

    solver: Literal["stable"]

    @property
    def floor(self) -> bool:
        # A stable matching cannot promise everyone a place; only the optimal solver has a floor.
        return False


class OptimalSolve(_SolveFields):
    """The greatest total mutual score under capacities."""

    solver: Literal["optimal"]
    floor: bool = Field(
        default=False,
        description="First place every applicant with an eligible option, where capacity allows.",
    )


SolveSettings = StableSolve | OptimalSolve
SolveRequest = Annotated[SolveSettings, Field(discriminator="solver")]


class PairPublic(BaseModel):
    applicant: str
    counterpart: str
    decision: PairDecision


class RoundPublic(PublicSchema, RoundFields):
    status: RoundStatus
    applicants: list[ApplicantEntry]
    counterparts: list[CounterpartEntry]
    decisions: list[PairPublic]
    solved: bool = Field(description="Whether a proposal is waiting for review or publication.")
    published_at: dt.datetime | None


class RoundSummary(PublicSchema):
    name: str
    kind: RoundKind
    status: RoundStatus
    deadline: dt.datetime
    applicants: int
    counterparts: int
    solved: bool


class ProfileRef(BaseModel):
    id: int
    external_id: str
    name: str


class ReasonPublic(BaseModel):
    feature: str
    zh: str
    en: str


class AssignmentPublic(BaseModel):
    applicant: ProfileRef
    counterpart: ProfileRef
    score: float | None = Field(description="Mutual score of the pair (None for a pin outside both lists).")
    applicant_rank: int | None = Field(description="Where the applicant ranked this counterpart (1 = first).")
    counterpart_rank: int | None = Field(
        description="Where the counterpart ranked this applicant (1 = first)."
    )
    pinned: bool
    reasons: list[ReasonPublic]


class UnmatchedPublic(BaseModel):
    applicant: ProfileRef
    reason: str = Field(description="no_eligible_option, lost_to_higher_ranked or capacity.")
    options: int = Field(description="Counterparts the applicant could have been matched with.")


class CounterpartFill(BaseModel):
    counterpart: ProfileRef
    capacity: int
    assigned: int
    fill_rate: float | None


class ProposalPublic(BaseModel):
    round_id: int
    status: RoundStatus
    settings: dict[str, Any]
    metrics: dict[str, Any]
    fill: list[CounterpartFill]
    assignments: list[AssignmentPublic]
    unmatched: list[UnmatchedPublic]


class PublishResult(BaseModel):
    round: RoundPublic
    interactions: int
    profiles_updated: int


@dataclass(frozen=True)
class RoundInputs:
    """What a solver needs from a stored round, as row ids in the round's order."""

    round_id: int
    kind: RoundKind
    depth: int
    applicants: list[int]
    counterparts: list[int]
    capacities: list[int]
    applicant_rankings: dict[int, list[int]]
    counterpart_rankings: dict[int, list[int]]
    pinned: list[tuple[int, int]]
    forbidden: list[tuple[int, int]]


@dataclass(frozen=True)
class ProposedMatch:
    applicant_id: int
    counterpart_id: int
    score: float | None
    applicant_rank: int | None
    counterpart_rank: int | None
    pinned: bool
    reasons: list[dict[str, str]]


@dataclass(frozen=True)
class Published:
    """What a publication wrote, for the caller to pass on to the running matcher after commit."""

    interactions: list[Interaction]
    profiles: list[tuple[EntityKind, Any]]
