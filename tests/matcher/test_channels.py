"""The lexical channel's retrieval and scoring against brute-force references."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jieba
import numpy as np
import pytest
import scipy.sparse as sp

from embeddings.index import VectorIndex
from embeddings.lexical import COUNTS_FILE, COUNTS_MANIFEST, LexicalVectorizer, TermWeighting, text_key
from matcher import channels as channels_module
from matcher import keywords
from matcher.catalog import Catalog, KindTable
from matcher.channels import Channels, KindChannels
from matcher.config import RetrievalConfig
from matcher.lexical_rows import CompactRows, LexicalWeights
from matcher.text import profile_text
from models.enums import EntityKind
from tests.doubles import HashingEncoder

# The channels' mechanics are checked on exact weights; float16's own tolerance is tested apart.
EXACT = RetrievalConfig(lexical_weights="float32")


def _channel(rows: int, features: int, seed: int) -> tuple[KindChannels, sp.csr_matrix]:
    matrix = sp.csr_matrix(sp.random(rows, features, density=0.05, dtype=np.float32, random_state=seed))
    channel = KindChannels(KindTable(EntityKind.startup), VectorIndex(4), matrix, EXACT)
    return channel, matrix


def _query(features: int, nonzero: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = np.zeros((1, features), np.float32)
    dense[0, rng.choice(features, nonzero, replace=False)] = rng.uniform(0.01, 1, nonzero)
    return sp.csr_matrix(dense)


def test_lexical_top_is_the_best_admitted_rows_on_the_heaviest_features() -> None:
    channel, matrix = _channel(2000, 300, seed=1)
    query = _query(300, RetrievalConfig().lexical_query_features + 20, seed=2)
    mask = np.random.default_rng(3).random(2000) < 0.3
    heaviest = np.argsort(-query.data, kind="stable")[: RetrievalConfig().lexical_query_features]
    truncated = np.zeros(300, np.float64)
    truncated[query.indices[heaviest]] = query.data[heaviest]
    scores = np.where(mask, matrix @ truncated, 0.0)
    top = channel.lexical_top(query, mask, 50)
    assert len(top) == 50
    assert mask[top].all()
    assert np.sort(scores[top])[0] >= np.sort(scores)[-50] - 1e-9


def test_lexical_top_returns_every_admitted_match_when_there_are_few() -> None:
    channel, matrix = _channel(500, 300, seed=4)
    query = _query(300, 10, seed=5)
    mask = np.zeros(500, bool)
    mask[:40] = True
    matching = np.flatnonzero((matrix[:40] @ query.T).toarray().ravel() > 0)
    assert sorted(channel.lexical_top(query, mask, 100).tolist()) == matching.tolist()


def _rare_and_common() -> KindChannels:
    """1000 rows: feature 0 in every row, 1 in rows 0-4 (0.5 %), 2 in rows 10-39 (3 %), its
    weight rising with the row."""
    matrix = sp.lil_matrix((1000, 3), dtype=np.float32)
    matrix[:, 0] = 0.9
    matrix[:5, 1] = 0.5
    for row in range(10, 40):
        matrix[row, 2] = row / 100
    csr = sp.csr_matrix(matrix)
    return KindChannels(KindTable(EntityKind.startup), VectorIndex(4), csr, EXACT)


def test_lexical_top_widens_to_commoner_features_only_while_too_few_rows_are_found() -> None:
    channel = _rare_and_common()
    query = sp.csr_matrix(np.array([[0.6, 0.6, 0.5]], np.float32))
    everyone = np.ones(1000, bool)
    assert sorted(channel.lexical_top(query, everyone, 5).tolist()) == [0, 1, 2, 3, 4]
    assert sorted(channel.lexical_top(query, everyone, 8).tolist()) == [0, 1, 2, 3, 4, 37, 38, 39]
    # A feature in every row finds nobody in particular: it is never looked up.
    assert sorted(channel.lexical_top(query, everyone, 100).tolist()) == [*range(5), *range(10, 40)]


def test_a_long_posting_list_is_read_up_to_its_heaviest_rows() -> None:
    """Feature 0 is held by rows 0-9 of 1000, weight rising with the row; lists are cut at 3."""
    matrix = sp.lil_matrix((1000, 2), dtype=np.float32)
    for row in range(10):
        matrix[row, 0] = (row + 1) / 10
    matrix[500, 1] = 1.0
    retrieval = RetrievalConfig(posting_head=3, lexical_overlay_limit=1, lexical_weights="float32")
    channel = KindChannels(KindTable(EntityKind.startup), VectorIndex(4), sp.csr_matrix(matrix), retrieval)
    query = sp.csr_matrix(np.array([[1.0, 0.0]], np.float32))
    everyone = np.ones(1000, bool)
    assert sorted(channel.lexical_top(query, everyone, 5).tolist()) == [7, 8, 9]
    not_nine = everyone.copy()
    not_nine[9] = False
    assert sorted(channel.lexical_top(query, not_nine, 5).tolist()) == [7, 8]
    # An edited row is found at once, beside the cut lists ...
    channel.set_lexical(2, sp.csr_matrix(np.array([[5.0, 0.0]], np.float32)))
    assert sorted(channel.lexical_top(query, everyone, 5).tolist()) == [2, 7, 8, 9]
    # ... and once enough rows changed, the lists are restacked and cut anew: row 2 is the heaviest.
    channel.set_lexical(3, sp.csr_matrix(np.array([[0.05, 0.0]], np.float32)))
    assert sorted(channel.lexical_top(query, everyone, 5).tolist()) == [2, 8, 9]


def test_lexical_scores_are_the_inner_products_with_the_chosen_rows() -> None:
    channel, matrix = _channel(300, 200, seed=6)
    query = _query(200, 30, seed=7)
    positions = np.array([5, 0, 299, 5, 17])
    expected = (matrix[positions] @ query.T).toarray().ravel()
    np.testing.assert_allclose(channel.lexical_scores(query, positions), expected, rtol=1e-5)


def _changed(
    channel: KindChannels, matrix: sp.csr_matrix, seed: int, between: Callable[[int], object]
) -> sp.csr_matrix:
    """Edits, appends and a gap (a position skipped, as for an inactive new profile) through
    ``set_lexical``, with ``between(rows)`` after each; returns the matrix the rows now make."""
    rng = np.random.default_rng(seed)
    rows = [matrix[i] for i in range(matrix.shape[0])]
    features = matrix.shape[1]
    edits = [*rng.choice(len(rows), 40, replace=False).tolist(), len(rows), len(rows) + 2, len(rows) + 3]
    for position in edits:
        row = sp.csr_matrix(sp.random(1, features, density=0.08, dtype=np.float32, random_state=position))
        channel.set_lexical(position, row)
        rows.extend(
            sp.csr_matrix(np.zeros((1, features), np.float32)) for _ in range(position + 1 - len(rows))
        )
        rows[position] = row
        between(len(rows))
    return sp.csr_matrix(sp.vstack(rows, format="csr"))


def test_rows_changed_after_stacking_are_scored_and_retrieved_as_if_restacked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stackings: list[int] = []
    original = channels_module._Postings

    def counted(
        store: sp.csr_matrix, row_of: np.ndarray, head: int, *, weighting: TermWeighting | None
    ) -> channels_module._Postings:
        stackings.append(len(row_of))
        return original(store, row_of, head, weighting=weighting)

    monkeypatch.setattr(channels_module, "_Postings", counted)
    channel, matrix = _channel(1000, 300, seed=8)
    query = _query(300, RetrievalConfig().lexical_query_features, seed=9)
    changed = _changed(channel, matrix, 10, lambda rows: channel.lexical_top(query, np.ones(rows, bool), 10))
    everyone = np.ones(changed.shape[0], bool)
    mask = np.random.default_rng(11).random(changed.shape[0]) < 0.5
    fresh = KindChannels(KindTable(EntityKind.startup), VectorIndex(4), changed, EXACT)
    positions = np.arange(changed.shape[0])
    np.testing.assert_allclose(
        channel.lexical_scores(query, positions), fresh.lexical_scores(query, positions)
    )
    for admitted in (everyone, mask):
        for count in (5, 60, 2000):
            found = channel.lexical_top(query, admitted, count)
            assert sorted(found.tolist()) == sorted(fresh.lexical_top(query, admitted, count).tolist())
    assert stackings == [1000, changed.shape[0]]  # the edited channel stacked once, and the fresh one


def test_postings_summed_in_a_table_long_buffer_or_by_sorting_find_the_same_rows() -> None:
    rng = np.random.default_rng(3)
    matrix = sp.csr_matrix(sp.random(400, 30, density=0.2, dtype=np.float32, random_state=rng))
    query = sp.csr_matrix(rng.random((1, 30), dtype=np.float32))
    found = []
    # A fraction of 1 sums by sorting (no posting list is the table's length); 401 always densely.
    for fraction in (1, 401):
        retrieval = RetrievalConfig(
            dense_sum_fraction=fraction, lexical_retrieval_shares=(1.0,), lexical_weights="float32"
        )
        channel = KindChannels(KindTable(EntityKind.startup), VectorIndex(4), matrix, retrieval)
        found.append(sorted(channel.lexical_top(query, np.ones(400, bool), 20).tolist()))
    assert found[0] == found[1]
    assert len(found[0]) == 20


def _startups(count: int) -> Catalog:
    catalog = Catalog.empty()
    for n in range(1, count + 1):
        catalog.tables[EntityKind.startup].upsert(
            {
                "id": n,
                "external_id": f"S-{n}",
                "name": f"光谷第{n}号机器人公司",
                "one_liner": f"工业视觉质检 {n}",
            }
        )
    return catalog


def _analysed_texts(channels: Channels) -> list[str]:
    analysed: list[str] = []
    features = channels.feature_counts.analyse

    def analyse(text: str) -> list[str]:
        analysed.append(text)
        return features(text)

    channels.feature_counts.analyse = analyse
    return analysed


def test_a_rebuild_with_the_previous_builds_counts_analyses_only_the_new_texts() -> None:
    catalog = _startups(5)
    before = Channels.build(catalog, HashingEncoder())
    analysed = _analysed_texts(before)
    catalog.tables[EntityKind.startup].upsert({"id": 6, "external_id": "S-6", "name": "新来的医疗器械公司"})
    after = Channels.build(
        catalog, HashingEncoder(), refit_lexical=True, feature_counts=before.feature_counts
    )
    assert analysed == ["新来的医疗器械公司"]
    fresh = Channels.build(catalog, HashingEncoder(), refit_lexical=True)
    assert after.lexical_vectorizer.vocabulary_ == fresh.lexical_vectorizer.vocabulary_
    for row_id in range(1, 7):
        position = catalog.tables[EntityKind.startup].position(row_id)
        np.testing.assert_array_equal(
            after.kinds[EntityKind.startup].lexical_row(position).toarray(),
            fresh.kinds[EntityKind.startup].lexical_row(position).toarray(),
        )


def test_a_replaced_or_removed_text_leaves_the_counts() -> None:
    catalog = _startups(3)
    channels = Channels.build(catalog, HashingEncoder())
    table = catalog.tables[EntityKind.startup]
    old = profile_text(EntityKind.startup, table.record(1))
    table.upsert({**table.record(1), "one_liner": "改做生鲜电商"})
    channels.update(EntityKind.startup, 1)
    gone = profile_text(EntityKind.startup, table.record(2))
    channels.remove(EntityKind.startup, 2)
    analysed = _analysed_texts(channels)
    # The build spilled its analyses to a file: read back, they hold the kept text's only.
    channels.feature_counts.restored().matrix([old, gone, profile_text(EntityKind.startup, table.record(3))])
    assert analysed == [old, gone]


def _no_jieba(text: str) -> list[str]:
    raise AssertionError(f"jieba asked to cut {text!r}")


def test_a_process_reading_the_stored_state_takes_the_label_cuts_without_jieba(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _startups(3)
    Channels.build(catalog, HashingEncoder(), index_dir=tmp_path).save(tmp_path)
    cut = keywords.label_cuts()
    assert {"智能", "制造"} <= cut
    monkeypatch.setattr(keywords, "_label_cuts", {})  # as in a new process
    monkeypatch.setattr(keywords, "tokenize_zh", _no_jieba)
    Channels.build(catalog, HashingEncoder(), index_dir=tmp_path, kinds={EntityKind.startup})
    assert keywords.label_cuts() == cut


def test_label_cuts_made_by_another_jieba_are_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keywords.save_label_cuts(tmp_path)
    stored = json.loads((tmp_path / keywords.LABEL_CUTS_FILE).read_text(encoding="utf-8"))
    stored["words"] = ["会被当成停用词"]
    (tmp_path / keywords.LABEL_CUTS_FILE).write_text(json.dumps(stored), encoding="utf-8")
    monkeypatch.setattr(keywords, "_label_cuts", {})
    monkeypatch.setattr(jieba, "__version__", "0.0-other")
    assert not keywords.load_label_cuts(tmp_path)
    assert "会被当成停用词" not in keywords.label_cuts()
    assert {"智能", "制造"} <= keywords.label_cuts()


def test_a_kind_read_from_the_stored_state_has_the_rows_it_was_saved_with(tmp_path: Path) -> None:
    catalog = _startups(6)
    built = Channels.build(catalog, HashingEncoder(), index_dir=tmp_path)
    built.save(tmp_path)
    read = Channels.build(catalog, HashingEncoder(), index_dir=tmp_path, kinds={EntityKind.startup})
    before, after = built.kinds[EntityKind.startup], read.kinds[EntityKind.startup]
    query = built.lexical_vectorizer.transform(["工业视觉质检机器人"])
    everyone = np.ones(6, bool)
    assert after.lexical_top(query, everyone, 3).tolist() == before.lexical_top(query, everyone, 3).tolist()
    for position in range(6):
        np.testing.assert_array_equal(
            after.lexical_row(position).toarray(), before.lexical_row(position).toarray()
        )
    after.erase_lexical(2)
    assert after.lexical_row(2).nnz == 0
    np.testing.assert_array_equal(after.lexical_row(3).toarray(), before.lexical_row(3).toarray())
    assert 2 not in after.lexical_top(query, everyone, 6).tolist()


def _recorded_analyses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text any vectorizer analyses from now on."""
    analysed: list[str] = []
    features = LexicalVectorizer.features

    def recorded(self: LexicalVectorizer, text: str) -> list[str]:
        analysed.append(text)
        return features(self, text)

    monkeypatch.setattr(LexicalVectorizer, "features", recorded)
    return analysed


