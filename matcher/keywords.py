"""Which shared words may stand in a reason: one stop-list every explanation extends.

A word common to nearly every profile (企业, 服务, 项目), a number (25, 2024年) or a taxonomy
term already told by its own reason (the industry) makes a shared-keyword reason noise. The
listed words live in ``matcher/data/keyword_stopwords.txt``; words derived from vocabularies
(taxonomy labels) are added in :func:`_vocabulary_terms`, so a new vocabulary is one line there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

from embeddings.lexical import tokenize_zh
from models.taxonomy import INDUSTRIES, STAGES

STOPWORDS_FILE = Path(__file__).parent / "data" / "keyword_stopwords.txt"
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


def _vocabulary_terms() -> Iterable[str]:
    """Industry and stage codes and their labels, and the field labels, whole and as the lexical
    channel cuts them (智能制造 → 智能, 制造): the industry and stage reasons already name the
    industry and the round, and a label is a template word."""
    for code, labels in (
        *((industry.code, (industry.zh, industry.en)) for industry in INDUSTRIES.values()),
        *((stage.code, (stage.zh, stage.en)) for stage in STAGES.values()),
        ("", FIELD_LABELS),
    ):
        yield code
        for label in labels:
            yield label
            yield from tokenize_zh(label)


@functools.cache
def keyword_stopwords() -> frozenset[str]:
    """The listed words and the vocabularies' terms, lower-cased (built on first use: cutting
    the labels loads jieba's dictionary)."""
    return _listed(STOPWORDS_FILE) | frozenset(term.lower() for term in _vocabulary_terms())


@functools.lru_cache(maxsize=65_536)
def is_telling(word: str) -> bool:
    """Whether a shared ``word`` may be offered as a keyword a person can check."""
    return (
        len(word) >= MIN_KEYWORD_LENGTH
        and word.lower() not in keyword_stopwords()
        and not (any(ch.isdigit() for ch in word) and _NUMBER.fullmatch(word))
    )
