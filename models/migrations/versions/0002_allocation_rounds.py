"""allocation rounds: the rounds, their participants, the operator's pair decisions, the proposal

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 23:55:30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def _round_id() -> sa.Column[Any]:
    return sa.Column("round_id", sa.Integer(), nullable=False)


def _round_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["round_id"],
        ["allocation_rounds.id"],
        name=op.f(f"fk_{table}_round_id_allocation_rounds"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    now = sa.text("(CURRENT_TIMESTAMP)")
    op.create_table(
        "allocation_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "roundkind", "space_admission", "practice_placement", "mentor_assignment", "investor_intro"
            ),
            nullable=False,
        ),
        sa.Column("status", _enum("roundstatus", "draft", "reviewed", "published"), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("preference_depth", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_rounds")),
    )
    with op.batch_alter_table("allocation_rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_rounds_external_id"), ["external_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_allocation_rounds_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_allocation_rounds_status"), ["status"], unique=False)

    op.create_table(
        "round_participants",
        _round_id(),
        sa.Column("side", _enum("side", "applicant", "counterpart"), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("ranking", sa.JSON(), nullable=False),
        _round_key("round_participants"),
        sa.PrimaryKeyConstraint("round_id", "side", "profile_id", name=op.f("pk_round_participants")),
    )
    op.create_table(
        "round_pair_decisions",
        _round_id(),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("counterpart_id", sa.Integer(), nullable=False),
        sa.Column("decision", _enum("pairdecision", "pin", "forbid"), nullable=False),
        _round_key("round_pair_decisions"),
        sa.PrimaryKeyConstraint(
            "round_id", "applicant_id", "counterpart_id", name=op.f("pk_round_pair_decisions")
        ),
    )
    op.create_table(
        "round_assignments",
        _round_id(),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("counterpart_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("applicant_rank", sa.Integer(), nullable=True),
        sa.Column("counterpart_rank", sa.Integer(), nullable=True),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        _round_key("round_assignments"),
        sa.PrimaryKeyConstraint("round_id", "applicant_id", name=op.f("pk_round_assignments")),
    )
    with op.batch_alter_table("round_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_round_assignments_counterpart_id"), ["counterpart_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("round_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_assignments_counterpart_id"))
    op.drop_table("round_assignments")
    op.drop_table("round_pair_decisions")
    op.drop_table("round_participants")
    with op.batch_alter_table("allocation_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_rounds_status"))
        batch_op.drop_index(batch_op.f("ix_allocation_rounds_kind"))
        batch_op.drop_index(batch_op.f("ix_allocation_rounds_external_id"))
    op.drop_table("allocation_rounds")
