"""Alembic environment: runs on the connection handed over by :func:`models.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

import models.batch_runs  # registers the batch recommendation runs
import models.changes  # registers the change feed on Base
import models.exposure  # registers the recommendations-shown counts
import models.notifications  # registers the inbox, outbox and password-reset tables on Base
import models.occupancy  # registers the space occupancy history
import models.portal  # registers the portal login table on Base
import models.rounds  # noqa: F401  (registers the allocation-round tables on Base)
from models.tables import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").connect() as new_connection:
        _run(new_connection)
        new_connection.commit()
