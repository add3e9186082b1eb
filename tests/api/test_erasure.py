"""Erasure (PIPL Art. 47): after `DELETE /v1/persons/{id}` nothing of the person remains in
the database, the vector indexes, the embedding cache, the graph or the files on disk."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import faiss
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from embeddings.cache import CACHE_FILE_NAME, text_key
from embeddings.index import VectorIndex
from matcher.text import profile_text
from models.enums import AccountRole, EntityKind
from models.exposure import RecommendationShown, add_shown
from models.identity import hash_id_number, mask_id_number
from models.settings import Settings
from models.tables import AccountProfile, Base
from tests.api.test_security import World
from tests.auth import account_headers, admin_headers
from tests.conftest import TEST_SECRET
from tests.factories import VALID_ID_NUMBER, samples

PERSON = samples()["persons"][0]


@dataclass(frozen=True)
class Traces:
    """What the person left: their ids and the texts the matcher derived vectors from."""

    person_id: int
    mentor_id: int
    texts: list[str]

    @property
    def nodes(self) -> list[tuple[EntityKind, int]]:
        return [(EntityKind.person, self.person_id), (EntityKind.mentor, self.mentor_id)]

    @property
    def words(self) -> list[str]:
        """Values that only this person's data contains."""
        return [PERSON["name"], PERSON["phone"], PERSON["email"], PERSON["bio"], *self.texts]


def _leave_traces(world: World) -> Traces:
    """P-1 (张伟) with contact data and an account, a mentor profile of their own, an explicit
    account link, interactions both ways, a placement in the graph."""
    ids, client = world.ids, world.client
    person_id = ids["P-1"]
    assert client.patch(f"/v1/mentors/{ids['M-1']}", json={"person_external_id": "P-1"}).status_code == 200
    assert (
        client.patch(f"/v1/practice-bases/{ids['PB-1']}", json={"operator_external_id": "P-1"}).status_code
        == 200
    )
    account_headers(client.app, AccountRole.enterprise, profiles=[(EntityKind.person, person_id)])
    for actor, target, kind in [
        (("person", "P-1"), ("space", "SP-1"), "applied"),
        (("practice_base", "PB-1"), ("person", "P-1"), "placed"),
        (("mentor", "M-1"), ("startup", "S-2"), "mentored"),
    ]:
        event = {
            "actor_kind": actor[0],
            "actor_external_id": actor[1],
            "target_kind": target[0],
            "target_external_id": target[1],
            "kind": kind,
        }
        assert client.post("/v1/interactions", json=event).status_code == 201
    client.app.state.matcher_service.build()  # type: ignore[attr-defined]  # as at a restart: indexes saved to disk
    traces = Traces(person_id, ids["M-1"], [])
    with client.app.state.session_factory.begin() as session:  # type: ignore[attr-defined]
        add_shown(session, {(dt.date(2026, 12, 1), kind, row_id): 3 for kind, row_id in traces.nodes})
    with client.app.state.matcher_service.reading() as matcher:  # type: ignore[attr-defined]
        tables = matcher.catalog_.tables
        return replace(traces, texts=[profile_text(kind, tables[kind].record(i)) for kind, i in traces.nodes])


def _settings(client: TestClient) -> Settings:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return settings


def _cached_keys(settings: Settings) -> set[bytes]:
    with sqlite3.connect(settings.cache_dir / CACHE_FILE_NAME) as cache:
        return {row[0] for row in cache.execute("SELECT text_hash FROM embedding")}


def _database_text(client: TestClient) -> str:
    """Every row of every table, as text."""
    rows = []
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        for table in Base.metadata.sorted_tables:
            rows += [f"{table.name}: {tuple(row)}" for row in session.execute(select(table)).all()]
    return "\n".join(rows)


