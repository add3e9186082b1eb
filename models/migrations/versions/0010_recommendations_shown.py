"""recommendations shown: per day, how often each profile was shown as a recommendation

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

KINDS = ("person", "startup", "investor", "mentor", "space", "practice_base", "post")


def upgrade() -> None:
    op.create_table(
        "recommendations_shown",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.Enum(*KINDS, name="entitykind", native_enum=False, length=32), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations_shown")),
        sa.UniqueConstraint("day", "kind", "profile_id", name=op.f("uq_recommendations_shown_day")),
    )
    with op.batch_alter_table("recommendations_shown", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recommendations_shown_day"), ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recommendations_shown", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recommendations_shown_day"))
    op.drop_table("recommendations_shown")
