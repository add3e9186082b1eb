"""Concurrent writers lose nothing: several processes write interactions at once."""

from __future__ import annotations

import multiprocessing
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models.db import create_db_engine, session_factory
from models.kinds import KINDS
from models.tables import Interaction
from models.transfer import import_records
from tests.factories import samples

# Not imported from conftest: each spawned writer imports this module, and should stay light.
TEST_SECRET = "test-secret"
WRITERS = 4
WRITES_EACH = 25


def _write_interactions(database_url: str, writer: int) -> None:
    """One process: its own engine, one transaction per interaction."""
    engine = create_db_engine(database_url)
    factory = session_factory(engine)
    event = samples()["interactions"][0] | {"kind": "viewed"}
    for n in range(WRITES_EACH):
        record = event | {"external_id": f"X-{writer}-{n}", "note": f"writer {writer}"}
        import_records(factory, KINDS["interactions"], [record], secret=TEST_SECRET)
    engine.dispose()


def test_parallel_writers_lose_no_interaction(factory: sessionmaker[Session], database_url: str) -> None:
    for slug, records in samples().items():
        if slug != "interactions":
            import_records(factory, KINDS[slug], records, secret=TEST_SECRET)
    context: Any = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_interactions, args=(database_url, w)) for w in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * WRITERS
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Interaction)) == WRITERS * WRITES_EACH