def test_a_restarted_process_refits_analysing_only_the_texts_new_since_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _startups(5)
    Channels.build(catalog, HashingEncoder(), index_dir=tmp_path).save(tmp_path)
    analysed = _recorded_analyses(monkeypatch)
    catalog.tables[EntityKind.startup].upsert({"id": 6, "external_id": "S-6", "name": "新来的医疗器械公司"})
    refit = Channels.build(catalog, HashingEncoder(), index_dir=tmp_path, refit_lexical=True)
    assert analysed == ["新来的医疗器械公司"]
    monkeypatch.undo()
    fresh = Channels.build(catalog, HashingEncoder(), refit_lexical=True)
    assert refit.lexical_vectorizer.vocabulary_ == fresh.lexical_vectorizer.vocabulary_
    for position in range(6):
        np.testing.assert_array_equal(
            refit.kinds[EntityKind.startup].lexical_row(position).toarray(),
            fresh.kinds[EntityKind.startup].lexical_row(position).toarray(),
        )


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda folder: (folder / COUNTS_FILE).write_bytes(b"not the saved file"), id="file"),
        pytest.param(
            lambda folder: (folder / COUNTS_MANIFEST).write_text(
                json.dumps(json.loads((folder / COUNTS_MANIFEST).read_text()) | {"format": 0})
            ),
            id="manifest",
        ),
        pytest.param(lambda folder: (folder / COUNTS_MANIFEST).unlink(), id="no-manifest"),
    ],
)
def test_stored_analyses_that_do_not_match_their_manifest_are_analysed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spoil: Callable[[Path], object]
) -> None:
    catalog = _startups(3)
    Channels.build(catalog, HashingEncoder(), index_dir=tmp_path).save(tmp_path)
    spoil(tmp_path / channels_module.LEXICAL_DIR)
    analysed = _recorded_analyses(monkeypatch)
    Channels.build(catalog, HashingEncoder(), index_dir=tmp_path, refit_lexical=True)
    table = catalog.tables[EntityKind.startup]
    assert sorted(analysed) == sorted(profile_text(EntityKind.startup, table.record(i)) for i in (1, 2, 3))


