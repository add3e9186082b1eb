"""One valid Create-shaped record per kind, Chinese where a real user would write Chinese."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from matcher.catalog import Catalog
from models.db import create_db_engine, migrate, session_factory
from models.demo import DemoSize, generate_ecosystem, load_ecosystem
from models.identity import id_number_check_char
from models.kinds import KINDS
from models.settings import Settings
from models.transfer import import_records

WUHAN_ID_PREFIX = "42011119950307123"  # 420111: 洪山区
VALID_ID_NUMBER = WUHAN_ID_PREFIX + id_number_check_char(WUHAN_ID_PREFIX)


def valid_id_number(serial: int) -> str:
    first17 = f"4201111995030{serial:04d}"
    return first17 + id_number_check_char(first17)


def samples() -> dict[str, list[dict[str, Any]]]:
    """Records in import order: later kinds refer to earlier ones by external id."""
    return {
        "persons": [
            {
                "external_id": "P-1",
                "name": "张伟",
                "role": "founder",
                "card_tier": "C",
                "bio": "华中科技大学博士，专注工业视觉检测十年。",
                "skills": ["机器视觉", "深度学习"],
                "industries": ["智能制造"],
                "university": "华中科技大学",
                "major": "自动化",
                "degree": "phd",
                "district": "洪山区",
                "phone": "13800138000",
                "email": "zhangwei@example.cn",
                "id_number": VALID_ID_NUMBER,
            },
            {
                "external_id": "P-2",
                "name": "Li Na",
                "role": "student",
                "card_tier": "C",
                "bio": "Computer science student looking for an internship in AI.",
                "skills": ["Python", "数据分析"],
                "major": "计算机科学与技术",
                "degree": "master",
                "graduation_year": 2027,
                "district": "武昌区",
            },
        ],
        "startups": [
            {
                "external_id": "S-1",
                "name": "武汉慧眼智能科技有限公司",
                "one_liner": "基于深度学习的工业视觉质检平台",
                "description": "为汽车零部件和光电子企业提供缺陷检测、尺寸测量一体化方案。",
                "industries": ["智能制造", "信息技术"],
                "stage": "天使轮",
                "district": "光谷",
                "funding_ask_cny": 5_000_000,
                "founded_on": "2024-05-01",
                "seeking": ["investor", "space"],
                "team": [{"person_external_id": "P-1", "role": "founder"}],
            }
        ],
        "investors": [
            {
                "external_id": "I-1",
                "name": "武汉市天使投资引导基金",
                "investor_type": "government_fund",
                "thesis": "支持光谷早期硬科技项目，重点关注智能制造与生命健康。",
                "industries": ["智能制造", "生命健康"],
                "stages": ["种子轮", "天使轮"],
                "ticket_min_cny": 1_000_000,
                "ticket_max_cny": 10_000_000,
                "districts": ["anywhere"],
                "deals_per_quarter": 6,
            }
        ],
        "mentors": [
            {
                "external_id": "M-1",
                "name": "王建国",
                "bio": "前光通信企业CTO",
                "expertise": ["光通信", "产品管理"],
                "industries": ["信息技术"],
                "languages": ["zh", "en"],
                "max_mentees": 4,
                "current_mentees": 1,
                "district": "东湖新技术开发区",
            }
        ],
        "spaces": [
            {
                "external_id": "SP-1",
                "name": "光谷青年创业众创空间",
                "space_type": "maker_space",
                "district": "光谷",
                "industries": ["信息技术", "智能制造"],
                "seats_total": 40,
                "seats_vacant": 6,
                "services": ["工商注册", "融资对接"],
                "monthly_fee_cny": 800,
                "monthly_subsidy_cny": 500,
                "admission_criteria": "成立三年以内的科技型初创企业",
                "operator_external_id": "P-1",
            }
        ],
        "practice-bases": [
            {
                "external_id": "PB-1",
                "name": "长江存储实习基地",
                "enterprise_name": "长江存储科技有限责任公司",
                "district": "东湖新技术开发区",
                "industries": ["信息技术"],
                "majors_wanted": ["微电子", "计算机科学与技术"],
                "slots_total": 20,
                "slots_free": 5,
                "period_start": "2027-07-01",
                "period_end": "2027-09-30",
            }
        ],
        "posts": [
            {
                "external_id": "RD-1",
                "name": "博士后科研工作站：基因编辑",
                "post_type": "postdoc_station",
                "enterprise_name": "武汉生物技术研究院",
                "industry": "生命健康",
                "skills": ["CRISPR", "分子生物学"],
                "headcount": 2,
                "district": "江夏区",
                "min_degree": "phd",
            }
        ],
        "interactions": [
            {
                "external_id": "X-1",
                "actor_kind": "investor",
                "actor_external_id": "I-1",
                "target_kind": "startup",
                "target_external_id": "S-1",
                "kind": "invested",
                "occurred_at": "2025-03-01T10:00:00+00:00",
                "amount_cny": 3_000_000,
                "note": "领投天使轮",
            }
        ],
    }


def one_change() -> dict[str, dict[str, Any]]:
    """A valid update per kind, used by round-trip tests."""
    return {
        "persons": {"bio": "更新：现任公司CEO"},
        "startups": {"stage": "Pre-A", "funding_ask_cny": 8_000_000},
        "investors": {"ticket_max_cny": 20_000_000},
        "mentors": {"current_mentees": 2},
        "spaces": {"seats_vacant": 5},
        "practice-bases": {"slots_free": 4},
        "posts": {"headcount": 3},
        "interactions": {"note": "已交割"},
    }


# A demo ecosystem small enough for tests, large enough that every direction has matches.
SMALL_DEMO = DemoSize(
    startups=300,
    investors=60,
    mentors=40,
    spaces=25,
    practice_bases=20,
    posts=30,
    students=120,
    interactions_target=900,
)


def catalog_of(folder: Path, profiles: dict[str, list[dict[str, Any]]]) -> Catalog:
    """Import ``profiles`` (slug -> records, in import order) into a new SQLite database and
    read the matcher's catalog from it, as the service does."""
    engine = create_db_engine(f"sqlite:///{folder / 'catalog.db'}")
    migrate(engine)
    factory = session_factory(engine)
    for slug, records in profiles.items():
        import_records(factory, KINDS[slug], records, secret="test")
    with factory() as session:
        catalog = Catalog.from_database(session)
    engine.dispose()
    return catalog


