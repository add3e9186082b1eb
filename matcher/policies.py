"""Policy matching (政策匹配): which of the plan's policies a profile qualifies for, and who
qualifies for a policy (免申即享).

Both directions evaluate the same criteria trees with the same value conversions: over the
catalogue's cached columns for every profile of a kind at once (numpy masks), or over one
profile's record in plain Python (a check is a few microseconds per criterion). Logic is
three-valued: a criterion over a field the profile has not filled in is neither met nor
failed, and counts as unmet (its hint then asks for the field).

A profile's result for a policy is one of:

- ``eligible``: every criterion met (each shown met);
- ``almost``: one or two criteria unmet, none of them ``fixed``: each comes with what would
  change it ("融资达到A轮后可申请 / eligible once you raise a Series A round");
- ``not_eligible``: anything else, or the policy is outside its application window.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from matcher.catalog import Catalog, KindTable
from models.clock import BEIJING
from models.enums import EntityKind, InteractionKind
from models.policies import AllOf, AnyOf, Comparison, Criterion, NotOf, Policy, Text, units_of
from models.policy_fields import FieldType, ProfileField
from models.taxonomy import ANYWHERE, AREAS, industry_ancestors

Status = Literal["eligible", "almost", "not_eligible"]
STATUS_RANK: Mapping[Status, int] = {"not_eligible": 0, "almost": 1, "eligible": 2}
# "Almost" is worth showing only when little is missing.
MAX_UNMET_FOR_ALMOST = 2
DAYS_PER_YEAR = 365.2425
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
_EPOCH = dt.date(1970, 1, 1)
WINDOW_PATH = "window"


class Words(NamedTuple):
    """Explanation text made per check (a pydantic model per sentence cost most of a check)."""

    zh: str
    en: str


# --- columns -----------------------------------------------------------------------------


def _expanded(field: ProfileField, code: Any) -> frozenset[str]:
    """The codes a held code counts as: an industry and its ancestors, an area, its district and
    "anywhere" (in Wuhan)."""
    return _expanded_code(field.type, field.name, str(code))


@functools.lru_cache(maxsize=4096)
def _expanded_code(type_: FieldType, name: str, code: str) -> frozenset[str]:
    if type_ is FieldType.codes and name == "industries":
        return frozenset({code, *industry_ancestors(code)})
    if type_ is FieldType.place:
        area = AREAS.get(code)
        return frozenset(
            {code, ANYWHERE} | ({area.district} if area is not None and area.district else set())
        )
    return frozenset({code})


def _scalar(field: ProfileField, value: Any) -> float:
    """One stored value as the float the comparisons read."""
    if value is None:
        return math.nan
    if field.type is FieldType.date:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        return float((day - _EPOCH).days)
    if field.type is FieldType.ordinal:
        assert field.order is not None
        return float(field.order.get(str(value), math.nan))
    return float(value)


@dataclass
class TableColumns:
    """Every profile of one kind, read from the catalogue's cached columns (patched in place on
    every write, so a changed profile is read as it is now)."""

    catalog: Catalog
    kind: EntityKind

    def __post_init__(self) -> None:
        self.table: KindTable = self.catalog.tables[self.kind]
        self.size = len(self.table)

    def numbers(self, field: ProfileField) -> np.ndarray:
        if field.derived:
            return DERIVED[field.name](self.catalog, self.table)
        if field.type in (FieldType.date, FieldType.ordinal):
            return self.table.converted(field.name, f"policy:{field.name}", lambda v: _scalar(field, v))
        return self.table.numbers(field.name)

    def holds(self, field: ProfileField, codes: frozenset[str]) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        for code, rows in self.table.members(field.name).items():
            if _expanded(field, code) & codes:
                mask |= rows[: self.size]
        return mask

    def present(self, field: ProfileField) -> np.ndarray:
        return ~self.table.empty(field.name)[: self.size]


def _codes_of(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set | frozenset) else [value]


# --- derived fields ----------------------------------------------------------------------


def _founder_one(catalog: Catalog, person_id: int) -> float:
    return 1.0 if catalog.startups_of.get(person_id) else 0.0


def _founders(catalog: Catalog, table: KindTable) -> np.ndarray:
    column = np.zeros(len(table), dtype=np.float64)
    positions = [
        table.position(p) for p, startups in catalog.startups_of.items() if startups and table.has_slot(p)
    ]
    column[positions] = 1.0
    return column


def _wuhan_deals_one(catalog: Catalog, investor_id: int) -> float:
    """Startups with a Wuhan district this investor invested in, from the relation graph."""
    graph = catalog.history.graph
    node = (EntityKind.investor, investor_id)
    if node not in graph:
        return 0.0
    startups = catalog.tables[EntityKind.startup]
    count = 0
    for startup in graph.neighbours(node, EntityKind.startup):
        relation = graph.relation(node, startup)
        if relation is None or InteractionKind.invested not in relation.kinds or startup[1] not in startups:
            continue
        count += startups.record(startup[1]).get("district") is not None
    return float(count)


def _wuhan_deals(catalog: Catalog, table: KindTable) -> np.ndarray:
    return np.asarray([_wuhan_deals_one(catalog, int(i)) for i in table.ids], dtype=np.float64)


DERIVED: Mapping[str, Callable[[Catalog, KindTable], np.ndarray]] = {
    "founder": _founders,
    "wuhan_deals": _wuhan_deals,
}
DERIVED_ONE: Mapping[str, Callable[[Catalog, int], float]] = {
    "founder": _founder_one,
    "wuhan_deals": _wuhan_deals_one,
}


# --- evaluating criteria -----------------------------------------------------------------


@dataclass(frozen=True)
class Truth:
    """Three-valued masks: rows where a criterion holds, and where it is known to fail."""

    true: np.ndarray
    false: np.ndarray


def evaluate(criterion: Criterion, columns: TableColumns, today: dt.date) -> Truth:
    node = criterion.node
    if isinstance(node, AllOf):
        parts = [evaluate(p, columns, today) for p in node.parts]
        return Truth(
            np.logical_and.reduce([p.true for p in parts]), np.logical_or.reduce([p.false for p in parts])
        )
    if isinstance(node, AnyOf):
        parts = [evaluate(p, columns, today) for p in node.parts]
        return Truth(
            np.logical_or.reduce([p.true for p in parts]), np.logical_and.reduce([p.false for p in parts])
        )
    if isinstance(node, NotOf):
        inner = evaluate(node.part, columns, today)
        return Truth(inner.false, inner.true)
    return _compare(node, columns, today)


_COMPARE: Mapping[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _compare(leaf: Comparison, columns: TableColumns, today: dt.date) -> Truth:
    field = leaf.field
    if leaf.op in ("in", "not_in") or field.type in (FieldType.code, FieldType.codes, FieldType.place):
        codes = leaf.value if isinstance(leaf.value, frozenset) else frozenset({leaf.value})
        held, known = columns.holds(field, codes), columns.present(field)
        held &= known
        if leaf.op in ("in", "=="):
            return Truth(held, known & ~held)
        return Truth(known & ~held, held)
    values = _since(columns.numbers(field), field, leaf.since, today)
    target = _target(leaf)
    known = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        holds = _COMPARE[leaf.op](values, target)
    return Truth(holds & known, known & ~holds)


def _target(leaf: Comparison) -> float:
    if leaf.field.type is FieldType.ordinal and leaf.since is None:
        assert leaf.field.order is not None
        return float(leaf.field.order[leaf.value])
    if leaf.field.type is FieldType.flag:
        return 1.0 if leaf.value else 0.0
    return float(leaf.value)


def _since(values: np.ndarray, field: ProfileField, since: str | None, today: dt.date) -> np.ndarray:
    """Whole years or months elapsed up to ``today`` (a year field counts calendar years)."""
    if since is None:
        return values
    if field.type is FieldType.year:
        return today.year - values
    days = (today - _EPOCH).days - values
    return np.floor(days / (DAYS_PER_YEAR if since == "years" else DAYS_PER_MONTH))


def evaluate_one(
    criterion: Criterion, record: Mapping[str, Any], catalog: Catalog, today: dt.date
) -> tuple[bool, bool]:
    """:func:`evaluate` for one record: (holds, known to fail)."""
    node = criterion.node
    if isinstance(node, AllOf | AnyOf):
        parts = [evaluate_one(p, record, catalog, today) for p in node.parts]
        if isinstance(node, AllOf):
            return all(t for t, _ in parts), any(f for _, f in parts)
        return any(t for t, _ in parts), all(f for _, f in parts)
    if isinstance(node, NotOf):
        holds, fails = evaluate_one(node.part, record, catalog, today)
        return fails, holds
    return _compare_one(node, record, catalog, today)


_COMPARE_ONE: Mapping[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compare_one(
    leaf: Comparison, record: Mapping[str, Any], catalog: Catalog, today: dt.date
) -> tuple[bool, bool]:
    field = leaf.field
    if leaf.op in ("in", "not_in") or field.type in (FieldType.code, FieldType.codes, FieldType.place):
        wanted = leaf.value if isinstance(leaf.value, frozenset) else frozenset({leaf.value})
        codes = _codes_of(record.get(field.name))
        held = any(_expanded(field, c) & wanted for c in codes)
        if leaf.op in ("in", "=="):
            return held, bool(codes) and not held
        return bool(codes) and not held, held
    value = _number_one(leaf, record, catalog, today)
    if math.isnan(value):
        return False, False
    holds = _COMPARE_ONE[leaf.op](value, _target(leaf))
    return holds, not holds


def _number_one(leaf: Comparison, record: Mapping[str, Any], catalog: Catalog, today: dt.date) -> float:
    field = leaf.field
    if field.derived:
        value = DERIVED_ONE[field.name](catalog, int(record["id"]))
    else:
        value = _scalar(field, record.get(field.name))
    if leaf.since is None or math.isnan(value):
        return value
    if field.type is FieldType.year:
        return today.year - value
    days = (today - _EPOCH).days - value
    return float(math.floor(days / (DAYS_PER_YEAR if leaf.since == "years" else DAYS_PER_MONTH)))


# --- one profile against every policy ----------------------------------------------------


@dataclass(frozen=True)
class CriterionCheck:
    path: str
    label: Text | Words
    met: bool
    known: bool
    fixed: bool
    value: Words | None  # what the profile holds, where one field decides
    hint: Text | Words | None  # for an unmet criterion: what would change it


@dataclass(frozen=True)
class PolicyCheck:
    policy: Policy
    status: Status
    criteria: tuple[CriterionCheck, ...]

    @property
    def unmet(self) -> tuple[CriterionCheck, ...]:
        return tuple(c for c in self.criteria if not c.met)

    @property
    def version(self) -> int:
        return self.policy.version


def window_criterion(policy: Policy) -> Words:
    closes = policy.window.closes
    until_zh = f"至{closes.isoformat()}" if closes else "起，长期有效"
    until_en = f" to {closes.isoformat()}" if closes else " on, no closing date"
    return Words(
        zh=f"在申请期内（{policy.window.opens.isoformat()}{until_zh}）",
        en=f"within the application window ({policy.window.opens.isoformat()}{until_en})",
    )


def status_of(unmet: Sequence[CriterionCheck]) -> Status:
    if not unmet:
        return "eligible"
    # An unmet fixed criterion puts the policy out of reach, filled in or not: the status then
    # depends on which criteria are met alone, so meeting one more never lowers it.
    if len(unmet) <= MAX_UNMET_FOR_ALMOST and not any(c.fixed for c in unmet):
        return "almost"
    return "not_eligible"


def check_record(
    policies: Iterable[Policy], catalog: Catalog, kind: EntityKind, record: Mapping[str, Any], today: dt.date
) -> list[PolicyCheck]:
    """Every policy for ``kind`` checked against one profile: eligible first (by value, then
    id), then almost, then the rest."""
    checks = [_check(policy, catalog, record, today) for policy in policies if policy.audience is kind]
    return sorted(
        checks, key=lambda c: (-STATUS_RANK[c.status], len(c.unmet), -c.policy.value_cny, c.policy.id)
    )


def _check(policy: Policy, catalog: Catalog, record: Mapping[str, Any], today: dt.date) -> PolicyCheck:
    checks = [_criterion_check(c, catalog, record, today) for c in policy.criteria]
    if not policy.window.contains(today):
        label = window_criterion(policy)
        checks.append(CriterionCheck(WINDOW_PATH, label, False, True, True, None, None))
    return PolicyCheck(policy, status_of([c for c in checks if not c.met]), tuple(checks))


def _criterion_check(
    criterion: Criterion, catalog: Catalog, record: Mapping[str, Any], today: dt.date
) -> CriterionCheck:
    met, failed = evaluate_one(criterion, record, catalog, today)
    label = criterion.label
    leaf = _single_leaf(criterion)
    value = _value_text(leaf, record, catalog, today) if leaf is not None else None
    hint: Text | Words | None = None
    if not met:
        if not failed and leaf is not None:
            hint = Words(zh=f"请在资料中补充{leaf.field.zh}", en=f"add your {leaf.field.en} to your profile")
        elif criterion.fixed:
            hint = Words(zh="此条件无法通过更新资料满足", en="this cannot be met by updating your profile")
        else:
            hint = criterion.hint or Words(zh=f"满足“{label.zh}”后可申请", en=f"eligible once: {label.en}")
    return CriterionCheck(criterion.path, label, met, met or failed, criterion.fixed, value, hint)


def _single_leaf(criterion: Criterion) -> Comparison | None:
    node = criterion.node
    while isinstance(node, NotOf):
        node = node.part.node
    return node if isinstance(node, Comparison) else None


def _value_text(leaf: Comparison, record: Mapping[str, Any], catalog: Catalog, today: dt.date) -> Words:
    field = leaf.field
    if field.type in (FieldType.code, FieldType.codes, FieldType.place, FieldType.ordinal):
        codes = _codes_of(record.get(field.name))
        if not codes:
            return Words(zh="未填写", en="not given")
        names = [
            field.names.get(str(c), (str(c), str(c))) if field.names else (str(c), str(c)) for c in codes
        ]
        return Words(zh="、".join(n[0] for n in names), en=", ".join(n[1] for n in names))
    number = _number_one(leaf, record, catalog, today)
    if math.isnan(number):
        return Words(zh="未填写", en="not given")
    if field.type is FieldType.flag:
        return Words(zh="是" if number else "否", en="yes" if number else "no")
    unit_zh, unit_en = units_of(field, leaf.since)
    shown = f"{number:,.0f}"
    return Words(zh=f"{shown}{unit_zh}", en=f"{shown} {unit_en}".strip())


# --- one policy against every profile (免申即享) ------------------------------------------


def eligible_mask(policy: Policy, catalog: Catalog, today: dt.date) -> np.ndarray:
    """Over the audience's catalogue rows: visible profiles meeting every criterion."""
    table = catalog.tables[policy.audience]
    if not policy.window.contains(today):
        return np.zeros(len(table), dtype=bool)
    columns = TableColumns(catalog, policy.audience)
    mask = table.alive[: len(table)].copy()
    for criterion in policy.criteria:
        mask &= evaluate(criterion, columns, today).true
    return mask


def eligible_ids(
    policy: Policy, catalog: Catalog, today: dt.date, *, exclude: Iterable[int] = ()
) -> np.ndarray:
    """Row ids of every eligible profile not in ``exclude`` (those who applied already)."""
    table = catalog.tables[policy.audience]
    mask = eligible_mask(policy, catalog, today)
    skipped = [table.position(i) for i in exclude if table.has_slot(i)]
    mask[skipped] = False
    ids: np.ndarray = table.ids[: len(table)][mask]
    return ids


def today_in_wuhan(now: dt.datetime | None = None) -> dt.date:
    """The date windows are read in: Beijing time."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(BEIJING).date()


def prepare_columns(policies: Iterable[Policy], catalog: Catalog) -> None:
    """Build every cached column the policies read, at start: the first eligible list over a
    million profiles would otherwise pay seconds for them (they are patched in place after)."""
    today = today_in_wuhan()
    for policy in policies:
        eligible_mask(policy, catalog, today)
