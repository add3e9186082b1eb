"""The change feed: every write is recorded in its own transaction, and a second process's
matcher (a second worker, or a service beside the CLI) follows it to the same state."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from numpy._core import multiarray as numpy_multiarray
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.matcher_service import MatcherService
from embeddings.cache import EmbeddingCache, text_key
from matcher.matcher import Match
from matcher.text import profile_text
from models import transfer
from models.accounts import create_account, issue_key, revoke_key
from models.changes import ChangeOp, FeedEntry, changes_after, latest_change_id
from models.db import create_db_engine, session_factory, transaction
from models.enums import AccountRole, EntityKind
from models.erasure import erase_person
from models.kinds import KINDS
from models.repository import Repository
from models.settings import Settings
from models.tables import Investor, Person, Startup
from models.transfer import import_records
from tests.conftest import TEST_SECRET
from tests.factories import load_small_demo, samples


def _import_samples(factory: sessionmaker[Session]) -> None:
    for slug, records in samples().items():
        import_records(factory, KINDS[slug], records, secret=TEST_SECRET)


def _feed(factory: sessionmaker[Session], after: int) -> list[tuple[str, ChangeOp]]:
    with factory() as session:
        return [(entry.topic, entry.op) for entry in changes_after(session, after)]


def _position(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return latest_change_id(session)


def test_each_committed_write_is_in_the_feed_once_with_its_op(factory: sessionmaker[Session]) -> None:
    _import_samples(factory)
    start = _position(factory)
    spec = KINDS["startups"]
    record = samples()["startups"][0] | {"external_id": "S-FEED", "name": "武汉新芯智造"}
    with transaction(factory) as session:
        row_id = Repository(session, secret=TEST_SECRET).create(spec, spec.create.model_validate(record)).id
    with transaction(factory) as session:
        Repository(session, secret=TEST_SECRET).update(
            spec, row_id, spec.update.model_validate({"stage": "a"})
        )
    with transaction(factory) as session:
        Repository(session, secret=TEST_SECRET).delete(spec, row_id)
    assert _feed(factory, start) == [
        ("startups", ChangeOp.insert),
        ("startups", ChangeOp.update),
        ("startups", ChangeOp.delete),
    ]


def test_a_rolled_back_write_leaves_no_trace_in_the_feed(factory: sessionmaker[Session]) -> None:
    _import_samples(factory)
    start = _position(factory)
    with factory() as session:
        session.get_one(Startup, 1).name = "never committed"
        session.flush()
        session.rollback()
    assert _feed(factory, start) == []


def test_a_small_import_enters_the_feed_row_by_row(factory: sessionmaker[Session]) -> None:
    start = _position(factory)
    persons = samples()["persons"]
    import_records(factory, KINDS["persons"], persons, secret=TEST_SECRET)
    assert _feed(factory, start) == [("persons", ChangeOp.insert)] * len(persons)


def test_a_large_import_is_one_reload(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    persons = samples()["persons"]
    monkeypatch.setattr(transfer, "ROW_BY_ROW_MAX_ROWS", len(persons) - 1)
    start = _position(factory)
    import_records(factory, KINDS["persons"], persons, secret=TEST_SECRET)
    assert _feed(factory, start) == [("*", ChangeOp.reload)]


def test_key_and_team_writes_count_as_changes_of_their_account_and_startup(
    factory: sessionmaker[Session],
) -> None:
    _import_samples(factory)
    start = _position(factory)
    with transaction(factory) as session:
        account = create_account(session, name="feed", role=AccountRole.investor)
        issued = issue_key(session, account, secret=TEST_SECRET)
    with transaction(factory) as session:
        revoke_key(session, issued.prefix)
    with transaction(factory) as session:
        for member in session.get_one(Startup, 1).members:
            session.delete(member)
    assert _feed(factory, start) == [
        ("accounts", ChangeOp.insert),
        ("accounts", ChangeOp.update),  # its key issued
        ("accounts", ChangeOp.update),  # its key revoked
        ("startups", ChangeOp.update),
    ]


# --- two processes' matchers on one database -------------------------------------------------


@pytest.fixture
def demo_settings(settings: Settings) -> Settings:
    load_small_demo(settings.resolved_database_url, seed=5, secret=TEST_SECRET)
    return settings


@pytest.fixture
def services(demo_settings: Settings) -> Iterator[tuple[MatcherService, MatcherService]]:
    """Two services on one database and data dir, as two workers of one server hold them."""
    engine = create_db_engine(demo_settings.resolved_database_url)
    pair = (
        MatcherService(demo_settings, session_factory(engine)),
        MatcherService(demo_settings, session_factory(engine)),
    )
    for service in pair:
        service.build()
    yield pair
    engine.dispose()


def test_a_build_quiets_the_heap_and_a_rebuild_frees_the_last(
    demo_settings: Settings,
) -> None:
    engine = create_db_engine(demo_settings.resolved_database_url)
    settings = demo_settings.model_copy(update={"settle_memory_from_profiles": 1})
    service = MatcherService(settings, session_factory(engine))
    try:
        numpy_multiarray._set_madvise_hugepage(True)  # type: ignore[attr-defined]
        service.build()
        assert gc.get_freeze_count() > 0
        # ... and numpy no longer asks for huge pages (the call answers the setting it replaces).
        assert numpy_multiarray._set_madvise_hugepage(False) is False  # type: ignore[attr-defined]
        with service.reading() as first:
            first.__dict__["self_reference"] = first  # a cycle: only the collector can free it
            previous = weakref.ref(first)
        del first
        service.build()
        assert previous() is None
    finally:
        gc.unfreeze()
        engine.dispose()


def test_a_build_smaller_than_the_threshold_leaves_the_collector_alone(demo_settings: Settings) -> None:
    engine = create_db_engine(demo_settings.resolved_database_url)
    settings = demo_settings.model_copy(update={"settle_memory_from_profiles": 10**9})
    service = MatcherService(settings, session_factory(engine))
    gc.unfreeze()
    try:
        numpy_multiarray._set_madvise_hugepage(True)  # type: ignore[attr-defined]
        service.build()
        assert gc.get_freeze_count() == 0
        assert numpy_multiarray._set_madvise_hugepage(False) is False  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def _deal_flow(service: MatcherService, investor_id: int) -> list[Match]:
    with service.reading() as matcher:
        return matcher.recommend(EntityKind.investor, investor_id, EntityKind.startup, k=5)


def _ids(matches: list[Match]) -> list[int]:
    return [match.id for match in matches]


def _add_interaction(
    session: Session, investor_id: int, startup_id: int, kind: str, external_id: str
) -> None:
    """An investor's interaction with a startup, written as the API writes it."""
    record = samples()["interactions"][0] | {
        "actor_kind": "investor",
        "actor_external_id": session.get_one(Investor, investor_id).external_id,
        "target_kind": "startup",
        "target_external_id": session.get_one(Startup, startup_id).external_id,
        "kind": kind,
        "external_id": external_id,
    }
    spec = KINDS["interactions"]
    Repository(session, secret=TEST_SECRET).create(spec, spec.create.model_validate(record))


