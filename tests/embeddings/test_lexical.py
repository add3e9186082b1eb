"""Lexical channel: tokenisation, Chinese similarity, explicit params, safe save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from embeddings.lexical import LexicalVectorizer, tokenize_zh

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
