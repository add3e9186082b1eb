"""Translation between external ids (what files and clients use) and row ids (what tables use)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.enums import EntityKind
from models.tables import PROFILE_TABLES


class ReferenceCheckError(ValueError):
    """A reference to a profile that does not exist; ``field`` names the offending field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ExternalIds:
    """Both directions of the id mapping, loaded once per kind per unit of work.

    A bulk import or export resolves thousands of references; one query per kind keeps that
    linear instead of one query per reference.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._to_id: dict[EntityKind, dict[str, int]] = {}
        self._to_external: dict[EntityKind, dict[int, str]] = {}

    def _load(self, kind: EntityKind) -> None:
        if kind in self._to_id:
            return
        table = PROFILE_TABLES[kind]
        pairs = self.session.execute(select(table.id, table.external_id)).all()
        self._to_id[kind] = {external: row_id for row_id, external in pairs}
        self._to_external[kind] = dict(pairs)

    def row_id(self, kind: EntityKind, external_id: str, *, field: str) -> int:
        self._load(kind)
        try:
            return self._to_id[kind][external_id]
        except KeyError:
            raise ReferenceCheckError(field, f"no {kind.value} with external_id '{external_id}'") from None

    def external_id(self, kind: EntityKind, row_id: int) -> str:
        self._load(kind)
        return self._to_external[kind][row_id]

    def optional_row_id(self, kind: EntityKind, external_id: str | None, *, field: str) -> int | None:
        return None if external_id is None else self.row_id(kind, external_id, field=field)

    def optional_external_id(self, kind: EntityKind, row_id: int | None) -> str | None:
        return None if row_id is None else self.external_id(kind, row_id)

    def remember(self, kind: EntityKind, row_id: int, external_id: str) -> None:
        """Record a row created in this unit of work so later references to it resolve."""
        if kind in self._to_id:
            self._to_id[kind][external_id] = row_id
            self._to_external[kind][row_id] = external_id

    def forget(self, kind: EntityKind, row_id: int) -> None:
        external = self._to_external.get(kind, {}).pop(row_id, None)
        if external is not None:
            self._to_id[kind].pop(external, None)
