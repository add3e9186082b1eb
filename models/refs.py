"""Translation between external ids (what files and clients use) and row ids (what tables use)."""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from models.enums import EntityKind
from models.tables import PROFILE_TABLES


class ReferenceCheckError(ValueError):
    """A reference to a profile that does not exist; ``field`` names the offending field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class KnownIds:
    """Both directions of the id mapping for profiles known in memory: a batch of records
    linked before (or without) any database. :class:`ExternalIds` adds the database's rows."""

    def __init__(self) -> None:
        self._to_id: dict[EntityKind, dict[str, int]] = defaultdict(dict)
        self._to_external: dict[EntityKind, dict[int, str]] = defaultdict(dict)

    def _look_up_external_id(self, kind: EntityKind, external_id: str) -> None:
        """Where ids live beyond memory, remember the row ``external_id`` names (if any)."""

    def _look_up_row_id(self, kind: EntityKind, row_id: int) -> None:
        """Where ids live beyond memory, remember the row ``row_id`` names (if any)."""

    def row_id(self, kind: EntityKind, external_id: str, *, field: str) -> int:
        if external_id not in self._to_id[kind]:
            self._look_up_external_id(kind, external_id)
        try:
            return self._to_id[kind][external_id]
        except KeyError:
            raise ReferenceCheckError(field, f"no {kind.value} with external_id '{external_id}'") from None

    def external_id(self, kind: EntityKind, row_id: int) -> str:
        if row_id not in self._to_external[kind]:
            self._look_up_row_id(kind, row_id)
        return self._to_external[kind][row_id]

    def optional_row_id(self, kind: EntityKind, external_id: str | None, *, field: str) -> int | None:
        return None if external_id is None else self.row_id(kind, external_id, field=field)

    def optional_external_id(self, kind: EntityKind, row_id: int | None) -> str | None:
        return None if row_id is None else self.external_id(kind, row_id)

    def remember(self, kind: EntityKind, row_id: int, external_id: str) -> None:
        """Record a row created in this unit of work so later references to it resolve."""
        self._to_id[kind][external_id] = row_id
        self._to_external[kind][row_id] = external_id

    def forget(self, kind: EntityKind, row_id: int) -> None:
        external = self._to_external[kind].pop(row_id, None)
        if external is not None:
            self._to_id[kind].pop(external, None)


class ExternalIds(KnownIds):
    """Both directions of the id mapping, per unit of work.

    A request resolves a handful of references: each is one indexed query. A bulk import or
    export resolves thousands: after ``LOAD_WHOLE_KIND_AFTER`` lookups of one kind, the whole
    kind is read in one query, which keeps that linear instead of one query per reference.
    """

    LOAD_WHOLE_KIND_AFTER = 32

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self._whole: set[EntityKind] = set()
        self._lookups: Counter[EntityKind] = Counter()

    def _load(self, kind: EntityKind) -> None:
        table = PROFILE_TABLES[kind]
        pairs = self.session.execute(select(table.id, table.external_id)).all()
        self._to_id[kind] = {external: row_id for row_id, external in pairs}
        self._to_external[kind] = dict(pairs)
        self._whole.add(kind)

    def _fetch(self, kind: EntityKind, condition: ColumnElement[bool]) -> None:
        """Cache the row matching ``condition``, or the whole kind once lookups add up."""
        self._lookups[kind] += 1
        if self._lookups[kind] > self.LOAD_WHOLE_KIND_AFTER:
            self._load(kind)
            return
        table = PROFILE_TABLES[kind]
        for row_id, external in self.session.execute(select(table.id, table.external_id).where(condition)):
            self.remember(kind, row_id, external)

    def _look_up_external_id(self, kind: EntityKind, external_id: str) -> None:
        if kind not in self._whole:
            self._fetch(kind, PROFILE_TABLES[kind].external_id == external_id)

    def _look_up_row_id(self, kind: EntityKind, row_id: int) -> None:
        if kind not in self._whole:
            self._fetch(kind, PROFILE_TABLES[kind].id == row_id)
