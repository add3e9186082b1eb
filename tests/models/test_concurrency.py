"""Concurrent writers lose nothing: several processes write interactions at once, through the
repository (one transaction each) and over HTTP to two servers sharing one database."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
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
HTTP_WRITES = 200
HTTP_CLIENTS = 16


def _write_interactions(database_url: str, writer: int) -> None:
    """One process: its own engine, one transaction per interaction."""
    engine = create_db_engine(database_url)
    factory = session_factory(engine)
    event = samples()["interactions"][0] | {"kind": "viewed"}
    for n in range(WRITES_EACH):
        record = event | {"external_id": f"X-{writer}-{n}", "note": f"writer {writer}"}
        import_records(factory, KINDS["interactions"], [record], secret=TEST_SECRET)
    engine.dispose()


def _profiles(factory: sessionmaker[Session]) -> None:
    for slug, records in samples().items():
        if slug != "interactions":
            import_records(factory, KINDS[slug], records, secret=TEST_SECRET)


def _interactions(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(Interaction)) or 0)


def test_parallel_writers_lose_no_interaction(factory: sessionmaker[Session], database_url: str) -> None:
    _profiles(factory)
    context: Any = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_interactions, args=(database_url, w)) for w in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * WRITERS
    assert _interactions(factory) == WRITERS * WRITES_EACH


@pytest.mark.slow
def test_parallel_posts_to_two_servers_lose_no_interaction(
    factory: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    """Two `matcher serve` processes on one database, each with its own data dir (indexes, key)."""
    # Imported here: the spawned writers above import this module and should stay light.
    from tests.servers import launched

    _profiles(factory)
    event = samples()["interactions"][0] | {"kind": "viewed"}
    with (
        launched(tmp_path / "first", database_url=database_url) as first,
        launched(tmp_path / "second", database_url=database_url) as second,
    ):
        servers = [first, second]
        for server in servers:  # both start together, as hosts behind one balancer do
            server.wait_until_ready()

        def post(n: int) -> int:
            server = servers[n % len(servers)]
            body = event | {"external_id": f"H-{n}", "note": f"request {n}"}
            response = httpx.post(
                f"{server.url}/v1/interactions", json=body, headers=server.headers, timeout=60
            )
            return response.status_code

        with ThreadPoolExecutor(HTTP_CLIENTS) as pool:
            statuses = list(pool.map(post, range(HTTP_WRITES)))
        assert statuses == [201] * HTTP_WRITES
        assert _interactions(factory) == HTTP_WRITES
        for server in servers:
            listed = httpx.get(
                f"{server.url}/v1/interactions", params={"limit": 1}, headers=server.headers, timeout=30
            )
            assert listed.json()["total"] == HTTP_WRITES
