"""The demo ecosystem: deterministic, realistic, consistent, and importable like user data."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import statistics
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from models import demo
from models.db import create_db_engine, migrate, session_factory
from models.demo import DemoSize, generate_ecosystem, hidden_affinities, load_ecosystem
from models.enums import InteractionKind
from models.kinds import IMPORT_ORDER, KINDS
from models.tables import Interaction, Mentor, PracticeBase, Space
from models.taxonomy import STAGES, industry_sector, industry_similarity

Ecosystem = dict[str, list[dict[str, Any]]]

SMALL = DemoSize(
    startups=200, investors=30, mentors=20, spaces=12, practice_bases=10, posts=20, students=80,
    interactions_target=800,
)  # fmt: skip
# Big enough for stable shares, small enough to generate in well under a second.
MEDIUM = DemoSize(
    startups=1500, investors=120, mentors=90, spaces=45, practice_bases=30, posts=90, students=450,
    interactions_target=3000,
)  # fmt: skip
MEDIUM_SEED = 11
CJK = re.compile(r"[\u4e00-\u9fff]")
EAST_LAKE = {"east_lake_hightech", "hongshan"}
CAR_AND_AIRPORT_ZONES = {"wuhan_econ_tech", "airport_econ"}


@pytest.fixture(scope="module")
def medium() -> Ecosystem:
    return generate_ecosystem(MEDIUM_SEED, MEDIUM)


def _profile_texts(ecosystem: Ecosystem) -> list[str]:
    texts = []
    for slug in ("persons", "startups", "investors", "mentors", "spaces", "practice-bases", "posts"):
        for record in ecosystem[slug]:
            text = record.get("description") or record.get("thesis") or record.get("bio")
            if text:
                texts.append(text)
    return texts


def _interactions(ecosystem: Ecosystem, kind: InteractionKind) -> Iterator[dict[str, Any]]:
    return (i for i in ecosystem["interactions"] if i["kind"] == kind.value)


def _by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["external_id"]: record for record in records}


# --- determinism ------------------------------------------------------------------------


def test_same_seed_gives_identical_output_and_another_seed_differs() -> None:
    first = json.dumps(generate_ecosystem(3, SMALL), ensure_ascii=False, sort_keys=True)
    again = json.dumps(generate_ecosystem(3, SMALL), ensure_ascii=False, sort_keys=True)
    other = json.dumps(generate_ecosystem(4, SMALL), ensure_ascii=False, sort_keys=True)
    assert first == again
    assert first != other


def test_hidden_affinities_match_the_generated_ids() -> None:
    ecosystem = generate_ecosystem(3, SMALL)
    financing = hidden_affinities(3, SMALL)["financing"]
    assert financing.actor_ids == [s["external_id"] for s in ecosystem["startups"]]
    assert financing.target_ids == [i["external_id"] for i in ecosystem["investors"]]
    assert financing.affinity.shape == (SMALL.startups, SMALL.investors)


# --- the default size (the one slow test) ---------------------------------------------


@pytest.mark.slow
def test_default_size_meets_the_issue_minimums_in_mostly_chinese() -> None:
    size = DemoSize()
    ecosystem = generate_ecosystem(2026, size)

    assert len(ecosystem["startups"]) >= 5000
    assert len(ecosystem["investors"]) >= 400
    assert len(ecosystem["mentors"]) >= 300
    assert len(ecosystem["spaces"]) >= 150
    assert len(ecosystem["practice-bases"]) >= 100
    assert len(ecosystem["posts"]) >= 300
    assert sum(p["role"] == "student" for p in ecosystem["persons"]) >= 1500
    assert len(ecosystem["interactions"]) >= max(5000, size.interactions_target)
    assert all(1 <= len(s["team"]) <= 4 for s in ecosystem["startups"])
    # Policy applications come with their status trail through the policy doors, not the funnels.
    funnel_kinds = {kind.value for kind in InteractionKind} - {InteractionKind.policy_applied.value}
    assert {i["kind"] for i in ecosystem["interactions"]} == funnel_kinds

    texts = _profile_texts(ecosystem)
    chinese_share = sum(bool(CJK.search(text)) for text in texts) / len(texts)
    assert 0.7 <= chinese_share <= 0.95
    assert any(not CJK.search(text) for text in texts)


# --- import ---------------------------------------------------------------------------


def test_small_ecosystem_loads_through_import_and_respects_capacities(tmp_path: Path) -> None:
    ecosystem = generate_ecosystem(5, SMALL)
    engine = create_db_engine("sqlite:///" + str(tmp_path / "t.db"))
    migrate(engine)
    factory = session_factory(engine)

    counts = load_ecosystem(factory, ecosystem, secret="test")

    assert list(counts) == list(IMPORT_ORDER)
    with factory() as session:
        for slug in IMPORT_ORDER:
            table: Any = KINDS[slug].table
            stored = session.scalar(select(func.count()).select_from(table))
            assert stored == counts[slug] == len(ecosystem[slug])
        outcomes = Counter(
            (kind, actor_id)
            for kind, actor_id in session.execute(select(Interaction.kind, Interaction.actor_id))
        )
        for space in session.scalars(select(Space)):
            assert outcomes[(InteractionKind.admitted, space.id)] <= space.seats_total - space.seats_vacant
        for mentor in session.scalars(select(Mentor)):
            assert (
                outcomes[(InteractionKind.mentored, mentor.id)]
                <= mentor.current_mentees
                <= mentor.max_mentees
            )
        for base in session.scalars(select(PracticeBase)):
            assert outcomes[(InteractionKind.placed, base.id)] <= base.slots_total - base.slots_free
    engine.dispose()


# --- realism --------------------------------------------------------------------------


def _share_in(startups: list[dict[str, Any]], sectors: set[str], districts: set[str]) -> float:
    in_sectors = [s for s in startups if industry_sector(s["industries"][0]) in sectors]
    return sum(s["district"] in districts for s in in_sectors) / len(in_sectors)


def test_tech_clusters_in_east_lake_and_manufacturing_in_the_car_and_airport_zones(medium: Ecosystem) -> None:
    startups = medium["startups"]
    tech = {"information_technology", "life_health"}
    manufacturing = {"intelligent_manufacturing"}
    assert _share_in(startups, tech, EAST_LAKE) > _share_in(startups, manufacturing, EAST_LAKE) + 0.2
    outer_zones = CAR_AND_AIRPORT_ZONES
    assert _share_in(startups, manufacturing, outer_zones) > _share_in(startups, tech, outer_zones) + 0.2


def test_early_stages_dominate_and_asks_grow_with_stage(medium: Ecosystem) -> None:
    stages = Counter(s["stage"] for s in medium["startups"])
    early = stages["seed"] + stages["angel"] + stages["pre_a"] + stages["a"]
    assert early / len(medium["startups"]) > 0.6
    ladder = sorted(stages, key=lambda code: STAGES[code].order)
    median_asks = [
        statistics.median(s["funding_ask_cny"] for s in medium["startups"] if s["stage"] == code)
        for code in ladder
    ]
    assert median_asks == sorted(median_asks)


def test_investors_mix_every_type_around_the_city_angel_fund(medium: Ecosystem) -> None:
    investors = medium["investors"]
    assert {i["investor_type"] for i in investors} == {"angel", "vc", "government_fund", "corporate_vc"}
    assert any(
        i["name"] == "武汉市天使投资引导基金" and i["investor_type"] == "government_fund" for i in investors
    )
    citywide = sum(i["districts"] == ["anywhere"] for i in investors) / len(investors)
    assert 0.6 < citywide < 1.0


def test_investor_attention_is_heavy_tailed(medium: Ecosystem) -> None:
    attention = Counter(
        i["target_external_id"] if i["target_kind"] == "investor" else i["actor_external_id"]
        for i in medium["interactions"]
        if "investor" in (i["actor_kind"], i["target_kind"])
    )
    counts = sorted((attention[i["external_id"]] for i in medium["investors"]), reverse=True)
    top_tenth = counts[: len(counts) // 10]
    assert sum(top_tenth) / sum(counts) > 0.3


def test_a_description_reads_most_like_one_from_its_own_industry(medium: Ecosystem) -> None:
    def bigrams(text: str) -> set[str]:
        return {text[k : k + 2] for k in range(len(text) - 1)}

    def jaccard(a: set[str], b: set[str]) -> float:
        return len(a & b) / len(a | b)

    startups = medium["startups"][:250]
    grams = [bigrams(s["one_liner"] + s["description"]) for s in startups]
    same_industry = 0
    for a, startup in enumerate(startups):
        nearest = max((b for b in range(len(startups)) if b != a), key=lambda b: jaccard(grams[a], grams[b]))
        same_industry += startup["industries"][0] == startups[nearest]["industries"][0]
    # With two dozen sub-industries, a random nearest text would share the industry under 10% of the time.
    assert same_industry / len(startups) > 0.8


# --- consistency of the history -------------------------------------------------------


def _quarter(timestamp: str) -> str:
    return f"{timestamp[:4]}Q{(int(timestamp[5:7]) - 1) // 3 + 1}"


def test_investments_follow_theses_tickets_and_quarterly_capacity(medium: Ecosystem) -> None:
    investors, startups = _by_id(medium["investors"]), _by_id(medium["startups"])
    invested = list(_interactions(medium, InteractionKind.invested))
    thesis_fit = [
        industry_similarity(
            investors[i["actor_external_id"]]["industries"], startups[i["target_external_id"]]["industries"]
        )
        for i in invested
    ]
    covered = [fit >= 0.5 for fit in thesis_fit]
    # Mostly within the thesis, but not always: the history has noise.
    assert 0.75 <= sum(covered) / len(covered) < 1.0
    for deal in invested:
        investor = investors[deal["actor_external_id"]]
        assert investor["ticket_min_cny"] <= deal["amount_cny"] <= investor["ticket_max_cny"]
    per_quarter = Counter((i["actor_external_id"], _quarter(i["occurred_at"])) for i in invested)
    for (investor_id, _), deals in per_quarter.items():
        assert deals <= investors[investor_id]["deals_per_quarter"]


def test_placements_respect_headcount_and_minimum_degree(medium: Ecosystem) -> None:
    posts, persons = _by_id(medium["posts"]), _by_id(medium["persons"])
    degree_rank = {"none": 0, "associate": 1, "bachelor": 2, "master": 3, "phd": 4, "postdoc": 5}
    placed = [i for i in _interactions(medium, InteractionKind.placed) if i["actor_kind"] == "post"]
    assert placed
    for post_id, hires in Counter(i["actor_external_id"] for i in placed).items():
        assert hires <= posts[post_id]["headcount"]
    for hire in placed:
        person, post = persons[hire["target_external_id"]], posts[hire["actor_external_id"]]
        assert degree_rank[person["degree"]] >= degree_rank[post["min_degree"]]


def test_history_lies_in_the_window_and_after_founding(medium: Ecosystem) -> None:
    startups = _by_id(medium["startups"])
    for interaction in medium["interactions"]:
        day = interaction["occurred_at"][:10]
        assert "2022-01-01" <= day <= "2026-10-31"
        for side in ("actor", "target"):
            if interaction[f"{side}_kind"] == "startup":
                assert day >= startups[interaction[f"{side}_external_id"]]["founded_on"]


def test_hidden_tastes_drive_the_outcomes_but_never_appear_in_the_data(medium: Ecosystem) -> None:
    financing = hidden_affinities(MEDIUM_SEED, MEDIUM)["financing"]
    row = {external_id: k for k, external_id in enumerate(financing.actor_ids)}
    column = {external_id: k for k, external_id in enumerate(financing.target_ids)}
    invested = [
        financing.affinity[row[i["target_external_id"]], column[i["actor_external_id"]]]
        for i in _interactions(medium, InteractionKind.invested)
    ]
    assert float(np.mean(invested)) > float(np.mean(financing.affinity)) + 1.0
    dumped = json.dumps(medium, ensure_ascii=False)
    assert "latent" not in dumped
    assert "popularity" not in dumped


# --- names and phrases a reader would notice ------------------------------------------

ORGANISATIONS = ("startups", "investors", "spaces", "practice-bases")
# A phrase, then 和/、/与/及, then the same phrase again: "会议室和会议室".
# Whole list items only: "数字医疗、医疗器械" is two different fields.
DOUBLED_PHRASE = re.compile(
    r"(?:(?<=[、和与及，。；：（提供])|^)([\u4e00-\u9fff]{2,12})[和、与及]\1(?=[、和与及等，。；）]|$)"
)
DOUBLED_BRAND = re.compile(r"^武汉([\u4e00-\u9fff])\1")


def _repeated(values: list[str]) -> list[str]:
    return [value for value, count in Counter(values).items() if count > 1]


def _name_and_phrase_defects(ecosystem: Ecosystem) -> list[str]:
    defects = []
    for slug in ORGANISATIONS:
        defects += [f"{slug} name twice: {name}" for name in _repeated([r["name"] for r in ecosystem[slug]])]
    for slug, records in ecosystem.items():
        for record in records:
            for value in record.values():
                if isinstance(value, str) and DOUBLED_PHRASE.search(value):
                    defects.append(f"{slug} {record.get('external_id')}: doubled phrase in {value!r}")
            if slug in ORGANISATIONS and DOUBLED_BRAND.search(record["name"]):
                defects.append(f"{slug} {record['external_id']}: doubled brand in {record['name']!r}")
    return defects


def _incoherent_theses(ecosystem: Ecosystem) -> list[str]:
    """An investor's thesis stays in one industry family (sector), never biotech plus esports."""
    return [
        f"{investor['external_id']}: {investor['thesis']}"
        for investor in ecosystem["investors"][1:]  # the first is the city's all-sector angel fund
        if len({industry_sector(code) for code in investor["industries"]}) > 1
    ]


