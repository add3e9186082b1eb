"""`matcher batch embed` and `matcher batch recommend` on one local Ray instance and the small demo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.cli import app as cli
from api.cli_batch import read_only_matcher
from embeddings.cache import EmbeddingCache, text_key
from embeddings.selection import raw_encoder
from matcher.batch import catalogue_texts
from models.batch_runs import BatchRun, BatchUnit, RankedRow, asker_ids, plan_units, run_of, run_rows
from models.db import open_database
from models.enums import EntityKind
from models.settings import Settings
from tests.conftest import TEST_SECRET
from tests.factories import small_demo_folder

K = 5
UNIT = 40
TALENT_UNIT = 10  # many small units, so the kill lands mid-run


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield str(ray.get_runtime_context().gcs_address)
    ray.shutdown()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_demo_folder(tmp_path_factory, "batch", seed=7, secret=TEST_SECRET)


@pytest.fixture(scope="module")
def environment(data_dir: Path) -> Iterator[dict[str, str]]:
    variables = {
        "MATCHER_DATA_DIR": str(data_dir),
        "MATCHER_ENVIRONMENT": "test",
        "MATCHER_SECRET_KEY": TEST_SECRET,
        "HF_HUB_OFFLINE": "1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        yield variables


@pytest.fixture(scope="module")
def embedded(ray_address: str, environment: dict[str, str]) -> str:
    """The output of `matcher batch embed` on the fresh demo: every index state saved."""
    del ray_address
    result = CliRunner().invoke(cli, ["batch", "embed", "--workers", "2"])
    assert result.exit_code == 0, result.output
    return result.output


def _invoke(*arguments: str) -> str:
    result = CliRunner().invoke(cli, ["batch", *arguments])
    assert result.exit_code == 0, result.output
    return result.output


def _rows(run_id: int) -> list[RankedRow]:
    _, factory = open_database(Settings())
    with factory() as session:
        return run_rows(session, run_id)


def _run_id(output: str) -> int:
    return int(output.rsplit("run ", 1)[1].split(" ", 1)[0])


def test_embed_encodes_every_text_and_saves_the_indexes(embedded: str) -> None:
    settings = Settings()
    _, factory = open_database(settings)
    with factory() as session:
        texts = catalogue_texts(session, list(EntityKind))
    assert f"{len(texts)} of {len(texts)} texts encoded" in embedded
    with EmbeddingCache.for_settings(settings) as cache:
        found, _ = cache.lookup(raw_encoder(settings.encoder).model_id, [text_key(t) for t in texts])
    assert len(found) == len(texts)
    for kind in EntityKind:
        assert (settings.index_dir / f"{kind.value}.index").exists()
    assert "0 of" in _invoke("embed", "--kind", "startups")  # nothing new to encode


@pytest.fixture(scope="module")
def talent_run(embedded: str) -> list[RankedRow]:
    del embedded
    output = _invoke(
        "recommend",
        "--direction",
        "talent->post",
        "--k",
        str(K),
        "--workers",
        "2",
        "--unit-size",
        str(TALENT_UNIT),
    )
    assert "finished" in output
    return _rows(_run_id(output))


def test_batch_recommend_writes_each_askers_top_k_as_recommend_ranks_them(embedded: str) -> None:
    del embedded
    output = _invoke(
        "recommend",
        "--direction",
        "startup→investor",
        "-k",
        str(K),
        "--workers",
        "2",
        "--unit-size",
        str(UNIT),
    )
    run_id = _run_id(output)
    settings = Settings()
    _, factory = open_database(settings)
    with factory() as session:
        units = plan_units(asker_ids(session, EntityKind.startup), UNIT)
        run = run_of(session, run_id)
        assert run is not None
        assert run.finished_at is not None
        assert run.direction == "startup→investor"
    matcher = read_only_matcher(settings, {EntityKind.startup, EntityKind.investor})
    expected = []
    for unit in units:
        matcher.exposure_.clear()  # as each unit starts
        for asker in range(unit.first, unit.last + 1):
            if asker in matcher.catalog_.tables[EntityKind.startup].ids:
                expected += [
                    RankedRow(asker, m.rank, m.id, m.score)
                    for m in matcher.recommend(EntityKind.startup, asker, EntityKind.investor, k=K)
                ]
    written = _rows(run_id)
    assert [(r.asker_id, r.rank, r.candidate_id) for r in written] == [
        (r.asker_id, r.rank, r.candidate_id) for r in expected
    ]
    assert [r.score for r in written] == pytest.approx([r.score for r in expected])
    assert len({r.asker_id for r in expected}) > 50  # not a run of empty answers


def test_a_killed_run_resumes_where_it_stopped(
    ray_address: str, environment: dict[str, str], talent_run: list[RankedRow]
) -> None:
    """SIGKILLed after some units: asked again, the run answers only the rest, and ends with every
    asker's k rows exactly once, the same as a run never killed."""
    command = [
        sys.executable, "-m", "api.cli", "batch", "recommend", "--direction", "talent→post",
        "--k", str(K), "--workers", "2", "--unit-size", str(TALENT_UNIT),
    ]  # fmt: skip
    child = subprocess.Popen(
        command, env={**os.environ, **environment, "RAY_ADDRESS": ray_address}, stderr=subprocess.DEVNULL
    )
    _, factory = open_database(Settings())
    unfinished_run = select(BatchRun.id).where(BatchRun.finished_at.is_(None))
    unfinished = unfinished_run.scalar_subquery()
    done = 0
    while done < 3 and child.poll() is None:
        time.sleep(0.05)
        with factory() as session:
            done = (
                session.scalar(
                    select(func.count())
                    .select_from(BatchUnit)
                    .where(BatchUnit.run_id == unfinished, BatchUnit.done_at.is_not(None))
                )
                or 0
            )
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL, "the run ended before it was killed"
    with factory() as session:
        killed_run = session.scalar(unfinished_run)
        left = session.scalar(
            select(func.count()).where(BatchUnit.run_id == killed_run, BatchUnit.done_at.is_(None))
        )
    assert killed_run is not None
    assert left, "nothing was left to resume"

    output = _invoke("recommend", "--direction", "person->post", "--k", str(K), "--workers", "2")
    assert f"resuming run {killed_run}" in output
    assert output.rstrip().endswith("finished")
    resumed = _rows(killed_run)
    assert resumed == talent_run
    per_asker = Counter(row.asker_id for row in resumed)
    assert set(per_asker.values()) == {K}
    assert len({(row.asker_id, row.candidate_id) for row in resumed}) == len(resumed)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["recommend", "--direction", "founder->investor"], "founder"),
        (["recommend", "--direction", "startup->person"], "startup->person"),
        (["recommend", "--direction", "startup"], "startup"),
        (["recommend", "--resume", "999"], "999"),
        (["embed", "--kind", "unicorns"], "unicorns"),
        (["embed", "--kind", "interactions"], "interactions"),
    ],
)
def test_an_unknown_direction_or_kind_exits_2_naming_it(
    environment: dict[str, str], arguments: list[str], named: str
) -> None:
    del environment
    result = CliRunner().invoke(cli, ["batch", *arguments])
    assert result.exit_code == 2
    assert named in result.output
