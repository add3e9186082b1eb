"""Hard constraints, evaluated for one query against every candidate at once (numpy masks)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from matcher.catalog import KindTable, _as_list
from matcher.graph import Node
from matcher.rules import AreaCovers, AtLeast, Covers, HasRoom, InRange, Rule
from models.enums import EntityKind
from models.taxonomy import ANYWHERE, AREAS, industry_ancestors


def eligible(
    asker_kind: EntityKind,
    query: Mapping[str, Any],
    candidates: KindTable,
    rules: Sequence[Rule],
    *,
    excluded: Iterable[Node] = (),
) -> np.ndarray:
    """Boolean mask over ``candidates``: visible, passing every rule, and not excluded."""
    mask = candidates.alive.copy()
    for rule in rules:
        if not mask.any():
            break
        mask &= _passes(rule, asker_kind, query, candidates)
    for kind, row_id in excluded:
        if kind is candidates.kind and row_id in candidates:
            mask[candidates.position(row_id)] = False
    return mask


def prepare_columns(asker_kind: EntityKind, candidates: KindTable, rules: Sequence[Rule]) -> None:
    """Build now every column of ``candidates`` that ``rules`` may read, rather than on the
    first query that needs one: a column of a million rows takes ~0.5 s, and which query first
    needs it (say, the first investor whose thesis names districts) is chance."""
    for rule in rules:
        for read, name in _columns_read(rule, _holder_is_candidate(rule, asker_kind, candidates)):
            getattr(candidates, read)(name)


def _columns_read(rule: Rule, holder_is_candidate: bool) -> list[tuple[str, str]]:
    """(accessor, field) of each candidate column the rule's check above reads."""
    if isinstance(rule, HasRoom):
        fields = [rule.limit_field] + ([rule.used_field] if rule.used_field else [])
        return [("numbers", name) for name in fields] if holder_is_candidate else []
    if isinstance(rule, InRange):
        fields = [rule.min_field, rule.max_field] if holder_is_candidate else [rule.value_field]
        return [("numbers", name) for name in fields]
    if isinstance(rule, Covers | AreaCovers):
        if holder_is_candidate:
            return [("members", rule.holder_field), ("empty", rule.holder_field)]
        return [("members", rule.value_field)]
    return [("members", rule.min_field if holder_is_candidate else rule.value_field)]


def _holder_is_candidate(rule: Rule, asker_kind: EntityKind, table: KindTable) -> bool:
    return rule.holder_kind is table.kind and rule.holder_kind is not asker_kind


def _passes(rule: Rule, asker_kind: EntityKind, query: Mapping[str, Any], table: KindTable) -> np.ndarray:
    holder_is_candidate = _holder_is_candidate(rule, asker_kind, table)
    if isinstance(rule, HasRoom):
        return _has_room(rule, query, table, holder_is_candidate)
    if isinstance(rule, Covers):
        return _covers(rule, query, table, holder_is_candidate)
    if isinstance(rule, InRange):
        return _in_range(rule, query, table, holder_is_candidate)
    if isinstance(rule, AreaCovers):
        return _area_covers(rule, query, table, holder_is_candidate)
    return _at_least(rule, query, table, holder_is_candidate)


def _mask(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=bool)


def _all(table: KindTable, value: bool) -> np.ndarray:
    return np.full(len(table), value, dtype=bool)


def _any_of(masks: Mapping[Any, np.ndarray], keys: Iterable[Any], size: int) -> np.ndarray:
    result = np.zeros(size, dtype=bool)
    for key in keys:
        if key in masks:
            result |= masks[key]
    return result


def _related_codes(present: Iterable[str], given: Iterable[str], hierarchy: str | None) -> frozenset[str]:
    """Codes in ``present`` that match one in ``given`` (or sit above or below it)."""
    if hierarchy is None:
        return frozenset(present) & frozenset(given)
    return _related_industries(frozenset(present), frozenset(given))


