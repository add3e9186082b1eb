"""Encoding throughput of our encoder path against raw ``SentenceTransformer.encode``, in one run.

    .venv/bin/python benchmarks/encode_throughput.py [--sentences 2000] [--batch-size 64]

Same sentences, same model object, same batch size. Our path adds blank-text handling and, for
`CachedEncoder`, hashing plus a SQLite round trip on a cold cache (every text a miss, then
written). Target: >= 0.9x raw. The distilled Chinese static model is measured the same way.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from embeddings.cache import EmbeddingCache
from embeddings.chinese import chinese_encoder
from embeddings.encoder import CachedEncoder, SentenceTransformerEncoder

SUBJECTS = ["武汉光谷一家人工智能初创公司", "A Wuhan medtech startup", "天使投资人", "an incubator in Optics Valley"]
ACTIVITIES = ["专注工业视觉质检", "building surgical robots", "寻找A轮融资", "offering free office space for founders"]
DETAILS = ["，团队来自华中科技大学。", " with a team of 12 engineers.", "，已有三家车企客户。", " and seed funding from local VCs."]


def sentences(count: int, seed: int = 0) -> list[str]:
    """Distinct mixed Chinese/English sentences of varied length (distinct, so a cache cannot help)."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(ACTIVITIES)}{rng.choice(DETAILS) * rng.randint(1, 4)} #{n}"
        for n in range(count)
    ]


def rate(encode: Callable[[Sequence[str]], object], texts: Sequence[str]) -> float:
    started = time.perf_counter()
    encode(texts)
    return len(texts) / (time.perf_counter() - started)


def compare(label: str, encoder: SentenceTransformerEncoder, texts: list[str], batch_size: int) -> None:
    def raw(batch: Sequence[str]) -> object:
        return encoder.model.encode(list(batch), batch_size=batch_size, normalize_embeddings=True)

    def ours(batch: Sequence[str]) -> object:
        return encoder.encode(batch, batch_size=batch_size)

    raw(texts[:64])  # warm-up: first-call allocations and thread pool start-up
    with tempfile.TemporaryDirectory() as tmp, EmbeddingCache(Path(tmp) / "cache.sqlite3") as cache:
        cached = CachedEncoder(encoder, cache)
        figures = {
            "raw SentenceTransformer.encode": rate(raw, texts),
            "SentenceTransformerEncoder": rate(ours, texts),
            "CachedEncoder, cold cache": rate(lambda b: cached.encode(b, batch_size=batch_size), texts),
            "CachedEncoder, warm cache": rate(lambda b: cached.encode(b, batch_size=batch_size), texts),
        }
    baseline = figures["raw SentenceTransformer.encode"]
    print(f"\n{label} ({encoder.model_id}, {len(texts)} sentences, batch {batch_size})")
    for name, value in figures.items():
        print(f"  {name:<32} {value:10.0f} sentences/s  {value / baseline:5.2f}x raw")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    texts = sentences(args.sentences)
    compare("MiniLM", SentenceTransformerEncoder(), texts, args.batch_size)
    chinese = chinese_encoder()
    assert isinstance(chinese, SentenceTransformerEncoder)
    compare("Chinese static", chinese, texts, args.batch_size)


if __name__ == "__main__":
    main()
