"""Hard constraints as data: which field of one side must admit which field of the other.

A rule names a *holder* (the side whose profile states the constraint, e.g. an investor's
stages) and a *value* (the other side's field it constrains, e.g. the startup's stage). A
rule is the same whichever side asks, so investor→deal-flow and founder→investor share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.enums import EntityKind

Side = Literal["holder", "value"]


@dataclass(frozen=True)
class Covers:
    """The holder's list field admits the value's field (scalar or list; any overlap).

    An empty holder list admits everything ("no preference stated").
    ``hierarchy="industry"`` lets a broad code admit its narrower codes and vice versa.
    """

    holder_kind: EntityKind
    holder_field: str
    value_kind: EntityKind
    value_field: str
    hierarchy: Literal["industry"] | None = None
    label: str = ""


@dataclass(frozen=True)
class InRange:
    """The value's number lies within the holder's [min, max]; a missing value passes."""

    holder_kind: EntityKind
    min_field: str
    max_field: str
    value_kind: EntityKind
    value_field: str
    label: str = ""


@dataclass(frozen=True)
class AreaCovers:
    """The holder's area list contains the value's area, or says 'anywhere'."""

    holder_kind: EntityKind
    holder_field: str
    value_kind: EntityKind
    value_field: str
    label: str = ""


@dataclass(frozen=True)
class HasRoom:
    """The holder has capacity left: ``free_field`` > 0, or ``used_field`` < ``limit_field``."""

    holder_kind: EntityKind
    limit_field: str
    used_field: str | None = None
    label: str = ""


@dataclass(frozen=True)
class AtLeast:
    """The value's ordinal field reaches the holder's minimum (e.g. degree)."""

    holder_kind: EntityKind
    min_field: str
    value_kind: EntityKind
    value_field: str
    order: tuple[str, ...]
    label: str = ""


Rule = Covers | InRange | AreaCovers | HasRoom | AtLeast

DEGREE_ORDER = ("none", "associate", "bachelor", "master", "phd", "postdoc")

STARTUP, INVESTOR, MENTOR, SPACE, BASE, POST, PERSON = (
    EntityKind.startup,
    EntityKind.investor,
    EntityKind.mentor,
    EntityKind.space,
    EntityKind.practice_base,
    EntityKind.post,
    EntityKind.person,
)

# Rules per unordered pair of kinds; each direction between the two uses the same list.
PAIR_RULES: dict[frozenset[EntityKind], tuple[Rule, ...]] = {
    frozenset({STARTUP, INVESTOR}): (
        Covers(INVESTOR, "stages", STARTUP, "stage", label="stage in the investor's thesis"),
        Covers(
            INVESTOR,
            "industries",
            STARTUP,
            "industries",
            hierarchy="industry",
            label="industry in the investor's thesis",
        ),
        InRange(
            INVESTOR,
            "ticket_min_cny",
            "ticket_max_cny",
            STARTUP,
            "funding_ask_cny",
            label="ticket covers the amount asked",
        ),
        AreaCovers(INVESTOR, "districts", STARTUP, "district", label="district the investor covers"),
    ),
    frozenset({STARTUP, MENTOR}): (
        HasRoom(MENTOR, "max_mentees", "current_mentees", label="mentor under maximum load"),
        Covers(
            MENTOR,
            "industries",
            STARTUP,
            "industries",
            hierarchy="industry",
            label="industry the mentor covers",
        ),
    ),
    frozenset({STARTUP, SPACE}): (
        HasRoom(SPACE, "seats_vacant", label="vacant seats"),
        Covers(
            SPACE,
            "industries",
            STARTUP,
            "industries",
            hierarchy="industry",
            label="industry the space admits",
        ),
    ),
    frozenset({PERSON, BASE}): (
        HasRoom(BASE, "slots_free", label="free internship slots"),
        Covers(BASE, "majors_wanted", PERSON, "major", label="major the base wants"),
    ),
    frozenset({PERSON, POST}): (
        HasRoom(POST, "headcount", label="open headcount"),
        AtLeast(POST, "min_degree", PERSON, "degree", DEGREE_ORDER, label="degree the post requires"),
    ),
    frozenset({PERSON, MENTOR}): (
        HasRoom(MENTOR, "max_mentees", "current_mentees", label="mentor under maximum load"),
    ),
}


def rules_between(a: EntityKind, b: EntityKind) -> tuple[Rule, ...]:
    return PAIR_RULES.get(frozenset({a, b}), ())
