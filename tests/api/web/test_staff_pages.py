"""Staff lists and figures: rounds searched by name, the dashboard's policy applications and
time to first match within its date range, and registration's investor types by name."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select, update

from api.web.staff import _gini, dashboard
from models.enums import EntityKind, InteractionKind
from models.exposure import add_shown, shown_between
from models.kinds import KINDS
from models.repository import Repository
from models.tables import Interaction, Investor, PolicyApplication, Startup
from tests.portal_client import Browser, demo

ROUND = {"kind": "space_admission", "deadline": "2030-01-31", "max_applicants": "10", "max_counterparts": "3"}


def test_rounds_are_searched_by_name(app: Any) -> None:
    staff = demo(app, "staff")
    for name in ("春季入驻 2026", "秋季导师配对 2026", "100%_special"):
        assert staff.post("/staff/rounds/new", {"name": name, **ROUND}).status_code == 303
    found = staff.get("/staff/rounds?q=春季").text
    assert "春季入驻 2026" in found
    assert "秋季导师配对 2026" not in found
    # A % typed into the search is a character, not a wildcard.
    assert "春季入驻 2026" not in staff.get("/staff/rounds?q=%25").text
    assert "100%_special" in staff.get("/staff/rounds?q=%25_").text
    assert "没有符合搜索条件的轮次" in staff.get("/staff/rounds?q=不存在的轮次").text


def test_registration_names_the_investor_types(app: Any) -> None:
    page = Browser(app).get("/register?kind=investor").text
    assert ">天使投资人<" in page
    assert ">政府引导基金<" in page
    assert ">government_fund<" not in page


def test_policy_application_counts_honour_the_date_range(app: Any) -> None:
    long_ago = dt.datetime(2020, 5, 1, tzinfo=dt.UTC)
    with app.state.session_factory() as session, session.begin():
        session.add(
            PolicyApplication(
                policy_id="old-policy",
                policy_version=1,
                applicant_kind=EntityKind.startup,
                applicant_id=1,
                status="granted",
                created_at=long_ago,
            )
        )
    with app.state.session_factory() as session:
        in_2020 = dashboard(
            session, dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
        )
        now = dt.datetime.now(dt.UTC)
        this_year = dashboard(session, now - dt.timedelta(days=365), now + dt.timedelta(days=1))
    assert in_2020.policy_applications["granted"] == 1
    assert this_year.policy_applications["granted"] == 0


def test_time_to_first_match_counts_from_the_profiles_creation(app: Any) -> None:
    """A window in the future, so the demo's own history stays out of it."""
    base = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    with app.state.session_factory() as session, session.begin():
        repository = Repository(session, secret="test-secret")
        spec = KINDS["startups"]
        created = repository.create(
            spec, spec.create.model_validate({"name": "晚到的公司", "industries": ["ai"], "stage": "seed"})
        )
        session.execute(update(Startup).where(Startup.id == created.id).values(created_at=base))
        session.add(
            Interaction(
                external_id="FIRST-MATCH",
                actor_kind=EntityKind.investor,
                actor_id=1,
                target_kind=EntityKind.startup,
                target_id=created.id,
                kind=InteractionKind.invested,
                occurred_at=base + dt.timedelta(days=12),
            )
        )
    with app.state.session_factory() as session:
        board = dashboard(session, base, base + dt.timedelta(days=30))
    assert board.days_to_first_match == 12


def test_exposure_counts_the_recommendations_pages_showed(app: Any) -> None:
    founder = demo(app, "founder")
    page = founder.get("/founder")
    startup = re.search(r'href="/founder/startups/(\d+)"', page.text)
    assert startup
    app.state.shown_log.flush()
    today = dt.datetime.now(dt.UTC).date()
    with app.state.session_factory() as session:
        before = shown_between(session, EntityKind.investor, today, today + dt.timedelta(days=1))
    shown = founder.get(f"/founder/startups/{startup.group(1)}?tab=investor").text
    on_page = {int(i) for i in re.findall(r'name="target_id" value="(\d+)"', shown)}
    assert on_page
    app.state.shown_log.flush()
    with app.state.session_factory() as session:
        after = shown_between(session, EntityKind.investor, today, today + dt.timedelta(days=1))
        now = dt.datetime.now(dt.UTC)
        board = dashboard(session, now - dt.timedelta(days=1), now + dt.timedelta(days=1))
        active = session.scalars(select(Investor.id).where(Investor.active)).all()
    assert {i for i in after if after[i] > before.get(i, 0)} == on_page
    assert board.exposure_gini == pytest.approx(_gini([after.get(i, 0) for i in active]))
    assert board.exposure_gini > 0.5  # ten investors of many shown: far from equal


def test_the_dashboard_counts_todays_shown_recommendations_by_default(app: Any) -> None:
    """The default range ends today even when the newest interaction is older."""
    with app.state.session_factory() as session, session.begin():
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
        session.execute(
            update(Interaction).where(Interaction.occurred_at > cutoff).values(occurred_at=cutoff)
        )
        active = session.scalars(select(Investor.id).where(Investor.active)).all()
        add_shown(session, {(dt.datetime.now(dt.UTC).date(), EntityKind.investor, active[0]): 1000})
    text = demo(app, "staff").get("/staff").text
    gini = re.search(r"曝光基尼系数（投资人）</span><strong>([0-9.]+)<", text)
    assert gini
    assert float(gini.group(1)) > 0.5
