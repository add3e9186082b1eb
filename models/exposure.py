"""How often each profile was shown as a recommendation, per day: the exposure the programme
measures fairness on (a Gini over who is shown, not over who was contacted)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import Date, Integer, UniqueConstraint, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.enums import EntityKind
from models.tables import Base, _enum

Shown = Mapping[tuple[dt.date, EntityKind, int], int]


class RecommendationShown(Base):
    __tablename__ = "recommendations_shown"
    __table_args__ = (UniqueConstraint("day", "kind", "profile_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    kind: Mapped[EntityKind] = mapped_column(_enum(EntityKind))
    profile_id: Mapped[int] = mapped_column(Integer)
    shown: Mapped[int] = mapped_column(Integer)


def add_shown(session: Session, counts: Shown) -> None:
    """Add to the day's counts (one upsert per row; SQLite and PostgreSQL both have one)."""
    if not counts:
        return
    rows = [
        {"day": day, "kind": kind, "profile_id": profile_id, "shown": n}
        for (day, kind, profile_id), n in counts.items()
    ]
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(RecommendationShown)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "kind", "profile_id"],
            set_={"shown": RecommendationShown.shown + statement.excluded.shown},
        ),
        rows,
    )


def shown_between(session: Session, kind: EntityKind, start: dt.date, end: dt.date) -> dict[int, int]:
    """Times each profile of ``kind`` was shown on the days from ``start`` up to ``end`` (excluded)."""
    rows = session.execute(
        select(RecommendationShown.profile_id, func.sum(RecommendationShown.shown))
        .where(
            RecommendationShown.kind == kind,
            RecommendationShown.day >= start,
            RecommendationShown.day < end,
        )
        .group_by(RecommendationShown.profile_id)
    )
    return {int(profile_id): int(total) for profile_id, total in rows}


def forget_shown(session: Session, kind: EntityKind, profile_id: int) -> None:
    """Delete the profile's counts (an erasure): how often a person was shown is about them."""
    session.execute(
        delete(RecommendationShown).where(
            RecommendationShown.kind == kind, RecommendationShown.profile_id == profile_id
        )
    )
