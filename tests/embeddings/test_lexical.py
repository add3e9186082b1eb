"""Lexical channel: tokenisation, Chinese similarity, explicit params, safe save/load."""

from __future__ import annotations

import collections
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jieba
import numpy as np
import pytest
import scipy.sparse as sp

from embeddings import lexical as lexical_module
from embeddings.lexical import (
    LARGEST_BYTE_COUNT,
    FeatureCounts,
    LexicalVectorizer,
    normalize_text,
    text_key,
    tokenize_zh,
)

CORPUS = [
    "武汉光谷人工智能初创公司，专注工业视觉质检",
    "人工智能创业团队，做工业视觉检测",
    "社区生鲜电商平台，主打水果配送",
    "生鲜水果电商，社区团购配送",
    "医疗器械研发，心血管介入支架",
    "A SaaS platform for restaurants",
]


def test_tokenize_zh_segments_words_lowercases_latin_and_drops_punctuation() -> None:
    assert tokenize_zh("武汉光谷的AI平台，SaaS！") == ["武汉", "光谷", "的", "ai", "平台", "saas"]
    assert tokenize_zh("  ，。 ") == []


def test_params_are_explicit_and_stored_as_given() -> None:
    vectorizer = LexicalVectorizer(use_words=False, char_ngram_range=(2, 2), min_df=2, max_features=10)
    assert vectorizer.get_params() == {
        "use_words": False,
        "char_ngram_range": (2, 2),
        "min_df": 2,
        "max_features": 10,
        "sublinear_tf": True,
    }
    with pytest.raises(TypeError):
        LexicalVectorizer(True)  # type: ignore[call-arg]


def test_transform_before_fit_fails() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        LexicalVectorizer().transform(["武汉"])


def test_rows_are_l2_normalised_csr() -> None:
    matrix = LexicalVectorizer().fit_transform([*CORPUS, "", "！！"])
    assert sp.issparse(matrix)
    assert matrix.format == "csr"
    assert matrix.dtype == np.float32
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, [1] * len(CORPUS) + [0, 0], atol=1e-6)


def test_chinese_paraphrases_are_closer_than_unrelated_texts() -> None:
    m = LexicalVectorizer().fit_transform(CORPUS)
    sim = (m @ m.T).toarray()
    assert sim[0, 1] > sim[0, 2]
    assert sim[0, 1] > sim[0, 3]
    assert sim[2, 3] > sim[2, 4]


def test_max_features_and_min_df_limit_the_vocabulary() -> None:
    assert len(LexicalVectorizer(max_features=5).fit(CORPUS).vocabulary_) == 5
    frequent = LexicalVectorizer(min_df=2).fit(CORPUS).vocabulary_
    assert "w:人工智能" in frequent
    assert "w:支架" not in frequent


def test_save_load_round_trip_gives_identical_vectors_without_pickle(tmp_path: Path) -> None:
    vectorizer = LexicalVectorizer(char_ngram_range=(1, 2), min_df=1).fit(CORPUS)
    vectorizer.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idf.npz", "lexical.json"]
    assert json.loads((tmp_path / "lexical.json").read_text(encoding="utf-8"))["params"]["min_df"] == 1
    loaded = LexicalVectorizer.load(tmp_path)
    assert loaded.get_params() == vectorizer.get_params()
    texts = ["光谷的人工智能公司", "生鲜电商 SaaS"]
    np.testing.assert_array_equal(loaded.transform(texts).toarray(), vectorizer.transform(texts).toarray())


def _counting(vectorizer: LexicalVectorizer) -> tuple[FeatureCounts, list[str]]:
    """A memo for ``vectorizer`` that records every text it analyses."""
    counts, analysed = vectorizer.feature_counts(), []
    features = counts.analyse

    def analyse(text: str) -> list[str]:
        analysed.append(text)
        return features(text)

    counts.analyse = analyse
    return counts, analysed


def test_a_text_is_analysed_once_across_fits_and_transforms_sharing_counts() -> None:
    vectorizer = LexicalVectorizer(min_df=2)
    counts, analysed = _counting(vectorizer)
    first = vectorizer.fit_transform(CORPUS[:4], counts=counts)
    assert sorted(analysed) == sorted(CORPUS[:4])
    refit = LexicalVectorizer(min_df=2).fit_transform(CORPUS, counts=counts)
    assert sorted(analysed) == sorted(CORPUS)  # the refit analysed only the two new texts
    np.testing.assert_array_equal(
        refit.toarray(), LexicalVectorizer(min_df=2).fit_transform(CORPUS).toarray()
    )
    np.testing.assert_array_equal(
        first.toarray(), LexicalVectorizer(min_df=2).fit_transform(CORPUS[:4]).toarray()
    )


def test_a_forgotten_or_unkept_text_is_analysed_again() -> None:
    vectorizer = LexicalVectorizer()
    counts, analysed = _counting(vectorizer)
    vectorizer.fit(CORPUS, counts=counts)
    counts.forget([text_key(CORPUS[0])])
    counts.keep([text_key(t) for t in CORPUS[2:]])
    vectorizer.transform(CORPUS, counts=counts)
    assert analysed[len(CORPUS) :] == CORPUS[:2]


