"""Policy pages: a founder's policies (eligible with every criterion met, almost eligible with
what is missing), applying through the API's service, staff's eligible-but-not-applied list with
its exports, who may open what, and the dashboard's application counts."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from api.policies import eligible_not_applied, policies_for_profile
from matcher.policies import PolicyCheck
from models.accounts import owned_profiles
from models.enums import EntityKind, InteractionKind
from models.policies import Policy
from models.policy_applications import ApplicationStatus, decide, status_counts
from models.portal import Login
from models.tables import Account, Interaction, PolicyApplication
from tests.api.web.conftest import ROLES
from tests.portal_client import Browser

FOUNDER_EMAIL = "demo-founder@citypartner.example"


def _founder_startup(app: Any) -> int:
    with app.state.session_factory() as session:
        account = session.scalar(
            select(Account).join(Login, Login.account_id == Account.id).where(Login.email == FOUNDER_EMAIL)
        )
        return min(i for kind, i in owned_profiles(session, account) if kind is EntityKind.startup)


def _checks(app: Any, startup_id: int) -> list[PolicyCheck]:
    with app.state.matcher_service.reading() as matcher:
        return policies_for_profile(
            app.state.policies.current(), matcher.catalog_, EntityKind.startup, startup_id
        )


def _written(app: Any) -> tuple[int, int]:
    with app.state.session_factory() as session:
        applications = session.scalar(select(func.count()).select_from(PolicyApplication)) or 0
        interactions = (
            session.scalar(
                select(func.count())
                .select_from(Interaction)
                .where(Interaction.kind == InteractionKind.policy_applied)
            )
            or 0
        )
    return int(applications), int(interactions)


def _text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)))


def _policy(app: Any, policy_id: str) -> Policy:
    policy: Policy = app.state.policies.current().get(policy_id)
    return policy


def _apply(browser: Browser, policy_id: str, kind: str, row_id: int) -> Any:
    browser.get("/founder/policies")
    return browser.post(
        f"/founder/policies/{policy_id}/apply", {"applicant_kind": kind, "applicant_id": str(row_id)}
    )


def test_the_founder_sees_eligible_and_almost_policies_with_their_reasons(
    app: Any, browsers: dict[str, Browser]
) -> None:
    startup_id = _founder_startup(app)
    checks = _checks(app, startup_id)
    eligible = [c for c in checks if c.status == "eligible"]
    almost = [c for c in checks if c.status == "almost"]
    assert eligible, "the demo founder's startup qualifies for some policy"
    assert almost, "and almost qualifies for another"
    page = browsers["founder"].get("/founder/policies")
    assert page.status_code == 200
    text = _text(page)
    assert "我的政策" in text
    positions = [text.index(c.policy.title.zh) for c in eligible]
    assert positions == sorted(positions), "eligible policies keep the service's order (by value)"
    for check in eligible:
        for criterion in check.criteria:
            assert f"✓ {criterion.label.zh}" in text
        assert f'action="/founder/policies/{check.policy.id}/apply"' in page.text
    for check in almost:
        assert check.policy.title.zh in text
        for criterion in check.unmet:
            assert f"✗ {criterion.label.zh}" in text
            assert criterion.hint is not None
            assert criterion.hint.zh in text
        assert f'action="/founder/policies/{check.policy.id}/apply"' not in page.text
    english = browsers["founder"].get("/lang/en?next=/founder/policies", follow_redirects=True)
    english_text = _text(english)
    assert "Your policies" in english_text
    assert almost[0].unmet[0].hint is not None
    assert almost[0].unmet[0].hint.en in english_text
    browsers["founder"].get("/lang/zh?next=/founder/policies")


def test_applying_records_the_application_and_shows_its_status(
    app: Any, browsers: dict[str, Browser]
) -> None:
    startup_id = _founder_startup(app)
    policy_id = next(c.policy.id for c in _checks(app, startup_id) if c.status == "eligible")
    before = _written(app)
    answer = _apply(browsers["founder"], policy_id, "startup", startup_id)
    assert answer.status_code == 303, answer.text[:300]
    assert _written(app) == (before[0] + 1, before[1] + 1)
    page = browsers["founder"].get(answer.headers["location"])
    assert "申请已提交" in page.text
    assert "已提交" in _text(page)
    assert f'action="/founder/policies/{policy_id}/apply"' not in page.text
    again = _apply(browsers["founder"], policy_id, "startup", startup_id)
    assert again.status_code == 409
    assert "已申请过" in again.text
    assert _written(app) == (before[0] + 1, before[1] + 1)


def test_a_non_eligible_application_names_the_unmet_criteria_and_writes_nothing(
    app: Any, browsers: dict[str, Browser]
) -> None:
    startup_id = _founder_startup(app)
    almost = next(c for c in _checks(app, startup_id) if c.status == "almost")
    before = _written(app)
    answer = _apply(browsers["founder"], almost.policy.id, "startup", startup_id)
    assert answer.status_code == 409
    alert = _text(answer).split("暂不符合条件")[1]
    for criterion in almost.unmet:
        assert criterion.label.zh in alert
    assert _written(app) == before


def test_nobody_applies_for_a_profile_not_theirs_or_without_the_form_token(
    app: Any, browsers: dict[str, Browser]
) -> None:
    startup_id = _founder_startup(app)
    policy_id = next(c.policy.id for c in _checks(app, startup_id) if c.status == "eligible")
    before = _written(app)
    assert _apply(browsers["founder"], policy_id, "startup", startup_id + 1).status_code == 404
    assert _apply(browsers["staff"], policy_id, "startup", startup_id).status_code == 404
    assert _apply(browsers["investor"], policy_id, "startup", startup_id).status_code == 403
    assert _apply(browsers["founder"], "no-such-policy", "startup", startup_id).status_code == 404
    assert _apply(browsers["founder"], policy_id, "investor", startup_id).status_code == 422
    forged = browsers["founder"].post(
        f"/founder/policies/{policy_id}/apply",
        {"applicant_kind": "startup", "applicant_id": str(startup_id)},
        csrf=False,
    )
    assert forged.status_code == 403
    anonymous = Browser(app).post(
        f"/founder/policies/{policy_id}/apply", {"applicant_kind": "startup", "applicant_id": "1"}
    )
    assert anonymous.status_code == 303
    assert _written(app) == before


def _busiest_policy(app: Any) -> tuple[Policy, list[Any]]:
    policies = app.state.policies.current().policies.values()
    with app.state.matcher_service.reading() as matcher, app.state.session_factory() as session:
        lists = {p.id: eligible_not_applied(p, matcher.catalog_, session) for p in policies}
    busiest = max(lists, key=lambda i: len(lists[i]))
    return _policy(app, busiest), lists[busiest]


def test_staff_see_who_is_eligible_and_has_not_applied_and_export_it(
    app: Any, browsers: dict[str, Browser]
) -> None:
    policy, waiting = _busiest_policy(app)
    assert len(waiting) > 20, "the list should need a second page"
    staff = browsers["staff"]
    index = staff.get("/staff/policies")
    assert index.status_code == 200
    assert f'href="/staff/policies/{policy.id}"' in index.text
    assert f"{policy.id} {len(waiting)}" in _text(index)
    first = staff.get(f"/staff/policies/{policy.id}")
    assert first.status_code == 200
    assert f"({len(waiting)} ·" in _text(first)
    assert waiting[0].external_id in first.text
    assert waiting[20].external_id not in first.text
    second = staff.get(f"/staff/policies/{policy.id}?page=2")
    assert waiting[20].external_id in second.text
    assert waiting[0].external_id not in second.text
    searched = staff.get(f"/staff/policies/{policy.id}", params={"q": waiting[3].external_id})
    assert waiting[3].external_id in searched.text
    assert "(1 ·" in _text(searched)
    nothing = staff.get(f"/staff/policies/{policy.id}", params={"q": "zz-nobody-zz"})
    assert "没有符合搜索条件的对象" in nothing.text
    exported = staff.get(f"/staff/policies/{policy.id}/eligible.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["id", "external_id", "name"]
    assert [row[1] for row in rows[1:]] == [p.external_id for p in waiting]
    workbook = load_workbook(io.BytesIO(staff.get(f"/staff/policies/{policy.id}/eligible.xlsx").content))
    assert workbook.active is not None
    assert workbook.active.max_row == len(waiting) + 1
    narrowed = staff.get(f"/staff/policies/{policy.id}/eligible.csv", params={"q": waiting[3].external_id})
    assert len(list(csv.reader(io.StringIO(narrowed.content.decode("utf-8-sig"))))) == 2
    assert staff.get("/staff/policies/no-such-policy").status_code == 404
    assert staff.get(f"/staff/policies/{policy.id}/eligible.pdf").status_code == 422


def test_an_applicant_leaves_the_staff_list(app: Any, browsers: dict[str, Browser]) -> None:
    startup_id = _founder_startup(app)
    check = next(c for c in _checks(app, startup_id) if c.status == "eligible")
    with app.state.matcher_service.reading() as matcher, app.state.session_factory() as session:
        listed = {p.id for p in eligible_not_applied(check.policy, matcher.catalog_, session)}
    if startup_id in listed:
        assert _apply(browsers["founder"], check.policy.id, "startup", startup_id).status_code == 303
    csv_rows = browsers["staff"].get(f"/staff/policies/{check.policy.id}/eligible.csv").content
    ids = [row[0] for row in csv.reader(io.StringIO(csv_rows.decode("utf-8-sig")))]
    assert str(startup_id) not in ids


@pytest.mark.parametrize("role", [r for r in ROLES if r != "staff"])
def test_only_staff_open_the_policy_lists(app: Any, browsers: dict[str, Browser], role: str) -> None:
    policy_id = sorted(app.state.policies.current().policies)[0]
    for path in (
        f"/staff/policies/{policy_id}",
        f"/staff/policies/{policy_id}/eligible.csv",
        f"/staff/policies/{policy_id}/eligible.xlsx",
    ):
        assert browsers[role].get(path).status_code == 403, (role, path)
        anonymous = Browser(app).get(path)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/login?next=")


def _dashboard_shows_the_counts(app: Any, staff: Browser) -> dict[str, int]:
    totals = {s.value: 0 for s in ApplicationStatus}
    with app.state.session_factory() as session:
        for (_, state), count in status_counts(session).items():
            totals[state] += count
    figures = _text(staff.get("/staff")).split("政策申请")[1]
    names = {"submitted": "已提交", "under_review": "审核中", "granted": "已批准", "refused": "未批准"}
    assert " ".join(f"{names[state]} {count}" for state, count in totals.items()) in figures
    return totals


def test_the_dashboard_counts_policy_applications_by_status(app: Any, browsers: dict[str, Browser]) -> None:
    """The application counted is made here, submitted and then under review: the test needs no
    other test's (and others' applications are counted too)."""
    startup_id = _founder_startup(app)
    eligible = [c for c in _checks(app, startup_id) if c.status == "eligible"]
    with app.state.session_factory() as session:
        applied = {a for a, _ in status_counts(session)}
    fresh = next(c.policy.id for c in eligible if c.policy.id not in applied)
    assert _apply(browsers["founder"], fresh, "startup", startup_id).status_code == 303
    assert _dashboard_shows_the_counts(app, browsers["staff"])["submitted"] >= 1
    with app.state.session_factory() as session:
        application = session.scalars(
            select(PolicyApplication).where(PolicyApplication.policy_id == fresh)
        ).one()
        decide(session, application, ApplicationStatus.under_review, reason="", account_id=None)
        session.commit()
    assert _dashboard_shows_the_counts(app, browsers["staff"])["under_review"] >= 1
    assert "审核中" in _text(browsers["founder"].get("/founder/policies"))
