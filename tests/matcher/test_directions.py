"""Directions: the README's weight table is the one `DIRECTIONS` holds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from matcher.directions import DIRECTIONS, Direction
from matcher.features import FEATURE_NAMES
from matcher.scoring import WeightedScorer
from models.enums import EntityKind

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- weights:", "<!-- /weights -->"
# Feature → the README's column heading, in the README's order.
COLUMNS = {
    "semantic": "sem",
    "lexical": "lex",
    "industry": "ind",
    "stage": "stage",
    "ticket": "ticket",
    "proximity": "prox",
    "capacity": "cap",
    "popularity": "pop",
    "recency": "rec",
    "graph_proximity": "graph",
    "graph_overlap": "AA",
    "applied": "applied",
    "segment_popularity": "seg",
    "peer_investors": "peers",
    "industry_share": "ind%",
    "activity_365": "act",
    "local_deals": "local",
}


def _cell(weight: float | None) -> str:
    if weight is None:
        return ""
    text = f"{weight:.3f}"
    return text[:-1] if text.endswith("0") else text


def _row(direction: Direction, side: str, weights: Mapping[str, float]) -> str:
    cells = [direction.name, side, *(_cell(weights.get(feature)) for feature in COLUMNS)]
    return "| " + " | ".join(cells) + " |"


def weight_table() -> str:
    """The README's weight table, rendered from `DIRECTIONS`."""
    lines = [
        "| direction | side | " + " | ".join(COLUMNS.values()) + " |",
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    for direction in DIRECTIONS.values():
        lines.append(_row(direction, "asker", direction.asker_weights))
        lines.append(_row(direction, "candidate", direction.candidate_weights))
    return "\n".join(lines)


def test_every_weighted_feature_has_a_readme_column() -> None:
    used = {
        feature
        for d in DIRECTIONS.values()
        for side in (d.asker_weights, d.candidate_weights)
        for feature in side
    }
    assert used - set(COLUMNS) == set()


def test_the_readme_weight_table_matches_directions() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n", text.index(START)) + 1
    in_readme = text[start : text.index(END)].strip()
    assert in_readme == weight_table(), "paste this table into README.md:\n" + weight_table()


def test_a_founder_prefers_an_investor_active_this_year_to_a_dormant_better_segment_fit() -> None:
    """The founder's view weighs the last year's deals against the segment's history as chosen
    on the rolling validation rounds (README's #16 sections): an investor with deals in the last
    year beats one that fits the segment's past deals by 0.3 more but did none lately."""
    direction = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
    shared = dict.fromkeys(FEATURE_NAMES, 0.5)
    active = shared | {"activity_365": 1.0, "segment_popularity": 0.5}
    dormant = shared | {"activity_365": 0.0, "segment_popularity": 0.8}
    features = np.asarray([[row[name] for name in FEATURE_NAMES] for row in (active, dormant)])
    asker, _ = WeightedScorer().side_scores(features, direction)
    assert asker[0] > asker[1]
