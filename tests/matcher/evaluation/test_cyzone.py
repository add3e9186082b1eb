"""The temporal split and the 创业邦 (cyzone) loader, on a tiny fixture with the real columns."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from matcher.evaluation.cyzone import (
    CYZONE_AMBIGUOUS_TAGS,
    CYZONE_PLACEHOLDER_TAGS,
    EVENTS_FILE,
    INVESTORS_FILE,
    cyzone_data_dir,
    cyzone_early_queries,
    early_queries,
    history_investor_ids,
    load_cyzone,
    map_cyzone_industries,
    map_cyzone_round,
    read_cyzone_events,
    registered_city,
    wuhan_district,
)
from matcher.evaluation.split import TemporalLeakError, TemporalSplit
from models.clock import BEIJING
from models.schemas import StartupCreate
from models.tables import Interaction, Investor, Startup
from models.taxonomy import UnknownTermError, normalize_industry
from tests.conftest import TEST_SECRET
from tests.factories import shared_data_file

SPLIT = TemporalSplit(history_end=dt.date(2016, 1, 1), test_start=dt.date(2018, 1, 1))

COLUMNS = [
    "event_id",
    "investee_id",
    "investee_shortname",
    "investee_fullname",
    "investee_url",
    "investor_number",
    "investor_ids",
    "investor_leader_id",
    "investor_names",
    "investor_urls",
    "series",
    "amount",
    "date",
    "industries",
    "page_number",
]

AI = "人工智能,场景应用层,AI制造"
SHOP = "电子商务,B2C,综合B2C"
MED = "医疗健康,医药服务,药品生产"

# (event_id, investee_id, shortname, fullname, investor_ids, investor_names, series, date, industries)
ROWS = [
    # history
    ("e01", "101", "光谷芯", "武汉光谷芯有限公司", "201,9999999", "深创投,未透露", "天使轮",
     "2014-05-01", AI),
    ("e02", "102", "好买", "上海好买有限公司", "202,203", "红杉中国,IDG资...", "A轮", "2015-03-01", SHOP),
    ("e02", "102", "好买", "上海好买有限公司", "202,203", "红杉中国,IDG资...", "A轮", "2015-03-01", SHOP),
    ("e03", "103", "老厂", "北京老厂股份有限公司", "204", "某券商", "IPO", "2015-06-01", MED),
    ("e04", "101", "光谷芯", "武汉光谷芯有限公司", "202", "红杉中国", "Pre-A", "2015-12-31", AI),
    ("e05", "111", "无名", "深圳无名有限公司", "207", "某基金", "A轮", "2014-01-01", ""),
    # the gap between the periods: neither history nor test
    ("e06", "104", "间隙一", "成都间隙一有限公司", "205", "间隙资本", "天使轮", "2016-01-01", MED),
    ("e07", "105", "间隙二", "成都间隙二有限公司", "201", "深创投", "A轮", "2017-12-31", MED),
    # test period
    ("e08", "106", "新创", "杭州新创科技有限公司", "201,205", "深创投,间隙资本", "天使轮", "2018-01-01", AI),
    ("e09", "107", "大厂", "杭州大厂科技有限公司", "201", "深创投", "B轮", "2018-06-01", AI),
    ("e10", "108", "隐身", "广州隐身科技有限公司", "9999999", "未透露", "A轮", "2019-02-01", SHOP),
    ("e11", "109", "生人", "南京生人科技有限公司", "206", "新面孔资本", "种子轮", "2019-03-01", SHOP),
    ("e12", "110", "江岸药", "武汉市江岸区江岸药有限公司", "202,203,204", "红杉中国,IDG资本,某券商",
     "A+轮", "2019-04-01", MED),
]  # fmt: skip


def _write_fixture(directory: Path, *, with_investors: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with gzip.open(directory / EVENTS_FILE, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for event_id, sid, short, full, ids, names, series, date, industries in ROWS:
            count = len(ids.split(","))
            writer.writerow(
                [event_id, sid, short, full, f"https://x/{sid}", count, ids, ids.split(",")[0], names, "",
                 series, "未披露", date, industries, 1]
            )  # fmt: skip
    if with_investors:
        with (directory / INVESTORS_FILE).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["investor_id", "investor_name", "investor_url", "occurrences"])
            writer.writerow(["203", "IDG资本", "https://x/203", "2"])
    return directory


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return _write_fixture(tmp_path / "cyzone")


# --- the split ------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    occurred_on: dt.date


def test_split_boundaries() -> None:
    history, test = SPLIT.partition(
        Day(d)
        for d in (
            dt.date(2015, 12, 31),  # last history day
            dt.date(2016, 1, 1),  # history_end itself: not history
            dt.date(2017, 12, 31),  # last gap day: not test
            dt.date(2018, 1, 1),  # test_start itself: test
        )
    )
    assert history == [Day(dt.date(2015, 12, 31))]
    assert test == [Day(dt.date(2018, 1, 1))]


@pytest.mark.parametrize("day", [dt.date(2016, 1, 1), dt.date(2018, 1, 1), dt.date(2019, 6, 1)])
def test_an_event_on_or_after_history_end_can_never_be_history(day: dt.date) -> None:
    assert not SPLIT.in_history(day)
    history, _ = SPLIT.partition([Day(day)])
    assert history == []
    with pytest.raises(TemporalLeakError, match="on or after history_end 2016-01-01"):
        SPLIT.assert_no_leak([Day(dt.date(2015, 1, 1)), Day(day)], [])


@pytest.mark.parametrize("day", [dt.date(2017, 12, 31), dt.date(2016, 1, 1), dt.date(2015, 12, 31)])
def test_an_event_before_test_start_can_never_be_test(day: dt.date) -> None:
    _, test = SPLIT.partition([Day(day)])
    assert test == []
    with pytest.raises(TemporalLeakError, match="before test_start 2018-01-01"):
        SPLIT.assert_no_leak([], [Day(dt.date(2018, 1, 1)), Day(day)])
    SPLIT.assert_no_leak([Day(dt.date(2015, 12, 31))], [Day(dt.date(2018, 1, 1))])


def test_split_refuses_overlapping_periods_and_datetimes() -> None:
    with pytest.raises(ValueError, match="must not come before"):
        TemporalSplit(history_end=dt.date(2018, 1, 1), test_start=dt.date(2017, 1, 1))
    with pytest.raises(TypeError, match="must be a date"):
        TemporalSplit(history_end=dt.datetime(2016, 1, 1), test_start=dt.date(2018, 1, 1))
    TemporalSplit(history_end=dt.date(2018, 1, 1), test_start=dt.date(2018, 1, 1))  # no gap is fine


# --- reading and mapping --------------------------------------------------------------


def test_reader_keeps_venture_rounds_once_and_only_disclosed_investors(data_dir: Path) -> None:
    events = {e.event_id: e for e in read_cyzone_events(data_dir)}
    assert "e03" not in events  # IPO is no venture round
    assert len(events) == len(ROWS) - 2  # the duplicated e02 row and the IPO
    assert events["e01"].investors == (("201", "深创投"),)  # 9999999 / 未透露 dropped
    assert events["e10"].investors == ()
    assert events["e02"].investors == (("202", "红杉中国"), ("203", "IDG资"))  # "..." cut off
    assert events["e05"].industries == ()
    assert events["e04"].stage == "pre_a"
    assert len(read_cyzone_events(data_dir, every=5)) < len(events)


def test_city_and_wuhan_district_come_only_from_the_registered_name() -> None:
    assert registered_city("杭州新创科技有限公司") == "杭州"
    assert registered_city("湖北武汉某某有限公司") == "武汉"
    assert registered_city("四川省有色科技集团有限责任公司") is None
    assert registered_city("新创科技(北京)有限公司") == "北京"  # a branch form names its seat in brackets
    assert wuhan_district("武汉市江岸区江岸药有限公司") == "jiangan"
    assert wuhan_district("武汉光谷芯有限公司") == "east_lake_hightech"
    assert wuhan_district("武汉精测电子技术股份有限公司") is None  # in Wuhan, district unknown
    assert wuhan_district("北京光谷科技有限公司") is None  # not Wuhan: never a district


# --- the protocol ---------------------------------------------------------------------


def test_early_queries_partition_truth_and_founder_view(data_dir: Path) -> None:
    queries = cyzone_early_queries(data_dir, SPLIT)
    by_event = {q.event_id: q for q in queries}
    # e08 (angel, 201 seen in history) and e12 (A+, 202/203 seen); not e09 (B轮), e10 (undisclosed),
    # e11 (only an investor never seen in history), nor the gap events e06/e07.
    assert sorted(by_event) == ["e08", "e12"]
    # 205 invested only in the gap and 204 only in an IPO: neither is a candidate, so neither is truth.
    assert by_event["e08"].truth == {"cz-I-201"}
    assert by_event["e12"].truth == {"cz-I-202", "cz-I-203"}
    candidates = history_investor_ids(read_cyzone_events(data_dir), SPLIT.history_end)
    assert candidates == {"cz-I-201", "cz-I-202", "cz-I-203"}  # 207's startup has no industry
    assert all(q.truth <= candidates for q in queries)
    assert all(SPLIT.in_test(q.occurred_on) for q in queries)

    new = by_event["e08"].startup
    assert new == {
        "external_id": "cz-Q-e08",
        "name": "新创",
        "industries": ["artificial_intelligence", "ai_applications"],
        "stage": "angel",
        "description": "所在城市：杭州；行业：人工智能、场景应用层、AI制造；融资轮次：天使轮。",
        "country": "CN",
        "province": "zhejiang",
        "city": "hangzhou",
    }
    wuhan = by_event["e12"].startup
    assert (wuhan["city"], wuhan["province"], wuhan["district"]) == ("wuhan", "hubei", "jiangan")
    assert wuhan["stage"] == "a_plus"
    assert "所在城市：武汉" in wuhan["description"]
    for query in queries:
        StartupCreate.model_validate(query.startup)  # what a founder would submit is valid as is
        assert "有限公司" not in str(query.startup)  # the registered name itself is not given away


def test_load_cyzone_imports_history_only_through_the_import_path(
    data_dir: Path, factory: sessionmaker[Session]
) -> None:
    counts = load_cyzone(factory, data_dir, until=SPLIT.history_end, secret=TEST_SECRET)
    # startups: 101, 102 (103 only had an IPO, 111 has no industry); investors: 201, 202, 203;
    # interactions: e01→201, e02→202, e02→203, e04→202 (the duplicate e02 row counted once)
    assert counts == {"startups": 2, "investors": 3, "interactions": 4}
    with factory() as session:
        startups = {s.external_id: s for s in session.scalars(select(Startup))}
        assert set(startups) == {"cz-S-101", "cz-S-102"}
        assert startups["cz-S-101"].stage == "pre_a"  # its most recent round before the cut
        assert startups["cz-S-101"].district == "east_lake_hightech"
        assert startups["cz-S-102"].district is None  # Shanghai: no Wuhan district invented
        investors = {i.external_id: i for i in session.scalars(select(Investor))}
        assert {k: i.name for k, i in investors.items()} == {
            "cz-I-201": "深创投",
            "cz-I-202": "红杉中国",
            "cz-I-203": "IDG资本",  # investors.csv's full name beats the truncated event cell
        }
        assert all(i.industries == [] and i.stages == [] for i in investors.values())  # no hard rules
        # The thesis sums up history only: 201's test-period AI angel round (e08) is not in it.
        assert (
            investors["cz-I-201"].thesis
            == "投资领域：人工智能、场景应用层、AI制造；投资轮次：天使轮；投资城市：武汉。"
        )
        assert investors["cz-I-202"].thesis.startswith("投资领域：电子商务、B2C、综合B2C、人工智能")
        assert "投资轮次：A轮、Pre-A" in investors["cz-I-202"].thesis
        assert all(i.investor_type == "vc" for i in investors.values())
        interactions = list(session.scalars(select(Interaction)))
        assert {x.external_id for x in interactions} == {
            "cz-X-e01-201",
            "cz-X-e02-202",
            "cz-X-e02-203",
            "cz-X-e04-202",
        }
        days = [Day(x.occurred_at.astimezone(BEIJING).date()) for x in interactions]
        SPLIT.assert_no_leak(days, [])  # no test-period (or gap) event reached the history

    # Loading again upserts by external id: nothing doubles.
    assert load_cyzone(factory, data_dir, until=SPLIT.history_end, secret=TEST_SECRET) == counts
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Interaction)) == 4


def test_load_cyzone_without_cut_and_without_investor_file(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    data_dir = _write_fixture(tmp_path / "bare", with_investors=False)
    counts = load_cyzone(factory, data_dir, secret=TEST_SECRET)
    # startups: every venture-round investee with an industry, 101 102 104 105 106 107 108 109 110 = 9
    # (108 only had undisclosed investors; it is still a startup); investors: 201 202 203 205 206,
    # and 204 through e12 = 6; interactions: 4 (history) + e06 + e07 + e08×2 + e09 + e11 + e12×3 = 13
    assert counts == {"startups": 9, "investors": 6, "interactions": 13}
    with factory() as session:
        assert session.scalar(select(Investor.name).where(Investor.external_id == "cz-I-203")) == "IDG资"


# --- the real file --------------------------------------------------------------------


def test_protocol_on_a_sample_of_the_real_file() -> None:
    directory = cyzone_data_dir()
    if not (directory / EVENTS_FILE).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the cyzone dataset must be present in CI: {directory}")
        pytest.skip(f"no cyzone dataset at {directory}")
    events = read_cyzone_events(directory, every=100)  # ~480 rows spread over every year
    queries = early_queries(events, SPLIT)
    candidates = history_investor_ids(events, SPLIT.history_end)
    assert 200 < len(events) < 600
    assert len(queries) >= 5
    assert len(candidates) >= 100
    assert all(q.truth <= candidates and SPLIT.in_test(q.occurred_on) for q in queries)
    for query in queries:
        StartupCreate.model_validate(query.startup)


# ------------------------------------------------- mapping the dataset's values to our codes


def test_map_cyzone_industries_either_order_and_fallbacks() -> None:
    forward = map_cyzone_industries("医疗健康,医药服务,药品生产")
    backward = map_cyzone_industries("药品生产,医药服务,医疗健康")
    assert forward == ["healthcare", "pharmaceuticals"]
    assert set(backward) == set(forward)
    assert map_cyzone_industries(["医疗健康", "医药服务", "药品生产"]) == forward
    # unknown sub-tags fall back to the row's top-level tag, at either end
    assert map_cyzone_industries("文化娱乐,其他,星座不明") == ["culture_entertainment"]
    assert map_cyzone_industries("星座不明,其他,文化娱乐") == ["culture_entertainment"]
    # nothing known -> nothing, never an exception
    assert map_cyzone_industries("未透露") == []
    assert map_cyzone_industries("完全未知,也未知") == []
    assert map_cyzone_industries("") == []
    assert map_cyzone_industries(" , ,") == []


@pytest.mark.parametrize(
    ("series", "code"),
    [
        ("种子轮", "seed"),
        ("天使轮", "angel"),
        ("Pre-A", "pre_a"),
        ("A轮", "a"),
        ("A+轮", "a_plus"),
        ("B轮", "b"),
        ("C轮", "c_plus"),
        ("F+轮", "c_plus"),
        ("战略投资", "strategic"),
        ("IPO", None),
        ("并购", None),
        ("新三板定增", None),
        ("新三板挂牌", None),
        ("上市公司定增", None),
        ("股权转让", None),
        ("上市（非IPO）", None),
        ("未披露", None),
        ("", None),
    ],
)
def test_map_cyzone_round(series: str, code: str | None) -> None:
    assert map_cyzone_round(series) == code


def test_cyzone_industry_tags_are_covered() -> None:
    import pandas as pd

    path = shared_data_file("china-cyzone-investment-events", "events_2010-2015_2018-2019.csv.gz")
    rows = pd.read_csv(path, usecols=["industries"], dtype=str)["industries"].fillna("")
    tag_lists = [[t.strip() for t in str(v).split(",") if t.strip()] for v in rows]

    def known(tag: str) -> bool:
        if tag in CYZONE_AMBIGUOUS_TAGS:
            return False
        try:
            normalize_industry(tag)
        except UnknownTermError:
            return False
        return True

    first_tags = {tags[0] for tags in tag_lists if tags}
    missing_first = sorted(
        t for t in first_tags if t not in CYZONE_PLACEHOLDER_TAGS | CYZONE_AMBIGUOUS_TAGS and not known(t)
    )
    assert missing_first == []

    # Coverage counts a tag only if it is itself in the vocabulary (not a fallback to its
    # row's top-level tag). The denominator is every tag occurrence in the file, the
    # 未透露 placeholder included, so this is the stricter of the two possible readings.
    occurrences = Counter(t for tags in tag_lists for t in tags)
    covered = sum(n for tag, n in occurrences.items() if known(tag))
    total = sum(occurrences.values())
    assert covered / total >= 0.95, f"{covered}/{total}"

    # Every row that names any industry ends up with at least one code.
    for tags in tag_lists:
        if set(tags) - CYZONE_PLACEHOLDER_TAGS - CYZONE_AMBIGUOUS_TAGS:
            assert map_cyzone_industries(tags), tags


def test_cyzone_series_values_all_handled() -> None:
    import pandas as pd

    path = shared_data_file("china-cyzone-investment-events", "events_2010-2015_2018-2019.csv.gz")
    series = pd.read_csv(path, usecols=["series"], dtype=str)["series"].fillna("")
    mapped = {s: map_cyzone_round(s) for s in series.unique()}  # must not raise
    assert mapped["A轮"] == "a"
    assert mapped["战略投资"] == "strategic"
    assert mapped["IPO"] is None