def invested(investor: str, startup: str, day: str = "2025-06-01") -> dict[str, Any]:
    """An interaction record: the investor backed the startup on ``day`` (Beijing midnight)."""
    return {
        "actor_kind": "investor",
        "actor_external_id": investor,
        "target_kind": "startup",
        "target_external_id": startup,
        "kind": "invested",
        "occurred_at": f"{day}T00:00:00+08:00",
    }


def load_small_demo(database_url: str, *, seed: int, secret: str) -> None:
    """The small demo ecosystem of ``seed`` imported into the migrated database at ``database_url``."""
    engine = create_db_engine(database_url)
    migrate(engine)
    load_ecosystem(session_factory(engine), generate_ecosystem(seed, SMALL_DEMO), secret=secret)
    engine.dispose()


def small_demo_folder(tmp_path_factory: pytest.TempPathFactory, name: str, *, seed: int, secret: str) -> Path:
    """A new data folder whose default database holds the small demo ecosystem of ``seed``."""
    folder = tmp_path_factory.mktemp(name)
    load_small_demo(
        Settings(data_dir=folder, environment="test").resolved_database_url, seed=seed, secret=secret
    )
    return folder


def shared_data_file(*parts: str) -> Path:
    """A file of the real datasets in the shared data directory; skips without it, except in CI."""
    env = os.environ.get("MATCHER_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = root.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing; CI must run the data checks")
        pytest.skip(f"{path} not available (set MATCHER_SHARED_DATA)")
    return path
