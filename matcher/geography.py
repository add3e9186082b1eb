"""Where investors invest, learned from their deals as of a date, and how near a pair is.

An investor's footprint counts the startups it backed before ``as_of`` per city and per
province (each startup once, where its profile says it is) and names its home city: where
it states it is, else where most of its deals were. Nothing on or after ``as_of`` is read,
so a feature computed for an event of a given day sees only what was known the day before.

The pair features built on it (all in [0, 1], 1 = best fit, 0.5 = unknown):

* ``local_deals``: how many of the investor's deals were in the startup's city (damped:
  1 - 1 / (1 + log(1 + n)), like popularity), the programme's strongest local signal;
* ``local_share``: the investor's share of deals in the startup's city and province (mean);
* ``same_city`` / ``same_province``: the investor's home against the startup's place;
* ``distance``: the great-circle distance between the two, log-scaled over 0 to 20,000 km.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from matcher.catalog import History, KindTable
from matcher.graph import Node
from models.enums import EntityKind
from models.places import Location, distance_between

__all__ = [
    "GEOGRAPHY_FEATURES",
    "MAX_DISTANCE_KM",
    "Footprint",
    "footprint",
    "location_of",
    "pair_geography",
    "places",
]

MAX_DISTANCE_KM: Final = 20_000.0
# Any profile's place; Location() for one that is gone or hidden.
PlaceOf = Callable[[Node], Location]
UNKNOWN: Final = 0.5


@dataclass(frozen=True)
class Footprint:
    """An investor's deals by place, as of a date."""

    deals: int  # distinct startups backed
    cities: Counter[str]
    provinces: Counter[str]
    home: Location  # stated, else the city (and its province) most of its deals were in


def location_of(record: Mapping[str, Any] | None) -> Location:
    if record is None:
        return Location()
    return Location(
        country=record.get("country"),
        province=record.get("province"),
        city=record.get("city"),
        district=record.get("district"),
    )


def places(table: KindTable) -> tuple[np.ndarray, list[Location]]:
    """Each row's place, factorised (``KindTable.groups``): row ``at`` is in ``places[codes[at]]``.
    Kept up to date with every write, so a place is decoded from the columns once, not on every
    read (a query's footprints read the places of every startup its pool's investors backed)."""
    return table.groups("locations", location_of)


def footprint(
    investor: Node,
    history: History,
    place_of: PlaceOf,
    as_of: dt.datetime,
    stated: Location | None = None,
) -> Footprint:
    """``investor``'s footprint from its deals strictly before ``as_of``; ``place_of`` maps a
    startup node to its place (``Location()`` when gone), in the catalogue ``history`` is the
    history of. Kept in the history's memo of derived values (`History.derived`) until the
    events or the records they name change."""
    memo = history.derived(as_of)
    key = ("footprint", investor, stated)
    found: Footprint | None = memo.get(key)
    if found is None:
        found = memo[key] = _footprint(investor, history, place_of, as_of, stated)
    return found


def _footprint(
    investor: Node, history: History, place_of: PlaceOf, as_of: dt.datetime, stated: Location | None
) -> Footprint:
    backed = {target for when, target in history.deals_by_investor.get(investor, ()) if when < as_of}
    places = [place_of(node) for node in sorted(backed)]
    cities = Counter(place.city for place in places if place.city is not None)
    provinces = Counter(place.province for place in places if place.province is not None)
    home = (
        stated if stated is not None and (stated.city or stated.province) else _learned_home(places, cities)
    )
    return Footprint(len(backed), cities, provinces, home)


def _learned_home(places: list[Location], cities: Counter[str]) -> Location:
    if not cities:
        return Location()
    # Most deals first; among equals the alphabetically first code, so the home is stable.
    city = min(cities, key=lambda code: (-cities[code], code))
    return next(place for place in places if place.city == city)


def _damped(count: int) -> float:
    return 1.0 - 1.0 / (1.0 + math.log1p(count))


def _same(mine: str | None, theirs: str | None) -> float:
    if mine is None or theirs is None:
        return UNKNOWN
    return 1.0 if mine == theirs else 0.0


def _nearness(a: Location, b: Location) -> float:
    km = distance_between(a, b)
    if km is None:
        return UNKNOWN
    return 1.0 - math.log1p(km) / math.log1p(MAX_DISTANCE_KM)


GEOGRAPHY_FEATURES: Final = ("local_deals", "local_share", "same_city", "same_province", "distance")


def _stated_only(place: Location) -> Footprint:
    return Footprint(0, Counter(), Counter(), place)


Row = tuple[float, float, float, float, float]


def _row(startup: Location, print_: Footprint) -> Row:
    in_city = print_.cities.get(startup.city, 0) if startup.city is not None else 0
    in_province = print_.provinces.get(startup.province, 0) if startup.province is not None else 0
    share = (in_city + in_province) / (2 * print_.deals) if print_.deals else 0.0
    return (
        _damped(in_city),
        share,
        _same(startup.city, print_.home.city),
        _same(startup.province, print_.home.province),
        _nearness(startup, print_.home),
    )


def pair_geography(
    query: tuple[Node, Location],
    pool: Sequence[tuple[Node, Location]],
    history: History,
    place_of: PlaceOf,
    as_of: dt.datetime,
) -> dict[str, np.ndarray]:
    """The geography features of a query against each pool row (node, place), by name.

    A startup asking for investors is measured against each investor's footprint; an investor
    asking for startups, each startup against its own footprint; any other pair of kinds
    compares the places both state (no deals, so no local counts).
    """
    query_node, query_place = query
    if pool and pool[0][0][0] is EntityKind.investor and query_node[0] is not EntityKind.investor:
        rows = [_row(query_place, footprint(node, history, place_of, as_of, place)) for node, place in pool]
    else:
        # One row per distinct place: a pool of hundreds of startups sits in a few dozen places.
        mine = (
            footprint(query_node, history, place_of, as_of, query_place)
            if query_node[0] is EntityKind.investor
            else None
        )
        by_place: dict[Location, Row] = {}
        rows = []
        for _, place in pool:
            if place not in by_place:
                by_place[place] = (
                    _row(place, mine) if mine is not None else _row(query_place, _stated_only(place))
                )
            rows.append(by_place[place])
    matrix = np.asarray(rows, dtype=np.float64).reshape(-1, len(GEOGRAPHY_FEATURES))
    return {name: matrix[:, at] for at, name in enumerate(GEOGRAPHY_FEATURES)}
