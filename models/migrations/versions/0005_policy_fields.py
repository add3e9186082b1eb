"""policy matching: the profile fields policies read, and applications with their status trail

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("birth_year", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("hukou", sa.String(length=32), nullable=True))
        # Existing people are not returnees until they say so.
        batch.add_column(sa.Column("returnee", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("startups") as batch:
        batch.add_column(sa.Column("headcount", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("funding_received_cny", sa.BigInteger(), nullable=True))
    op.create_table(
        "policy_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("applicant_kind", sa.String(length=32), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_applications")),
    )
    op.create_index(
        op.f("ix_policy_applications_policy_id"), "policy_applications", ["policy_id"], unique=False
    )
    op.create_index(op.f("ix_policy_applications_status"), "policy_applications", ["status"], unique=False)
    op.create_index(
        "ix_policy_applications_applicant", "policy_applications", ["applicant_kind", "applicant_id"]
    )
    op.create_table(
        "policy_application_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["policy_applications.id"],
            name=op.f("fk_policy_application_events_application_id_policy_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_application_events")),
    )
    op.create_index(
        op.f("ix_policy_application_events_application_id"),
        "policy_application_events",
        ["application_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("policy_application_events")
    op.drop_table("policy_applications")
    with op.batch_alter_table("startups") as batch:
        batch.drop_column("funding_received_cny")
        batch.drop_column("headcount")
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("returnee")
        batch.drop_column("hukou")
        batch.drop_column("birth_year")
