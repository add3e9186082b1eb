"""What the matcher needs to know about each kind, in one place: which fields describe a profile
in words, and how much room (seats, slots, mentees) it has left and how to say so.

Adding an entity kind means one entry here (``tests/test_kind_registries.py`` names the registry
a kind is missing from).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.enums import EntityKind

__all__ = ["MATCHING", "KindMatching", "Room"]


@dataclass(frozen=True)
class Room:
    """Places a candidate has left: ``count`` of ``total`` are free, or used when ``counts_used``.

    ``zh`` and ``en`` tell a person how many are left (``{n}``).
    """

    count: str
    total: str
    zh: str
    en: str
    counts_used: bool = False

    def left(self, record: Mapping[str, Any]) -> int:
        count = int(record.get(self.count) or 0)
        return int(record.get(self.total) or 0) - count if self.counts_used else count


@dataclass(frozen=True)
class KindMatching:
    """``text_fields``: the free text describing a profile, in the order a reader takes them.
    ``room``: its places left, or None where the kind has none to count (an investor's deal
    budget is counted from its history, see :func:`matcher.features.capacity`)."""

    text_fields: tuple[str, ...]
    room: Room | None = None


MATCHING: dict[EntityKind, KindMatching] = {
    EntityKind.startup: KindMatching(("name", "one_liner", "description")),
    EntityKind.investor: KindMatching(("name", "thesis")),
    EntityKind.mentor: KindMatching(
        ("bio", "expertise"),
        Room(
            "current_mentees",
            "max_mentees",
            "还可指导{n}个团队",
            "can take {n} more mentees",
            counts_used=True,
        ),
    ),
    EntityKind.space: KindMatching(
        ("name", "description", "admission_criteria", "services"),
        Room("seats_vacant", "seats_total", "尚有{n}个空余工位", "{n} seats vacant"),
    ),
    EntityKind.practice_base: KindMatching(
        ("name", "enterprise_name", "description", "majors_wanted"),
        Room("slots_free", "slots_total", "尚有{n}个实习名额", "{n} internship slots free"),
    ),
    EntityKind.post: KindMatching(("name", "enterprise_name", "description", "skills")),
    EntityKind.person: KindMatching(("bio", "skills", "major")),
}