def test_names_are_unique_and_no_phrase_is_doubled(medium: Ecosystem) -> None:
    assert _name_and_phrase_defects(medium) == []


def test_every_investors_thesis_stays_in_one_industry_family(medium: Ecosystem) -> None:
    assert _incoherent_theses(medium) == []


@pytest.mark.slow
def test_the_make_run_ecosystem_has_unique_names_and_coherent_theses() -> None:
    ecosystem = generate_ecosystem(42)
    assert _name_and_phrase_defects(ecosystem) == []
    assert _incoherent_theses(ecosystem) == []


# sha256 of the themes and shared banks as they stood in models/demo.py before they moved to
# models/data/demo_phrases.toml; a content change to the file changes it on purpose.
PHRASES_DIGEST = "6d9761169050a49c6c42869707d240814366599fbaaa46846de82c15e5e8d9e9"


def test_the_phrase_banks_load_from_toml_exactly_as_they_were_in_code() -> None:
    path = Path(demo.__file__).parent / "data" / demo.PHRASES_FILE
    phrases = tomllib.loads(path.read_text(encoding="utf-8"))
    banks = {name.upper(): list(words) for name, words in phrases["banks"].items()}
    snapshot = {"themes": phrases["theme"], "banks": banks}
    digest = hashlib.sha256(json.dumps(snapshot, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    assert digest == PHRASES_DIGEST
    assert [dataclasses.asdict(theme) for theme in demo.THEMES] == [
        {name: tuple(value) if isinstance(value, list) else value for name, value in row.items()}
        for row in phrases["theme"]
    ]
    assert all(list(getattr(demo, name)) == words for name, words in banks.items())