def test_the_memo_holds_a_feature_in_4_bytes_where_it_fits_and_every_count_whole(tmp_path: Path) -> None:
    counts = LexicalVectorizer(use_words=False, char_ngram_range=(1, 1)).feature_counts()
    texts = ["光谷光谷医疗", "光" * 300 + "谷"]
    matrix = counts.matrix(texts)
    packed, apart = counts._rows.values()
    assert isinstance(packed, np.ndarray)
    assert packed.nbytes == 4 * 4
    assert isinstance(apart, tuple)  # 300 does not fit a byte
    assert matrix.dtype == np.int32
    column = counts.feature_ids["c:光"]
    assert (matrix[0, column], matrix[1, column]) == (2, 300)
    np.testing.assert_array_equal(matrix.toarray(), [[2, 2, 1, 1], [300, 1, 0, 0]])
    counts.save(tmp_path)
    read = LexicalVectorizer(use_words=False, char_ngram_range=(1, 1)).feature_counts()
    assert read.read(tmp_path)
    np.testing.assert_array_equal(read.matrix(texts).toarray(), matrix.toarray())


def test_spilled_analyses_leave_memory_and_come_back_whole_until_the_memo_goes(tmp_path: Path) -> None:
    vectorizer = LexicalVectorizer(min_df=2)
    counts, analysed = _counting(vectorizer)
    expected = vectorizer.fit_transform(CORPUS, counts=counts).toarray()
    counts.spill()
    assert counts._rows == {}
    assert counts.ordered == []
    spilled = counts._released_to
    assert spilled is not None
    refit = LexicalVectorizer(min_df=2).fit_transform(CORPUS, counts=counts.restored())
    np.testing.assert_array_equal(refit.toarray(), expected)
    assert len(analysed) == len(CORPUS)  # nothing analysed twice
    counts.save(tmp_path)  # unchanged since the spill: the spilled file itself
    assert (tmp_path / lexical_module.COUNTS_FILE).read_bytes() == (
        spilled / lexical_module.COUNTS_FILE
    ).read_bytes()
    counts.release(tmp_path)
    assert not spilled.exists()
    read = vectorizer.feature_counts()
    assert read.read(tmp_path)
    np.testing.assert_array_equal(read.matrix(CORPUS).toarray(), counts.restored().matrix(CORPUS).toarray())
    assert len(analysed) == len(CORPUS)


def test_a_spill_removes_those_of_processes_that_no_longer_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])  # a process id that has ended
    dead.wait()
    orphan = tmp_path / f"{lexical_module.SPILL_PREFIX}{dead.pid}-abc"
    orphan.mkdir()
    (orphan / lexical_module.COUNTS_FILE).write_bytes(b"left by a killed process")
    living = tmp_path / f"{lexical_module.SPILL_PREFIX}{os.getppid()}-def"
    living.mkdir()
    unrelated = tmp_path / "another-folder"
    unrelated.mkdir()
    counts = LexicalVectorizer().feature_counts()
    counts.matrix(CORPUS)
    counts.spill()
    assert not orphan.exists()
    assert living.exists()
    assert unrelated.exists()
    assert counts._released_to is not None
    assert counts._released_to.parent == tmp_path


def test_a_memo_whose_spilled_file_is_gone_saves_what_it_holds(tmp_path: Path) -> None:
    counts = LexicalVectorizer().feature_counts()
    counts.matrix(CORPUS[:2])
    counts.spill()
    assert counts._released_to is not None
    shutil.rmtree(counts._released_to)
    counts.save(tmp_path)
    read = LexicalVectorizer().feature_counts()
    assert read.read(tmp_path)
    assert read._rows == {}


def _named_counts(counts: FeatureCounts, text: str) -> dict[str, int]:
    row = counts.matrix([text])
    return {counts.ordered[column]: int(n) for column, n in zip(row.indices, row.data, strict=True)}


def test_a_spilled_memo_changed_since_saves_its_changes(tmp_path: Path) -> None:
    counts = LexicalVectorizer().feature_counts()
    kept, added = CORPUS[1:], "新的文本"
    expected = {text: _named_counts(counts, text) for text in [*kept, added]}
    counts.keep(text_key(t) for t in CORPUS)
    counts.spill()
    counts.forget([text_key(CORPUS[0])])
    counts.matrix([added])
    counts.save(tmp_path)
    read = LexicalVectorizer().feature_counts()
    assert read.read(tmp_path)
    assert set(read._rows) == {text_key(t) for t in [*kept, added]}
    assert {text: _named_counts(read, text) for text in [*kept, added]} == expected


def test_counts_made_for_another_analysis_are_refused() -> None:
    counts = LexicalVectorizer(use_words=False).feature_counts()
    with pytest.raises(ValueError, match="counts"):
        LexicalVectorizer().fit(CORPUS, counts=counts)


