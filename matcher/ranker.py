"""A learned ranker: LightGBM LambdaRank over the matcher's own pair features.

Trained per query (a query's candidates are one group, its realised outcomes the relevant
ones) to maximise NDCG@10, then shipped in LightGBM's own text format beside a manifest
that records the file's sha256, the feature list, the training window and the validation
metrics. Loading checks the file against that sha256 before LightGBM parses it.

The ranker is a :class:`matcher.scoring.Scorer`: both sides get the same relevance (the
model's raw score through a logistic, so it lies in (0, 1) as the default scorer's does and
the matcher's diversity step can weigh it), so any fusion of the two returns it unchanged.
It learned a founder's choice of investors, so it scores that direction only; every other
direction (an investor's deal flow among them) keeps its weights.

Serving cost: the served model averages six fits (~1,100 trees). A loaded ranker scores with the
trees compiled to native code by ``lleaves`` (the same raw scores as LightGBM's walk, to float
rounding, a few times cheaper), cached beside the model and checked against LightGBM's scores at
every load; its reasons are path attributions read from tables built once at load (see
:meth:`LearnedRanker.contributions`), not TreeSHAP, which cost as much for ten shown rows as the
scores of a whole pool (benchmarks/README, "With the learned ranker").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from matcher.directions import Direction
from matcher.features import FEATURE_NAMES
from matcher.scoring import WeightedScorer
from models.files import write_atomically

if TYPE_CHECKING:
    import lightgbm
    import lleaves

logger = logging.getLogger(__name__)

MODEL_FILE: Final = "model.txt"
MANIFEST_FILE: Final = "manifest.json"
# The trees compiled to native code for this machine, and what they were compiled from and for.
COMPILED_FILE: Final = "model.compiled.o"
COMPILED_KEY_FILE: Final = "model.compiled.json"
FORMAT: Final = "citypartner-ranker/2"
NDCG_AT: Final = 10
# What `matcher train` learns from: founders' rounds and the investors who joined them.
RANKED_DIRECTION: Final = "startup→investor"


class TrainingWindow(BaseModel):
    """Which history the ranker learned from: features from events before ``features_until``,
    outcomes (training queries) from ``queries_from`` to before ``validation_from``, validation
    queries from there to before ``until``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: str
    features_until: dt.date
    queries_from: dt.date
    validation_from: dt.date
    until: dt.date


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Annotated[str, Field(pattern=f"^{FORMAT}$")] = FORMAT
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    features: tuple[str, ...]
    window: TrainingWindow
    metrics: dict[str, float]
    trainer: str


@dataclass(frozen=True)
class RankerModel:
    """A LightGBM model in its text format and the matcher features it reads, in column order."""

    features: tuple[str, ...]
    text: str

    def __post_init__(self) -> None:
        unknown = set(self.features) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"features: the matcher computes no {sorted(unknown)}")


@dataclass(frozen=True)
class RankerParams:
    """LambdaRank's knobs, chosen on a validation split inside history."""

    rounds: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    monotone: bool = True
    seed: int = 0


