"""One configuration object for the matcher: retrieval, re-ranking, fusion and weights.

An experiment changes a :class:`MatcherConfig`, never the source. It is passed down explicitly
(``Matcher(config=...)``), read from a TOML file named by the ``MATCHER_CONFIG`` setting, and
refuses unknown keys, so a typo in a file fails loudly instead of being ignored::

    [retrieval]
    pool_size = 500
    lexical_retrieval_shares = [1.0]

    [rerank]
    relevance_weight = 1.0
    exposure_cap = 0.3

    [weights."startup→investor".asker]
    graph_proximity = 0.5
    popularity = 0.5
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from embeddings.index import IndexConfig
from matcher.directions import DIRECTIONS, WEIGHT_SUM_TOLERANCE, Direction
from matcher.features import FEATURE_NAMES
from matcher.lexical_rows import LexicalWeights
from matcher.scoring import Fusion
from models.enums import EntityKind
from models.settings import Settings

__all__ = [
    "ExplainConfig",
    "MatcherConfig",
    "RefreshConfig",
    "RerankConfig",
    "RetrievalConfig",
    "SideWeights",
]

GraphWalk = Literal["auto", "pagerank", "two_hop"]


class RetrievalConfig(BaseModel):
    """How candidates are found before they are scored.

    Parameters
    ----------
    pool_size : int
        Candidates retrieved (semantic, lexical and graph channels) before scoring; every
        eligible candidate is scored when there are no more.
    deal_history_pool : int or None
        Startups an investor's deal-history channel adds to its pool: the eligible ones in the
        segments where it did most of its deals; None: a third of ``pool_size``, as each other
        channel brings (:attr:`deal_history_share`).
    peer_count : int
        Similar profiles whose relations seed the graph walk ("investors of startups like yours").
    lexical_query_features : int
        The query's heaviest lexical features looked up; the rest only re-score the pool.
    lexical_retrieval_shares : tuple of float
        The lexical channel looks up features held by at most the first share of a kind's rows,
        then, while fewer rows than wanted are found, by the next; increasing, in (0, 1].
    posting_head : int
        Longer posting lists keep only their heaviest rows for retrieval (scoring reads all).
    lexical_overlay_limit : int
        Rows edited since the lexical matrices were stacked, kept beside them before a restack.
    concurrent_channels_min : int
        From this many eligible candidates on, the semantic and lexical channels run at once.
    exact_threshold : int
        Vector indexes below this size are searched exactly, larger ones through HNSW.
    index : IndexConfig
        How the vector indexes search (graph walk or exact scan, split scans) and compact
        (:class:`embeddings.index.IndexConfig`).
    graph_walk : {"auto", "pagerank", "two_hop"}
        Personalised PageRank in full, cut after two hops, or chosen by the graph's size.
    exact_walk_max_nodes : int
        With ``graph_walk="auto"``, the largest graph walked in full.
    dense_sum_fraction : int
        When the lexical postings looked up hold more rows than a table's length divided by
        this, their weights are summed in a table-long buffer (linear) rather than grouped by
        sorting.
    lexical_weights : {"float16", "float32"}
        How the lexical rows and postings hold their weights: float16 takes 6 bytes a feature
        where float32 takes 8, and moves a score by at most 4.9e-4 of itself
        (:mod:`matcher.lexical_rows`); float32 is the default because numpy scores float16
        through conversions, which cost more serving CPU than the 2 bytes a feature save. With
        float32 the postings hold a weight as its count (a byte) beside each row's norm, and
        rebuild it bit for bit (:class:`embeddings.lexical.TermWeighting`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pool_size: int = Field(default=300, ge=1)
    deal_history_pool: int | None = Field(default=None, ge=0)
    peer_count: int = Field(default=100, ge=0)
    lexical_query_features: int = Field(default=32, ge=1)
    lexical_retrieval_shares: tuple[float, ...] = Field(default=(0.01, 0.04, 0.16), min_length=1)
    posting_head: int = Field(default=16_384, ge=1)
    lexical_overlay_limit: int = Field(default=2048, ge=0)
    concurrent_channels_min: int = Field(default=10_000, ge=0)
    exact_threshold: int = Field(default=20_000, ge=0)
    index: IndexConfig = IndexConfig()
    graph_walk: GraphWalk = "auto"
    exact_walk_max_nodes: int = Field(default=20_000, ge=0)
    dense_sum_fraction: int = Field(default=16, ge=1)
    lexical_weights: LexicalWeights = "float32"

    @property
    def channel_share(self) -> int:
        """How many candidates each retrieval channel brings: a third of ``pool_size``."""
        return self.pool_size // 3

    @property
    def deal_history_share(self) -> int:
        """How many startups the deal-history channel brings (``deal_history_pool``)."""
        return self.channel_share if self.deal_history_pool is None else self.deal_history_pool

    @field_validator("lexical_retrieval_shares")
    @classmethod
    def _increasing_shares(cls, shares: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < share <= 1 for share in shares) or list(shares) != sorted(set(shares)):
            raise ValueError("must be increasing shares in (0, 1]")
        return shares


class RerankConfig(BaseModel):
    """What is done to a scored list before it is shown.

    Parameters
    ----------
    relevance_weight : float
        The MMR trade-off in [0, 1]: how much relevance counts against novelty; 1 ranks by
        relevance alone (no diversity), lower values spread the list.
    exposure_cap : float or None
        Largest share of recent lists a counterpart may appear in before it moves behind the
        others; None turns the cap off.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    relevance_weight: float = Field(default=0.8, ge=0, le=1)
    exposure_cap: float | None = Field(default=0.2, gt=0, le=1)


class RefreshConfig(BaseModel):
    """When learned state is rebuilt as profiles and deals arrive.

    Parameters
    ----------
    refit_min_new_texts : int
        The lexical vocabulary is refitted once more texts than this arrived since its fit ...
    refit_growth : float
        ... and more than this share of the texts it was fitted on.
    collaborative_rebuild_growth : float
        The deal-history index (collaborative signals) is rebuilt once the deals number more
        than this factor times those it was built from ...
    collaborative_rebuild_min_new : int
        ... plus this many.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    refit_min_new_texts: int = Field(default=50, ge=0)
    refit_growth: float = Field(default=0.2, ge=0)
    collaborative_rebuild_growth: float = Field(default=1.01, ge=1)
    collaborative_rebuild_min_new: int = Field(default=10, ge=0)


class ExplainConfig(BaseModel):
    """How a recommendation's reasons are chosen.

    Parameters
    ----------
    max_reasons : int
        Reasons shown per recommendation at most.
    min_contribution : float
        Least weighted contribution of a feature to the score for its reason to be given
        (beyond the first).
    min_keyword_weight : float
        A shared word's least weight in the pair's lexical similarity (the product of its two
        TF-IDF weights) to be offered as a keyword: on the demo, telling words (分拣, 电源, plc)
        weigh 0.0013-0.01 and filler (万元, 融资, 成立, 专业) 0.0001-0.0008.
    relation_path_hops : int
        Longest chain of relations ("your investor's co-investor") shown as a reason.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_reasons: int = Field(default=3, ge=1)
    min_contribution: float = Field(default=0.01, ge=0)
    min_keyword_weight: float = Field(default=0.001, ge=0)
    relation_path_hops: int = Field(default=4, ge=1)


class SideWeights(BaseModel):
    """A direction's weights from each side's point of view, each summing to 1.

    Parameters
    ----------
    asker : mapping of feature to weight
        How the asker judges a candidate.
    candidate : mapping of feature to weight
        How the candidate would judge the asker.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    asker: dict[str, float]
    candidate: dict[str, float]

    @model_validator(mode="after")
    def _known_features_summing_to_one(self) -> Self:
        for side, weights in (("asker", self.asker), ("candidate", self.candidate)):
            unknown = sorted(set(weights) - set(FEATURE_NAMES))
            if unknown:
                raise ValueError(f"{side}: unknown features {unknown}; known: {list(FEATURE_NAMES)}")
            if abs(sum(weights.values()) - 1.0) > WEIGHT_SUM_TOLERANCE:
                raise ValueError(f"{side}: weights must sum to 1, got {sum(weights.values())}")
        return self


class MatcherConfig(BaseModel):
    """Everything about how the matcher ranks that an experiment may change.

    Parameters
    ----------
    retrieval : RetrievalConfig
        How candidates are found.
    rerank : RerankConfig
        Diversity and exposure of the shown list.
    refresh : RefreshConfig
        When the lexical vocabulary and the deal-history index are rebuilt.
    explain : ExplainConfig
        How many reasons are given, and which.
    fusion : {"harmonic", "geometric", "min", "mean", "asker"}
        How the two sides' scores become one mutual score ("asker": the asker's side alone).
    weights : mapping of direction name to SideWeights
        Weights replacing a direction's defaults (``matcher.directions``), by its name
        (``"startup→investor"``); directions not named keep theirs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    retrieval: RetrievalConfig = RetrievalConfig()
    rerank: RerankConfig = RerankConfig()
    refresh: RefreshConfig = RefreshConfig()
    explain: ExplainConfig = ExplainConfig()
    fusion: Fusion = "harmonic"
    weights: dict[str, SideWeights] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _known_directions(cls, weights: dict[str, SideWeights]) -> dict[str, SideWeights]:
        known = {d.name for d in DIRECTIONS.values()}
        unknown = sorted(set(weights) - known)
        if unknown:
            raise ValueError(f"unknown directions {unknown}; known: {sorted(known)}")
        return weights

    @model_validator(mode="after")
    def _weights_make_directions(self) -> Self:
        self.directions()  # a view a direction refuses (a candidate-only feature) fails here, not at fit
        return self

    def directions(self) -> dict[tuple[EntityKind, EntityKind], Direction]:
        """:data:`matcher.directions.DIRECTIONS` with this configuration's weights in place of
        the defaults of the directions it names (each rebuilt, so checked as a direction is)."""
        return {
            key: direction.with_weights(
                self.weights[direction.name].asker, self.weights[direction.name].candidate
            )
            if direction.name in self.weights
            else direction
            for key, direction in DIRECTIONS.items()
        }

    @classmethod
    def from_toml(cls, path: Path) -> MatcherConfig:
        """Read a TOML file; a bad key or value raises pydantic's ValidationError naming it."""
        with Path(path).open("rb") as stream:
            return cls.model_validate(tomllib.load(stream))

    @classmethod
    def from_settings(cls, settings: Settings) -> MatcherConfig:
        """The file the ``MATCHER_CONFIG`` setting names, or the defaults."""
        return cls() if settings.matcher_config is None else cls.from_toml(settings.matcher_config)
