"""The change feed: every committed write that matching or authentication depends on, in order.

Each service process holds its own matcher in memory. A write is made by one process (an API
worker, or the CLI), so the others learn of it from this table: a flush that touches a
profile, a team, an interaction, an account or a policy document adds a row here in the same
transaction, so the feed holds exactly the committed writes. Readers remember the last id they applied and ask
for the rows after it.

Ids are handed out in commit order: SQLite has one writer at a time, and on PostgreSQL a
transaction-scoped advisory lock is taken before the first row, so a reader never sees id 11
while 10 is still to commit (it would skip 10 for good).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Integer, String, event, func, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

import models.occupancy  # noqa: F401  (its after_flush listener records seats beside the feed)
from models.enums import EntityKind
from models.portal import Login
from models.tables import (
    PROFILE_TABLES,
    Account,
    AccountProfile,
    ApiKey,
    Base,
    Interaction,
    PolicyDocument,
    StartupMember,
    UtcDateTime,
)

# Set on a session (``session.info[BULK] = True``) whose writes are too many to list one by
# one, such as a bulk import: it records one "reload everything" instead.
BULK = "change_feed_bulk"
# Any fixed number: the key of the PostgreSQL advisory lock that orders the feed.
_PG_FEED_LOCK = 7_302_114


class ChangeOp(StrEnum):
    insert = "insert"
    update = "update"
    delete = "delete"
    reload = "reload"  # everything may have changed (a bulk import): rebuild from the database


class Topic(StrEnum):
    """What changed, besides the profile kinds (whose topic is their table name)."""

    interactions = "interactions"
    accounts = "accounts"
    policies = "policies"  # staff's policy documents: the row is the document's id
    everything = "*"


class Change(Base):
    __tablename__ = "changes"
    __table_args__ = ({"sqlite_autoincrement": True},)  # never reuse an id, even after a prune

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int | None] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), server_default=func.now())


@dataclass(frozen=True, order=True)
class FeedEntry:
    id: int
    topic: str
    row_id: int | None
    op: ChangeOp


PROFILE_TOPICS: dict[str, EntityKind] = {
    table.__table__.name: kind  # type: ignore[attr-defined]
    for kind, table in PROFILE_TABLES.items()
}
KIND_TOPICS = {kind: topic for topic, kind in PROFILE_TOPICS.items()}


def _topic_of(instance: object) -> tuple[str, int] | None:
    """The feed topic and row an ORM object's write belongs to; None when nothing reads it."""
    if isinstance(instance, tuple(PROFILE_TABLES.values())):
        return type(instance).__tablename__, instance.id  # type: ignore[attr-defined]
    if isinstance(instance, StartupMember):
        return "startups", instance.startup_id
    if isinstance(instance, Interaction):
        return Topic.interactions, instance.id
    if isinstance(instance, PolicyDocument):
        return Topic.policies, instance.id
    if isinstance(instance, Account | ApiKey | AccountProfile | Login):
        return Topic.accounts, instance.id if isinstance(instance, Account) else instance.account_id
    return None


# Rows whose writes change another row (their parent) rather than themselves.
_PART_OF_PARENT = (StartupMember, ApiKey, AccountProfile, Login)
# When one flush writes a row twice, the strongest op stands.
_STRENGTH = {ChangeOp.update: 0, ChangeOp.insert: 1, ChangeOp.delete: 2}


def _entries(session: Session) -> list[dict[str, Any]]:
    writes: list[tuple[object, ChangeOp]] = [
        *((o, ChangeOp.insert) for o in session.new),
        *((o, ChangeOp.update) for o in session.dirty if session.is_modified(o)),
        *((o, ChangeOp.delete) for o in session.deleted),
    ]
    if session.info.get(BULK):
        touched = any(_topic_of(o) for o, _ in writes)
        return [{"topic": Topic.everything, "row_id": None, "op": ChangeOp.reload}] if touched else []
    seen: dict[tuple[str, int], ChangeOp] = {}
    for instance, op in writes:
        where = _topic_of(instance)
        if where is None:
            continue
        own = ChangeOp.update if isinstance(instance, _PART_OF_PARENT) else op
        seen[where] = max(own, seen.get(where, own), key=_STRENGTH.__getitem__)
    return [{"topic": topic, "row_id": row_id, "op": op} for (topic, row_id), op in seen.items()]


@event.listens_for(Session, "after_flush")
def _record_changes(session: Session, _context: Any) -> None:
    _insert(session, _entries(session))


def mark_updated(session: Session, profiles: Iterable[tuple[EntityKind, int]]) -> None:
    """Record profiles the database changed by itself (a foreign key set to NULL on delete),
    which no flush of theirs reports."""
    _insert(session, [{"topic": KIND_TOPICS[k], "row_id": i, "op": ChangeOp.update} for k, i in profiles])


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_FEED_LOCK})
    connection.execute(insert(Change), rows)


_LATEST = select(func.coalesce(func.max(Change.id), 0))


def latest_change_id(reader: Session | Connection) -> int:
    return int(reader.scalar(_LATEST) or 0)


def changes_after(session: Session, after_id: int) -> list[FeedEntry]:
    columns = (Change.id, Change.topic, Change.row_id, Change.op)
    rows = session.execute(select(*columns).where(Change.id > after_id).order_by(Change.id))
    return [FeedEntry(id, topic, row_id, ChangeOp(op)) for id, topic, row_id, op in rows]


def begin_snapshot(session: Session) -> None:
    """Make every later read of ``session`` see one committed state (until it ends), so that a
    state read from the tables and the feed position read beside it agree."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # pysqlite opens no transaction for reads; a WAL read transaction is the snapshot.
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
