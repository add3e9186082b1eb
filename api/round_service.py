"""The round service: what the HTTP routes and the CLI both do with a stored round.

Solving needs the running matcher (its two-sided scores are the preferences), publishing one
transaction; neither is HTTP's business, so both doors import them from here.
"""

from __future__ import annotations

from typing import Any

from api.matcher_service import MatcherService
from matcher.allocation.rounds import solve_round
from models.clock import beijing_now
from models.rounds import PublishResult, RoundStore, SolveSettings


def solve_and_store(store: RoundStore, service: MatcherService, round_id: int, request: SolveSettings) -> Any:
    """Solve a stored round with the running matcher's preferences, keep the proposal; the caller commits."""
    inputs = store.inputs(round_id)
    with service.reading() as matcher:
        matches, report = solve_round(matcher, inputs, request)
    store.save_proposal(round_id, matches, report)
    return store.proposal(round_id)


def publish_and_commit(store: RoundStore, round_id: int) -> PublishResult:
    """Publish in one transaction and commit; the running matchers learn of it from the change feed."""
    published = store.publish(round_id, now=beijing_now())
    result = PublishResult(
        round=store.public(store.get(round_id)),
        interactions=len(published.interactions),
        profiles_updated=len(published.profiles),
    )
    store.session.commit()
    return result


def publish_and_inform(store: RoundStore, service: MatcherService, round_id: int) -> PublishResult:
    """Publish, then bring the running matcher up to what was written."""
    result = publish_and_commit(store, round_id)
    service.catch_up()
    return result
