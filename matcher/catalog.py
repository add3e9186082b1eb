"""An in-memory snapshot of every profile and of the interaction history, kept current.

The matcher ranks against this snapshot, not the database: a recommendation must not cost
a query per candidate. Writes reach it through :meth:`Catalog.upsert`, :meth:`Catalog.remove`
and :meth:`Catalog.observe`, so a change is visible to the next recommendation at once.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar, Union, cast, overload

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.columns import RowStore, with_room
from matcher.graph import Node, RelationEvent, RelationGraph
from matcher.mapped import shared
from models.enums import EntityKind, InteractionKind
from models.kinds import KINDS, kind_spec
from models.tables import PROFILE_TABLES, Interaction, StartupMember

if TYPE_CHECKING:
    import pandas as pd

_EMPTY_SET: frozenset[Node] = frozenset()
# Records given to Catalog.from_records: a DataFrame or dicts, one per profile or interaction.
Records = Union["pd.DataFrame", Sequence[Mapping[str, Any]]]
# The ID-number hash key for records a notebook holds; they carry no ID numbers to protect.
RECORDS_SECRET: Final = "catalog-from-records"  # noqa: S105
T = TypeVar("T")


class KindTable:
    """Profiles of one kind in insertion order, held column by column (:mod:`matcher.columns`),
    with column caches for vectorised rules.

    ``record`` and ``records`` give each profile as the dict it was written as; a profile is
    decoded from the columns when read, so hold on to a record rather than reading it again.
    """

    def __init__(self, kind: EntityKind) -> None:
        self.kind = kind
        self._store = RowStore()
        self._rows = 0
        self._id_buffer = np.zeros(0, np.int64)
        self._alive_buffer = np.zeros(0, bool)
        self._ids = self._id_buffer[:0]
        self._alive = self._alive_buffer[:0]
        # Row id -> position + 1 (0: none), indexed by id while ids are dense; others in a dict.
        self._slot_of_id = np.zeros(0, np.int32)
        self._far_positions: dict[int, int] = {}
        # (what, field) -> column, and how to bring it up to date with one changed or added row
        self._cache: dict[tuple[str, str], _Column] = {}

    def __len__(self) -> int:
        return self._rows

    def __contains__(self, row_id: object) -> bool:
        if not isinstance(row_id, int):
            return False
        at = self._find(row_id)
        return at is not None and bool(self._alive[at])

    @property
    def records(self) -> Sequence[dict[str, Any]]:
        """Every row's record, by position (removed ones as ``{"id": ..., "active": False}``)."""
        return _Records(self)

    @property
    def ids(self) -> np.ndarray:
        """Each position's row id (a new array object whenever a row is added)."""
        return self._ids

    @property
    def alive(self) -> np.ndarray:
        """Rows that may be shown: present, active, and consenting to matching."""
        return self._alive

    def has_slot(self, row_id: int) -> bool:
        """Known to the table, visible or not (an inactive profile still has its slot)."""
        return self._find(row_id) is not None

    def position(self, row_id: int) -> int:
        at = self._find(row_id)
        if at is None:
            raise KeyError(row_id)
        return at

    def record(self, row_id: int) -> dict[str, Any]:
        return self._store.read(self.position(row_id))

    def record_at(self, at: int) -> dict[str, Any]:
        """The record at position ``at``."""
        if not 0 <= at < self._rows:
            raise IndexError(at)
        return self._store.read(at)

    def view(self, at: int) -> Mapping[str, Any]:
        """The record at position ``at``, each field decoded only when read: for passes over
        many rows that read a field or two."""
        return self._store.view(at)

    def value(self, at: int, name: str) -> Any:
        """Field ``name`` at position ``at``; None where absent."""
        return self._store.value(at, name)

    def upsert(self, record: Mapping[str, Any]) -> None:
        row_id = record["id"]
        visible = bool(record.get("active", True)) and bool(record.get("consent_matching", True))
        at = self._find(row_id)
        if at is not None:
            self._store.write(at, record, overwrite=True)
            self._alive[at] = visible
            self._refresh(at, record)
            return
        at = self._rows
        self._store.write(at, record, overwrite=False)
        self._rows += 1
        self._id_buffer = with_room(self._id_buffer, self._rows)
        self._alive_buffer = with_room(self._alive_buffer, self._rows)
        self._id_buffer[at], self._alive_buffer[at] = row_id, visible
        self._ids, self._alive = self._id_buffer[: self._rows], self._alive_buffer[: self._rows]
        self._place(row_id, at)
        self._grow(record)

    def remove(self, row_id: int) -> None:
        """Hide at once; the slot stays so positions of other rows never move."""
        at = self._find(row_id)
        if at is None:
            return
        self._alive[at] = False
        gone = {"id": row_id, "active": False}
        self._store.write(at, gone, overwrite=True)
        self._refresh(at, gone)

    def share(self, folder: Path) -> None:
        """Hold the columns memory-mapped from ``folder`` (:func:`matcher.mapped.shared`), so
        that every worker of the host reads one copy; later changes stay in this process."""
        arrays = self._store.arrays() | {
            "table.ids": self._id_buffer,
            "table.alive": self._alive_buffer,
            "table.slots": self._slot_of_id,
        }
        mapped = shared(folder, arrays)
        self._store.adopt(mapped)
        self._id_buffer, self._alive_buffer = mapped["table.ids"], mapped["table.alive"]
        self._slot_of_id = mapped["table.slots"]
        self._ids, self._alive = self._id_buffer[: self._rows], self._alive_buffer[: self._rows]

    def compact(self) -> None:
        """Forget the bytes of texts no row holds any more (after an erasure)."""
        self._store.compact()

    def _find(self, row_id: int) -> int | None:
        if 0 <= row_id < len(self._slot_of_id):
            slot = int(self._slot_of_id[row_id])
            if slot:
                return slot - 1
        return self._far_positions.get(row_id)

    def _place(self, row_id: int, at: int) -> None:
        # Ids up to a few times the row count (a database's serial ids) index an array of 4
        # bytes an id, where a dict costs ~100 bytes an entry.
        if 0 <= row_id < 4 * (self._rows + 1024) and at < np.iinfo(np.int32).max:
            self._slot_of_id = with_room(self._slot_of_id, row_id + 1)
            self._slot_of_id[row_id] = at + 1
        else:
            self._far_positions[row_id] = at

    def _values(self, name: str) -> Iterator[Any]:
        return self._store.values(name, self._rows)

    def numbers(self, name: str) -> np.ndarray:
        """A numeric field as float64, NaN where missing."""

        def build() -> np.ndarray:
            floats = self._store.floats(name, self._rows)
            if floats is not None:
                return floats
            return np.fromiter(map(_number, self._values(name)), np.float64, self._rows)

        def patch(numbers: np.ndarray, at: int, row: Mapping[str, Any]) -> None:
            numbers[at] = _number(row.get(name))

        return self._cached("numbers", name, build, patch, _with_room)

    def converted(self, name: str, key: str, convert: Callable[[Any], float]) -> np.ndarray:
        """Field ``name`` through ``convert`` as float64 (NaN where missing), cached under ``key``:
        a date as days, a code as its rung on a ladder."""

        def value(raw: Any) -> float:
            return np.nan if raw is None else convert(raw)

        def patch(column: np.ndarray, at: int, row: Mapping[str, Any]) -> None:
            column[at] = value(row.get(name))

        return self._cached(
            "converted",
            key,
            lambda: np.fromiter(map(value, self._values(name)), np.float64, self._rows),
            patch,
            _with_room,
        )

    def members(self, name: str) -> dict[Any, np.ndarray]:
        """For a list or scalar field: value -> boolean mask of the rows holding it."""

        def build() -> dict[Any, np.ndarray]:
            masks: dict[Any, np.ndarray] = defaultdict(lambda: np.zeros(self._rows, dtype=bool))
            for at, raw in enumerate(self._values(name)):
                for value in _as_list(raw):
                    masks[value][at] = True
            return dict(masks)

        def patch(masks: dict[Any, np.ndarray], at: int, row: Mapping[str, Any]) -> None:
            for mask in masks.values():
                mask[at] = False
            for value in _as_list(row.get(name)):
                masks.setdefault(value, np.zeros(self._rows, dtype=bool))[at] = True

        def grow(masks: dict[Any, np.ndarray], length: int) -> dict[Any, np.ndarray]:
            return {value: _with_room(mask, length) for value, mask in masks.items()}

        return self._cached("members", name, build, patch, grow)

    def groups(self, name: str, key: Callable[[Mapping[str, Any]], Hashable]) -> tuple[np.ndarray, list[Any]]:
        """Rows factorised by ``key`` (cached under ``name``): each row's group number and each
        group's key, so a pair feature is computed once per distinct key in a pool, not per row."""

        def build() -> tuple[np.ndarray, dict[Hashable, int], list[Any]]:
            numbers: dict[Hashable, int] = {}
            codes = np.fromiter(
                (numbers.setdefault(key(self.view(at)), len(numbers)) for at in range(self._rows)),
                np.int32,
                self._rows,
            )
            return codes, numbers, list(numbers)

        def patch(
            groups: tuple[np.ndarray, dict[Hashable, int], list[Any]], at: int, row: Mapping[str, Any]
        ) -> None:
            codes, numbers, keys = groups
            group = key(row)
            if group not in numbers:
                numbers[group] = len(keys)
                keys.append(group)
            codes[at] = numbers[group]

        def grow(
            groups: tuple[np.ndarray, dict[Hashable, int], list[Any]], length: int
        ) -> tuple[np.ndarray, dict[Hashable, int], list[Any]]:
            codes, numbers, keys = groups
            return _with_room(codes, length), numbers, keys

        codes, _, keys = self._cached("groups", name, build, patch, grow)
        return codes, keys

    def empty(self, name: str) -> np.ndarray:
        """Rows whose list field is empty (they state no preference)."""

        def patch(empty: np.ndarray, at: int, row: Mapping[str, Any]) -> None:
            empty[at] = not _as_list(row.get(name))

        return self._cached(
            "empty",
            name,
            lambda: np.fromiter((not _as_list(v) for v in self._values(name)), bool, self._rows),
            patch,
            _with_room,
        )

    def _cached(
        self,
        what: str,
        name: str,
        build: Callable[[], T],
        patch: Callable[[T, int, Any], None],
        grow: Callable[[T, int], T],
    ) -> T:
        key = (what, name)
        if key not in self._cache:
            self._cache[key] = _Column(build(), patch, grow)
        return cast(T, self._cache[key].value)

    def _refresh(self, at: int, row: Mapping[str, Any]) -> None:
        """Bring every cached column up to date with ``row``, now at ``at``: a profile edit costs
        a few writes, where rebuilding the columns would cost a pass over every row (seconds at 1M)."""
        for column in self._cache.values():
            column.patch(column.value, at, row)

    def _grow(self, row: Mapping[str, Any]) -> None:
        """Lengthen every cached column by ``row``, just appended, then fill that row in."""
        for column in self._cache.values():
            column.value = column.grow(column.value, self._rows)
        self._refresh(self._rows - 1, row)


