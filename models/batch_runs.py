"""Batch recommendation runs: the top k of every asker of one direction, kept for weekly
digests and the staff dashboard, written unit by unit so that a killed run resumes where it
stopped.

A run's askers are cut into units (consecutive ids, first and last stored) when it starts. A
unit's rows and its completion are one transaction; a unit completed once (by a worker Ray
retried, or by a worker of the killed run finishing late) is never written twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.clock import beijing_now
from models.enums import EntityKind
from models.tables import PROFILE_TABLES, Base, UtcDateTime, _enum


class BatchRun(Base):
    __tablename__ = "batch_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(64), index=True)
    # The kinds the rows' ids are of: an erased profile's rows are found by them.
    asker_kind: Mapped[EntityKind] = mapped_column(_enum(EntityKind))
    candidate_kind: Mapped[EntityKind] = mapped_column(_enum(EntityKind))
    k: Mapped[int] = mapped_column(Integer)
    askers: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class BatchUnit(Base):
    __tablename__ = "batch_units"
    __table_args__ = (UniqueConstraint("run_id", "unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id", ondelete="CASCADE"))
    unit: Mapped[int] = mapped_column(Integer)
    first_asker: Mapped[int] = mapped_column(Integer)
    last_asker: Mapped[int] = mapped_column(Integer)
    askers: Mapped[int] = mapped_column(Integer)
    done_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class BatchRecommendation(Base):
    __tablename__ = "batch_recommendations"
    __table_args__ = (UniqueConstraint("run_id", "asker_id", "rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id", ondelete="CASCADE"))
    asker_id: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer)
    candidate_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


@dataclass(frozen=True)
class Unit:
    """Askers ``first``..``last`` (ids, both included) of a run: ``askers`` of them."""

    number: int
    first: int
    last: int
    askers: int


@dataclass(frozen=True)
class RankedRow:
    asker_id: int
    rank: int
    candidate_id: int
    score: float


def plan_units(asker_ids: Sequence[int], unit_size: int) -> list[Unit]:
    """Consecutive runs of ``unit_size`` ids, in id order."""
    if unit_size < 1:
        raise ValueError("unit_size: must be at least 1")
    ordered = sorted(asker_ids)
    return [
        Unit(number, chunk[0], chunk[-1], len(chunk))
        for number, start in enumerate(range(0, len(ordered), unit_size))
        for chunk in [ordered[start : start + unit_size]]
    ]


def asker_ids(session: Session, kind: EntityKind) -> list[int]:
    """Every profile of ``kind``, by id (inactive ones too: they are answered with no rows)."""
    table = PROFILE_TABLES[kind]
    return [int(i) for i in session.scalars(select(table.id).order_by(table.id))]


def start_run(
    session: Session, direction: str, kinds: tuple[EntityKind, EntityKind], k: int, units: Sequence[Unit]
) -> int:
    """A new run of ``direction`` (from asker to candidate ``kinds``) with its units; its id."""
    run = BatchRun(
        direction=direction,
        asker_kind=kinds[0],
        candidate_kind=kinds[1],
        k=k,
        askers=sum(u.askers for u in units),
        created_at=beijing_now(),
    )
    session.add(run)
    session.flush()
    session.add_all(
        BatchUnit(run_id=run.id, unit=u.number, first_asker=u.first, last_asker=u.last, askers=u.askers)
        for u in units
    )
    return run.id


def unfinished_run(session: Session, direction: str, k: int) -> int | None:
    """The newest run of ``direction`` and ``k`` that has not finished, if any."""
    return session.scalar(
        select(BatchRun.id)
        .where(BatchRun.direction == direction, BatchRun.k == k, BatchRun.finished_at.is_(None))
        .order_by(BatchRun.id.desc())
        .limit(1)
    )


def run_of(session: Session, run_id: int) -> BatchRun | None:
    return session.get(BatchRun, run_id)


def pending_units(session: Session, run_id: int) -> list[Unit]:
    rows = session.scalars(
        select(BatchUnit)
        .where(BatchUnit.run_id == run_id, BatchUnit.done_at.is_(None))
        .order_by(BatchUnit.unit)
    )
    return [Unit(r.unit, r.first_asker, r.last_asker, r.askers) for r in rows]


def complete_unit(session: Session, run_id: int, unit: int, rows: Sequence[RankedRow]) -> bool:
    """Mark ``unit`` done and add its rows, in the caller's transaction; False (nothing added)
    when it was done already. The mark comes first: a second writer of the unit waits on it
    and then finds it done."""
    now = beijing_now()
    marked = session.execute(
        update(BatchUnit)
        .where(BatchUnit.run_id == run_id, BatchUnit.unit == unit, BatchUnit.done_at.is_(None))
        .values(done_at=now)
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if rows:
        session.execute(
            insert(BatchRecommendation),
            [
                {
                    "run_id": run_id,
                    "asker_id": row.asker_id,
                    "rank": row.rank,
                    "candidate_id": row.candidate_id,
                    "score": row.score,
                    "created_at": now,
                }
                for row in rows
            ],
        )
    return True


def finish_run(session: Session, run_id: int) -> bool:
    """Mark the run finished when every unit is done; whether it is."""
    if session.scalar(
        select(func.count())
        .select_from(BatchUnit)
        .where(BatchUnit.run_id == run_id, BatchUnit.done_at.is_(None))
    ):
        return False
    session.execute(update(BatchRun).where(BatchRun.id == run_id).values(finished_at=beijing_now()))
    return True


def run_rows(session: Session, run_id: int, asker_id: int | None = None) -> list[RankedRow]:
    """A run's rows (one asker's, when given), by asker then rank."""
    query = select(BatchRecommendation).where(BatchRecommendation.run_id == run_id)
    if asker_id is not None:
        query = query.where(BatchRecommendation.asker_id == asker_id)
    ordered = query.order_by(BatchRecommendation.asker_id, BatchRecommendation.rank)
    return [RankedRow(r.asker_id, r.rank, r.candidate_id, r.score) for r in session.scalars(ordered)]


def forget_profile(session: Session, kind: EntityKind, row_id: int) -> None:
    """Delete every row naming the profile, as asker or as candidate (an erasure)."""
    for side, column in (
        (BatchRun.asker_kind, BatchRecommendation.asker_id),
        (BatchRun.candidate_kind, BatchRecommendation.candidate_id),
    ):
        runs = select(BatchRun.id).where(side == kind)
        session.execute(
            delete(BatchRecommendation)
            .where(column == row_id, BatchRecommendation.run_id.in_(runs))
            .execution_options(synchronize_session=False)
        )
