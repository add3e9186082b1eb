"""Directions: the README's weight table is the one `DIRECTIONS` holds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matcher.directions import DIRECTIONS, Direction

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