def test_analyses_made_by_another_jieba_are_analysed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _startups(3)
    Channels.build(catalog, HashingEncoder(), index_dir=tmp_path).save(tmp_path)
    monkeypatch.setattr(jieba, "__version__", "0.0-other")
    analysed = _recorded_analyses(monkeypatch)
    Channels.build(catalog, HashingEncoder(), index_dir=tmp_path, refit_lexical=True)
    assert len(analysed) == 3


def _cloned(distinct: int, positions: int, features: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """``distinct`` random rows, and which of them each of ``positions`` holds (as copies of a
    listing, or empty bios, share one text)."""
    rng = np.random.default_rng(seed)
    store = sp.csr_matrix(sp.random(distinct, features, density=0.1, dtype=np.float32, random_state=rng))
    return store, rng.integers(0, distinct, positions).astype(np.int32)


@pytest.mark.parametrize("head", [4, 40, 100_000])
def test_shared_rows_score_and_retrieve_as_their_positions_written_out(head: int) -> None:
    store, row_of = _cloned(30, 600, 80, seed=12)
    retrieval = RetrievalConfig(
        posting_head=head, lexical_retrieval_shares=(0.05, 0.5, 1.0), lexical_weights="float32"
    )
    shared = KindChannels(KindTable(EntityKind.startup), VectorIndex(4), store, retrieval, row_of=row_of)
    written_out = KindChannels(KindTable(EntityKind.startup), VectorIndex(4), store[row_of], retrieval)
    mask = np.random.default_rng(13).random(600) < 0.6
    for seed in range(5):
        query = _query(80, 12, seed=seed)
        for count in (5, 50, 600):
            assert (
                shared.lexical_top(query, mask, count).tolist()
                == written_out.lexical_top(query, mask, count).tolist()
            )
        positions = np.arange(600)
        np.testing.assert_array_equal(
            shared.lexical_scores(query, positions), written_out.lexical_scores(query, positions)
        )
    for position in (0, 17, 599):
        np.testing.assert_array_equal(
            shared.lexical_row(position).toarray(), store[int(row_of[position])].toarray()
        )


@pytest.mark.parametrize("distinct", [25, 1000])  # read expanded from shared rows, or written out
def test_postings_keep_each_features_heaviest_positions_the_lower_among_equals(distinct: int) -> None:
    store, row_of = _cloned(distinct, 400, 60, seed=14)
    expanded = store[row_of].tocsc()
    postings = channels_module._Postings(store, row_of, 7)
    np.testing.assert_array_equal(postings.row_counts, np.diff(expanded.indptr))
    for feature in range(60):
        start, end = expanded.indptr[feature : feature + 2]
        rows, weights = expanded.indices[start:end], expanded.data[start:end]
        heaviest = np.sort(rows[np.lexsort((rows, -weights))[:7]])
        positions, values = postings.posting(feature)
        ascending = np.argsort(positions)
        assert positions[ascending].tolist() == heaviest.tolist()
        np.testing.assert_array_equal(values[ascending], expanded[heaviest, feature].toarray().ravel())


def _expanded_scores(
    postings: channels_module._Postings,
    columns: np.ndarray,
    weights: np.ndarray,
    mask: np.ndarray,
    fraction: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Every posting of ``columns`` expanded to its positions, the admitted ones summed in the
    postings' order: in a table-long buffer (dropping sums of 0) past ``len(mask) // fraction``."""
    found = [postings.posting(int(column)) for column in columns]
    rows = np.concatenate([positions for positions, _ in found] + [np.zeros(0, np.int32)])
    shares = np.concatenate(
        [values * np.float32(weight) for (_, values), weight in zip(found, weights.tolist(), strict=True)]
        + [np.zeros(0, np.float32)]
    )
    admitted = mask[rows]
    rows, shares = rows[admitted], shares[admitted]
    if len(rows) > len(mask) // fraction:
        sums = np.bincount(rows, weights=shares, minlength=len(mask))
        return np.flatnonzero(sums), sums[np.flatnonzero(sums)]
    hits, per_hit = np.unique(rows, return_inverse=True)
    return hits, np.bincount(per_hit, weights=shares, minlength=len(hits))


@pytest.mark.parametrize("head", [10, 40, 100_000])
@pytest.mark.parametrize("weights", ["float16", "float32"])
def test_shared_rows_sum_their_postings_bit_for_bit_as_expanded(head: int, weights: LexicalWeights) -> None:
    store, row_of = _cloned(25, 700, 60, seed=17)
    store.data[:5] = 0.0  # entries that round to no weight: a sum of 0, dropped by the buffer only
    postings = channels_module._Postings(CompactRows.from_matrix(store, weights), row_of, head)
    assert postings.kept is not None  # the shared form
    rng = np.random.default_rng(18)
    for _ in range(20):
        columns = rng.choice(60, int(rng.integers(0, 12)), replace=False)
        query_weights = rng.uniform(0.01, 1, len(columns)).astype(np.float32)
        mask = rng.random(700) < rng.uniform(0.1, 1.0)
        for fraction in (1, 16, 10**6):
            hits, sums = postings.shared_scores(columns, query_weights, mask, fraction)
            expected_hits, expected_sums = _expanded_scores(postings, columns, query_weights, mask, fraction)
            assert hits.tolist() == expected_hits.tolist()
            assert sums.tolist() == expected_sums.tolist()  # equal floats, not close ones


def _vectorised_rows() -> tuple[sp.csr_matrix, TermWeighting]:
    """TF-IDF rows of varied texts (two counting a character past a byte) and their weighting."""
    rng = np.random.default_rng(21)
    words = ["光谷", "人工智能", "工业", "视觉", "质检", "生鲜", "电商", "医疗", "器械", "SaaS", "芯片"]
    texts = ["".join(rng.choice(words, int(rng.integers(1, 30)))) for _ in range(300)]
    texts += ["光谷" + "啊" * 300, "工业" + "啊" * 280]
    vectorizer = LexicalVectorizer(min_df=2)
    return vectorizer.fit_transform(texts), vectorizer.term_weighting()


@pytest.mark.parametrize("shared", [False, True])  # postings written out, or over shared rows
def test_postings_held_as_counts_read_the_stores_weights_bit_for_bit(shared: bool) -> None:
    store, weighting = _vectorised_rows()
    rng = np.random.default_rng(22)
    # Shared: 4,000 copies of 22 rows (the long ones among them), most of a feature's kept.
    distinct = np.r_[:20, store.shape[0] - 2, store.shape[0] - 1]
    row_of = rng.choice(distinct, 4000) if shared else rng.permutation(store.shape[0])
    row_of, head = row_of.astype(np.int32), 1000 if shared else 40
    rows = CompactRows.from_matrix(store, "float32")
    weighed = channels_module._Postings(rows, row_of, head)
    counted = channels_module._Postings(rows, row_of, head, weighting=weighting)
    assert (weighed.kept is not None) == (counted.kept is not None) == shared
    assert weighed.data.dtype == np.float32
    assert counted.data.dtype == np.uint8
    assert 0 < len(counted.unrebuilt_entries) < 10  # the counts past a byte
    for column in range(store.shape[1]):
        positions, weights = counted.posting(column)
        expected_positions, expected_weights = weighed.posting(column)
        assert positions.tolist() == expected_positions.tolist()
        assert weights.tobytes() == expected_weights.tobytes()
    for _ in range(20):
        columns = rng.choice(store.shape[1], 12, replace=False)
        query_weights = rng.uniform(0.01, 1, 12).astype(np.float32)
        mask = rng.random(len(row_of)) < 0.6
        if shared:
            found = counted.shared_scores(columns, query_weights, mask, 16)
            expected = weighed.shared_scores(columns, query_weights, mask, 16)
            assert [a.tolist() for a in found] == [a.tolist() for a in expected]
        else:
            for column in columns.tolist():
                positions, entries = counted.admitted(column, mask)
                expected_positions, expected_entries = weighed.admitted(column, mask)
                assert positions.tolist() == expected_positions.tolist()
                assert entries.tolist() == expected_entries.tolist()
    # Every entry at once, each with its own feature (as a retrieval reads many postings).
    entries = np.arange(len(counted.data))
    features = np.repeat(np.arange(store.shape[1]), np.diff(counted.indptr))
    weights = counted.weights(entries, counted.rows, features)
    assert weights.tobytes() == weighed.weights(entries, weighed.rows, features).tobytes()


@pytest.mark.parametrize("count", [1, 5, 32, 200])
def test_heaviest_first_is_a_stable_sorts_first_count(count: int) -> None:
    rng = np.random.default_rng(19)
    for dtype in ("float16", "float32"):
        weights: np.ndarray = rng.choice([0.1, 0.25, 0.5, 0.75], 150).astype(dtype)  # many ties at any cut
        weights[::7] = rng.random(len(weights[::7]))
        expected = np.argsort(-weights, kind="stable")[:count]
        assert channels_module.heaviest_first(weights, count).tolist() == expected.tolist()


def test_a_compaction_keeps_only_the_rows_some_position_reads() -> None:
    store, row_of = _cloned(10, 50, 40, seed=15)
    retrieval = RetrievalConfig(lexical_overlay_limit=3, lexical_weights="float32")
    channel = KindChannels(KindTable(EntityKind.startup), VectorIndex(4), store, retrieval, row_of=row_of)
    gone = int(row_of[0])
    readers = np.flatnonzero(row_of == gone).tolist()
    expected = [channel.lexical_row(p).toarray() for p in range(50)]
    for position in readers:
        channel.set_lexical(position, sp.csr_matrix(np.ones((1, 40), np.float32)))
        expected[position] = np.ones((1, 40), np.float32)
    channel.set_lexical(52, sp.csr_matrix(np.full((1, 40), 2.0, np.float32)))  # compacts, if not before
    channel.erase_lexical(1)  # compacts
    expected[1] = np.zeros((1, 40), np.float32)
    expected += [np.zeros((1, 40), np.float32)] * 2 + [np.full((1, 40), 2.0, np.float32)]
    for position, row in enumerate(expected):
        np.testing.assert_array_equal(channel.lexical_row(position).toarray(), row)
    stored = {tuple(row.tolist()) for row in channel._store.toarray()}
    assert tuple(store[gone].toarray().ravel().tolist()) not in stored
    assert channel._store.shape[0] == len(np.unique(channel._row_of))


@pytest.mark.parametrize("distinct", [25, 1000])  # postings over shared rows, or written out
@pytest.mark.parametrize("weights", ["float16", "float32"])
def test_postings_made_a_run_of_features_at_a_time_equal_those_made_at_once(
    distinct: int, weights: LexicalWeights
) -> None:
    store, row_of = _cloned(distinct, 400, 60, seed=16)
    rows = CompactRows.from_matrix(store, weights)
    whole = channels_module._Postings(rows, row_of, 7, chunk_entries=10**9, band_entries=10**9).arrays()
    # A run, and a band of the transpose, of a feature at least; bands split runs where they end.
    for chunk_entries, band_entries in [(1, None), (13, None), (500, None), (13, 1), (13, 40), (500, 97)]:
        arrays = channels_module._Postings(
            rows, row_of, 7, chunk_entries=chunk_entries, band_entries=band_entries
        ).arrays()
        assert arrays.keys() == whole.keys()
        for name, array in arrays.items():
            assert array.dtype == whole[name].dtype, name
            np.testing.assert_array_equal(array, whole[name], err_msg=name)


def test_saved_analyses_leave_memory_and_a_refit_reads_them_back(tmp_path: Path) -> None:
    catalog = _startups(5)
    channels = Channels.build(catalog, HashingEncoder(), index_dir=tmp_path)
    channels.save(tmp_path)
    assert channels.feature_counts._rows == {}
    assert channels.feature_counts.ordered == []
    table = catalog.tables[EntityKind.startup]
    table.upsert({**table.record(1), "one_liner": "改做生鲜电商"})
    channels.update(EntityKind.startup, 1)
    gone = profile_text(EntityKind.startup, table.record(2))
    channels.remove(EntityKind.startup, 2)
    table.remove(2)
    channels.save(tmp_path)  # the analyses read back, the gone text's dropped
    stored = LexicalVectorizer(**channels_module.LEXICAL_PARAMS).feature_counts()
    assert stored.read(tmp_path / channels_module.LEXICAL_DIR)
    assert len(stored._rows) == 4
    assert text_key(gone) not in stored._rows
    analysed = _analysed_texts(channels)
    table.upsert({"id": 6, "external_id": "S-6", "name": "新来的医疗器械公司"})
    channels.update(EntityKind.startup, 6)
    refit = Channels.build(
        catalog, HashingEncoder(), refit_lexical=True, feature_counts=channels.feature_counts
    )
    # The new text by the update, the removed row's blank one by the refit; the rest read back.
    assert analysed == ["新来的医疗器械公司", ""]
    fresh = Channels.build(catalog, HashingEncoder(), refit_lexical=True)
    assert refit.lexical_vectorizer.vocabulary_ == fresh.lexical_vectorizer.vocabulary_
    for row_id in table.ids.tolist():
        position = table.position(row_id)
        np.testing.assert_array_equal(
            refit.kinds[EntityKind.startup].lexical_row(position).toarray(),
            fresh.kinds[EntityKind.startup].lexical_row(position).toarray(),
        )


@pytest.mark.parametrize("weights", ["float16", "float32"])
def test_each_kinds_rows_are_held_in_place_when_every_kind_is_a_run_else_copied(
    weights: LexicalWeights,
) -> None:
    matrix = sp.csr_matrix(sp.random(40, 30, density=0.3, dtype=np.float32, random_state=3))
    rows = channels_module._Rows(matrix, [str(row) for row in range(40)])
    runs = [[str(row) for row in range(25)], [str(row) for row in range(25, 40)], []]
    held = rows.each(runs, weights)
    for part, (first, last) in zip(held, [(0, 25), (25, 40), (0, 0)], strict=True):
        assert isinstance(part, CompactRows)
        assert part.dtype == np.dtype(weights)
        np.testing.assert_array_equal(part.toarray(), matrix[first:last].toarray().astype(weights))
    assert np.shares_memory(held[0].indices, matrix.indices)
    assert np.shares_memory(held[1].data, matrix.data) == (weights == "float32")
    copied = rows.each([runs[0], ["7", "3"]], weights)  # not a run: every kind copied
    assert not any(isinstance(part, CompactRows) for part in copied)
    np.testing.assert_array_equal(copied[1].toarray(), matrix[[7, 3]].toarray())