def test_a_second_process_follows_an_interaction_an_edit_and_a_deletion(
    services: tuple[MatcherService, MatcherService],
) -> None:
    writer, follower = services
    investor_id = 1
    first, second, *_ = _ids(_deal_flow(follower, investor_id))
    factory = writer.factory
    with transaction(factory) as session:
        _add_interaction(session, investor_id, first, "declined", "FEED-DECLINED")
        session.get_one(Startup, second).active = False
    writer.catch_up()
    assert follower.behind()
    follower.catch_up()
    assert not follower.behind()
    for service in services:
        assert {first, second}.isdisjoint(_ids(_deal_flow(service, investor_id)))
    with transaction(factory) as session:
        Repository(session, secret=TEST_SECRET).delete(KINDS["investors"], investor_id)
    follower.catch_up()
    assert _deal_flow(follower, investor_id) == []
    with follower.reading() as matcher:
        assert investor_id not in matcher.catalog_.tables[EntityKind.investor]
        assert investor_id not in matcher.channels_.kinds[EntityKind.investor].index


def test_a_follower_ends_where_a_fresh_build_starts(demo_settings: Settings, tmp_path: Path) -> None:
    """Applying the feed and reading the database anew give the same matcher: nothing is
    applied twice (the build reads the feed position and the tables in one snapshot).

    The deal-history index, which an investor's deal flow reads, is rebuilt here on every new
    deal: by default it waits for 1 % more deals (plus 10), a lag by design that a fresh build,
    indexing every deal at once, does not share."""
    config = tmp_path / "matcher.toml"
    config.write_text("[refresh]\ncollaborative_rebuild_growth = 1.0\ncollaborative_rebuild_min_new = 0\n")
    demo_settings = demo_settings.model_copy(update={"matcher_config": config})
    engine = create_db_engine(demo_settings.resolved_database_url)
    writer, follower = (MatcherService(demo_settings, session_factory(engine)) for _ in range(2))
    for service in (writer, follower):
        service.build()
    with transaction(writer.factory) as session:
        startup_ids = [row.id for row in session.query(Startup).order_by(Startup.id).limit(3)]
        for n, startup_id in enumerate(startup_ids):
            _add_interaction(session, 2, startup_id, "invested", f"FEED-INVESTED-{n}")
    follower.catch_up()
    fresh = MatcherService(demo_settings, follower.factory)
    fresh.build()
    assert fresh.position == follower.position
    assert not fresh.behind()
    for investor_id in (1, 2, 3):
        assert _ids(_deal_flow(fresh, investor_id)) == _ids(_deal_flow(follower, investor_id))
    with fresh.reading() as a, follower.reading() as b:
        node = (EntityKind.investor, 2)
        assert a.catalog_.history.relation_count(node) == b.catalog_.history.relation_count(node)
        assert a.catalog_.history.investments[node] == b.catalog_.history.investments[node]
    engine.dispose()


