"""Encoding throughput of our encoder path against raw ``SentenceTransformer.encode``, in one run.

    .venv/bin/python benchmarks/encode_throughput.py [--sentences 2000] [--batch-size 64] [--repeats 3]

Same sentences, same model object, same batch size. Our path adds blank-text handling and, for
`CachedEncoder`, hashing plus a SQLite round trip on a cold cache (every text a miss, then
written and committed; the cache file itself is opened before the clock starts, as a service
opens it once). Target: >= 0.9x raw. The distilled Chinese static model is measured the same way.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

from embeddings.cache import EmbeddingCache
from embeddings.chinese import chinese_encoder
from embeddings.encoder import CachedEncoder, Encoder, SentenceTransformerEncoder

SUBJECTS = [
    "武汉光谷一家人工智能初创公司",
    "A Wuhan medtech startup",
    "天使投资人",
    "an incubator in Optics Valley",
]
ACTIVITIES = [
    "专注工业视觉质检",
    "building surgical robots",
    "寻找A轮融资",
    "offering free office space for founders",
]
DETAILS = [
    "，团队来自华中科技大学。",
    " with a team of 12 engineers.",
    "，已有三家车企客户。",
    " and seed funding from local VCs.",
]


def sentences(count: int, seed: int = 0) -> list[str]:
    """Distinct mixed Chinese/English sentences of varied length (distinct, so a cache cannot help)."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(ACTIVITIES)}{rng.choice(DETAILS) * rng.randint(1, 4)} #{n}"
        for n in range(count)
    ]


def best_rate(run: Callable[[Sequence[str]], object], texts: Sequence[str], repeats: int) -> float:
    """Sentences/s of the fastest of ``repeats`` runs: on a shared machine the minimum time is the signal."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(texts)
        times.append(time.perf_counter() - started)
    return len(texts) / min(times)


def cold_cached(
    encoder: Encoder, caches: Iterator[EmbeddingCache], batch_size: int
) -> Callable[[Sequence[str]], object]:
    """Each call encodes through a new, empty cache, so every run pays for misses and writes.
    The caches are opened beforehand: a service opens its cache file once, not per batch."""

    def run(texts: Sequence[str]) -> object:
        return CachedEncoder(encoder, next(caches)).encode(texts, batch_size=batch_size)

    return run


def compare(
    label: str, encoder: SentenceTransformerEncoder, texts: list[str], batch_size: int, repeats: int
) -> dict[str, float]:
    """Prints and returns sentences/s of each path, keyed by path name."""

    def raw(batch: Sequence[str]) -> object:
        return encoder.model.encode(list(batch), batch_size=batch_size, normalize_embeddings=True)

    def ours(batch: Sequence[str]) -> object:
        return encoder.encode(batch, batch_size=batch_size)

    raw(texts[:64])  # warm-up: first-call allocations and thread pool start-up
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        warm = stack.enter_context(EmbeddingCache(Path(tmp) / "warm.sqlite3"))
        CachedEncoder(encoder, warm).encode(texts, batch_size=batch_size)
        cold = [stack.enter_context(EmbeddingCache(Path(tmp) / f"cold-{n}.sqlite3")) for n in range(repeats)]
        figures = {
            "raw SentenceTransformer.encode": best_rate(raw, texts, repeats),
            "SentenceTransformerEncoder": best_rate(ours, texts, repeats),
            "CachedEncoder, cold cache": best_rate(
                cold_cached(encoder, iter(cold), batch_size), texts, repeats
            ),
            "CachedEncoder, warm cache": best_rate(CachedEncoder(encoder, warm).encode, texts, repeats),
        }
    baseline = figures["raw SentenceTransformer.encode"]
    print(f"\n{label} ({encoder.model_id}, {len(texts)} sentences, batch {batch_size}, best of {repeats})")
    for name, value in figures.items():
        print(f"  {name:<32} {value:10.0f} sentences/s  {value / baseline:5.2f}x raw")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = sentences(args.sentences)
    compare("MiniLM", SentenceTransformerEncoder(), texts, args.batch_size, args.repeats)
    chinese = chinese_encoder()
    assert isinstance(chinese, SentenceTransformerEncoder)
    compare("Chinese static", chinese, texts, args.batch_size, args.repeats)


if __name__ == "__main__":
    main()
