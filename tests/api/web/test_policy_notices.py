"""A profile edit on the portal that makes the profile eligible for a policy tells its accounts:
an inbox notice and an e-mail in the outbox, in the edit's transaction; an edit that changes
nothing about eligibility tells no one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from api.cli import app as cli
from models.enums import InvestorType
from models.notifications import Notification, OutboxMail
from models.tables import Account, Investor, Person
from tests.auth import admin_headers
from tests.portal_client import demo

THESIS = {"thesis": "硬科技早期投资", "industries": ["ai"], "districts": ["hongshan"]}


def _notices(app: Any, account_name: str) -> list[Notification]:
    with app.state.session_factory() as session:
        account = session.scalar(select(Account.id).where(Account.name == account_name))
        return list(
            session.scalars(
                select(Notification).where(
                    Notification.account_id == account, Notification.kind == "policy_eligible"
                )
            )
        )


def _mails(app: Any, text: str) -> int:
    with app.state.session_factory() as session:
        return len([m for m in session.scalars(select(OutboxMail)) if text in m.body])


def test_a_thesis_edit_that_makes_the_investor_eligible_is_announced_once(app: Any) -> None:
    investor = demo(app, "investor")
    with app.state.session_factory() as session, session.begin():
        partner = session.scalar(select(Account.person_id).where(Account.name == "demo investor"))
        session.execute(
            update(Investor).where(Investor.partner_id == partner).values(investor_type=InvestorType.vc)
        )
    investor.get("/investor/thesis")
    assert investor.post("/investor/thesis", {**THESIS, "stages": ["series_b"]}).status_code == 303
    before = len(_notices(app, "demo investor"))
    investor.get("/investor")  # the matcher catches up with the edit
    assert investor.post("/investor/thesis", {**THESIS, "stages": ["seed"]}).status_code == 303
    notices = _notices(app, "demo investor")
    assert len(notices) == before + 1
    assert notices[-1].params["policy_en"]
    assert _mails(app, notices[-1].params["policy"]) >= 1
    inbox = investor.get("/inbox").text
    assert notices[-1].params["policy"] in inbox
    # Saving again, still eligible: nothing new to tell.
    investor.get("/investor")
    assert investor.post("/investor/thesis", {**THESIS, "stages": ["seed", "angel"]}).status_code == 303
    assert len(_notices(app, "demo investor")) == before + 1


def test_a_new_startup_eligible_for_a_policy_is_announced_and_a_refused_form_tells_no_one(app: Any) -> None:
    founder = demo(app, "founder")
    founder.get("/founder/startups/new")
    before = len(_notices(app, "demo founder"))
    refused = founder.post("/founder/startups/new", {"name": "早期公司", "stage": "", "industries": ["ai"]})
    assert refused.status_code == 422
    assert len(_notices(app, "demo founder")) == before
    created = founder.post(
        "/founder/startups/new",
        {
            "name": "早期公司",
            "industries": ["ai"],
            "stage": "seed",
            "district": "hongshan",
            "founded_on": (dt.date.today() - dt.timedelta(days=200)).isoformat(),
        },
    )
    assert created.status_code == 303
    notices = _notices(app, "demo founder")
    assert len(notices) > before
    assert {n.params["profile"] for n in notices[before:]} == {"早期公司"}
    assert any("天使" in n.params["policy"] for n in notices[before:])


def test_an_edit_through_the_api_is_announced_as_on_the_portal(app: Any) -> None:
    with app.state.session_factory() as session, session.begin():
        partner = session.scalar(select(Account.person_id).where(Account.name == "demo investor"))
        investor = session.scalar(select(Investor).where(Investor.partner_id == partner))
        assert investor is not None
        investor_id = investor.id
        investor.investor_type = InvestorType.angel
        investor.stages = ["series_c"]
    api = TestClient(app, headers=admin_headers(app))
    before = len(_notices(app, "demo investor"))
    api.get("/v1/investors")  # the matcher catches up with the setup
    answer = api.patch(f"/v1/investors/{investor_id}", json={"stages": ["angel"]})
    assert answer.status_code == 200, answer.text
    assert len(_notices(app, "demo investor")) == before + 1


def _person_of(app: Any, account_name: str) -> Person:
    with app.state.session_factory() as session:
        person: Person | None = session.scalar(
            select(Person).join(Account, Account.person_id == Person.id).where(Account.name == account_name)
        )
        assert person is not None
        return person


def _card_notices(app: Any, account_name: str, tier: str) -> list[Notification]:
    title = f"城市合伙人{tier}卡"
    return [n for n in _notices(app, account_name) if n.params["policy"].startswith(title)]


def test_a_card_granted_on_the_portal_announces_the_cards_policy(app: Any) -> None:
    person = _person_of(app, "demo student")
    staff = demo(app, "staff")
    staff.get("/staff/review")
    assert not _card_notices(app, "demo student", "A")
    granted = staff.post(f"/staff/persons/{person.id}/card", {"tier": "A", "back": "/staff/review"})
    assert granted.status_code == 303
    assert len(_card_notices(app, "demo student", "A")) == 1
    assert _mails(app, "城市合伙人A卡") >= 1


def test_a_bulk_import_that_makes_a_profile_eligible_announces_it(app: Any) -> None:
    person = _person_of(app, "demo mentor")
    api = TestClient(app, headers=admin_headers(app))
    api.get("/v1/persons")  # the matcher catches up with the earlier tests' writes
    assert not _card_notices(app, "demo mentor", "C")
    csv = f"external_id,card_tier\n{person.external_id},C\n".encode()
    answer = api.post("/v1/persons/import", files={"file": ("persons.csv", csv, "text/csv")})
    assert answer.status_code == 200, answer.text
    assert len(_card_notices(app, "demo mentor", "C")) == 1
    # Imported again, unchanged: still eligible, nothing new to tell.
    api.get("/v1/persons")
    assert api.post("/v1/persons/import", files={"file": ("persons.csv", csv, "text/csv")}).status_code == 200
    assert len(_card_notices(app, "demo mentor", "C")) == 1


def test_a_command_line_import_that_makes_a_profile_eligible_announces_it(app: Any, tmp_path: Path) -> None:
    person = _person_of(app, "demo founder")
    assert not _card_notices(app, "demo founder", "B")
    path = tmp_path / "persons.csv"
    path.write_text(f"external_id,card_tier\n{person.external_id},B\n", encoding="utf-8")
    settings = app.state.settings
    env = {
        "MATCHER_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "MATCHER_SECRET_KEY": settings.secret_key,
    }
    imported = CliRunner().invoke(cli, ["import", "persons", str(path)], env=env)
    assert imported.exit_code == 0, imported.output
    assert len(_card_notices(app, "demo founder", "B")) == 1
    assert _mails(app, "城市合伙人B卡") == 1
    # Imported again, unchanged: still eligible, nothing new to tell.
    again = CliRunner().invoke(cli, ["import", "persons", str(path)], env=env)
    assert again.exit_code == 0, again.output
    assert len(_card_notices(app, "demo founder", "B")) == 1
    assert _mails(app, "城市合伙人B卡") == 1
