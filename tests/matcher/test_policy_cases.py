"""Hand-written cases: a profile, a policy, the expected result and the criterion that decides.

Each case is read from the plan's text (the section the policy cites), not from the code: who
the plan names (大学生, 青年科技人才, 产业领军人才 with the A card, 获得A轮以上投资的企业, 初创期的企业,
天使/创投机构, 众创空间, 高校孵化基地 …) and the thresholds the shipped files state where the plan
leaves one to the programme (毕业5年内, 35周岁, 36个月).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from matcher.catalog import Catalog
from matcher.policies import check_record, eligible_ids
from models.enums import EntityKind
from models.policies import PolicySet, load_policies, shipped_policy_files
from tests.policy_profiles import TODAY, place

P, S, INV, SP = EntityKind.person, EntityKind.startup, EntityKind.investor, EntityKind.space


@dataclass(frozen=True)
class Case:
    why: str
    kind: EntityKind
    policy: str
    expected: str
    unmet: tuple[str, ...] = ()  # paths of the deciding (unmet) criteria
    fields: dict[str, Any] = field(default_factory=dict)
    on_team: bool = False
    wuhan_deals: int = 0


def c(
    why: str,
    kind: EntityKind,
    policy: str,
    expected: str,
    *unmet: str,
    on_team: bool = False,
    wuhan_deals: int = 0,
    **fields: Any,
) -> Case:
    return Case(why, kind, policy, expected, unmet, fields, on_team, wuhan_deals)


RECENT: dict[str, Any] = {"graduation_year": 2024, "degree": "bachelor"}
YOUNG: dict[str, Any] = {"birth_year": 1998}

CASES = [
    # 二(一)2 青桐计划: 大学生创业担保贷款 (在校或毕业5年内, 创业)
    c("本科毕业两年、正在创业", P, "qingtong-startup-loan", "eligible", on_team=True, **RECENT),
    c("在校生创业", P, "qingtong-startup-loan", "eligible", on_team=True, graduation_year=2027),
    c(
        "大专毕业一年创业",
        P,
        "qingtong-startup-loan",
        "eligible",
        on_team=True,
        degree="associate",
        graduation_year=2025,
    ),
    c(
        "毕业十一年，超出大学生范围",
        P,
        "qingtong-startup-loan",
        "not_eligible",
        "criteria[1]",
        on_team=True,
        graduation_year=2015,
    ),
    c("应届毕业但尚未创业", P, "qingtong-startup-loan", "almost", "criteria[2]", **RECENT),
    c(
        "无学历",
        P,
        "qingtong-startup-loan",
        "not_eligible",
        "criteria[0]",
        on_team=True,
        degree="none",
        graduation_year=2024,
    ),
    c(
        "未填写毕业年份（固定条件，未知即不可申请）",
        P,
        "qingtong-startup-loan",
        "not_eligible",
        "criteria[1]",
        on_team=True,
    ),
    # 创业场地补助
    c("应届创业者在武汉", P, "qingtong-venue-subsidy", "eligible", on_team=True, **RECENT),
    c(
        "应届创业者未填区域",
        P,
        "qingtong-venue-subsidy",
        "almost",
        "criteria[3]",
        on_team=True,
        district=None,
        **RECENT,
    ),
    c(
        "应届、未创业、未填区域",
        P,
        "qingtong-venue-subsidy",
        "almost",
        "criteria[2]",
        "criteria[3]",
        district=None,
        **RECENT,
    ),
    # 创业项目资助 (战略性新兴产业)
    c(
        "应届创业者做人工智能",
        P,
        "qingtong-project-grant",
        "eligible",
        on_team=True,
        industries=["artificial_intelligence"],
        **RECENT,
    ),
    c(
        "应届创业者做生物技术",
        P,
        "qingtong-project-grant",
        "eligible",
        on_team=True,
        industries=["biotechnology"],
        **RECENT,
    ),
    c(
        "应届创业者做金融",
        P,
        "qingtong-project-grant",
        "almost",
        "criteria[2]",
        on_team=True,
        industries=["payments"],
        **RECENT,
    ),
    c(
        "毕业多年做金融",
        P,
        "qingtong-project-grant",
        "not_eligible",
        "criteria[0]",
        "criteria[2]",
        on_team=True,
        industries=["payments"],
        graduation_year=2010,
    ),
    # 税费减免
    c("在校生创业享受税费减免", P, "qingtong-tax-relief", "eligible", on_team=True, graduation_year=2026),
    c(
        "毕业八年创业",
        P,
        "qingtong-tax-relief",
        "not_eligible",
        "criteria[0]",
        on_team=True,
        graduation_year=2018,
    ),
    # 生活补贴 (本科及以上、已毕业、5年内、在汉)
    c("硕士毕业一年在汉", P, "qingtong-living-allowance", "eligible", degree="master", graduation_year=2025),
    c("在校生尚未毕业", P, "qingtong-living-allowance", "almost", "criteria[1]", graduation_year=2028),
    c(
        "大专毕业一年",
        P,
        "qingtong-living-allowance",
        "almost",
        "criteria[0]",
        degree="associate",
        graduation_year=2025,
    ),
    c("本科毕业七年", P, "qingtong-living-allowance", "not_eligible", "criteria[2]", graduation_year=2019),
    # 放宽落户限制
    c("外省户籍应届生", P, "graduate-hukou", "eligible", hukou="elsewhere", **RECENT),
    c("湖北其他地市户籍应届生", P, "graduate-hukou", "eligible", hukou="hubei", **RECENT),
    c("已是武汉户籍", P, "graduate-hukou", "not_eligible", "criteria[2]", hukou="wuhan", **RECENT),
    c("户籍未填写（固定条件）", P, "graduate-hukou", "not_eligible", "criteria[2]", **RECENT),
    # 二(一)2 支持青年科技人才
    c("28岁硕士科研人员", P, "youth-scientist", "eligible", role="researcher", degree="master", **YOUNG),
    c(
        "41岁博士科研人员",
        P,
        "youth-scientist",
        "not_eligible",
        "criteria[1]",
        role="researcher",
        degree="phd",
        birth_year=1985,
    ),
    c(
        "28岁硕士创业者（非科研人员）",
        P,
        "youth-scientist",
        "almost",
        "criteria[0]",
        degree="master",
        **YOUNG,
    ),
    c("28岁本科科研人员", P, "youth-scientist", "almost", "criteria[2]", role="researcher", **YOUNG),
    # 二(一)1 产业领军人才 (A卡)
    c("A卡、智能制造", P, "leader-award", "eligible", card_tier="A", industries=["robotics"]),
    c("C卡、智能制造", P, "leader-award", "almost", "criteria[0]", card_tier="C", industries=["robotics"]),
    c("A卡、金融", P, "leader-award", "almost", "criteria[1]", card_tier="A", industries=["lending"]),
    # 楚才回家
    c("回汉人才在武汉", P, "chucai-returnee", "eligible", returnee=True),
    c("非回汉人才", P, "chucai-returnee", "not_eligible", "criteria[0]"),
    # 二(四)11 一张绿卡
    c("A卡办理A卡服务", P, "green-card-a", "eligible", card_tier="A"),
    c("B卡办理B卡服务", P, "green-card-b", "eligible", card_tier="B"),
    c("C卡办理C卡服务", P, "green-card-c", "eligible", card_tier="C"),
    c("无卡", P, "green-card-c", "almost", "criteria[0]"),
    # 二(四)13 医疗、子女入学、安居
    c("A卡优诊优疗", P, "priority-healthcare", "eligible", card_tier="A"),
    c("B卡不在优诊优疗范围", P, "priority-healthcare", "almost", "criteria[0]", card_tier="B"),
    c("B卡子女入学", P, "children-schooling", "eligible", card_tier="B"),
    c("C卡子女入学不在范围", P, "children-schooling", "almost", "criteria[0]", card_tier="C"),
    c("28岁创业者申请青年公寓", P, "youth-housing", "eligible", on_team=True, **YOUNG),
    c("28岁C卡申请青年公寓", P, "youth-housing", "eligible", card_tier="C", **YOUNG),
    c("28岁无卡非创业者", P, "youth-housing", "almost", "criteria[1]", **YOUNG),
    c("46岁创业者", P, "youth-housing", "not_eligible", "criteria[0]", on_team=True, birth_year=1980),
    c("外省户籍C卡引进人才", P, "housing-allowance", "eligible", card_tier="C", hukou="elsewhere"),
    c("武汉户籍回汉B卡", P, "housing-allowance", "eligible", card_tier="B", hukou="wuhan", returnee=True),
    c("武汉本地C卡", P, "housing-allowance", "not_eligible", "criteria[1]", card_tier="C", hukou="wuhan"),
    c("外省户籍无卡", P, "housing-allowance", "almost", "criteria[0]", hukou="elsewhere"),
    # 二(五)15 荣誉
    c("B卡优先推荐", P, "honours-nomination", "eligible", card_tier="B"),
    c("无卡", P, "honours-nomination", "almost", "criteria[0]"),
    # 二(一)4 企业引才
    c("A轮企业在光谷", S, "series-a-talent-pay", "eligible", stage="a"),
    c("B轮企业", S, "series-a-talent-pay", "eligible", stage="b"),
    c("天使轮企业：融资达到A轮后可申请", S, "series-a-talent-pay", "almost", "criteria[0]", stage="angel"),
    c("A轮企业未填区域", S, "series-a-talent-pay", "almost", "criteria[1]", stage="a", district=None),
    c("人工智能企业有员工", S, "thousand-firms-hiring", "eligible"),
    c("生物技术企业有员工", S, "thousand-firms-hiring", "eligible", industries=["biotechnology"]),
    c("金融企业非科技型", S, "thousand-firms-hiring", "almost", "criteria[0]", industries=["insurance"]),
    c("未填员工人数", S, "thousand-firms-hiring", "almost", "criteria[2]", headcount=None),
    c(
        "金融企业、无区域、无员工",
        S,
        "thousand-firms-hiring",
        "not_eligible",
        "criteria[0]",
        "criteria[1]",
        "criteria[2]",
        industries=["insurance"],
        district=None,
        headcount=0,
    ),
    c("种子轮科技企业股权激励", S, "equity-incentive-fund", "eligible"),
    c("创意阶段尚无融资", S, "equity-incentive-fund", "almost", "criteria[2]", stage="idea"),
    # 二(二)5 天使投资母基金
    c("种子轮、成立18个月、在汉", S, "angel-fund-coinvest", "eligible"),
    c("Pre-A轮已过初创期", S, "angel-fund-coinvest", "not_eligible", "criteria[0]", stage="pre_a"),
    c(
        "天使轮但成立四年",
        S,
        "angel-fund-coinvest",
        "not_eligible",
        "criteria[1]",
        stage="angel",
        founded_on=dt.date(2022, 6, 1),
    ),
    c("成立日期未填写（固定条件）", S, "angel-fund-coinvest", "not_eligible", "criteria[1]", founded_on=None),
    # 二(二)6 上市奖励
    c("C轮以后科技企业", S, "listing-reward", "eligible", stage="c_plus"),
    c("B轮科技企业", S, "listing-reward", "almost", "criteria[0]", stage="b"),
    # 二(二)5 天使子基金、风险补偿
    c("投种子轮的天使机构", INV, "angel-subfund", "eligible", investor_type="angel", stages=["seed"]),
    c("只投B轮的创投", INV, "angel-subfund", "almost", "criteria[1]", stages=["b"]),
    c(
        "政府引导基金",
        INV,
        "angel-subfund",
        "not_eligible",
        "criteria[0]",
        investor_type="government_fund",
        stages=["seed"],
    ),
    c("投过武汉初创企业的创投", INV, "venture-risk-compensation", "eligible", wuhan_deals=2),
    c("尚未投资武汉企业", INV, "venture-risk-compensation", "almost", "criteria[0]"),
    c(
        "政府引导基金不在补偿范围",
        INV,
        "venture-risk-compensation",
        "not_eligible",
        "criteria[1]",
        investor_type="government_fund",
        wuhan_deals=1,
    ),
    # 二(三)10 众创空间、高校孵化基地
    c("武昌的创客空间", SP, "maker-space-subsidy", "eligible"),
    c("加速器", SP, "maker-space-subsidy", "eligible", space_type="accelerator"),
    c(
        "高校基地不属众创空间补助",
        SP,
        "maker-space-subsidy",
        "not_eligible",
        "criteria[0]",
        space_type="university_base",
    ),
    c("有空位的高校基地", SP, "university-incubator", "eligible", space_type="university_base"),
    c(
        "满员的高校基地",
        SP,
        "university-incubator",
        "almost",
        "criteria[1]",
        space_type="university_base",
        seats_vacant=0,
    ),
    c(
        "孵化器不是高校基地",
        SP,
        "university-incubator",
        "not_eligible",
        "criteria[0]",
        space_type="incubator",
    ),
]


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return load_policies(shipped_policy_files())


def test_there_are_at_least_sixty_cases_covering_every_shipped_policy(policies: PolicySet) -> None:
    assert len(CASES) >= 60
    assert {case.policy for case in CASES} == set(policies.policies)


@pytest.mark.parametrize("case", CASES, ids=[f"{case.policy}:{case.why}" for case in CASES])
def test_case(case: Case, policies: PolicySet) -> None:
    catalog = Catalog.empty()
    record = place(catalog, case.kind, 1, on_team=case.on_team, wuhan_deals=case.wuhan_deals, **case.fields)
    checks = {
        c.policy.id: c for c in check_record(policies.policies.values(), catalog, case.kind, record, TODAY)
    }
    check = checks[case.policy]
    assert (check.status, tuple(c.path for c in check.unmet)) == (case.expected, case.unmet)
    assert all(c.hint is not None for c in check.unmet)
    # the reverse direction agrees: the profile is on the policy's eligible list exactly when eligible
    listed = 1 in eligible_ids(policies.get(case.policy), catalog, TODAY).tolist()
    assert listed == (case.expected == "eligible")
