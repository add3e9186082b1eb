"""A space's seats over time: one row each time its seats (total or vacant) change, however they
change (the API, an import, the portal's admissions or capacity form), so the operator's chart
shows what was, not a reconstruction from admissions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, event, insert, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.tables import Base, Space, UtcDateTime


class SpaceOccupancy(Base):
    __tablename__ = "space_occupancy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    seats_total: Mapped[int] = mapped_column(Integer)
    seats_vacant: Mapped[int] = mapped_column(Integer)


_SEATS = ("seats_total", "seats_vacant")


def _seats_changed(space: Space) -> bool:
    state = inspect(space)
    return any(state.attrs[name].history.has_changes() for name in _SEATS)


@event.listens_for(Session, "after_flush")
def _record_occupancy(session: Session, _context: Any) -> None:
    """In the flush that changed the seats, so the history commits (or rolls back) with them."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "space_id": space.id,
            "recorded_at": now,
            "seats_total": space.seats_total,
            "seats_vacant": space.seats_vacant,
        }
        for space in (*session.new, *session.dirty)
        if isinstance(space, Space) and space not in session.deleted and _seats_changed(space)
    ]
    if rows:
        session.connection().execute(insert(SpaceOccupancy), rows)


def occupancy_since(session: Session, space_id: int, start: dt.datetime) -> list[SpaceOccupancy]:
    """The space's recorded seats from ``start`` on, oldest first, with the last one before it
    (the state the period started in)."""
    before = session.scalar(
        select(SpaceOccupancy)
        .where(SpaceOccupancy.space_id == space_id, SpaceOccupancy.recorded_at < start)
        .order_by(SpaceOccupancy.recorded_at.desc(), SpaceOccupancy.id.desc())
        .limit(1)
    )
    after = session.scalars(
        select(SpaceOccupancy)
        .where(SpaceOccupancy.space_id == space_id, SpaceOccupancy.recorded_at >= start)
        .order_by(SpaceOccupancy.recorded_at, SpaceOccupancy.id)
    )
    return [*([before] if before is not None else []), *after]
