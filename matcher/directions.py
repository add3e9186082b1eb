"""Each recommendation direction is a small configuration of shared parts.

A direction names who asks, what is recommended, and how each side weighs the shared pair
features (see :mod:`matcher.features`). The hard rules come from :mod:`matcher.rules` for
the pair of kinds, so both directions between two kinds obey the same constraints.

The default weights are a transparent, documented prior that works with no training data;
a learned ranker replaces them behind the same :class:`matcher.scoring.Scorer` interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from matcher.rules import BASE, INVESTOR, MENTOR, PERSON, POST, SPACE, STARTUP, Rule, rules_between
from models.enums import EntityKind

GraphSeeds = Literal["similar_peers", "own_relations"]
# Weights read from a file are decimals: their float sum may miss 1 by a rounding error.
WEIGHT_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Direction:
    """Who asks, what is recommended, and how each side weighs the pair's features.

    Parameters
    ----------
    name : str
        The direction's name, as configurations refer to it (``"startup→investor"``).
    asker_kind : EntityKind
        The kind that asks.
    candidate_kind : EntityKind
        The kind recommended.
    asker_weights : mapping of feature to weight
        How the asker judges a candidate; sums to 1.
    candidate_weights : mapping of feature to weight
        How the candidate would judge the asker; sums to 1 and uses no candidate-only feature.
    graph_seeds : {"similar_peers", "own_relations"}
        Where the graph walk starts: profiles like the asker, or the asker's own relations.
    rules : tuple of Rule
        Ignored: always the hard rules between the two kinds (:func:`matcher.rules.rules_between`),
        so both directions between two kinds obey the same constraints.
    """

    name: str
    asker_kind: EntityKind
    candidate_kind: EntityKind
    asker_weights: Mapping[str, float]  # how the asker judges a candidate
    candidate_weights: Mapping[str, float]  # how the candidate would judge the asker
    graph_seeds: GraphSeeds = "similar_peers"
    rules: tuple[Rule, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", rules_between(self.asker_kind, self.candidate_kind))
        for side in (self.asker_weights, self.candidate_weights):
            if abs(sum(side.values()) - 1.0) > WEIGHT_SUM_TOLERANCE:
                raise ValueError(f"{self.name}: weights of a side must sum to 1, got {sum(side.values())}")
        if CANDIDATE_ONLY & set(self.candidate_weights):
            raise ValueError(
                f"{self.name}: the candidate's view of the asker cannot use {sorted(CANDIDATE_ONLY)}"
            )

    def with_weights(self, asker: Mapping[str, float], candidate: Mapping[str, float]) -> Direction:
        """This direction with other weights (an experiment's), checked as the defaults are."""
        return replace(
            self,
            asker_weights=MappingProxyType(dict(asker)),
            candidate_weights=MappingProxyType(dict(candidate)),
        )


def _weights(**weights: float) -> Mapping[str, float]:
    return MappingProxyType(weights)


def moved_onto(view: Mapping[str, float], share: float, onto: Mapping[str, float]) -> Mapping[str, float]:
    """``view`` scaled by ``1 - share``, and ``share`` spread over ``onto``'s features in its
    proportions (added to their weight where ``view`` has them too)."""
    moved = {name: weight * (1.0 - share) for name, weight in view.items()}
    total = sum(onto.values())
    for name, part in onto.items():
        moved[name] = moved.get(name, 0.0) + share * part / total
    return _weights(**moved)


# Features that describe the candidate alone (its seats, its popularity, its activity).
CANDIDATE_ONLY = frozenset(
    {"capacity", "popularity", "recency", "activity_90", "activity_365", "recent_popularity"}
)


def _about_the_asker(view: Mapping[str, float]) -> Mapping[str, float]:
    """A side's view turned round: when that side is the candidate, what it would judge about
    the asker cannot be read from candidate-only features, so those drop and the rest rescale.
    The deal history's pair scores (matcher/collaborative.py) stay: an investor asking for
    startups reads the same values a startup asking for investors does."""
    kept = {name: weight for name, weight in view.items() if name not in CANDIDATE_ONLY}
    total = sum(kept.values())
    return MappingProxyType({name: weight / total for name, weight in kept.items()})


# A founder is best served by investors who back companies like theirs and who are active.
# Chosen on a validation split inside 创业邦's history (features before 2015-07-17, the 1,200
# early rounds after it as queries, every one inside history): Recall@10 0.098 and NDCG@10
# 0.052 against 0.079 / 0.044 for the previous graph-led weights and 0.088 / 0.050 for segment
# popularity. What the history says about the segment (segment popularity, its peers'
# investors, the investor's focus there) leads; text, field and stage stay as tie-breakers and
# as reasons. An investor looks at its thesis, stage and ticket.
# Local deals (how many of the investor's deals were in the startup's city, as of the query)
# then took a fifth of the weight, the rest scaled by 0.8, on a validation split inside the
# history (before 2015 / the 2015 early rounds: a spread 150 plus all 77 in Wuhan;
# benchmarks/location_weights.py): Recall@10 0.119 -> 0.165 (NDCG@10 0.063 -> 0.087), on the
# Wuhan queries 0.071 -> 0.156 (0.041 -> 0.073); a tenth gave 0.146 / 0.123.
# Then a tenth more went to the investor's deals in the last year, the rest scaled by 0.9, on
# the rolling validation rounds of all three datasets pooled (`matcher evaluate --on
# validation`, the pool re-scored; gains per round ± one standard error): YC's rounds reward
# the currently active (Recall@10 0.328 -> 0.377, +0.050 ± 0.009; NDCG@10 +0.019 ± 0.003),
# and neither 创业邦 (+0.003 ± 0.003 / +0.001 ± 0.001) nor Crunchbase (+0.002 ± 0.005 /
# -0.000 ± 0.002) loses; a fifth or more, or recent popularity instead, costs Crunchbase.
_FOUNDER_VIEW_OF_INVESTOR = _weights(
    segment_popularity=0.216,
    local_deals=0.18,
    peer_investors=0.144,
    activity_365=0.136,
    graph_proximity=0.108,
    popularity=0.036,
    recency=0.036,
    industry_share=0.036,
    industry=0.036,
    stage=0.036,
    semantic=0.018,
    lexical=0.018,
)
_INVESTOR_VIEW_OF_STARTUP = _weights(
    semantic=0.20,
    lexical=0.10,
    industry=0.20,
    stage=0.20,
    ticket=0.15,
    proximity=0.05,
    graph_overlap=0.10,
)
# An investor going through its deal flow: its own view of a startup (above), half of it moved
# onto its history there (its share of deals in the startup's industry, the segment's recent
# deals, its deals with startups like it). Chosen on rolling validation folds inside 创业邦's
# history (`benchmarks.deal_flow_weights --protocol cyzone-early --sample 300`: 347 active
# investors ranking each period's startups): Recall@10 0.259 -> 0.355, NDCG@10 0.136 -> 0.190,
# where segment popularity has 0.271 / 0.142; a third moved gave 0.348 / 0.188, seven tenths
# 0.357 / 0.189, the history on the founder's side alone 0.337 / 0.186.
_INVESTOR_VIEW_OF_DEAL_FLOW = moved_onto(
    _INVESTOR_VIEW_OF_STARTUP, 0.5, {"industry_share": 0.4, "segment_popularity": 0.3, "peer_investors": 0.3}
)
_FOUNDER_VIEW_OF_MENTOR = _weights(
    semantic=0.30,
    lexical=0.15,
    industry=0.20,
    proximity=0.10,
    capacity=0.10,
    recency=0.05,
    graph_proximity=0.10,
)
_MENTOR_VIEW_OF_STARTUP = _weights(semantic=0.35, lexical=0.15, industry=0.35, proximity=0.15)
_FOUNDER_VIEW_OF_SPACE = _weights(
    semantic=0.15,
    lexical=0.10,
    industry=0.25,
    proximity=0.20,
    capacity=0.15,
    graph_proximity=0.15,
)
_SPACE_VIEW_OF_STARTUP = _weights(
    semantic=0.20, lexical=0.10, industry=0.35, stage=0.05, proximity=0.10, applied=0.20
)
_TALENT_VIEW_OF_OPENING = _weights(semantic=0.30, lexical=0.25, industry=0.15, proximity=0.20, capacity=0.10)
_OPENING_VIEW_OF_TALENT = _weights(semantic=0.35, lexical=0.30, industry=0.15, applied=0.20)

DIRECTIONS: dict[tuple[EntityKind, EntityKind], Direction] = {
    (d.asker_kind, d.candidate_kind): d
    for d in (
        Direction(
            "startup→investor", STARTUP, INVESTOR, _FOUNDER_VIEW_OF_INVESTOR, _INVESTOR_VIEW_OF_STARTUP
        ),
        Direction("startup→mentor", STARTUP, MENTOR, _FOUNDER_VIEW_OF_MENTOR, _MENTOR_VIEW_OF_STARTUP),
        Direction("startup→space", STARTUP, SPACE, _FOUNDER_VIEW_OF_SPACE, _SPACE_VIEW_OF_STARTUP),
        Direction("talent→practice_base", PERSON, BASE, _TALENT_VIEW_OF_OPENING, _OPENING_VIEW_OF_TALENT),
        Direction("talent→post", PERSON, POST, _TALENT_VIEW_OF_OPENING, _OPENING_VIEW_OF_TALENT),
        Direction(
            "investor→startup",
            INVESTOR,
            STARTUP,
            _INVESTOR_VIEW_OF_DEAL_FLOW,
            _about_the_asker(_FOUNDER_VIEW_OF_INVESTOR),
            "own_relations",
        ),
        Direction(
            "space→startup",
            SPACE,
            STARTUP,
            _SPACE_VIEW_OF_STARTUP,
            _about_the_asker(_FOUNDER_VIEW_OF_SPACE),
            "own_relations",
        ),
        Direction(
            "mentor→startup",
            MENTOR,
            STARTUP,
            _MENTOR_VIEW_OF_STARTUP,
            _about_the_asker(_FOUNDER_VIEW_OF_MENTOR),
            "own_relations",
        ),
        Direction(
            "post→talent",
            POST,
            PERSON,
            _OPENING_VIEW_OF_TALENT,
            _about_the_asker(_TALENT_VIEW_OF_OPENING),
            "own_relations",
        ),
        Direction(
            "practice_base→talent",
            BASE,
            PERSON,
            _OPENING_VIEW_OF_TALENT,
            _about_the_asker(_TALENT_VIEW_OF_OPENING),
            "own_relations",
        ),
    )
}


def direction_for(
    asker_kind: EntityKind,
    candidate_kind: EntityKind,
    directions: Mapping[tuple[EntityKind, EntityKind], Direction] = DIRECTIONS,
) -> Direction:
    """The direction from ``asker_kind`` to ``candidate_kind`` among ``directions`` (a matcher's
    own, with its configuration's weights, or the defaults)."""
    try:
        return directions[(asker_kind, candidate_kind)]
    except KeyError:
        known = ", ".join(d.name for d in directions.values())
        raise ValueError(
            f"target: no direction {asker_kind.value}→{candidate_kind.value}; known: {known}"
        ) from None