class _Records(Sequence[dict[str, Any]]):
    """A table's records by position, each decoded when read."""

    def __init__(self, table: KindTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    @overload
    def __getitem__(self, at: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, at: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, at: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(at, slice):
            return [self._table.record_at(i) for i in range(*at.indices(len(self)))]
        return self._table.record_at(at + len(self) if at < 0 else at)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._table.record_at(at) for at in range(len(self)))


def row_record(row: Any) -> dict[str, Any]:
    """A stored row as the plain record the catalog keeps."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


@dataclass
class _Column:
    value: Any
    patch: Callable[[Any, int, Mapping[str, Any]], None]
    grow: Callable[[Any, int], Any]


def _with_room(column: np.ndarray, length: int) -> np.ndarray:
    """``column`` lengthened to ``length`` rows (new rows zero), in place while its buffer has room.

    Columns are prefix views of buffers that double when full, so a run of new profiles costs
    amortised constant time each, where rebuilding a column costs a pass over every row.
    """
    buffer = column if column.base is None else column.base
    if len(buffer) < length:
        grown = np.zeros(max(length, 2 * len(buffer)), dtype=column.dtype)
        grown[: len(column)] = column
        buffer = grown
    else:
        buffer[len(column) : length] = 0
    return buffer[:length]


def _number(value: Any) -> float:
    return np.nan if value is None else float(value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return [value]


@dataclass(frozen=True)
class Deal:
    """An investor backing a startup on a day (what collaborative signals count)."""

    investor: Node
    startup: Node
    occurred_at: dt.datetime


def _adjacency() -> defaultdict[Node, set[Node]]:
    return defaultdict(set)


def relation_events(session: Session) -> Iterator[RelationEvent]:
    """Every interaction as the graph takes it, oldest first: the columns only (loading each
    as an ORM object cost ~0.3 s of the demo's 8,000 in every one-off command)."""
    columns = (
        Interaction.actor_kind,
        Interaction.actor_id,
        Interaction.target_kind,
        Interaction.target_id,
        Interaction.kind,
        Interaction.occurred_at,
        Interaction.amount_cny,
    )
    for row in session.execute(select(*columns).order_by(Interaction.occurred_at, Interaction.id)):
        yield RelationEvent(*row)


@dataclass
class History:
    """What interactions imply for matching: relations (the graph), refusals, applications,
    activity. Adjacency sets make "what does this profile already have" one lookup."""

    graph: RelationGraph = field(default_factory=RelationGraph)
    declined: defaultdict[Node, set[Node]] = field(default_factory=_adjacency)
    # Open applications, both ways: applications[a][b] is when a applied to b, or b to a (the
    # latest time); a withdrawal by the applicant closes it.
    applications: defaultdict[Node, dict[Node, dt.datetime]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    last_active: dict[Node, dt.datetime] = field(default_factory=dict)
    investments: defaultdict[Node, list[dt.datetime]] = field(default_factory=lambda: defaultdict(list))
    deals: list[Deal] = field(default_factory=list)
    # Each forgotten profile's first deal's position in `deals` as it then was: what was derived
    # from the first n deals holds nothing forgotten since while every later erasure starts at n
    # or after (a query's profile that leaves with the deals it brought, as an evaluation's do).
    erased_at: list[int] = field(default_factory=list)
    # investor -> (when, startup) per investment, for its geography (matcher.geography).
    deals_by_investor: defaultdict[Node, list[tuple[dt.datetime, Node]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # Values derived from the events and the records of the profiles they name, as of one moment
    # (the investors' footprints, matcher.geography): see `derived`.
    _derived: dict[Hashable, Any] = field(default_factory=dict, repr=False)
    _derived_as_of: dt.datetime | None = field(default=None, repr=False)
    # The latest moment any event observed happened (never lowered, so it errs towards renewal).
    _latest_event: dt.datetime | None = field(default=None, repr=False)
    # Each node's earliest event: what is derived as of a moment before it never read the node.
    _first_active: dict[Node, dt.datetime] = field(default_factory=dict, repr=False)

    @classmethod
    def from_database(cls, session: Session) -> History:
        history = cls()
        for event in relation_events(session):
            history.observe(event)
        history.graph.prepare()
        return history

    def derived(self, as_of: dt.datetime) -> dict[Hashable, Any]:
        """A memo of values derived from the events strictly before ``as_of`` and the records of
        the profiles they name (an investor's footprint): emptied by a new event before its
        moment, by forgetting a profile with an event before it, by `record_changed` on a profile
        some event names, and when asked for another moment, unless both moments come after
        every event (the same events lie before either): served queries ask as of their own now,
        and each would otherwise derive everything again. A query from a new profile (no events,
        or its relations as of the clock) changes none of it, so an evaluation's queries share
        what the first one derived."""
        if as_of != self._derived_as_of and not self._after_every_event(as_of, self._derived_as_of):
            self._derived = {}
        self._derived_as_of = as_of
        return self._derived

    def _after_every_event(self, *moments: dt.datetime | None) -> bool:
        latest = self._latest_event
        return all(moment is not None and (latest is None or moment > latest) for moment in moments)

    def record_changed(self, node: Node) -> None:
        """``node``'s record changed (or it left, or came back): what was derived from it goes."""
        if node in self.last_active and self._derived:
            self._derived = {}

    def observe(self, event: RelationEvent) -> None:
        actor, target, kind, when = event.actor, event.target, event.kind, event.occurred_at
        if self._derived and not self._at_or_after_memo(when):
            self._derived = {}
        if self._latest_event is None or when > self._latest_event:
            self._latest_event = when
        self.graph.add(event)
        if kind is InteractionKind.declined:
            self.declined[actor].add(target)
            self.declined[target].add(actor)
        elif kind is InteractionKind.applied:
            for one, other in ((actor, target), (target, actor)):
                self.applications[one][other] = max(when, self.applications[one].get(other, when))
        elif kind is InteractionKind.withdrawn and target in self.applications.get(actor, {}):
            del self.applications[actor][target], self.applications[target][actor]
        elif kind is InteractionKind.invested:
            self.investments[actor].append(when)
            if actor[0] is EntityKind.investor and target[0] is EntityKind.startup:
                self.deals.append(Deal(actor, target, when))
                self.deals_by_investor[actor].append((when, target))
        for node in (actor, target):
            if node not in self.last_active or self.last_active[node] < when:
                self.last_active[node] = when
            if node not in self._first_active or when < self._first_active[node]:
                self._first_active[node] = when

    def _at_or_after_memo(self, when: dt.datetime) -> bool:
        """Whether an event at ``when`` lies outside what the memo derived: its values read the
        events strictly before their moment (a query's profile observed with its relations as of
        the clock leaves them as they were)."""
        return self._derived_as_of is not None and when >= self._derived_as_of

    def keeps_first_deals(self, count: int, *, erasures_seen: int) -> bool:
        """Whether the first ``count`` deals are those they were when ``erasures_seen`` profiles
        had been forgotten: no later erasure took one of them."""
        return len(self.deals) >= count and all(at >= count for at in self.erased_at[erasures_seen:])

    def related(self, node: Node) -> set[Node]:
        return self.graph.neighbours(node) if node in self.graph else set()

    def relation_count(self, node: Node) -> int:
        return self.graph.degree(node) if node in self.graph else 0

    def relation_counts(self, nodes: Iterable[Node]) -> list[int]:
        return self.graph.degrees(nodes)

    def excluded(self, query: Node) -> set[Node]:
        """Counterparts the query already has a relation with, or that either side declined."""
        return self.related(query) | self.declined.get(query, _EMPTY_SET)

    def forget(self, node: Node) -> None:
        """Erase every trace of a node (a removed profile)."""
        if node in self.graph:
            self.graph.remove_node(node)
        if node not in self.last_active:
            # Every event observed marks both its sides active: a node in none (a new profile
            # leaving, as each query of an evaluation does) left no trace to look for.
            return
        if not self._at_or_after_memo(self._first_active.pop(node)):
            self._derived = {}
        self.declined.pop(node, None)
        for members in self.declined.values():
            members.discard(node)
        for other in self.applications.pop(node, {}):
            self.applications[other].pop(node, None)
        self.last_active.pop(node, None)
        self.investments.pop(node, None)
        gone = [at for at, d in enumerate(self.deals) if node in (d.investor, d.startup)]
        if gone:
            self.deals = [d for d in self.deals if node not in (d.investor, d.startup)]
            self.erased_at.append(gone[0])
        self.deals_by_investor.pop(node, None)
        if node[0] is EntityKind.startup:
            for investor, deals in self.deals_by_investor.items():
                if any(target == node for _, target in deals):
                    self.deals_by_investor[investor] = [deal for deal in deals if deal[1] != node]


@dataclass
class Catalog:
    """Every profile by kind, the interaction history and the startups' teams, in memory.

    Build one with :meth:`from_records` (a notebook's records), :meth:`from_database` or
    :meth:`empty`; the constructor takes the parts.

    Parameters
    ----------
    tables : mapping of EntityKind to KindTable
        Each kind's profiles.
    history : History
        What the interactions imply: relations, refusals, applications, activity, deals.
    startups_of : mapping of person id to startup ids
        The startups on whose team each person is.
    team_of : mapping of startup id to person ids
        Each startup's team.
    """

    tables: dict[EntityKind, KindTable]
    history: History
    startups_of: dict[int, list[int]]  # person id -> startup ids where they are on the team
    team_of: dict[int, list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )  # startup id -> person ids

    @classmethod
    def empty(cls) -> Catalog:
        return cls({kind: KindTable(kind) for kind in EntityKind}, History(), defaultdict(list))

    @classmethod
    def from_records(cls, records: Mapping[str, Records], *, secret: str = RECORDS_SECRET) -> Catalog:
        """A catalogue of plain records, as a notebook holds them: no database to set up.

        Parameters
        ----------
        records : mapping of kind to records
            Each key names a kind by its slug or entity name (``"startups"``, ``"practice_base"``,
            ``"interactions"``); each value is a pandas DataFrame or a sequence of dicts shaped as
            the kind's Create schema (``models.schemas``), referring to each other by
            ``external_id``, as a bulk import file does.
        secret : str
            Keys the hash under which national ID numbers would be kept; records without ID
            numbers need none.

        Every record goes through the bulk import's checks (the kind's Create schema, references
        resolved among the records) into the rows an import into an empty database would write,
        built in memory, so the catalogue is what the service would read, with no database. A
        bad record raises :class:`models.transfer.ImportRowsError` naming its kind, its row (from
        1, in the order given) and the field at fault; nothing is built then.
        """
        # Here, not at the top: the import machinery (pandas, spreadsheets) is no part of
        # reading a catalogue from the database, which every CLI command does.
        from models.transfer import rows_in_memory

        by_slug = {kind_spec(name).slug: list(_as_dicts(rows)) for name, rows in records.items()}
        rows = rows_in_memory(by_slug, secret=secret)
        catalog = cls.empty()
        for slug, kind_rows in rows.items():
            kind = KINDS[slug].entity
            if kind is not None:
                for row in kind_rows:
                    catalog.tables[kind].upsert(row_record(row))
        for startup in rows.get("startups", []):
            for member in startup.members:
                catalog.startups_of[member.person_id].append(startup.id)
                catalog.team_of[startup.id].append(member.person_id)
        for interaction in sorted(rows.get("interactions", []), key=lambda i: (i.occurred_at, i.id)):
            catalog.history.observe(RelationEvent.from_interaction(interaction))
        return catalog

    def size(self) -> int:
        """How many profiles of every kind the catalogue holds."""
        return sum(len(table) for table in self.tables.values())

    def row_id(self, kind: EntityKind | str, external_id: str) -> int:
        """The row id the catalogue gives the profile ``external_id`` (what ``Matcher.recommend`` takes)."""
        table = self.tables[EntityKind(kind)]
        for row_id, found in zip(table.ids.tolist(), table._values("external_id"), strict=True):
            if found == external_id and row_id in table:
                return int(row_id)
        raise KeyError(f"no {EntityKind(kind).value} with external_id {external_id!r}")

    @classmethod
    def from_database(cls, session: Session, *, kinds: Collection[EntityKind] | None = None) -> Catalog:
        """Every profile and the whole history; with ``kinds``, only those kinds' profiles (the
        others' tables stay empty: a one-off command between two kinds reads no more)."""
        catalog = cls.empty()
        for kind, table in PROFILE_TABLES.items():
            if kinds is not None and kind not in kinds:
                continue
            columns = table.__table__.columns.keys()  # type: ignore[attr-defined]
            for row in session.execute(select(*table.__table__.columns)).all():  # type: ignore[attr-defined]
                catalog.tables[kind].upsert(dict(zip(columns, row, strict=True)))
        for startup_id, person_id in session.execute(
            select(StartupMember.startup_id, StartupMember.person_id)
        ):
            catalog.startups_of[person_id].append(startup_id)
            catalog.team_of[startup_id].append(person_id)
        for event in relation_events(session):
            catalog.history.observe(event)
        return catalog

    def set_team(self, startup_id: int, person_ids: list[int]) -> None:
        for person_id in self.team_of.pop(startup_id, []):
            if startup_id in self.startups_of.get(person_id, []):
                self.startups_of[person_id].remove(startup_id)
        for person_id in person_ids:
            self.startups_of[person_id].append(startup_id)
        self.team_of[startup_id] = list(person_ids)

    def remove(self, kind: EntityKind, row_id: int) -> None:
        self.tables[kind].remove(row_id)
        self.history.forget((kind, row_id))
        if kind is EntityKind.person:
            for startup_id in self.startups_of.pop(row_id, []):
                self.team_of[startup_id].remove(row_id)
        elif kind is EntityKind.startup:
            for person_id in self.team_of.pop(row_id, []):
                self.startups_of[person_id].remove(row_id)


def _as_dicts(rows: Records) -> Iterable[dict[str, Any]]:
    pandas = sys.modules.get("pandas")  # no DataFrame exists unless pandas was imported
    if pandas is not None and isinstance(rows, pandas.DataFrame):
        # A missing cell is an absent value, as in a CSV import; list cells pass through.
        return [{str(k): v for k, v in row.items() if not _is_missing(v)} for row in rows.to_dict("records")]
    return [dict(row) for row in cast("Sequence[Mapping[str, Any]]", rows)]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