def test_a_read_for_two_kinds_loads_their_saved_state_only_and_writes_nothing(
    services: tuple[MatcherService, MatcherService], demo_settings: Settings
) -> None:
    """What ``matcher recommend`` does: no other kind's profiles or index, nothing written back."""
    saved = {p: p.stat().st_mtime_ns for p in demo_settings.index_dir.rglob("*") if p.is_file()}
    engine = create_db_engine(demo_settings.resolved_database_url)
    reader = MatcherService(demo_settings, session_factory(engine))
    reader.build(kinds={EntityKind.startup, EntityKind.investor})
    with reader.reading() as partial, services[0].reading() as full:
        assert set(partial.channels_.kinds) == {EntityKind.startup, EntityKind.investor}
        assert len(partial.catalog_.tables[EntityKind.person]) == 0
        assert _ids(partial.recommend(EntityKind.startup, 1, EntityKind.investor)) == _ids(
            full.recommend(EntityKind.startup, 1, EntityKind.investor)
        )
        with pytest.raises(RuntimeError, match="not saved"):
            partial.save()
    assert {p: p.stat().st_mtime_ns for p in demo_settings.index_dir.rglob("*") if p.is_file()} == saved
    engine.dispose()


def _import_one_investor_elsewhere(follower: MatcherService) -> int:
    """An investor imported through the follower's database (as another process would), then
    the follower caught up; its row id."""
    record = samples()["investors"][0] | {"external_id": "I-FEED", "name": "光谷天使基金 Feed"}
    import_records(follower.factory, KINDS["investors"], [record], secret=TEST_SECRET)
    follower.catch_up()
    with follower.factory() as session:
        return int(session.query(Investor.id).filter_by(external_id="I-FEED").scalar())


