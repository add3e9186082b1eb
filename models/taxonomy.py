"""Bilingual (Chinese/English) vocabularies for the City Partner matcher.

Three vocabularies live in models/data/*.toml, with the notes on where their terms come
from: industries (a sector -> industry -> sub-industry tree), funding stages (an ordered
ladder plus "strategic"), and Wuhan areas (districts and development zones with centroids).
Every public function accepts any spelling we know (code, Chinese, English, alias) and
returns the stable ASCII code, so the rest of the code base only ever stores and compares
codes.

Matching of free text is forgiving on purpose: look-ups go through `spelling_key`, which
NFKC-folds (full-width ``Ａ轮`` == ``A轮``, ``（`` == ``(``), case-folds and drops
spaces, hyphens, underscores, dots, slashes and apostrophes, so ``Series-A``,
``series a`` and ``seriesA`` are one key. All indexes are built once at import and
checked for collisions, so a look-up is a single dict hit.

The mappers from dataset values (cyzone tags, Crunchbase categories) to these codes live
beside the datasets' loaders in matcher/evaluation/.

This module is stdlib-only so that the API and the CLI can import it cheaply.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from models.shipped import shipped_toml

__all__ = [
    "ANYWHERE",
    "AREAS",
    "INDUSTRIES",
    "STAGES",
    "STRATEGIC_DISTANCE",
    "Area",
    "Industry",
    "Stage",
    "UnknownTermError",
    "VocabularyIndex",
    "distance_km",
    "find_industry",
    "industry_ancestors",
    "industry_sector",
    "industry_similarity",
    "normalize_area",
    "normalize_industry",
    "normalize_stage",
    "spelling_key",
    "stage_distance",
]


class UnknownTermError(ValueError):
    """A value that is not in one of the vocabularies.

    Subclasses ValueError so that callers validating user input (pydantic validators,
    FastAPI handlers) can treat it like any other bad value.
    """

    def __init__(self, vocabulary: str, value: str, suggestions: Sequence[str] = ()) -> None:
        self.vocabulary = vocabulary
        self.value = value
        self.suggestions = tuple(suggestions)
        hint = (
            "did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
            if self.suggestions
            else "no close matches"
        )
        super().__init__(f"unknown {vocabulary} {value!r}: {hint}")

    def __reduce__(self) -> tuple[type[UnknownTermError], tuple[str, str, tuple[str, ...]]]:
        # The default pickling replays self.args (the formatted message) into __init__,
        # which has a different signature; multiprocessing workers would crash on it.
        return (type(self), (self.vocabulary, self.value, self.suggestions))


_SEPARATORS: Final = re.compile(r"[\s\-_.·'’/]+")


def spelling_key(value: str) -> str:
    """The look-up key: spelling variants that people actually type collapse together."""
    folded = unicodedata.normalize("NFKC", value).casefold().replace("&", "and")
    return _SEPARATORS.sub("", folded)


class VocabularyIndex:
    """Key -> code index for one vocabulary, with difflib suggestions for misses."""

    def __init__(self, name: str, entries: Iterable[tuple[str, Iterable[str]]]) -> None:
        self.name = name
        self._index: dict[str, str] = {}
        self._spellings: dict[str, str] = {}  # key -> a human spelling, for suggestions
        for code, spellings in entries:
            for spelling in (code, *spellings):
                key = spelling_key(spelling)
                if not key:
                    continue
                owner = self._index.setdefault(key, code)
                if owner != code:
                    # A shared alias would make look-ups depend on table order; fail loudly
                    # at import instead of silently mis-filing someone's start-up.
                    raise RuntimeError(f"{name} spelling {spelling!r} maps to both {owner!r} and {code!r}")
                self._spellings.setdefault(key, spelling)

    def get(self, value: str) -> str | None:
        return self._index.get(spelling_key(value))

    def lookup(self, value: str) -> str:
        code = self.get(value)
        if code is None:
            raise UnknownTermError(self.name, value, self.suggest(value))
        return code

    def suggest(self, value: str, limit: int = 3) -> list[str]:
        """Close spellings of the same script and about the same length: a typo's fix, never a
        different word that shares letters (Chennai is no 'hannan', nan no 'finance')."""
        # Only runs on the error path, so scanning every spelling is acceptable.
        key = spelling_key(value)
        plausible = [k for k in self._spellings if _same_script(key, k) and _similar_length(key, k)]
        cutoff = HAN_SUGGESTION_CUTOFF if _is_han(key) else SUGGESTION_CUTOFF
        keys = difflib.get_close_matches(key, plausible, n=limit, cutoff=cutoff)
        return [self._spellings[k] for k in keys]


# difflib's ratio a suggestion needs: one or two typos in a word pass (finace → finance 0.92,
# helthcare → healthcare 0.95); words that merely share letters do not (chennai/hannan 0.62).
SUGGESTION_CUTOFF: Final = 0.75
# Chinese terms are two to four characters, each carrying meaning: one wrong character in three
# (区块琏 → 区块链) is a typo there, at a ratio of 0.67.
HAN_SUGGESTION_CUTOFF: Final = 0.6
_LENGTH_RATIO: Final = 0.7


def _is_han(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def _same_script(a: str, b: str) -> bool:
    return _is_han(a) == _is_han(b)


def _similar_length(a: str, b: str) -> bool:
    return min(len(a), len(b)) >= _LENGTH_RATIO * max(len(a), len(b))


# ---------------------------------------------------------------------------------------
# Industries
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Industry:
    """One node of the industry tree; sectors have ``parent is None``."""

    code: str
    zh: str
    en: str
    parent: str | None
    aliases: tuple[str, ...] = ()


_SNAKE_CASE: Final = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


def _build_industries() -> dict[str, Industry]:
    industries: dict[str, Industry] = {}
    for row in shipped_toml("industries.toml")["industry"]:
        code, parent = row["code"], row.get("parent")
        if not _SNAKE_CASE.fullmatch(code) or code in industries:
            raise RuntimeError(f"bad or duplicate industry code {code!r}")
        if parent is not None and parent not in industries:
            # Parents must come first; that also rules out cycles.
            raise RuntimeError(f"industry {code!r} lists parent {parent!r} before it exists")
        industries[code] = Industry(code, row["zh"], row["en"], parent, tuple(row.get("aliases", ())))
    return industries


INDUSTRIES: Final[Mapping[str, Industry]] = MappingProxyType(_build_industries())

_INDUSTRY_VOCAB: Final = VocabularyIndex(
    "industry", ((i.code, (i.zh, i.en, *i.aliases)) for i in INDUSTRIES.values())
)


def _ancestors_of(code: str) -> tuple[str, ...]:
    chain = [code]
    parent = INDUSTRIES[code].parent
    while parent is not None:
        chain.append(parent)
        parent = INDUSTRIES[parent].parent
    return tuple(chain)


_ANCESTORS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {code: _ancestors_of(code) for code in INDUSTRIES}
)

# Credit for one pair of industries in `industry_similarity`.
_EXACT_CREDIT: Final = 1.0
# One contains the other (信息技术 vs 区块链, 医疗健康 vs 医疗器械) or both sit under the
# same non-sector industry (医疗器械 vs 医疗机构): clearly the same line of business.
_SAME_INDUSTRY_CREDIT: Final = 0.5
# Only the sector is shared (区块链 vs 大数据): related investors, weak signal.
_SAME_SECTOR_CREDIT: Final = 0.25


def normalize_industry(value: str) -> str:
    """Code for any known spelling (code, zh, en case-insensitive, alias, cyzone tag).

    Raises UnknownTermError (with close matches) for anything else.
    """
    return _INDUSTRY_VOCAB.lookup(value)


def find_industry(value: str) -> str | None:
    """`normalize_industry` that returns None for an unknown spelling instead of raising."""
    return _INDUSTRY_VOCAB.get(value)


def industry_ancestors(code: str) -> tuple[str, ...]:
    """The industry itself first, then its parent, ..., ending with its sector."""
    return _ANCESTORS[normalize_industry(code)]


def industry_sector(code: str) -> str:
    """The top-level sector code of an industry (a sector is its own sector)."""
    return industry_ancestors(code)[-1]


def _pair_credit(a: str, b: str) -> float:
    if a == b:
        return _EXACT_CREDIT
    chain_a, chain_b = _ANCESTORS[a], _ANCESTORS[b]
    if a in chain_b or b in chain_a:
        return _SAME_INDUSTRY_CREDIT
    if chain_a[-1] != chain_b[-1]:
        return 0.0
    # Same sector; any shared node below the sector means they share a real industry.
    if set(chain_a[:-1]) & set(chain_b[:-1]):
        return _SAME_INDUSTRY_CREDIT
    return _SAME_SECTOR_CREDIT


def industry_similarity(a: Iterable[str], b: Iterable[str]) -> float:
    """Hierarchy-aware overlap of two industry sets, in [0, 1] and symmetric.

    The score is the best credit over all pairs (x from a, y from b):

    * 1.0  - the same industry;
    * 0.5  - one contains the other, or both sit under the same non-sector industry;
    * 0.25 - only the top-level sector is shared;
    * 0.0  - different sectors, or either side is empty.

    The best pair rather than an average is used because the question the matcher asks is
    "does this investor cover this start-up's field"; an investor with a wide portfolio
    should not be penalised here for its other fields (breadth is scored elsewhere, if at
    all). Elements may be any spelling `normalize_industry` accepts.
    """
    return code_similarity(frozenset(map(normalize_industry, a)), frozenset(map(normalize_industry, b)))


@functools.lru_cache(maxsize=65_536)
def code_similarity(codes_a: frozenset[str], codes_b: frozenset[str]) -> float:
    """`industry_similarity` for sets of codes already normalised; cached, as rankers ask often."""
    if codes_a & codes_b:
        return _EXACT_CREDIT
    return max((_pair_credit(x, y) for x in codes_a for y in codes_b), default=0.0)


# ---------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """A funding stage; ``order`` is the position on the venture ladder."""

    code: str
    zh: str
    en: str
    order: int


_STAGE_FILE: Final = shipped_toml("stages.toml")["stage"]

STAGES: Final[Mapping[str, Stage]] = MappingProxyType(
    {row["code"]: Stage(row["code"], row["zh"], row["en"], row["order"]) for row in _STAGE_FILE}
)

_STAGE_VOCAB: Final = VocabularyIndex(
    "stage", ((row["code"], (row["zh"], row["en"], *row["aliases"])) for row in _STAGE_FILE)
)

# How far "strategic" is from any ladder stage. It is "somewhere on the ladder, we do
# not know where": 2 rungs is far enough that a strategic-only history does not look
# like a perfect stage fit, and near enough that it is never ruled out either.
STRATEGIC_DISTANCE: Final = 2


def normalize_stage(value: str) -> str:
    """Stage code for a code, zh, en or alias (A轮, Series A, series-a, Pre-A轮, D轮 ...)."""
    return _STAGE_VOCAB.lookup(value)


@functools.lru_cache(maxsize=4096)
def stage_distance(a: str, b: str) -> int:
    """Rungs between two stages: ``abs(order_a - order_b)`` on the venture ladder.

    ``strategic`` is off the ladder: 0 from itself, `STRATEGIC_DISTANCE` from any other
    stage (its ``order`` is not used).
    """
    code_a, code_b = normalize_stage(a), normalize_stage(b)
    if code_a == code_b:
        return 0
    if "strategic" in (code_a, code_b):
        return STRATEGIC_DISTANCE
    return abs(STAGES[code_a].order - STAGES[code_b].order)


# ---------------------------------------------------------------------------------------
# Areas
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """A Wuhan district or development zone with a representative point."""

    code: str
    zh: str
    en: str
    kind: Literal["district", "zone"]
    lat: float
    lon: float
    district: str | None  # for a zone: the district it mainly lies in; None if several


ANYWHERE: Final = "anywhere"

_AREA_FILE: Final = shipped_toml("areas.toml")

AREAS: Final[Mapping[str, Area]] = MappingProxyType(
    {
        row["code"]: Area(
            row["code"], row["zh"], row["en"], row["kind"], row["lat"], row["lon"], row.get("district")
        )
        for row in _AREA_FILE["area"]
    }
)

_AREA_VOCAB: Final = VocabularyIndex(
    "area",
    [
        *((row["code"], (row["zh"], row["en"], *row["aliases"])) for row in _AREA_FILE["area"]),
        (ANYWHERE, _AREA_FILE["anywhere"]),
    ],
)


_EARTH_RADIUS_KM: Final = 6371.0088


def normalize_area(value: str) -> str:
    """Area code for a code, zh, en or alias (光谷, 沌口, 临空港 ...); `ANYWHERE` for
    anywhere/不限/全市/武汉. Raises UnknownTermError otherwise."""
    return _AREA_VOCAB.lookup(value)


@functools.lru_cache(maxsize=4096)
def distance_km(a: str, b: str) -> float:
    """Great-circle (haversine) distance between two areas' points, in km.

    Symmetric; 0.0 for the same area and whenever either side is `ANYWHERE` (no
    constraint means no distance penalty).
    """
    code_a, code_b = normalize_area(a), normalize_area(b)
    if code_a == code_b or ANYWHERE in (code_a, code_b):
        return 0.0
    p, q = AREAS[code_a], AREAS[code_b]
    phi1, phi2 = math.radians(p.lat), math.radians(q.lat)
    dphi = phi2 - phi1
    dlmb = math.radians(q.lon - p.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
