"""What a profile says, as one text for the semantic and lexical channels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matcher.kinds import MATCHING
from models.enums import EntityKind
from models.taxonomy import INDUSTRIES, STAGES


def _labels(codes: Any) -> list[str]:
    """Industry and stage codes as both labels, so each channel meets the words people use."""
    labels: list[str] = []
    for code in codes if isinstance(codes, list) else [codes]:
        term = INDUSTRIES.get(code) or STAGES.get(code)
        if term is not None:
            labels += [term.zh, term.en]
    return labels


def profile_text(kind: EntityKind, record: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for name in MATCHING[kind].text_fields:
        value = record.get(name)
        if isinstance(value, list):
            parts.extend(str(v) for v in value)
        elif value:
            parts.append(str(value))
    for name in ("industries", "industry"):
        if record.get(name):
            parts.extend(_labels(record[name]))
    return " ".join(parts)