def test_a_one_row_import_elsewhere_reaches_the_follower_without_a_rebuild(
    services: tuple[MatcherService, MatcherService],
) -> None:
    _, follower = services
    with follower.reading() as before:
        pass
    new_id = _import_one_investor_elsewhere(follower)
    with follower.reading() as matcher:
        assert matcher is before, "applied as a change, not rebuilt"
        assert new_id in matcher.catalog_.tables[EntityKind.investor]
        assert new_id in matcher.channels_.kinds[EntityKind.investor].index


def test_a_large_import_elsewhere_rebuilds_the_follower(
    services: tuple[MatcherService, MatcherService], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, follower = services
    monkeypatch.setattr(transfer, "ROW_BY_ROW_MAX_ROWS", 0)
    with follower.reading() as before:
        pass
    new_id = _import_one_investor_elsewhere(follower)
    with follower.reading() as matcher:
        assert matcher is not before
        assert new_id in matcher.catalog_.tables[EntityKind.investor]


def test_listeners_hear_each_applied_batch(services: tuple[MatcherService, MatcherService]) -> None:
    writer, follower = services
    heard: list[FeedEntry] = []
    follower.on_changes(heard.extend)
    with transaction(writer.factory) as session:
        session.get_one(Startup, 1).name = "改名的创业公司"
    follower.catch_up()
    assert [(entry.topic, entry.row_id, entry.op) for entry in heard] == [("startups", 1, ChangeOp.update)]


def _held_in_catch_up(follower: MatcherService, release: threading.Event) -> threading.Thread:
    """A thread catching the follower up, held inside its first batch until ``release``."""
    held = threading.Event()

    def hold(_entries: object) -> None:
        held.set()
        release.wait(timeout=60)

    follower.on_changes(hold)
    catching_up = threading.Thread(target=follower.catch_up)
    catching_up.start()
    assert held.wait(timeout=60)
    return catching_up


def test_a_read_waits_for_another_threads_catch_up_to_reach_the_last_write(
    services: tuple[MatcherService, MatcherService],
) -> None:
    """Read-your-writes across workers and hosts: a write committed before a read is in its
    answer, even while another thread of the reader's process is busy catching up."""
    writer, follower = services
    investor_id = 1
    top = _ids(_deal_flow(follower, investor_id))[0]
    with transaction(writer.factory) as session:
        session.get_one(Startup, top).name = "改名的创业公司"
    release = threading.Event()
    catching_up = _held_in_catch_up(follower, release)
    with transaction(writer.factory) as session:
        _add_interaction(session, investor_id, top, "declined", "FEED-DECLINED-MEANWHILE")
    answers: list[list[int]] = []

    def read() -> None:
        follower.catch_up_for_read()
        answers.append(_ids(_deal_flow(follower, investor_id)))

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout=0.5)
    assert reader.is_alive(), "the read waits for the busy catch-up"
    release.set()
    reader.join(timeout=60)
    catching_up.join(timeout=60)
    assert len(answers) == 1
    assert top not in answers[0]