def _files_bytes(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _stored_index_ids(index_dir: Path, name: str) -> np.ndarray:
    ids: np.ndarray = np.load(index_dir / f"{name}.index" / "ids.npy", allow_pickle=False)
    return ids


def _stored_vector_traces(index: VectorIndex, folder: Path, vector: np.ndarray) -> list[str]:
    """The saved files holding ``vector``'s float bytes or its code in ``index``'s quantised graph."""
    storage = faiss.downcast_index(index._index.storage)  # type: ignore[attr-defined]
    code = storage.sa_encode(vector[None, :]).tobytes()
    files = _files_bytes(folder)
    return sorted(
        path.name for path, content in files.items() if vector.tobytes() in content or code in content
    )


def _shown(client: TestClient, nodes: list[tuple[EntityKind, int]]) -> list[tuple[EntityKind, int]]:
    """Which of ``nodes`` have counts of being shown as a recommendation."""
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        rows = session.execute(select(RecommendationShown.kind, RecommendationShown.profile_id)).all()
    return [node for node in nodes if node in {(kind, profile_id) for kind, profile_id in rows}]


def _present_everywhere(client: TestClient, traces: Traces) -> None:
    """The checks below could fail: before the erasure, every trace is there."""
    settings = _settings(client)
    assert {text_key(t) for t in traces.texts} <= _cached_keys(settings)
    assert traces.person_id in _stored_index_ids(settings.index_dir, EntityKind.person.value)
    with client.app.state.matcher_service.reading() as matcher:  # type: ignore[attr-defined]
        assert all(node in matcher.catalog_.history.graph for node in traces.nodes)
    assert PERSON["phone"] in _database_text(client)
    assert _shown(client, traces.nodes) == traces.nodes


def test_deleting_a_person_erases_every_trace(client: TestClient) -> None:
    world = World(client)
    traces = _leave_traces(world)
    _present_everywhere(client, traces)
    own = world.headers[AccountRole.founder]

    assert client.delete(f"/v1/persons/{traces.person_id}", headers=own).status_code == 204

    assert client.get("/v1/me", headers=own).status_code == 401  # their account went with them
    assert client.get(f"/v1/persons/{traces.person_id}").status_code == 404
    assert client.get(f"/v1/mentors/{traces.mentor_id}").status_code == 404
    stored = _database_text(client)
    secret_forms = [hash_id_number(VALID_ID_NUMBER, TEST_SECRET), mask_id_number(VALID_ID_NUMBER), "'P-1'"]
    assert [word for word in [*traces.words, *secret_forms] if word in stored] == []
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        links = session.scalars(select(AccountProfile.profile_kind)).all()
    assert EntityKind.person not in links
    assert _shown(client, traces.nodes) == []
    interactions = client.get("/v1/interactions", params={"limit": 200}).json()["items"]
    ends = {(i[f"{end}_kind"], i[f"{end}_id"]) for i in interactions for end in ("actor", "target")}
    assert ends.isdisjoint({(kind.value, row_id) for kind, row_id in traces.nodes})
    team = client.get(f"/v1/startups/{world.ids['S-1']}").json()["team"]
    assert team == []

    settings = _settings(client)
    assert {text_key(t) for t in traces.texts}.isdisjoint(_cached_keys(settings))
    for kind, row_id in traces.nodes:
        stored_ids = _stored_index_ids(settings.index_dir, kind.value)
        assert row_id not in stored_ids
        assert (stored_ids >= 0).all(), "a removed vector must not stay behind a tombstone"
        assert (
            str(row_id)
            not in json.loads((settings.index_dir / f"{kind.value}.hashes.json").read_text())["hashes"]
        )
    with client.app.state.matcher_service.reading() as matcher:  # type: ignore[attr-defined]
        for kind, row_id in traces.nodes:
            assert (kind, row_id) not in matcher.catalog_.history.graph
            # The slot stays (positions of others never move) holding the bare id, hidden.
            assert matcher.catalog_.tables[kind].record(row_id) == {"id": row_id, "active": False}
            position = matcher.catalog_.tables[kind].position(row_id)
            assert matcher.channels_.kinds[kind].lexical_row(position).nnz == 0
            assert row_id not in matcher.channels_.kinds[kind].index
        assert traces.person_id not in matcher.catalog_.startups_of
        base = matcher.catalog_.tables[EntityKind.practice_base].record(world.ids["PB-1"])
        assert base["operator_id"] is None  # the base stays, no longer naming them


def test_no_file_of_the_service_keeps_the_person_s_words(tmp_path: Path) -> None:
    """SQLite: free pages and the write-ahead log are files too; nothing erased may stay there."""
    settings = Settings(data_dir=tmp_path / "data", environment="test", secret_key=TEST_SECRET)
    with TestClient(create_app(settings)) as client:
        client.headers.update(admin_headers(client.app))
        world = World(client)
        traces = _leave_traces(world)
        files = b"".join(_files_bytes(settings.data_dir).values())
        assert PERSON["phone"].encode() in files
        assert client.delete(f"/v1/persons/{traces.person_id}").status_code == 204
        left = {
            path.name: word
            for path, content in _files_bytes(settings.data_dir).items()
            for word in traces.words
            if word.encode() in content
        }
    assert left == {}


def test_a_compacted_approximate_index_keeps_no_removed_vector(tmp_path: Path) -> None:
    vectors = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    index = VectorIndex(8, exact_threshold=2)  # above two vectors: an HNSW graph, which tombstones
    index.upsert(np.arange(1, 9), vectors)
    assert index.is_approximate
    index.remove([3])
    index.save(tmp_path / "before.index")
    assert -1 in _stored_index_ids(tmp_path, "before")
    assert _stored_vector_traces(index, tmp_path / "before.index", vectors[2]) == [
        "index.faiss",
        "vectors.npy",
    ]
    index.compact()
    index.save(tmp_path / "after.index")
    stored = _stored_index_ids(tmp_path, "after")
    assert sorted(stored) == [1, 2, 4, 5, 6, 7, 8]
    assert _stored_vector_traces(index, tmp_path / "after.index", vectors[2]) == []
