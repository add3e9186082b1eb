"""The distilled Chinese static encoder: loads the committed asset offline and separates paraphrases."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.chinese import DEFAULT_MODEL_PATH, chinese_encoder, has_cjk
from embeddings.encoder import Encoder

PARAPHRASES = [
    ("人工智能创业公司", "做AI的初创企业"),
    ("医疗器械研发", "医疗设备的研究与开发"),
    ("生鲜电商平台", "网上卖新鲜水果蔬菜"),
    ("天使轮投资机构", "早期风险投资基金"),
    ("新能源汽车电池", "电动车的动力电池"),
    ("在线教育平台", "互联网教育服务"),
]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return chinese_encoder()


def test_has_cjk() -> None:
    assert has_cjk("SaaS平台")
    assert not has_cjk("SaaS platform, Series-A")


def test_the_asset_is_small_enough_to_commit() -> None:
    assert sum(f.stat().st_size for f in DEFAULT_MODEL_PATH.rglob("*") if f.is_file()) <= 20 * 2**20


def test_vectors_are_normalised_float32_and_blank_is_zero(encoder: Encoder) -> None:
    vectors = encoder.encode(["武汉光谷", "", "Series-A 投资 fintech", "𠀀"])
    assert vectors.shape == (4, encoder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), [1, 0, 1], atol=1e-5)
    assert np.isfinite(vectors).all()


def test_paraphrases_are_closer_than_unrelated_pairs(encoder: Encoder) -> None:
    left = encoder.encode([a for a, _ in PARAPHRASES])
    right = encoder.encode([b for _, b in PARAPHRASES])
    sim = left @ right.T
    paraphrase = np.diag(sim)
    unrelated = sim[~np.eye(len(PARAPHRASES), dtype=bool)]
    # AUC of paraphrase vs unrelated cosines: MiniLM manages ~0.6 on Chinese, this model ~0.9.
    auc = (paraphrase[:, None] > unrelated[None, :]).mean()
    assert auc >= 0.85
    assert paraphrase.min() > unrelated.mean()


def test_mixed_chinese_and_english_text_lands_near_its_chinese_meaning(encoder: Encoder) -> None:
    mixed, chinese, other = encoder.encode(["AI 医疗影像 startup", "人工智能医学影像公司", "餐饮连锁加盟"])
    assert mixed @ chinese > mixed @ other
