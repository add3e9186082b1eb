"""What each kind of allocation round allocates: who applies to whom, what a published match is
recorded as, and which vacancy it takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from models.enums import EntityKind, InteractionKind

MAX_PARTICIPANTS = 500_000
MAX_RANKING = 500


class RoundKind(StrEnum):
    space_admission = "space_admission"
    practice_placement = "practice_placement"
    mentor_assignment = "mentor_assignment"
    investor_intro = "investor_intro"


class RoundStatus(StrEnum):
    draft = "draft"
    reviewed = "reviewed"
    published = "published"


class Side(StrEnum):
    applicant = "applicant"
    counterpart = "counterpart"


class PairDecision(StrEnum):
    pin = "pin"
    forbid = "forbid"


@dataclass(frozen=True)
class RoundKindSpec:
    """Who applies to whom, what a published match is recorded as, and which vacancy it takes."""

    applicant: EntityKind
    counterpart: EntityKind
    outcome: InteractionKind
    places_left: Callable[[Any], int]
    # The profile fields that change when ``n`` places are taken, or None when nothing is counted.
    take_places: Callable[[Any, int], dict[str, int]] | None


def _mentor_room(mentor: Any) -> int:
    return max(0, int(mentor.max_mentees) - int(mentor.current_mentees))


ROUND_KINDS: dict[RoundKind, RoundKindSpec] = {
    RoundKind.space_admission: RoundKindSpec(
        EntityKind.startup,
        EntityKind.space,
        InteractionKind.admitted,
        lambda space: int(space.seats_vacant),
        lambda space, n: {"seats_vacant": int(space.seats_vacant) - n},
    ),
    RoundKind.practice_placement: RoundKindSpec(
        EntityKind.person,
        EntityKind.practice_base,
        InteractionKind.placed,
        lambda base: int(base.slots_free),
        lambda base, n: {"slots_free": int(base.slots_free) - n},
    ),
    RoundKind.mentor_assignment: RoundKindSpec(
        EntityKind.startup,
        EntityKind.mentor,
        InteractionKind.mentored,
        _mentor_room,
        lambda mentor, n: {"current_mentees": int(mentor.current_mentees) + n},
    ),
    # An intro is a meeting, not a deal: it uses the round's slots and leaves the budget alone.
    RoundKind.investor_intro: RoundKindSpec(
        EntityKind.startup,
        EntityKind.investor,
        InteractionKind.meeting,
        lambda investor: int(investor.deals_per_quarter),
        None,
    ),
}
