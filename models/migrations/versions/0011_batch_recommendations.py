"""batch recommendations: runs of every asker's top k, their resumable units and their rows

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

KINDS = ("person", "startup", "investor", "mentor", "space", "practice_base", "post")


def upgrade() -> None:
    op.create_table(
        "batch_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=64), nullable=False),
        sa.Column(
            "asker_kind", sa.Enum(*KINDS, name="entitykind", native_enum=False, length=32), nullable=False
        ),
        sa.Column(
            "candidate_kind", sa.Enum(*KINDS, name="entitykind", native_enum=False, length=32), nullable=False
        ),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("askers", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_runs")),
    )
    with op.batch_alter_table("batch_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_runs_direction"), ["direction"], unique=False)
    op.create_table(
        "batch_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.Integer(), nullable=False),
        sa.Column("first_asker", sa.Integer(), nullable=False),
        sa.Column("last_asker", sa.Integer(), nullable=False),
        sa.Column("askers", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["batch_runs.id"], name=op.f("fk_batch_units_run_id_batch_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_units")),
        sa.UniqueConstraint("run_id", "unit", name=op.f("uq_batch_units_run_id")),
    )
    op.create_table(
        "batch_recommendations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("asker_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["batch_runs.id"],
            name=op.f("fk_batch_recommendations_run_id_batch_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_recommendations")),
        sa.UniqueConstraint("run_id", "asker_id", "rank", name=op.f("uq_batch_recommendations_run_id")),
    )


def downgrade() -> None:
    op.drop_table("batch_recommendations")
    op.drop_table("batch_units")
    with op.batch_alter_table("batch_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_runs_direction"))
    op.drop_table("batch_runs")
