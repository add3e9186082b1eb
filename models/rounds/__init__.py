"""Allocation rounds: admission, placement, mentoring and intro rounds as stored data.

A round names its kind, its applicants and counterparts (with capacities and any ranking
they submitted), the operator's pinned and forbidden pairs, and, once solved, the proposed
assignment with its report. Its status goes draft → reviewed → published; publishing writes
the outcomes as interactions and takes the places from the counterparts' vacancies, in the
caller's one transaction.

``kinds`` says what each kind of round allocates, ``tables`` stores rounds, ``schemas`` is what
goes in and out, ``store`` changes them; everything public is importable from here.
"""

from models.rounds.kinds import (
    MAX_PARTICIPANTS,
    MAX_RANKING,
    ROUND_KINDS,
    PairDecision,
    RoundKind,
    RoundKindSpec,
    RoundStatus,
    Side,
)
from models.rounds.schemas import (
    ApplicantEntry,
    AssignmentPublic,
    CounterpartEntry,
    CounterpartFill,
    OptimalSolve,
    PairPublic,
    PairRequest,
    ProfileRef,
    ProposalPublic,
    ProposedMatch,
    Published,
    PublishResult,
    Ranking,
    RankingSubmission,
    ReasonPublic,
    RoundCreate,
    RoundFields,
    RoundInputs,
    RoundPublic,
    RoundSummary,
    RoundUpdate,
    SolveRequest,
    SolveSettings,
    StableSolve,
    UnmatchedPublic,
)
from models.rounds.store import (
    RoundNotFoundError,
    RoundStore,
)
from models.rounds.tables import (
    AllocationRound,
    RoundAssignment,
    RoundPairDecision,
    RoundParticipant,
)

__all__ = [
    "MAX_PARTICIPANTS",
    "MAX_RANKING",
    "ROUND_KINDS",
    "AllocationRound",
    "ApplicantEntry",
    "AssignmentPublic",
    "CounterpartEntry",
    "CounterpartFill",
    "OptimalSolve",
    "PairDecision",
    "PairPublic",
    "PairRequest",
    "ProfileRef",
    "ProposalPublic",
    "ProposedMatch",
    "PublishResult",
    "Published",
    "Ranking",
    "RankingSubmission",
    "ReasonPublic",
    "RoundAssignment",
    "RoundCreate",
    "RoundFields",
    "RoundInputs",
    "RoundKind",
    "RoundKindSpec",
    "RoundNotFoundError",
    "RoundPairDecision",
    "RoundParticipant",
    "RoundPublic",
    "RoundStatus",
    "RoundStore",
    "RoundSummary",
    "RoundUpdate",
    "Side",
    "SolveRequest",
    "SolveSettings",
    "StableSolve",
    "UnmatchedPublic",
]