class LearnedRanker:
    """A :class:`matcher.scoring.Scorer` that scores pairs with a LambdaRank model.

    With ``compiled_in`` (a folder, :func:`load_ranker` passes the model's own) the trees are
    compiled by ``lleaves`` and the compiled object cached there (:func:`compiled_forest`);
    without it, or when compiling is unavailable, LightGBM walks them: the same scores, slower.
    """

    def __init__(
        self, model: RankerModel, manifest: Manifest | None = None, *, compiled_in: Path | None = None
    ) -> None:
        import lightgbm

        self.model = model
        self.manifest = manifest
        self._booster = lightgbm.Booster(model_str=model.text)
        if tuple(self._booster.feature_name()) != model.features:
            raise ValueError("ranker: the model's own feature names differ from the feature list")
        self._columns = np.asarray([FEATURE_NAMES.index(name) for name in model.features], dtype=np.int64)
        self._weighted = WeightedScorer()
        self._paths = PathAttribution.of(self._booster)
        self._compiled = compiled_forest(model.text, self._booster, compiled_in) if compiled_in else None

    @property
    def is_compiled(self) -> bool:
        """Whether scores come from the compiled trees (else from LightGBM's walk)."""
        return self._compiled is not None

    def raw_scores(self, features: np.ndarray) -> np.ndarray:
        """LambdaRank scores (only their order within a query means anything)."""
        if len(features) == 0:
            return np.zeros(0)
        rows = np.ascontiguousarray(features[:, self._columns], dtype=np.float64)
        if self._compiled is not None:
            return np.asarray(self._compiled.predict(rows, n_jobs=1), dtype=np.float64)
        return np.asarray(self._booster.predict(rows, num_threads=1), dtype=np.float64)

    def relevance(self, features: np.ndarray) -> np.ndarray:
        """The raw score through a logistic: same order, in (0, 1); columns in FEATURE_NAMES order."""
        return _logistic(self.raw_scores(features))

    def side_scores(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        if direction.name != RANKED_DIRECTION:
            return self._weighted.side_scores(features, direction)
        score = self.relevance(features)
        return score, score.copy()

    def contributions(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        """Each feature's part of the raw score along the rows' paths through the trees
        (:class:`PathAttribution`: the parts and the trees' expected value sum to the raw score),
        positive parts only, rescaled to sum to the relevance."""
        if direction.name != RANKED_DIRECTION:
            return self._weighted.contributions(features, direction)
        parts = np.zeros(features.shape, dtype=np.float64)
        if len(features) == 0:
            return parts, parts.copy()
        leaves = self._booster.predict(features[:, self._columns], pred_leaf=True, num_threads=1)
        path_parts, raw = self._paths.explain(np.asarray(leaves, dtype=np.int64))
        parts[:, self._columns] = np.clip(path_parts, 0.0, None)
        score = _logistic(raw)
        total = parts.sum(axis=1, keepdims=True)
        parts = np.divide(parts * score[:, None], total, out=np.zeros_like(parts), where=total > 0)
        return parts, parts.copy()


@dataclass(frozen=True)
class PathAttribution:
    """Path attribution (Saabas) of a forest's raw score, flattened into tables once.

    Each tree node's expected value is the mean of its leaves' outputs weighted by the training
    rows that reached them; along a row's path every split gives its feature the child's expected
    value minus the parent's. A row's parts per feature, plus the forest's expected value (the
    sum of the roots', the same bias as LightGBM's TreeSHAP), sum to its raw score. As
    parts depend only on the leaf reached, each leaf's path is summed here once, and a row's
    parts are a gather over the leaves LightGBM reports (``pred_leaf``): far cheaper than
    TreeSHAP, which averages over every order of the features. They differ from SHAP values in
    giving more to the splits near the root.

    Attributes
    ----------
    expected_value : float
        The forest's output averaged over its training rows.
    leaf_offsets : ndarray of shape (n_trees,)
        Where each tree's leaves start in the leaf tables.
    leaf_values : ndarray of shape (n_leaves,)
        Each leaf's output.
    leaf_parts : ndarray of shape (n_leaves, n_features)
        Each leaf's path parts per model feature.
    """

    expected_value: float
    leaf_offsets: np.ndarray
    leaf_values: np.ndarray
    leaf_parts: np.ndarray

    @classmethod
    def of(cls, booster: lightgbm.Booster) -> PathAttribution:
        trees = booster.dump_model()["tree_info"]
        offsets = np.cumsum([0] + [tree["num_leaves"] for tree in trees[:-1]], dtype=np.int64)
        total = int(sum(tree["num_leaves"] for tree in trees))
        values = np.zeros(total, dtype=np.float64)
        parts = np.zeros((total, booster.num_feature()), dtype=np.float64)
        expected = 0.0
        for offset, tree in zip(offsets.tolist(), trees, strict=True):
            root = tree["tree_structure"]
            _annotate_expected_values(root)
            expected += root["expected_value"]
            _fill_leaves(root, np.zeros(booster.num_feature()), offset, values, parts)
        return cls(expected_value=expected, leaf_offsets=offsets, leaf_values=values, leaf_parts=parts)

    def explain(self, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's path parts per model feature and its raw score, from the leaf it reaches in
        each tree (``leaves``: rows × trees, as LightGBM's ``pred_leaf`` gives them)."""
        import scipy.sparse

        at = leaves + self.leaf_offsets
        # Rows × leaves, a 1 where the row ends: a sparse product sums the leaves' tables.
        reached = scipy.sparse.csr_matrix(
            (np.ones(at.size), at.ravel(), np.arange(0, at.size + 1, at.shape[1])),
            shape=(len(at), len(self.leaf_values)),
        )
        return np.asarray(reached @ self.leaf_parts), np.asarray(reached @ self.leaf_values)


def _annotate_expected_values(node: dict[str, Any]) -> tuple[float, float]:
    """Sets every node's ``expected_value`` (its leaves' outputs weighted by their training rows,
    as LightGBM's TreeSHAP weighs them); returns the subtree's weighted sum and row count."""
    if "leaf_value" in node:
        node["expected_value"] = node["leaf_value"]
        count = float(node.get("leaf_count", 1))
        return node["leaf_value"] * count, count
    left = _annotate_expected_values(node["left_child"])
    right = _annotate_expected_values(node["right_child"])
    weighted, count = left[0] + right[0], left[1] + right[1]
    node["expected_value"] = weighted / count
    return weighted, count


def _fill_leaves(
    node: dict[str, Any], above: np.ndarray, offset: int, values: np.ndarray, parts: np.ndarray
) -> None:
    """Writes each leaf's output and its path's parts (``above`` holds those of the splits above)."""
    if "leaf_value" in node:
        values[offset + node.get("leaf_index", 0)] = node["leaf_value"]
        parts[offset + node.get("leaf_index", 0)] = above
        return
    for child in (node["left_child"], node["right_child"]):
        path = above.copy()
        path[node["split_feature"]] += child["expected_value"] - node["expected_value"]
        _fill_leaves(child, path, offset, values, parts)


# --- compiled trees ------------------------------------------------------------------

# The compiled scores must match LightGBM's on these probe rows (features are in [0, 1]).
_PROBE_ROWS: Final = 64
_SCORE_TOLERANCE: Final = 1e-9
# Compiled to raw scores in double precision: the same comparisons, in the same type, as LightGBM.
_COMPILE_OPTIONS: Final = "raw scores, fp64"


class CompiledKey(BaseModel):
    """What a cached compiled forest was built from and for: it is used only when all match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    object_sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    compiler: str
    cpu: str


def compiled_forest(text: str, reference: lightgbm.Booster, directory: Path) -> lleaves.Model | None:
    """The model ``text`` compiled by ``lleaves``: from ``directory``'s cache when its key (the
    model's sha256, the compiler, this CPU) and the object's own sha256 match, else compiled anew
    (seconds for a thousand trees) and cached there. Either way its scores must equal
    ``reference``'s (LightGBM's walk of the same text) on probe rows, or a cached object is
    compiled again. ``None`` (LightGBM serves) when lleaves is missing or a fresh compile scores
    otherwise; a folder that cannot hold the cache costs a compile per load. Nothing is downloaded."""
    try:
        import llvmlite
        import llvmlite.binding

        # metadata's PackageNotFoundError is an ImportError too
        compiler = (
            f"lleaves {metadata.version('lleaves')} ({_COMPILE_OPTIONS}), llvmlite {llvmlite.__version__}"
        )
    except ImportError:
        logger.warning("ranker: lleaves is not installed, LightGBM walks the trees (slower)")
        return None
    wanted = {
        "model_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "compiler": compiler,
        "cpu": f"{llvmlite.binding.get_host_cpu_name()} {llvmlite.binding.get_host_cpu_features().flatten()}",
    }
    with tempfile.TemporaryDirectory(prefix="ranker-") as scratch:
        # lleaves reads these paths: the text load_ranker checked and the object checked here,
        # not the folder's files again.
        model_file, compiled_file = Path(scratch) / MODEL_FILE, Path(scratch) / COMPILED_FILE
        model_file.write_text(text)
        cached = _cached_object(directory, wanted)
        if cached is not None:
            compiled_file.write_bytes(cached)
            forest = _lleaves_model(model_file, compiled_file)
            if _same_scores(forest, reference):
                return forest
            logger.warning("ranker: %s scores otherwise than its model, compiling it again", COMPILED_FILE)
            compiled_file.unlink()
        forest = _lleaves_model(model_file, compiled_file)
        if not _same_scores(forest, reference):
            logger.warning("ranker: the compiled trees score otherwise than LightGBM, LightGBM walks them")
            return None
        _cache_object(directory, compiled_file.read_bytes(), wanted)
    return forest


def _lleaves_model(model_file: Path, compiled_file: Path) -> lleaves.Model:
    """Compiles ``model_file`` into ``compiled_file``, or loads that object when it exists."""
    import lleaves

    forest = lleaves.Model(model_file=str(model_file))
    forest.compile(cache=str(compiled_file), raw_score=True)
    return forest


def _cached_object(directory: Path, wanted: Mapping[str, str]) -> bytes | None:
    try:
        key = CompiledKey.model_validate_json((directory / COMPILED_KEY_FILE).read_bytes())
        body = (directory / COMPILED_FILE).read_bytes()
    except (OSError, ValueError):
        return None
    if (
        key.model_dump(exclude={"object_sha256"}) != wanted
        or hashlib.sha256(body).hexdigest() != key.object_sha256
    ):
        return None
    return body


def _cache_object(directory: Path, body: bytes, wanted: Mapping[str, str]) -> None:
    key = CompiledKey(object_sha256=hashlib.sha256(body).hexdigest(), **wanted)
    try:
        write_atomically(directory / COMPILED_FILE, body)
        write_atomically(directory / COMPILED_KEY_FILE, key.model_dump_json(indent=2).encode())
    except OSError as error:
        logger.warning("ranker: cannot cache the compiled trees in %s (%s)", directory, error)


def _same_scores(forest: lleaves.Model, reference: lightgbm.Booster) -> bool:
    probe = np.random.default_rng(0).random((_PROBE_ROWS, reference.num_feature()))
    compiled = forest.predict(probe, n_jobs=1)
    walked = np.asarray(reference.predict(probe, num_threads=1), dtype=np.float64)
    return bool(np.allclose(compiled, walked, rtol=0.0, atol=_SCORE_TOLERANCE))


def _logistic(raw: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-raw)), dtype=np.float64)


# --- training ------------------------------------------------------------------------


def fit_ranker(
    features: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[int],
    *,
    feature_names: Sequence[str] = FEATURE_NAMES,
    params: RankerParams | None = None,
) -> RankerModel:
    """Fit LambdaRank on rows of ``features`` (columns ``feature_names``); ``groups`` are the
    row counts of consecutive queries.

    With ``params.monotone`` (the default) the model may only rise with each feature: every
    feature is 1 = better fit, so a learned quirk never ranks a worse fit above a better one,
    all else equal, which keeps what it learned on older rounds sensible on newer ones.
    """
    booster = lambdarank_booster(features, labels, groups, feature_names=feature_names, params=params)
    return RankerModel(features=tuple(feature_names), text=booster.model_to_string())


def lambdarank_booster(
    features: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[int],
    *,
    feature_names: Sequence[str],
    params: RankerParams | None = None,
) -> lightgbm.Booster:
    """:func:`fit_ranker`'s fit as a LightGBM booster, its columns any named features (a
    candidate feature the matcher does not compute yet can be tried on dumped pools:
    benchmarks/ranker_refit.py)."""
    import lightgbm

    params = params or RankerParams()
    if features.shape != (len(labels), len(feature_names)):
        raise ValueError(f"features: shape {features.shape} does not match {len(labels)} labels × names")
    if sum(groups) != len(labels):
        raise ValueError(f"groups: they cover {sum(groups)} rows, not the {len(labels)} labelled ones")
    if not np.asarray(labels).any():
        raise ValueError("labels: at least one relevant candidate is needed")
    settings: dict[str, Any] = {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [NDCG_AT],
        "lambdarank_truncation_level": 3 * NDCG_AT,
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "min_data_in_leaf": params.min_data_in_leaf,
        "feature_fraction": params.feature_fraction,
        "feature_fraction_seed": params.seed,
        "bagging_seed": params.seed,
        "seed": params.seed,
        "deterministic": True,
        "num_threads": 1,
        "verbosity": -1,
    }
    if params.monotone:
        settings["monotone_constraints"] = [1] * len(feature_names)
    data = lightgbm.Dataset(
        features, label=np.asarray(labels), group=list(groups), feature_name=list(feature_names)
    )
    return lightgbm.train(settings, data, num_boost_round=params.rounds)


def average_models(models: Sequence[RankerModel]) -> RankerModel:
    """One LightGBM model whose raw score is the mean of ``models``' raw scores: their trees side by
    side, each leaf's output divided by the number of models. Serving, thresholds and SHAP reasons
    (additive in the trees) then work on it as on any single model, and it saves and loads as one.

    An average of several fits varies less than any one of them: which grid point or seed scores
    best on a few hundred validation rounds is largely luck (创业邦: 0.002 NDCG@10 apart, 0.006
    Recall@10 apart on the test rounds), and the average needs no such choice."""
    import lightgbm

    if not models:
        raise ValueError("models: at least one is needed")
    if len({m.features for m in models}) > 1:
        raise ValueError("models: they must read the same features in the same order")
    blocks: list[str] = []
    header, footer = "", ""
    for model in models:
        booster = lightgbm.Booster(model_str=model.text)
        for tree in booster.dump_model()["tree_info"]:
            for leaf in range(tree["num_leaves"]):
                index = tree["tree_index"]
                booster.set_leaf_output(index, leaf, booster.get_leaf_output(index, leaf) / len(models))
        head, trees = booster.model_to_string().split(_FIRST_TREE, 1)
        trees, tail = trees.split(_END_OF_TREES, 1)
        header, footer = header or head, footer or tail
        blocks += [block.split("\n", 1)[1] for block in (_FIRST_TREE + trees).split(_TREE)[1:]]
    # Without the per-tree byte sizes LightGBM reads the trees in order; it writes them anew below.
    header = "".join(line for line in header.splitlines(keepends=True) if not line.startswith("tree_sizes="))
    numbered = "".join(f"{_TREE}{at}\n{block}" for at, block in enumerate(blocks))
    merged = lightgbm.Booster(model_str=header + numbered + _END_OF_TREES + footer)
    return RankerModel(features=models[0].features, text=merged.model_to_string())


_TREE: Final = "Tree="
_FIRST_TREE: Final = "Tree=0\n"
_END_OF_TREES: Final = "end of trees"


# --- saving and loading --------------------------------------------------------------


def save_ranker(
    model: RankerModel, directory: Path, *, window: TrainingWindow, metrics: Mapping[str, float]
) -> Manifest:
    """Write ``model.txt`` (LightGBM's text format), ``manifest.json`` (with its sha256) and the
    trees compiled for this machine (:func:`compiled_forest`)."""
    import lightgbm

    directory.mkdir(parents=True, exist_ok=True)
    body = model.text.encode()
    manifest = Manifest(
        sha256=hashlib.sha256(body).hexdigest(),
        features=model.features,
        window=window,
        metrics=dict(metrics),
        trainer=f"LightGBM {lightgbm.__version__} lambdarank",
    )
    write_atomically(directory / MODEL_FILE, body)
    write_atomically(directory / MANIFEST_FILE, manifest.model_dump_json(indent=2).encode())
    # Compiled now, so that the first load to serve it does not wait (seconds for 1,000 trees).
    compiled_forest(model.text, lightgbm.Booster(model_str=model.text), directory)
    return manifest


def load_ranker(directory: Path) -> LearnedRanker:
    """Read a saved ranker; raises ``ValueError`` when the files are missing, altered or malformed."""
    try:
        manifest = Manifest.model_validate_json((directory / MANIFEST_FILE).read_bytes())
        body = (directory / MODEL_FILE).read_bytes()
    except FileNotFoundError as error:
        raise ValueError(
            f"ranker_path: {directory} holds no saved ranker ({error.filename} missing)"
        ) from None
    if hashlib.sha256(body).hexdigest() != manifest.sha256:
        raise ValueError(f"ranker_path: {directory / MODEL_FILE} does not match the sha256 in its manifest")
    return LearnedRanker(
        RankerModel(features=manifest.features, text=body.decode()), manifest, compiled_in=directory
    )