def test_a_read_does_not_queue_behind_a_rebuild(
    services: tuple[MatcherService, MatcherService], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, follower = services
    monkeypatch.setattr(transfer, "ROW_BY_ROW_MAX_ROWS", 0)
    release, rebuilding = threading.Event(), threading.Event()
    build = follower.build

    def held_build(**options: Any) -> None:
        rebuilding.set()
        release.wait(timeout=60)
        build(**options)

    monkeypatch.setattr(follower, "build", held_build)
    record = samples()["investors"][0] | {"external_id": "I-REBUILD", "name": "光谷天使基金 Rebuild"}
    import_records(follower.factory, KINDS["investors"], [record], secret=TEST_SECRET)
    catching_up = threading.Thread(target=follower.catch_up)
    catching_up.start()
    assert rebuilding.wait(timeout=60)
    follower.catch_up_for_read()
    assert follower.behind(), "answered from the state before the rebuild"
    release.set()
    catching_up.join(timeout=60)
    assert not follower.behind()


def test_a_build_drops_from_the_cache_the_texts_of_people_erased_or_edited_while_it_was_down(
    demo_settings: Settings,
) -> None:
    """Another host erases one person and edits another while this one is down: when it starts
    again (a build, from the feed's end) their old texts' vectors leave its embedding cache."""
    factory = session_factory(create_db_engine(demo_settings.resolved_database_url))
    first = MatcherService(demo_settings, factory)
    first.build()
    with first.reading() as matcher:
        people = matcher.catalog_.tables[EntityKind.person]
        erased, edited = (int(row_id) for row_id in people.ids[:2])
        old = [
            text_key(profile_text(EntityKind.person, people.record(row_id))) for row_id in (erased, edited)
        ]
        model_id = matcher.channels_.encoder.model_id

    def cached() -> int:
        with EmbeddingCache.for_settings(demo_settings) as cache:
            return len(cache.lookup(model_id, old)[0])

    assert cached() == 2
    with transaction(factory) as session:
        erase_person(Repository(session, secret=TEST_SECRET), erased)
        session.get_one(Person, edited).bio = "换了一份全新的个人简介"
    MatcherService(demo_settings, factory).build()
    assert cached() == 0


# --- keys revoked in another process ------------------------------------------------------------


def test_a_key_revoked_by_another_process_is_refused_at_once(demo_settings: Settings) -> None:
    with TestClient(create_app(demo_settings)) as client:
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with transaction(factory) as session:
            account = create_account(session, name="soon revoked", role=AccountRole.admin)
            issued = issue_key(session, account, secret=TEST_SECRET)
        headers = {"Authorization": f"Bearer {issued.key}"}
        assert client.get("/v1/investors", params={"limit": 1}, headers=headers).status_code == 200
        # As `matcher account revoke` does: its own engine, its own transaction.
        engine = create_db_engine(demo_settings.resolved_database_url)
        with transaction(session_factory(engine)) as session:
            assert revoke_key(session, issued.prefix) == 1
        engine.dispose()
        assert client.get("/v1/investors", params={"limit": 1}, headers=headers).status_code == 401


# --- a real server with two workers --------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_serve_each_others_writes(tmp_path: Path) -> None:
    from tests.servers import serving

    settings = Settings(data_dir=tmp_path / "data", environment="test", secret_key=TEST_SECRET)
    settings.ensure_dirs()
    load_small_demo(settings.resolved_database_url, seed=5, secret=TEST_SECRET)
    log = tmp_path / "serve.log"
    with serving(settings.data_dir, log=log, MATCHER_WORKERS="2") as server:

        def deal_flow() -> list[int]:
            # A new connection each time, so the kernel hands requests to both workers.
            response = httpx.get(
                f"{server.url}/v1/investors/1/deal-flow", params={"k": 5}, headers=server.headers, timeout=30
            )
            response.raise_for_status()
            return [item["id"] for item in response.json()["items"]]

        top = deal_flow()[0]
        people = httpx.get(f"{server.url}/v1/investors/1", headers=server.headers, timeout=30).json()
        startup = httpx.get(f"{server.url}/v1/startups/{top}", headers=server.headers, timeout=30).json()
        declined = {
            "actor_kind": "investor",
            "actor_external_id": people["external_id"],
            "target_kind": "startup",
            "target_external_id": startup["external_id"],
            "kind": "declined",
        }
        posted = httpx.post(
            f"{server.url}/v1/interactions", json=declined, headers=server.headers, timeout=30
        )
        assert posted.status_code == 201
        assert all(top not in deal_flow() for _ in range(16))
    assert log.read_text().count("Started server process") == 2