def test_weights_are_sublinear_tf_times_smoothed_idf_over_the_most_frequent_features() -> None:
    texts = ["光谷 光谷 机器人", "光谷 医疗", "机器人 医疗 医疗", "ai"]
    vectorizer = LexicalVectorizer(char_ngram_range=(0, 0), max_features=3)
    matrix = vectorizer.fit_transform(texts)
    # Three features occur in two texts each: ties go by the feature string.
    assert vectorizer.vocabulary_ == {"w:光谷": 0, "w:医疗": 1, "w:机器人": 2}
    idf = math.log(5 / 3) + 1
    first = np.array([(1 + math.log(2)) * idf, 0, idf])
    np.testing.assert_allclose(matrix[0].toarray().ravel(), first / np.linalg.norm(first), rtol=1e-6)
    assert matrix[3].nnz == 0


@pytest.mark.parametrize("sublinear_tf", [True, False])
def test_weights_held_as_counts_and_a_norm_are_the_transforms_bit_for_bit(sublinear_tf: bool) -> None:
    # A character 300 times: its 1- to 3-grams and word are counted past a byte.
    texts = [*CORPUS, "光谷" + "啊" * 300 + "，工业视觉", "工业视觉 工业视觉 工业视觉 质检"]
    vectorizer = LexicalVectorizer(sublinear_tf=sublinear_tf)
    rows = vectorizer.fit_transform(texts)
    weighting = vectorizer.term_weighting()
    norms = weighting.norms(rows)
    entry_norms = np.repeat(norms, np.diff(rows.indptr))
    counts = weighting.counts(rows.data, rows.indices, entry_norms)
    # Each row's norm as an independent computation from its raw counts gives it.
    names = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    raw = [collections.Counter(vectorizer.features(text)) for text in texts]
    for row, text_counts in enumerate(raw):
        tf = np.asarray([text_counts[names[c]] for c in rows[row].indices], np.float64)
        unnormed = (1 + np.log(tf) if sublinear_tf else tf) * vectorizer.idf_[rows[row].indices]
        assert norms[row] == pytest.approx(np.linalg.norm(unnormed), rel=1e-12)
    entry_counts = np.concatenate([[raw[r][names[c]] for c in rows[r].indices] for r in range(len(texts))])
    past_a_byte = entry_counts > LARGEST_BYTE_COUNT
    assert past_a_byte.sum() >= 3
    # A count past a byte is no byte count (0): its holder keeps that weight itself.
    assert (counts[past_a_byte] == 0).all()
    assert (counts[~past_a_byte] == entry_counts[~past_a_byte]).all()
    rebuilt = weighting.weights(counts, weighting.idf[rows.indices], entry_norms)
    assert rebuilt.dtype == np.float32
    assert rebuilt[~past_a_byte].tobytes() == rows.data[~past_a_byte].tobytes()


def test_weights_not_made_by_a_weighting_get_no_count() -> None:
    vectorizer = LexicalVectorizer().fit(CORPUS)
    rows = sp.csr_matrix(np.random.default_rng(0).random((3, len(vectorizer.vocabulary_)), np.float32))
    rows.data[:4] = 0.0  # weights of 0 too
    weighting = vectorizer.term_weighting()
    entry_norms = np.repeat(weighting.norms(rows), np.diff(rows.indptr))
    counts = weighting.counts(rows.data, rows.indices, entry_norms)
    rebuilt = weighting.weights(counts, weighting.idf[rows.indices], entry_norms)
    assert ((counts == 0) | (rebuilt == rows.data)).all()
    assert (counts == 0).mean() > 0.9


def test_tokenising_block_by_block_gives_jiebas_words_for_the_whole_text() -> None:
    texts = [
        *CORPUS,
        "武汉光谷的AI平台，SaaS！武汉光谷的AI平台",
        "C++ & .NET 5.0% a-b_c",
        "x\u00a0y\t第3代\n产品",
    ]
    for text in texts:
        expected = [w for w in jieba.lcut(normalize_text(text)) if re.fullmatch(r"[^\W_]+", w)]
        assert tokenize_zh(text) == expected


@pytest.mark.parametrize("max_features", [None, 12])
def test_a_fit_and_transform_made_a_few_texts_at_a_time_equal_those_made_at_once(
    monkeypatch: pytest.MonkeyPatch, max_features: int | None
) -> None:
    texts = CORPUS * 3 + ["", "工业视觉"]
    whole = LexicalVectorizer(min_df=2, max_features=max_features)
    expected = whole.fit_transform(texts)
    monkeypatch.setattr(lexical_module, "TEXTS_PER_CHUNK", 2)
    chunked = LexicalVectorizer(min_df=2, max_features=max_features)
    for matrix in (chunked.fit_transform(texts), chunked.transform(texts), whole.transform(texts)):
        np.testing.assert_array_equal(matrix.indptr, expected.indptr)
        np.testing.assert_array_equal(matrix.indices, expected.indices)
        np.testing.assert_array_equal(matrix.data, expected.data)
    assert list(chunked.vocabulary_) == list(whole.vocabulary_)
    np.testing.assert_array_equal(chunked.idf_, whole.idf_)
    assert LexicalVectorizer(min_df=2, max_features=max_features).fit(texts).vocabulary_ == whole.vocabulary_
