"""The taxonomy's vocabularies as the options of a form, in the page's language."""

from __future__ import annotations

from functools import cache

from models.taxonomy import AREAS, INDUSTRIES, STAGES

Options = tuple[tuple[str, str], ...]


@cache
def industry_options(language: str) -> Options:
    """Every industry, sectors first then their children, labelled with their sector path."""

    def label(code: str) -> str:
        node = INDUSTRIES[code]
        text = node.zh if language == "zh" else node.en
        return text if node.parent is None else f"{label(node.parent)} › {text}"

    return tuple(sorted(((code, label(code)) for code in INDUSTRIES), key=lambda pair: pair[1]))


@cache
def stage_options(language: str) -> Options:
    ordered = sorted(STAGES.values(), key=lambda stage: stage.order)
    return tuple((stage.code, stage.zh if language == "zh" else stage.en) for stage in ordered)


@cache
def district_options(language: str) -> Options:
    return tuple((area.code, area.zh if language == "zh" else area.en) for area in AREAS.values())


def industry_label(code: str, language: str) -> str:
    node = INDUSTRIES.get(code)
    return code if node is None else (node.zh if language == "zh" else node.en)


def stage_label(code: str, language: str) -> str:
    stage = STAGES.get(code)
    return code if stage is None else (stage.zh if language == "zh" else stage.en)


def district_label(code: str | None, language: str) -> str:
    area = AREAS.get(code or "")
    return "" if area is None else (area.zh if language == "zh" else area.en)
