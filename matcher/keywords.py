"""Which shared words may stand in a reason: one stop-list every explanation extends.

A word common to nearly every profile (企业, 服务, 项目), a number (25, 2024年) or a taxonomy
term already told by its own reason (the industry) makes a shared-keyword reason noise. The
listed words live in ``matcher/data/keyword_stopwords.txt``; words derived from vocabularies
(taxonomy labels) are added in :func:`_vocabulary_terms`, so a new vocabulary is one line there.

Cutting the labels as the lexical channel does loads jieba's dictionary (~1 s), which a
query-only process (``matcher recommend``) needs for nothing else: a build stores the cuts
(:func:`save_label_cuts`) with its stored state, and a process that reads that state takes them
(:func:`load_label_cuts`) while they were made from the same labels by the same jieba.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import jieba

from embeddings.lexical import tokenize_zh
from models.files import write_atomically
from models.taxonomy import INDUSTRIES, STAGES

STOPWORDS_FILE = Path(__file__).parent / "data" / "keyword_stopwords.txt"
LABEL_CUTS_FILE = "label_cuts.json"
MIN_KEYWORD_LENGTH = 2
# Digits with the units and punctuation that make them a count, an amount or a date (25, 3.5万, 2024年).
_NUMBER = re.compile(r"[\d.,%+\-~/年月日号个家人项万亿千百元岁倍次第]+")


def _listed(path: Path) -> frozenset[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(line.lower() for line in lines if line)


# The field labels the dataset mappers and profile pages write before a value ("所在城市：武汉",
# "融资轮次：天使轮"): in every text of their kind, so sharing them says nothing.
FIELD_LABELS = (
    "所在城市",
    "行业",
    "融资轮次",
    "投资领域",
    "投资轮次",
    "投资城市",
    "Category",
    "Based in",
    "Raising",
)


def _codes() -> list[str]:
    return [*(industry.code for industry in INDUSTRIES.values()), *(stage.code for stage in STAGES.values())]


def _labels() -> list[str]:
    """The industries' and stages' Chinese and English labels, and the field labels."""
    return [
        *(label for industry in INDUSTRIES.values() for label in (industry.zh, industry.en)),
        *(label for stage in STAGES.values() for label in (stage.zh, stage.en)),
        *FIELD_LABELS,
    ]


def _labels_digest() -> str:
    """Names what the cuts were made from: the labels and the jieba (and its dictionary) cutting them."""
    made_from = json.dumps([jieba.__version__, _labels()], ensure_ascii=False)
    return hashlib.sha256(made_from.encode()).hexdigest()


# Cuts by the digest they were made under: read from a build's stored state or cut here.
_label_cuts: dict[str, frozenset[str]] = {}


def label_cuts() -> frozenset[str]:
    """The labels as the lexical channel cuts them (智能制造 → 智能, 制造); loads jieba's
    dictionary unless a stored state's cuts were taken (:func:`load_label_cuts`)."""
    digest = _labels_digest()
    if digest not in _label_cuts:
        _label_cuts[digest] = frozenset(word for label in _labels() for word in tokenize_zh(label))
    return _label_cuts[digest]


def save_label_cuts(directory: Path) -> None:
    """Store the label cuts in ``directory`` (a build's stored state), with what they were made from."""
    state = {"digest": _labels_digest(), "words": sorted(label_cuts())}
    write_atomically(directory / LABEL_CUTS_FILE, json.dumps(state, ensure_ascii=False))


def load_label_cuts(directory: Path) -> bool:
    """Take the cuts stored in ``directory`` if made from these labels by this jieba; whether taken.

    A missing, unreadable or stale file is left alone: the cuts are then made on first use.
    """
    try:
        state = json.loads((directory / LABEL_CUTS_FILE).read_text(encoding="utf-8"))
        digest, words = state["digest"], state["words"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if digest != _labels_digest() or not isinstance(words, list):
        return False
    _label_cuts.setdefault(digest, frozenset(str(word) for word in words))
    return True


def _vocabulary_terms() -> Iterable[str]:
    """Industry and stage codes, and the labels whole and as the lexical channel cuts them: the
    industry and stage reasons already name the industry and the round, and a label is a
    template word."""
    yield from _codes()
    yield from _labels()
    yield from label_cuts()


@functools.cache
def keyword_stopwords() -> frozenset[str]:
    """The listed words and the vocabularies' terms, lower-cased (built on first use)."""
    return _listed(STOPWORDS_FILE) | frozenset(term.lower() for term in _vocabulary_terms())


@functools.lru_cache(maxsize=65_536)
def is_telling(word: str) -> bool:
    """Whether a shared ``word`` may be offered as a keyword a person can check."""
    return (
        len(word) >= MIN_KEYWORD_LENGTH
        and word.lower() not in keyword_stopwords()
        and not (any(ch.isdigit() for ch in word) and _NUMBER.fullmatch(word))
    )
