"""every profile gets a structured location: country, province and city beside the Wuhan district

Existing rows keep working: the new columns are nullable, and a row whose district is a Wuhan
area is filled in as Wuhan, Hubei, China (what its district already said).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

PROFILE_TABLES = ("persons", "startups", "investors", "mentors", "spaces", "practice_bases", "posts")
# The Wuhan area codes of models.taxonomy at the time of this migration (frozen here on purpose:
# a migration must not change meaning when the vocabulary grows later).
WUHAN_AREAS = (
    "jiangan", "jianghan", "qiaokou", "hanyang", "wuchang", "qingshan", "hongshan", "dongxihu",
    "hannan", "caidian", "jiangxia", "huangpi", "xinzhou", "east_lake_hightech", "wuhan_econ_tech",
    "airport_econ", "yangtze_new_area",
)  # fmt: skip


def upgrade() -> None:
    for table in PROFILE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("country", sa.String(length=100), nullable=True))
            batch.add_column(sa.Column("province", sa.String(length=100), nullable=True))
            batch.add_column(sa.Column("city", sa.String(length=100), nullable=True))
            batch.create_index(batch.f(f"ix_{table}_city"), ["city"], unique=False)
        profiles = sa.table(
            table,
            sa.column("district", sa.String),
            sa.column("country", sa.String),
            sa.column("province", sa.String),
            sa.column("city", sa.String),
        )
        op.execute(
            profiles.update()
            .where(profiles.c.district.in_(WUHAN_AREAS))
            .values(country="CN", province="hubei", city="wuhan")
        )


def downgrade() -> None:
    for table in PROFILE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(batch.f(f"ix_{table}_city"))
            batch.drop_column("city")
            batch.drop_column("province")
            batch.drop_column("country")
