"""What the investor's deal-history channel costs a served answer: the channel on and off in one
process, taking turns query by query, on `recommend_latency`'s catalogue.

    .venv/bin/python -m benchmarks.deal_history_cost [--scale 200000] [--queries 200] [--rounds 3]

The demo ecosystem (seed 42) cloned to ``--scale`` startups as `benchmarks.recommend_latency`
builds it, one matcher fitted, and beside it the same matcher without the channel
(`Matcher._by_deal_history` bringing nothing) on the same catalogue and channels, with no exposure
cap (each list depends on its query alone). Every investor→startup query is asked of both, the
order flipped query by query, ``--rounds`` times over. Printed: CPU (this thread's) per query of
each, p50 / p95 / p99 and mean, the paired difference with its standard error, the channel's own
CPU (`Matcher._by_deal_history` timed inside the served answer) and, over the queries where it runs,
its parts each timed alone, how the two top 10s differ, and a digest of the served lists (ids,
scores, reasons) to compare code versions: a change meant to keep the answers must print the same
digest.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from api.matcher_service import settle_memory
from benchmarks.recommend_latency import CLONE_NOISE, JitteredEncoder, demo_catalog, query_ids, scale_startups
from embeddings.chinese import chinese_encoder
from matcher.collaborative import CollaborativeIndex, signature
from matcher.config import MatcherConfig, RerankConfig
from matcher.matcher import Match, Matcher, best_of_groups
from models.enums import EntityKind

INVESTOR, STARTUP = EntityKind.investor, EntityKind.startup
NO_CAP = MatcherConfig(rerank=RerankConfig(exposure_cap=None))
WARM_UP_QUERIES = 5
PART_REPEATS = 5


class TimedChannel(Matcher):
    """The served matcher, adding up the CPU its deal-history channel takes (none where the pool
    is every eligible candidate)."""

    channel_ms = 0.0

    def _by_deal_history(self, *args: Any) -> list[int]:
        started = time.thread_time()
        best = super()._by_deal_history(*args)
        self.channel_ms += (time.thread_time() - started) * 1000
        return best


class WithoutChannel(Matcher):
    """The served matcher with the deal-history channel bringing nothing."""

    def _by_deal_history(self, *args: Any) -> list[int]:
        return []


def asked_in_turns(
    served: TimedChannel, without: Matcher, ids: Sequence[int], rounds: int
) -> tuple[dict[str, np.ndarray], list[list[Match]], list[list[Match]]]:
    """CPU ms of each query served, without the channel and in the channel alone (the mean of
    ``rounds`` asks each, which goes first flipping query by query), and the lists of the last
    round."""
    cpu = {id(served): np.zeros((rounds, len(ids))), id(without): np.zeros((rounds, len(ids)))}
    channel = np.zeros((rounds, len(ids)))
    lists: dict[int, list[list[Match]]] = {id(served): [], id(without): []}
    for turn in range(rounds):
        for n, row_id in enumerate(ids):
            for matcher in (served, without) if (n + turn) % 2 == 0 else (without, served):
                served.channel_ms = 0.0
                started = time.thread_time()
                found = matcher.recommend(INVESTOR, row_id, STARTUP, k=10)
                cpu[id(matcher)][turn, n] = (time.thread_time() - started) * 1000
                if matcher is served:
                    channel[turn, n] = served.channel_ms
                if turn == rounds - 1:
                    lists[id(matcher)].append(found)
    means = {
        "on": cpu[id(served)].mean(axis=0),
        "off": cpu[id(without)].mean(axis=0),
        "channel": channel.mean(axis=0),
    }
    return means, lists[id(served)], lists[id(without)]


def group_scores(
    matcher: Matcher, index: CollaborativeIndex, signatures: list[Any], shares: np.ndarray
) -> Any:
    """Each signature group's share of the investor's deals, as the channel weighs it."""
    return matcher._segment_key_weights(index, signatures) @ shares


def channel_parts(matcher: Matcher, ids: Sequence[int]) -> str:
    """The channel's steps (`Matcher._deal_history_best`) each timed alone, CPU ms per query, over
    the queries where it runs (a pool is chosen and the investor has deals as of the index)."""
    table = matcher.catalog_.tables[STARTUP]
    parts: dict[str, list[float]] = {"key shares": [], "group scores": [], "best_of_groups": []}
    eligible, groups = [], 0

    def timed(part: str, work: Callable[..., Any], *args: Any) -> Any:
        started = time.thread_time()
        for _ in range(PART_REPEATS):
            found = work(*args)
        parts[part].append((time.thread_time() - started) * 1000 / PART_REPEATS)
        return found

    for row_id in ids:
        query = matcher._query(INVESTOR, row_id, STARTUP)
        assert query is not None
        mask, _ = matcher._eligible(query, None)
        history = matcher._investor_history(query)
        if history is None or np.count_nonzero(mask) <= matcher.config_.retrieval.pool_size:
            continue
        index, investor = history
        shares = timed("key shares", index.investor_key_shares, investor)
        if not shares.any():
            parts["key shares"].pop()
            continue
        codes, signatures = table.groups("history signature", signature)
        scores = timed("group scores", group_scores, matcher, index, signatures, shares)
        timed(
            "best_of_groups",
            best_of_groups,
            scores,
            codes,
            mask,
            matcher.config_.retrieval.deal_history_share,
        )
        eligible.append(int(np.count_nonzero(mask)))
        groups = len(signatures)
    spent = ", ".join(f"{part} {np.mean(ms):.3f} / {np.percentile(ms, 95):.3f}" for part, ms in parts.items())
    return (
        f"its parts over the {len(eligible)} queries it runs for ({np.mean(eligible):,.0f} eligible"
        f" startups, {groups:,} signature groups), CPU ms mean / p95: {spent}"
    )


def figures(label: str, ms: np.ndarray) -> str:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"{label:<22} CPU p50 / p95 / p99 {p50:6.2f} / {p95:6.2f} / {p99:6.2f} ms, mean {ms.mean():6.2f}"


def digest(lists: Sequence[Sequence[Match]]) -> str:
    """The served lists' ids, scores (to 12 digits) and reasons, hashed."""
    text = repr([[(m.id, round(m.score, 12), m.reasons) for m in found] for found in lists])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=200_000, help="startups (the demo's cloned)")
    parser.add_argument("--queries", type=int, default=200, help="investors asking (the first ones)")
    parser.add_argument("--rounds", type=int, default=3, help="asks of each query by each matcher")
    args = parser.parse_args()
    encoder = JitteredEncoder(chinese_encoder(), noise=CLONE_NOISE)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        catalog = demo_catalog(Path(folder))
        scale_startups(catalog, args.scale)
        served = TimedChannel(encoder=encoder, config=NO_CAP).fit(catalog)
    without = WithoutChannel(encoder=encoder, config=NO_CAP).fit(catalog, channels=served.channels_)
    settle_memory()
    ids = query_ids(served, INVESTOR, args.queries)
    for matcher in (served, without):
        for row_id in ids[:WARM_UP_QUERIES]:
            matcher.recommend(INVESTOR, row_id, STARTUP)
    print(
        f"{args.scale:,} startups, {len(ids)} investors asking, {args.rounds} rounds; built in"
        f" {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f}"
    )
    cpu, on_lists, off_lists = asked_in_turns(served, without, ids, args.rounds)
    on, off, channel = cpu["on"], cpu["off"], cpu["channel"]
    difference = on - off
    print(figures("channel on (served)", on))
    print(figures("channel off", off))
    print(
        f"{'on - off, paired':<22} mean {difference.mean():+.2f}"
        f" ± {difference.std(ddof=1) / np.sqrt(len(ids)):.2f} ms (SE), median {np.median(difference):+.2f} ms"
    )
    print(figures("the channel alone", channel))
    print(channel_parts(served, ids))
    same = sum([m.id for m in a] == [m.id for m in b] for a, b in zip(on_lists, off_lists, strict=True))
    overlap = np.mean(
        [
            len({m.id for m in a} & {m.id for m in b}) / max(len(b), 1)
            for a, b in zip(on_lists, off_lists, strict=True)
        ]
    )
    print(f"top 10, on against off: {same}/{len(ids)} the same lists, overlap@10 {overlap:.2f}")
    print(
        f"digest of the served lists (ids, scores, reasons): {digest(on_lists)};"
        f" load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
