"""The allocation-round tables: a round, its participants, the operator's pair decisions and the
proposed assignment.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.rounds.kinds import PairDecision, RoundKind, RoundStatus, Side
from models.tables import Base, TimestampMixin, UtcDateTime, _enum


class AllocationRound(TimestampMixin, Base):
    __tablename__ = "allocation_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[RoundKind] = mapped_column(_enum(RoundKind), index=True)
    status: Mapped[RoundStatus] = mapped_column(_enum(RoundStatus), default=RoundStatus.draft, index=True)
    deadline: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    preference_depth: Mapped[int] = mapped_column(Integer, default=20)
    # The solver's settings, metrics and the applicants left without a match, as last solved.
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    published_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())

    participants: Mapped[list[RoundParticipant]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="RoundParticipant.position"
    )
    decisions: Mapped[list[RoundPairDecision]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    assignments: Mapped[list[RoundAssignment]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="RoundAssignment.applicant_id"
    )


class RoundParticipant(Base):
    """An applicant or counterpart of a round; ``position`` keeps the order given (ties go earlier)."""

    __tablename__ = "round_participants"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("allocation_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    side: Mapped[Side] = mapped_column(_enum(Side), primary_key=True)
    profile_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int | None] = mapped_column(Integer)
    # Row ids of the other side, best first: an applicant's own choices, an operator's order.
    ranking: Mapped[list[int]] = mapped_column(JSON, default=list)


class RoundPairDecision(Base):
    __tablename__ = "round_pair_decisions"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("allocation_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    applicant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    counterpart_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision: Mapped[PairDecision] = mapped_column(_enum(PairDecision))


class RoundAssignment(Base):
    """One match of the proposal, with what explains it."""

    __tablename__ = "round_assignments"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("allocation_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    applicant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    counterpart_id: Mapped[int] = mapped_column(Integer, index=True)
    score: Mapped[float | None] = mapped_column(Float)
    applicant_rank: Mapped[int | None] = mapped_column(Integer)
    counterpart_rank: Mapped[int | None] = mapped_column(Integer)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
