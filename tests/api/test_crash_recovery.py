"""Nothing is lost or half-written when a process is killed (SIGKILL) mid-way.

Each test kills a real process at a random point of its work: a bulk import (`matcher import`),
a burst of interactions over HTTP (`matcher serve`), an index rebuild and save, the publication
of an allocation round (`matcher round publish`); then checks the
database and the indexes hold the state before or after, never one between, and that the
service starts again and serves.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from api.matcher_service import MatcherService
from embeddings.index import VectorIndex
from models.db import create_db_engine, migrate, session_factory, transaction
from models.enums import EntityKind
from models.kinds import KINDS
from models.repository import Repository
from models.rounds import AllocationRound, ProposedMatch, RoundCreate, RoundStore, StableSolve
from models.settings import Settings
from models.tables import Interaction, Space, Startup
from models.transfer import import_records
from tests.factories import load_small_demo, samples
from tests.servers import MATCHER, Server, matcher_env, serving

pytestmark = pytest.mark.slow

SECRET = "dev-only-change-me"  # the development placeholder: `matcher serve` runs as development
IMPORT_ROWS = 1500
BURST = 300
BURST_WORKERS = 8


def _seeded(database_url: str) -> Engine:
    engine = create_db_engine(database_url)
    migrate(engine)
    for slug, records in samples().items():
        import_records(session_factory(engine), KINDS[slug], records, secret=SECRET)
    return engine


def _count(engine: Engine, table: Any) -> int:
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _kill_until_it_finishes(
    command: list[str],
    env: dict[str, str],
    state: Callable[[], object],
    *,
    before: object,
    after: object,
    seed: int,
    jitter: float,
    growth: float = 1.5,
) -> int:
    """Runs ``command`` and SIGKILLs it ever later (with seeded jitter) until one run finishes:
    every kill must leave ``state()`` at ``before`` or ``after``. Returns how many runs were killed.

    The delay grows by ``growth`` each run, so the kills spread over start-up, the work and its
    commit in a dozen runs however long the work takes (a fixed step took a hundred on a busy
    machine, each paying the command's start-up)."""
    draw = random.Random(seed)
    delay, killed = 0.5, 0
    while True:
        process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        time.sleep(delay + draw.uniform(0, jitter))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        now = state()
        assert now in (before, after)
        if now == after:
            return killed
        assert process.returncode == -signal.SIGKILL
        killed += 1
        delay *= growth


def _serves_a_recommendation(server: Server) -> None:
    assert httpx.get(f"{server.url}/health", timeout=10).json()["status"] == "ok"
    response = httpx.get(
        f"{server.url}/v1/startups/1/recommendations",
        params={"target": "investor"},
        headers=server.headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_an_import_killed_anywhere_writes_all_rows_or_none(tmp_path: Path, database_url: str) -> None:
    """Kills `matcher import` ever later (with jitter) until one run commits: every kill before
    leaves the rows as they were, and the run that got through leaves every row."""
    engine = _seeded(database_url)
    before = _count(engine, Startup)
    startup = samples()["startups"][0] | {"team": []}
    rows = [startup | {"external_id": f"S-bulk-{n}", "name": f"武汉批量{n}号"} for n in range(IMPORT_ROWS)]
    upload = tmp_path / "startups.json"
    upload.write_text(json.dumps(rows, ensure_ascii=False))
    env = matcher_env(tmp_path / "data", database_url, MATCHER_SECRET_KEY=SECRET)
    killed = _kill_until_it_finishes(
        [str(MATCHER), "import", "startups", str(upload)],
        env,
        lambda: _count(engine, Startup),
        before=before,
        after=before + IMPORT_ROWS,
        seed=6,
        jitter=0.5,
    )
    assert killed >= 2
    engine.dispose()
    with serving(tmp_path / "data", database_url=database_url) as server:
        _serves_a_recommendation(server)


def test_an_interaction_burst_killed_midway_keeps_every_acknowledged_write(
    tmp_path: Path, database_url: str
) -> None:
    engine = _seeded(database_url)
    before = _count(engine, Interaction)
    event = samples()["interactions"][0] | {"kind": "viewed"}
    sent = [event | {"external_id": f"X-burst-{n}", "note": f"burst {n}"} for n in range(BURST)]
    acknowledged: set[str] = set()
    lock = threading.Lock()
    kill_after = random.Random(7).randrange(BURST // 4, BURST // 2)
    with serving(tmp_path / "data", database_url=database_url) as server:
        killed = threading.Event()

        def post(body: dict[str, Any]) -> None:
            try:
                response = httpx.post(
                    f"{server.url}/v1/interactions", json=body, headers=server.headers, timeout=30
                )
            except httpx.TransportError:
                return
            assert response.status_code == 201, response.text
            with lock:
                acknowledged.add(body["external_id"])
                if len(acknowledged) >= kill_after and not killed.is_set():
                    killed.set()
                    server.kill()

        with ThreadPoolExecutor(BURST_WORKERS) as pool:
            list(pool.map(post, sent))
    assert killed.is_set()
    with session_factory(engine)() as session:
        stored = {row.external_id: row for row in session.scalars(select(Interaction))}
    burst = {external_id for external_id in stored if external_id.startswith("X-burst-")}
    assert acknowledged <= burst
    assert len(burst) < BURST
    assert len(stored) == before + len(burst)
    by_id = {body["external_id"]: body for body in sent}
    assert all(stored[external_id].note == by_id[external_id]["note"] for external_id in burst)
    engine.dispose()
    with serving(tmp_path / "data", database_url=database_url) as server:
        _serves_a_recommendation(server)
        listed = httpx.get(
            f"{server.url}/v1/interactions", params={"limit": 1}, headers=server.headers, timeout=10
        )
        assert listed.json()["total"] == len(stored)


# Rebuilds and saves the index over and over, each time after changing one profile's text;
# prints the round just saved.
_CHURN = """
from api.matcher_service import MatcherService
from models.db import engine_for, session_factory
from models.settings import Settings
from models.tables import Startup

settings = Settings()
factory = session_factory(engine_for(settings))
service = MatcherService(settings, factory)
for n in range(1_000_000):
    with factory.begin() as session:
        session.get(Startup, 1).one_liner = f"工业视觉 缺陷检测 第{n}版"
    service.build(refit_lexical=n % 2 == 0)
    print(n, flush=True)
"""


def _vectors(service: MatcherService) -> dict[EntityKind, tuple[list[int], np.ndarray]]:
    """Each kind's profile ids and their vectors in the index."""
    with service.reading() as matcher:
        ids = {kind: sorted(channel.text_hashes) for kind, channel in matcher.channels_.kinds.items()}
        return {kind: (ids[kind], matcher.channels_.kinds[kind].index.vectors_of(ids[kind])) for kind in ids}


def _top(service: MatcherService) -> list[tuple[int, float]]:
    with service.reading() as matcher:
        matches = matcher.recommend(EntityKind.startup, 1, EntityKind.investor, k=10)
    return [(match.id, round(match.score, 6)) for match in matches]


def test_an_index_save_killed_midway_loads_as_a_whole_state(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, environment="test", secret_key=SECRET)
    settings.ensure_dirs()
    load_small_demo(settings.resolved_database_url, seed=3, secret=SECRET)
    churn = subprocess.Popen(
        [sys.executable, "-c", _CHURN],
        env=matcher_env(data_dir, None, MATCHER_ENVIRONMENT="test", MATCHER_SECRET_KEY=SECRET),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert churn.stdout is not None
    draw = random.Random(8)
    for _ in range(draw.randint(2, 4)):
        churn.stdout.readline()
    # Somewhere within the next rebuild and save.
    time.sleep(draw.uniform(0, 1.5))
    churn.send_signal(signal.SIGKILL)
    churn.wait(timeout=30)
    index_dir = settings.index_dir
    for path in index_dir.glob("*.index"):
        VectorIndex.load(path)
    for path in index_dir.glob("*.hashes.json"):
        json.loads(path.read_text())

    restarted = MatcherService(settings, session_factory(create_db_engine(settings.resolved_database_url)))
    restarted.build()
    # The same database and lexical vocabulary, every vector encoded anew.
    fresh_dir = tmp_path / "fresh"
    shutil.copytree(data_dir, fresh_dir, ignore=shutil.ignore_patterns("*.index", "*.hashes.json"))
    fresh_settings = Settings(data_dir=fresh_dir, environment="test", secret_key=SECRET)
    fresh = MatcherService(
        fresh_settings, session_factory(create_db_engine(fresh_settings.resolved_database_url))
    )
    fresh.build()
    restarted_vectors, fresh_vectors = _vectors(restarted), _vectors(fresh)
    assert restarted_vectors.keys() == fresh_vectors.keys()
    for kind, (ids, vectors) in fresh_vectors.items():
        assert restarted_vectors[kind][0] == ids
        np.testing.assert_allclose(restarted_vectors[kind][1], vectors, atol=1e-6)
    assert _top(restarted) == _top(fresh)
    with serving(data_dir, MATCHER_SECRET_KEY=SECRET) as server:
        _serves_a_recommendation(server)


ROUND_STARTUPS = 2000
ROUND_SPACES = 100


def _reviewed_round(database_url: str) -> tuple[Engine, int]:
    """A space-admission round of every startup into every space, solved (each space takes its
    share) and reviewed: ready to publish."""
    engine = _seeded(database_url)
    factory = session_factory(engine)
    startups = [
        {"external_id": f"S-r{n}", "name": f"初创{n}", "industries": ["信息技术"], "stage": "天使轮"}
        for n in range(ROUND_STARTUPS)
    ]
    spaces = [
        {
            "external_id": f"SP-r{n}",
            "name": f"众创空间{n}",
            "space_type": "maker_space",
            "district": "光谷",
            "seats_total": 40,
            "seats_vacant": 30,
        }
        for n in range(ROUND_SPACES)
    ]
    import_records(factory, KINDS["startups"], startups, secret=SECRET)
    import_records(factory, KINDS["spaces"], spaces, secret=SECRET)
    body = {
        "external_id": "R-crash",
        "name": "光谷 2026 冬季入驻",
        "kind": "space_admission",
        "deadline": "2026-12-01T18:00:00",
        "applicants": [{"external_id": s["external_id"]} for s in startups],
        "counterparts": [{"external_id": s["external_id"]} for s in spaces],
    }
    with transaction(factory) as session:
        store = RoundStore(Repository(session, secret=SECRET))
        round_id = store.create(RoundCreate.model_validate(body)).id
        ids = store.inputs(round_id)
        matches = [
            ProposedMatch(a, ids.counterparts[n % ROUND_SPACES], 0.5, 1, 1, pinned=False, reasons=[])
            for n, a in enumerate(ids.applicants)
        ]
        solved = StableSolve(solver="stable")
        store.save_proposal(
            round_id, matches, {"settings": solved.model_dump(), "metrics": {}, "fill": [], "unmatched": []}
        )
        store.review(round_id)
    return engine, round_id


def _publication(engine: Engine, round_id: int) -> tuple[str, int, int]:
    """The round's status, its interactions written, and the seats still vacant."""
    with session_factory(engine)() as session:
        row = session.get(AllocationRound, round_id)
        assert row is not None
        written = session.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.kind == "admitted")
        )
        vacant = session.scalar(select(func.sum(Space.seats_vacant)))
        return row.status.value, int(written or 0), int(vacant or 0)


def test_a_publish_killed_anywhere_writes_every_outcome_or_none(tmp_path: Path, database_url: str) -> None:
    """Kills `matcher round publish` ever later until one run commits (as the import test does)."""
    engine, round_id = _reviewed_round(database_url)
    before = _publication(engine, round_id)
    assert before[:2] == ("reviewed", 0)
    after = ("published", ROUND_STARTUPS, before[2] - ROUND_STARTUPS)
    env = matcher_env(tmp_path / "data", database_url, MATCHER_SECRET_KEY=SECRET)
    killed = _kill_until_it_finishes(
        [str(MATCHER), "round", "publish", str(round_id)],
        env,
        lambda: _publication(engine, round_id),
        before=before,
        after=after,
        seed=9,
        jitter=0.3,
        growth=1.4,
    )
    assert killed >= 2
    engine.dispose()
    with serving(tmp_path / "data", database_url=database_url) as server:
        _serves_a_recommendation(server)