@functools.lru_cache(maxsize=4096)
def _related_industries(present: frozenset[str], given: frozenset[str]) -> frozenset[str]:
    # Cached: the same few thesis and industry sets come back query after query.
    above = {ancestor for code in given for ancestor in industry_ancestors(code)}
    return frozenset(
        code for code in present if code in above or given.intersection(industry_ancestors(code))
    )


def _covers(
    rule: Covers, query: Mapping[str, Any], table: KindTable, holder_is_candidate: bool
) -> np.ndarray:
    size = len(table)
    if holder_is_candidate:
        members = table.members(rule.holder_field)
        codes = _related_codes(members, _as_list(query.get(rule.value_field)), rule.hierarchy)
        return _mask(table.empty(rule.holder_field) | _any_of(members, codes, size))
    wanted = _as_list(query.get(rule.holder_field))
    if not wanted:
        return _all(table, True)
    members = table.members(rule.value_field)
    return _any_of(members, _related_codes(members, wanted, rule.hierarchy), size)


def _in_range(
    rule: InRange, query: Mapping[str, Any], table: KindTable, holder_is_candidate: bool
) -> np.ndarray:
    # A missing bound or value (NaN) compares False: only a known value outside a known bound refuses.
    if holder_is_candidate:
        value = query.get(rule.value_field)
        if value is None:
            return _all(table, True)
        low, high = table.numbers(rule.min_field), table.numbers(rule.max_field)
        return _mask(~((low > value) | (high < value)))
    values = table.numbers(rule.value_field)
    outside = np.zeros(len(table), dtype=bool)
    if (minimum := query.get(rule.min_field)) is not None:
        outside |= values < minimum
    if (maximum := query.get(rule.max_field)) is not None:
        outside |= values > maximum
    return ~outside


def _with_district(area: str | None) -> list[str]:
    """An area and, for a development zone, the district it lies in."""
    if area is None or area not in AREAS:
        return _as_list(area)
    district = AREAS[area].district
    return [area] if district is None else [area, district]


def _area_covers(
    rule: AreaCovers, query: Mapping[str, Any], table: KindTable, holder_is_candidate: bool
) -> np.ndarray:
    size = len(table)
    if holder_is_candidate:
        members = table.members(rule.holder_field)
        places = [ANYWHERE, *_with_district(query.get(rule.value_field))]
        return _mask(table.empty(rule.holder_field) | _any_of(members, places, size))
    covered = _as_list(query.get(rule.holder_field))
    if not covered or ANYWHERE in covered:
        return _all(table, True)
    members = table.members(rule.value_field)
    places = [place for place in members if set(_with_district(place)) & set(covered)]
    return _any_of(members, places, size)


def _has_room(
    rule: HasRoom, query: Mapping[str, Any], table: KindTable, holder_is_candidate: bool
) -> np.ndarray:
    if not holder_is_candidate:
        return _all(table, _room_left(query.get(rule.limit_field), query.get(rule.used_field or "")))
    limit = table.numbers(rule.limit_field)
    if rule.used_field is None:
        return _mask(np.nan_to_num(limit, nan=0.0) > 0)
    return _mask(np.nan_to_num(table.numbers(rule.used_field), nan=0.0) < np.nan_to_num(limit, nan=0.0))


def _room_left(limit: Any, used: Any) -> bool:
    return (limit or 0) > (used or 0)


def _at_least(
    rule: AtLeast, query: Mapping[str, Any], table: KindTable, holder_is_candidate: bool
) -> np.ndarray:
    rank = {value: position for position, value in enumerate(rule.order)}
    if holder_is_candidate:
        reached = rank.get(str(query.get(rule.value_field) or rule.order[0]), 0)
        members = table.members(rule.min_field)
        return _any_of(members, [v for v in members if rank.get(str(v), 0) <= reached], len(table))
    minimum = rank.get(str(query.get(rule.min_field) or rule.order[0]), 0)
    members = table.members(rule.value_field)
    return _any_of(members, [v for v in members if rank.get(str(v), 0) >= minimum], len(table))
