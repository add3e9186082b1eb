"""What input validation rewrote in a vocabulary field, so a client is told, never silently coerced.

A stage given as ``B+`` is stored as ``b`` and an industry as ``智能制造`` as
``intelligent_manufacturing``: both are accepted synonyms (models/vocabularies.py), and the
response says ``"normalised": {"stage": "B+ → b"}``. A field inside a nested model is named by its
path, as a validation error names it: ``{"team.0.role": "创始人 → founder"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from models.taxonomy import normalize_area, normalize_industry, normalize_stage

_TAXONOMY_NORMALISERS = frozenset({normalize_area, normalize_industry, normalize_stage})
ARROW = " → "


def _vocabulary_annotation(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return True
    if any(
        isinstance(meta, AfterValidator | BeforeValidator) and meta.func in _TAXONOMY_NORMALISERS
        for meta in getattr(annotation, "__metadata__", ())
    ):
        return True
    return any(_vocabulary_annotation(arg) for arg in get_args(annotation))


def is_vocabulary_field(field: FieldInfo) -> bool:
    """A field whose values come from a closed vocabulary (taxonomy code or enum)."""
    if any(
        isinstance(meta, AfterValidator) and meta.func in _TAXONOMY_NORMALISERS for meta in field.metadata
    ):
        return True
    return _vocabulary_annotation(field.annotation)


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_shown(item) for item in value)
    return str(value.value if isinstance(value, Enum) else value)


def coercions(raw: Mapping[str, Any], model: BaseModel, prefix: str = "") -> dict[str, str]:
    """``{field: "given → stored"}`` for every vocabulary field of ``raw`` that validation rewrote,
    nested models' fields (a startup's team members) included by their dotted path."""
    fields = type(model).model_fields
    report = {}
    for name, given in raw.items():
        if name not in fields:
            continue
        stored = getattr(model, name)
        if is_vocabulary_field(fields[name]):
            given_text, stored_text = _shown(given), _shown(stored)
            if given_text != stored_text:
                report[f"{prefix}{name}"] = f"{given_text}{ARROW}{stored_text}"
        else:
            report |= _nested(given, stored, f"{prefix}{name}.")
    return report


def _nested(given: Any, stored: Any, prefix: str) -> dict[str, str]:
    """What validation rewrote inside a nested model, or inside each model of a list (by index)."""
    if isinstance(given, Mapping) and isinstance(stored, BaseModel):
        return coercions(given, stored, prefix)
    report: dict[str, str] = {}
    if isinstance(given, list | tuple) and isinstance(stored, list | tuple) and len(given) == len(stored):
        for index, (one, kept) in enumerate(zip(given, stored, strict=True)):
            report |= _nested(one, kept, f"{prefix}{index}.")
    return report
