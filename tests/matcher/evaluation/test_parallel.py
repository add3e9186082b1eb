"""`matcher evaluate --parallel`: folds and methods as Ray tasks give the sequential run's results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray

from matcher.evaluation.harness import evaluate_folds
from tests import fixtures_evaluation as tiny
from tests.doubles import HashingEncoder

METHODS = ["popularity", "segment-popularity", "matcher", "matcher-one-sided"]
LATER_DEALS = [("S7", tiny.MED, "a", "C", "2015-09-01"), ("S8", tiny.SHOP, "angel", "A", "2015-10-01")]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("protocol", ["tiny", "tiny-deal-flow"])
def test_parallel_folds_and_methods_give_the_sequential_results(local_ray: None, protocol: str) -> None:
    folds = [tiny.fold(), tiny.fold(LATER_DEALS)]
    sequential = evaluate_folds(protocol, folds, methods=METHODS, encoder=HashingEncoder())
    parallel = evaluate_folds(protocol, folds, methods=METHODS, encoder=HashingEncoder(), workers=2)
    assert parallel.table == sequential.table
    assert parallel.recall_curve == sequential.recall_curve
    assert parallel.exposure == sequential.exposure
    assert parallel.ranker_metrics == sequential.ranker_metrics
    assert {row.method for row in parallel.table.rows} >= set(METHODS)
