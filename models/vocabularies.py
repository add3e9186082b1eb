"""Every closed vocabulary a user may write, with Chinese and English labels and synonyms.

Industries, stages and areas come from models/taxonomy.py (models/data/{industries,stages,
areas}.toml); the enums of models/enums.py are labelled in models/data/labels.toml. This is
what GET /v1/vocabularies/{name} and ``matcher vocab NAME`` show, and, for the enums, the
synonym table input goes through (:func:`enum_synonyms`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from models.enums import (
    CardTier,
    Degree,
    InteractionKind,
    InvestorType,
    MemberRole,
    PersonRole,
    PostType,
    SpaceType,
)
from models.shipped import shipped_toml
from models.taxonomy import ANYWHERE, INDUSTRIES, STAGES, VocabularyIndex


@dataclass(frozen=True)
class Term:
    code: str
    zh: str
    en: str
    synonyms: tuple[str, ...] = ()
    parent: str | None = None  # an industry's parent industry or sector


ENUM_VOCABULARIES: Final[Mapping[str, type[StrEnum]]] = MappingProxyType(
    {
        "person-roles": PersonRole,
        "card-tiers": CardTier,
        "degrees": Degree,
        "investor-types": InvestorType,
        "space-types": SpaceType,
        "post-types": PostType,
        "member-roles": MemberRole,
        "interaction-kinds": InteractionKind,
    }
)


def _enum_terms(name: str, enum: type[StrEnum], labels: Mapping[str, Any]) -> tuple[Term, ...]:
    table = labels[name.replace("-", "_")]
    if set(table) != {member.value for member in enum}:
        raise RuntimeError(f"models/data/labels.toml [{name}] must label exactly {[m.value for m in enum]}")
    return tuple(
        Term(m.value, table[m.value]["zh"], table[m.value]["en"], tuple(table[m.value]["synonyms"]))
        for m in enum
    )


def _build() -> dict[str, tuple[Term, ...]]:
    stages, areas, labels = (
        shipped_toml("stages.toml"),
        shipped_toml("areas.toml"),
        shipped_toml("labels.toml"),
    )
    return {
        "industries": tuple(Term(i.code, i.zh, i.en, i.aliases, i.parent) for i in INDUSTRIES.values()),
        "stages": tuple(
            Term(row["code"], row["zh"], row["en"], tuple(row["aliases"]))
            for row in stages["stage"]
            if row["code"] in STAGES
        ),
        "areas": (
            *(Term(row["code"], row["zh"], row["en"], tuple(row["aliases"])) for row in areas["area"]),
            Term(ANYWHERE, "不限", "Anywhere in Wuhan", tuple(areas["anywhere"])),
        ),
        **{name: _enum_terms(name, enum, labels) for name, enum in ENUM_VOCABULARIES.items()},
    }


VOCABULARIES: Final[Mapping[str, tuple[Term, ...]]] = MappingProxyType(_build())

_ENUM_INDEXES: Final[Mapping[str, VocabularyIndex]] = MappingProxyType(
    {
        name: VocabularyIndex(name, ((t.code, (t.zh, t.en, *t.synonyms)) for t in VOCABULARIES[name]))
        for name in ENUM_VOCABULARIES
    }
)


def enum_synonyms(name: str) -> VocabularyIndex:
    """The spelling index of one enum vocabulary: code, zh, en or synonym → code."""
    return _ENUM_INDEXES[name]
