"""Rules in words: why a list came back empty (a full space is told so, rather than shown
nothing), and which rule a shown applicant misses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from matcher.catalog import KindTable
from matcher.eligibility import eligible
from matcher.explain import Reason
from matcher.graph import Node
from matcher.rules import HasRoom, Rule
from models.enums import EntityKind

# The one asking has no room left, by the field that says so.
NO_ROOM: dict[str, tuple[str, str]] = {
    "seats_vacant": ("没有空余工位", "no vacant seats"),
    "slots_free": ("没有空余实习名额", "no free internship slots"),
    "headcount": ("没有空缺岗位名额", "no open headcount"),
    "max_mentees": ("辅导名额已满", "no room for more mentees"),
}
# Chinese for each rule's label (matcher/rules.py); a label missing here is shown in English.
RULE_LABELS_ZH: dict[str, str] = {
    "stage in the investor's thesis": "阶段在投资方的投资阶段内",
    "industry in the investor's thesis": "行业在投资方的关注领域内",
    "ticket covers the amount asked": "单笔投资额覆盖融资需求",
    "district the investor covers": "所在区域在投资方覆盖范围内",
    "mentor under maximum load": "导师尚有辅导名额",
    "vacant seats": "有空余工位",
    "industry the space admits": "行业符合空间的入驻方向",
    "free internship slots": "有空余实习名额",
    "major the base wants": "专业符合基地需求",
    "open headcount": "岗位尚有名额",
    "degree the post requires": "学历达到岗位要求",
}
INACTIVE = Reason(
    "visibility", "该档案未启用或未同意匹配", "this profile is inactive or has not consented to matching"
)
FILTERED = Reason("filters", "没有候选符合所选条件", "no candidate matches the filters given")
ALL_TAKEN = Reason(
    "excluded",
    "符合条件的候选都已与您有合作关系或已被拒绝",
    "every eligible candidate is already related to you or was declined",
)


def why_empty(
    asker_kind: EntityKind,
    query: Mapping[str, Any],
    table: KindTable,
    rules: Sequence[Rule],
    *,
    excluded: Iterable[Node],
    wanted: np.ndarray | None = None,
) -> Reason:
    """The first thing that leaves no candidate: nobody to show, a rule (capacity first named
    as such), the caller's filters, or relations and refusals."""
    if not table.alive.any():
        return Reason("eligibility", "暂无可推荐的候选", f"no {table.kind.value} to recommend yet")
    for count, rule in enumerate(rules, start=1):
        if not eligible(asker_kind, query, table, rules[:count]).any():
            return _unmet(rule, asker_kind)
    if wanted is not None and not (eligible(asker_kind, query, table, rules) & wanted).any():
        return FILTERED
    return ALL_TAKEN


def _unmet(rule: Rule, asker_kind: EntityKind) -> Reason:
    if isinstance(rule, HasRoom) and rule.holder_kind is asker_kind and rule.limit_field in NO_ROOM:
        zh, en = NO_ROOM[rule.limit_field]
        return Reason("capacity", zh, en)
    zh_label = RULE_LABELS_ZH.get(rule.label, rule.label)
    return Reason("eligibility", f"没有候选满足：{zh_label}", f"no candidate meets: {rule.label}")


def unmet_rule(rule: Rule) -> Reason:
    """Said of an applicant shown although it misses a fit rule."""
    zh_label = RULE_LABELS_ZH.get(rule.label, rule.label)
    return Reason("eligibility", f"未满足：{zh_label}", f"does not meet: {rule.label}")
