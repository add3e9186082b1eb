"""space occupancy: a space's seats each time they change, for the operator's chart

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "space_occupancy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seats_total", sa.Integer(), nullable=False),
        sa.Column("seats_vacant", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_space_occupancy_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_occupancy")),
    )
    with op.batch_alter_table("space_occupancy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_space_occupancy_space_id"), ["space_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_space_occupancy_recorded_at"), ["recorded_at"], unique=False)
    # Today's seats as each space's first point: the history starts now.
    op.execute(
        "INSERT INTO space_occupancy (space_id, recorded_at, seats_total, seats_vacant) "
        "SELECT id, CURRENT_TIMESTAMP, seats_total, seats_vacant FROM spaces"
    )


def downgrade() -> None:
    with op.batch_alter_table("space_occupancy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_space_occupancy_recorded_at"))
        batch_op.drop_index(batch_op.f("ix_space_occupancy_space_id"))
    op.drop_table("space_occupancy")
