"""accounts, the profiles they act for, and their API keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

ROLES = ("admin", "operator", "investor", "mentor", "founder", "enterprise")
KINDS = ("person", "startup", "investor", "mentor", "space", "practice_base", "post")


def _timestamps() -> list[sa.Column[Any]]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.Enum(*ROLES, name="accountrole", native_enum=False, length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_accounts_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_person_id"), ["person_id"], unique=True)
    op.create_table(
        "account_profiles",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column(
            "profile_kind",
            sa.Enum(*KINDS, name="entitykind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_profiles_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "profile_kind", "profile_id", name=op.f("pk_account_profiles")),
    )
    with op.batch_alter_table("account_profiles", schema=None) as batch_op:
        batch_op.create_index("ix_account_profiles_profile", ["profile_kind", "profile_id"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_api_keys_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("account_profiles")
    op.drop_table("accounts")
