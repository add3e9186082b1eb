"""The portal's pages: who may open which, forms (CSRF, field errors, nothing written on a
failure), the double opt-in, the investor's pipeline and exports, staff verification."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from babel.messages.pofile import read_po
from fastapi.routing import iter_route_contexts
from openpyxl import load_workbook
from sqlalchemy import func, select

from api.web.i18n import LOCALES_DIR
from api.web.mail import deliver_due
from api.web.session import SECURITY_HEADERS, is_portal_path
from models.db import transaction
from models.enums import EntityKind, InteractionKind
from models.notifications import OutboxMail, PasswordReset, claim_due, issue_reset
from models.portal import Login
from models.rounds import AllocationRound
from models.tables import Account, Contact, Interaction, Investor, Mentor, Person, Startup
from tests.api.web.conftest import ROLES
from tests.portal_client import Browser, demo
from tests.servers import free_port

# Every page and who may open it (any other signed-in role gets 403, anonymous a sign-in redirect).
PAGES: dict[str, frozenset[str]] = {
    "/founder": frozenset({"founder", "student", "staff"}),
    "/founder/startups/new": frozenset({"founder", "student", "staff"}),
    "/founder/policies": frozenset({"founder", "student", "staff"}),
    "/talent": frozenset({"founder", "student", "staff"}),
    "/requests": frozenset(ROLES),
    "/inbox": frozenset(ROLES),
    "/investor": frozenset({"investor", "staff"}),
    "/investor/pipeline": frozenset({"investor", "staff"}),
    "/investor/pipeline.csv": frozenset({"investor", "staff"}),
    "/investor/pipeline.xlsx": frozenset({"investor", "staff"}),
    "/investor/thesis": frozenset({"investor", "staff"}),
    "/intros": frozenset({"investor", "mentor", "operator", "staff"}),
    "/mentor": frozenset({"mentor", "staff"}),
    "/operator": frozenset({"operator", "staff"}),
    "/openings": frozenset({"operator", "enterprise", "staff"}),
    "/staff": frozenset({"staff"}),
    "/staff/review": frozenset({"staff"}),
    "/staff/policies": frozenset({"staff"}),
    "/staff/rounds": frozenset({"staff"}),
    "/staff/rounds/new": frozenset({"staff"}),
}
PUBLIC = ("/", "/login", "/register", "/welcome", "/lang/{language}", "/password/forgot", "/password/reset")
# Staff may open every role's page; those that need a profile of the role answer 404 or an empty state.
STAFF_WITHOUT_PROFILE = {"/investor/pipeline.csv", "/investor/pipeline.xlsx", "/operator"}


def _count(app: Any, table: Any) -> int:
    with app.state.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _portal_get_routes(app: Any) -> set[str]:
    return {
        str(context.path_format)
        for context in iter_route_contexts(app.routes)
        if "GET" in (context.methods or ()) and is_portal_path(str(context.path_format))
    }


def test_the_walk_covers_every_page(app: Any) -> None:
    with_ids = {
        "/founder/startups/{row_id}",
        "/capacity/{kind}/{row_id}",  # walked in test_owner_pages.py
        "/staff/rounds/{row_id}",
        "/staff/policies/{policy_id}",  # walked in test_policy_pages.py
        "/staff/policies/{policy_id}/eligible.{fmt}",
    }
    assert _portal_get_routes(app) - with_ids == set(PAGES) | set(PUBLIC)


@pytest.mark.parametrize("path", sorted(PAGES))
def test_anonymous_visitors_are_sent_to_sign_in(app: Any, path: str) -> None:
    response = Browser(app).get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_opens_its_pages_and_only_those(browsers: dict[str, Browser], role: str) -> None:
    for path, admitted in PAGES.items():
        response = browsers[role].get(path)
        if role not in admitted:
            assert response.status_code == 403, (role, path)
        elif role == "staff" and path in STAFF_WITHOUT_PROFILE:
            assert response.status_code in {200, 404}, (role, path)
        else:
            assert response.status_code == 200, (role, path, response.text[:300])


def test_pages_carry_the_security_headers_and_no_inline_script(browsers: dict[str, Browser]) -> None:
    for path in ("/", "/login", "/founder"):
        response = (
            browsers["founder"].get(path)
            if path == "/founder"
            else Browser(browsers["founder"].client.app).get(path)
        )
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert re.search(r"<script(?![^>]*\bsrc=)", response.text) is None
        assert " on" not in re.sub(r"\s+", " ", " ".join(re.findall(r"<[^>]+>", response.text))).replace(
            " one", ""
        )


def test_the_session_cookie_is_signed_httponly_and_samesite(app: Any) -> None:
    response = Browser(app).get("/login")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    forged = Browser(app)
    forged.client.cookies.set("cpm_session", cookie.split(";")[0].split("=", 1)[1][:-2] + "xx")
    assert forged.get("/founder").status_code == 303


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(app: Any) -> None:
    before = _count(app, Account)
    visitor = Browser(app)
    visitor.get("/register")
    form = {
        "kind": "founder",
        "name": "李雷",
        "identifier": "lilei@example.cn",
        "password": "long-enough-1",
        "password_again": "long-enough-1",
        "consent": "yes",
    }
    assert visitor.post("/register", form, csrf=False).status_code == 403
    assert visitor.post("/register", form | {"csrf_token": "forged"}, csrf=False).status_code == 403
    assert _count(app, Account) == before


def test_registration_errors_sit_next_to_their_field_keep_the_input_and_write_nothing(app: Any) -> None:
    before = (_count(app, Account), _count(app, Person), _count(app, Login))
    visitor = Browser(app)
    visitor.get("/register")
    form = {
        "kind": "investor",
        "name": "韩梅梅",
        "identifier": "not-an-address",
        "password": "short",
        "password_again": "short",
        "organisation": "",
        "consent": "",
    }
    response = visitor.post("/register", form)
    assert response.status_code == 422
    assert 'id="e-identifier">请输入邮箱地址或手机号码。' in response.text
    assert 'id="e-password">' in response.text
    assert 'id="e-consent">匹配需要您的同意。' in response.text
    assert 'value="韩梅梅"' in response.text
    assert 'value="not-an-address"' in response.text
    assert (_count(app, Account), _count(app, Person), _count(app, Login)) == before
    visitor.get("/lang/en?next=/register")
    english = visitor.post("/register", form)
    assert 'id="e-identifier">Enter an email address or a mobile number.' in english.text


def test_sign_in_attempts_are_rate_limited(app: Any) -> None:
    visitor = Browser(app)
    visitor.get("/login")
    codes = [
        visitor.post("/login", {"identifier": "nobody@example.cn", "password": "wrong-guess"}).status_code
        for _ in range(8)
    ]
    assert codes[0] == 401
    assert codes[-1] == 429


def test_founder_registers_creates_a_chinese_startup_and_sees_recommendations(app: Any) -> None:
    founder = Browser(app)
    founder.get("/register")
    response = founder.post(
        "/register",
        {
            "kind": "founder",
            "name": "王芳",
            "identifier": "13800138000",
            "password": "secret-pass-1",
            "password_again": "secret-pass-1",
            "district": "hongshan",
            "consent": "yes",
        },
    )
    assert response.status_code == 303
    founder.get("/founder/startups/new")
    startups_before = _count(app, Startup)
    bad = founder.post("/founder/startups/new", {"name": "光谷智能", "stage": "", "funding_ask_wan": "很多"})
    assert bad.status_code == 422
    for field in ("industries", "stage", "funding_ask_wan"):
        assert f'id="e-{field}">' in bad.text
    assert 'value="光谷智能"' in bad.text
    assert _count(app, Startup) == startups_before
    good = founder.post(
        "/founder/startups/new",
        {
            "name": "光谷智能",
            "one_liner": "工业视觉质检",
            "description": "用深度学习做光电子器件的缺陷检测",
            "industries": ["ai"],
            "stage": "angel",
            "district": "hongshan",
            "funding_ask_wan": "500",
            "team": "赵六",
        },
    )
    assert good.status_code == 303, good.text[:500]
    page = founder.get(good.headers["location"])
    assert page.status_code == 200
    assert page.text.count('class="card match"') >= 1
    assert "双向匹配度" in page.text
    for tab in ("mentor", "space"):
        fragment = founder.get(good.headers["location"] + f"?tab={tab}", headers={"HX-Request": "true"})
        assert "<html" not in fragment.text
        assert 'class="card match"' in fragment.text


def _first_owned(app: Any, browser: Browser, kind: EntityKind) -> int:
    page = browser.get("/founder")
    found = re.search(r'href="/founder/startups/(\d+)"', page.text)
    assert found
    return int(found.group(1))


def _demo_investor_id(app: Any) -> int:
    with app.state.session_factory() as session:
        partner = session.scalar(select(Account.person_id).where(Account.name == "demo investor"))
        return int(session.scalar(select(Investor.id).where(Investor.partner_id == partner)))


def test_an_introduction_reveals_contacts_only_after_both_said_yes(app: Any) -> None:
    founder, investor = demo(app, "founder"), demo(app, "investor")
    startup_id = _first_owned(app, founder, EntityKind.startup)
    investor_id = _demo_investor_id(app)
    with app.state.session_factory() as session:
        partner = session.scalar(select(Investor.partner_id).where(Investor.id == investor_id))
        partner_email = session.get(Contact, partner).email
        founder_id = session.scalar(select(Account.person_id).where(Account.name == "demo founder"))
        founder_email = session.get(Contact, founder_id).email
    assert partner_email
    assert founder_email
    assert (
        founder.post(
            f"/founder/startups/{startup_id}/requests",
            {"target_kind": "investor", "target_id": str(investor_id)},
        ).status_code
        == 303
    )
    asked = founder.get("/requests").text
    assert "已申请" in asked
    assert partner_email not in asked
    inbox = investor.get("/intros").text
    request_id = re.search(r'action="/intros/(\d+)"', inbox)
    assert request_id
    assert founder_email not in inbox
    assert investor.post(f"/intros/{request_id.group(1)}", {"answer": "yes"}).status_code == 303
    assert partner_email in founder.get("/requests").text
    assert founder_email in investor.get("/intros").text


def test_nobody_answers_a_request_made_to_someone_else(app: Any) -> None:
    mentor = demo(app, "mentor")
    with app.state.session_factory() as session:
        other = session.scalar(
            select(Interaction.id).where(Interaction.kind == InteractionKind.contacted).limit(1)
        )
    assert mentor.post(f"/intros/{other}", {"answer": "yes"}).status_code == 404


def test_the_investor_moves_a_startup_through_the_pipeline_and_exports_it(app: Any) -> None:
    investor = demo(app, "investor")
    flow = investor.get("/investor")
    startup_id = int(re.search(r'action="/investor/pipeline/(\d+)"', flow.text).group(1))  # type: ignore[union-attr]
    before = _count(app, Interaction)
    for stage in ("saved", "contacted", "meeting", "invested"):
        assert investor.post(f"/investor/pipeline/{startup_id}", {"stage": stage}).status_code == 303
    assert _count(app, Interaction) == before + 4
    assert investor.post(f"/investor/pipeline/{startup_id}", {"stage": "hired"}).status_code == 422
    assert _count(app, Interaction) == before + 4
    exported = investor.get("/investor/pipeline.csv")
    assert exported.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][0] == "创业企业"
    assert any(row[-1] == "已投资" for row in rows[1:])
    book = load_workbook(io.BytesIO(investor.get("/investor/pipeline.xlsx").content))
    assert book.active is not None
    assert book.active.max_row == len(rows)
    filtered = investor.get("/investor?stage=seed&ask_min=abc")
    assert filtered.status_code == 200
    assert 'id="e-ask_min">' in filtered.text


def test_staff_verify_an_investor_and_grant_a_b_card(app: Any) -> None:
    newcomer = Browser(app)
    newcomer.get("/register")
    assert (
        newcomer.post(
            "/register",
            {
                "kind": "investor",
                "name": "周投",
                "identifier": "zhou@vc.example.cn",
                "password": "secret-pass-2",
                "password_again": "secret-pass-2",
                "organisation": "东湖天使",
                "investor_type": "angel",
                "consent": "yes",
            },
        ).status_code
        == 303
    )
    with app.state.session_factory() as session:
        account = session.scalar(select(Account).where(Account.name == "周投"))
        assert account is not None
        firm = session.scalar(select(Investor).where(Investor.partner_id == account.person_id))
        assert firm is not None
        assert not firm.active
    assert "等待工作人员审核" in newcomer.get("/investor").text
    staff = demo(app, "staff")
    queue = staff.get("/staff/review?q=周投").text
    assert f'action="/staff/accounts/{account.id}/verify"' in queue
    assert staff.post(f"/staff/accounts/{account.id}/verify", {}).status_code == 303
    assert staff.post(f"/staff/persons/{account.person_id}/card", {"tier": "B"}).status_code == 303
    assert staff.post(f"/staff/persons/{account.person_id}/card", {"tier": "Z"}).status_code == 422
    with app.state.session_factory() as session:
        assert session.get(Investor, firm.id).active
        assert session.get(Person, account.person_id).card_tier.value == "B"
    assert "B 卡" in staff.get("/staff").text
    # The newcomer's pages know at once: the signed-in person is remembered only until a change.
    assert "等待工作人员审核" not in newcomer.get("/investor").text


def test_the_operator_admits_a_candidate_and_a_seat_is_taken(app: Any) -> None:
    operator = demo(app, "operator")
    page = operator.get("/operator")
    space_id = int(re.search(r'action="/operator/spaces/(\d+)/candidates"', page.text).group(1))  # type: ignore[union-attr]
    startup_id = re.search(r'name="startup_id" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    vacant = int(re.search(r'id="vacant">(\d+)<', page.text).group(1))  # type: ignore[union-attr]
    assert (
        operator.post(
            f"/operator/spaces/{space_id}/candidates", {"startup_id": startup_id, "action": "admit"}
        ).status_code
        == 303
    )
    assert f'id="vacant">{vacant - 1}<' in operator.get("/operator").text
    assert "<svg" in page.text


def test_staff_run_an_allocation_round_from_filters_to_publication(app: Any) -> None:
    staff = demo(app, "staff")
    staff.get("/staff/rounds/new")
    refused = staff.post(
        "/staff/rounds/new",
        {
            "name": "",
            "kind": "space_admission",
            "deadline": "2030-01-31",
            "max_applicants": "many",
            "max_counterparts": "5",
        },
    )
    assert refused.status_code == 422
    assert 'id="e-max_applicants">' in refused.text
    before = _count(app, AllocationRound)
    created = staff.post(
        "/staff/rounds/new",
        {
            "name": "2026 冬季入驻",
            "kind": "space_admission",
            "deadline": "2030-01-31",
            "max_applicants": "40",
            "max_counterparts": "6",
        },
    )
    assert created.status_code == 303, created.text[:400]
    assert _count(app, AllocationRound) == before + 1
    page_path = created.headers["location"]
    assert "尚无方案" in staff.get(page_path).text
    assert staff.post(page_path + "/solve", {"solver": "stable"}).status_code == 303
    page = staff.get(page_path).text
    pair = re.search(
        r'name="applicant" value="([^"]+)"><input type="hidden" name="counterpart" value="([^"]+)"', page
    )
    assert pair
    assert (
        staff.post(
            page_path + "/pairs",
            {"applicant": pair.group(1), "counterpart": pair.group(2), "decision": "pin"},
        ).status_code
        == 303
    )
    assert staff.post(page_path + "/publish", {}).status_code == 409  # not reviewed yet
    assert staff.post(page_path + "/solve", {"solver": "stable"}).status_code == 303
    assert staff.post(page_path + "/review", {}).status_code == 303
    published_before = _count(app, Interaction)
    assert staff.post(page_path + "/publish", {}).status_code == 303
    assert _count(app, Interaction) > published_before
    assert 'id="round-status">已发布' in staff.get(page_path).text


def test_the_english_switch_translates_the_page(app: Any) -> None:
    visitor = Browser(app)
    assert "注册" in visitor.get("/").text
    switched = visitor.get("/lang/en?next=/login")
    assert switched.headers["location"] == "/login"
    assert "Email or mobile number" in visitor.get("/login").text
    assert visitor.get("/lang/en?next=https://evil.example/").headers["location"] == "/"


def _latest_mail(app: Any, address: str) -> OutboxMail | None:
    with app.state.session_factory() as session:
        mail: OutboxMail | None = session.scalars(
            select(OutboxMail).where(OutboxMail.to_address == address).order_by(OutboxMail.id.desc())
        ).first()
    return mail


def test_requests_and_answers_reach_the_other_side_in_the_inbox_and_by_mail(app: Any) -> None:
    founder, mentor = demo(app, "founder"), demo(app, "mentor")
    startup_id = _first_owned(app, founder, EntityKind.startup)
    with app.state.session_factory() as session:
        mentor_person = session.scalar(select(Account.person_id).where(Account.name == "demo mentor"))
        mentor_id = session.scalar(select(Mentor.id).where(Mentor.person_id == mentor_person))
        startup_name = session.get(Startup, startup_id).name
    assert (
        founder.post(
            f"/founder/startups/{startup_id}/requests", {"target_kind": "mentor", "target_id": str(mentor_id)}
        ).status_code
        == 303
    )
    inbox = mentor.get("/inbox").text
    assert f"{startup_name} 请求与" in inbox
    mail = _latest_mail(app, "demo-mentor@citypartner.example")
    assert mail is not None
    assert startup_name in mail.body
    assert "asks for an introduction" in mail.body
    request_id = re.search(r'action="/intros/(\d+)"', mentor.get(f"/intros?q={startup_name}").text)
    assert request_id
    assert mentor.post(f"/intros/{request_id.group(1)}", {"answer": "yes"}).status_code == 303
    assert "已接受" in founder.get("/inbox").text
    assert mentor.post("/inbox/read", {}).status_code == 303
    assert "全部标为已读" not in mentor.get("/inbox").text


class Collector:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope)
        return "250 OK"


def _outbox_row(factory: Any, address: str) -> int:
    with transaction(factory) as session:
        mail = OutboxMail(to_address=address, subject="城市合伙人门户", body="你好\nhello\n")
        session.add(mail)
        session.flush()
        return mail.id


def test_the_outbox_is_delivered_once_and_kept_until_the_smtp_server_takes_it(app: Any) -> None:
    factory = app.state.session_factory
    while deliver_due(factory, None):  # what earlier tests queued goes to the log
        pass
    collector = Collector()
    smtp = Controller(collector, hostname="127.0.0.1", port=free_port())
    smtp.start()
    url = f"smtp://127.0.0.1:{smtp.port}"
    try:
        first = _outbox_row(factory, "a@example.cn")
        assert deliver_due(factory, url) == 1
        assert deliver_due(factory, url) == 0
        assert [m.rcpt_tos for m in collector.messages] == [["a@example.cn"]]
        assert "你好".encode() in collector.messages[0].content or b"=E4=BD" in collector.messages[0].content
    finally:
        smtp.stop()
    second = _outbox_row(factory, "b@example.cn")
    assert deliver_due(factory, url) == 0  # the server is down: kept, retried later
    with factory() as session:
        waiting = session.get(OutboxMail, second)
        assert waiting is not None
        assert waiting.sent_at is None
        assert waiting.attempts == 1
        assert waiting.next_attempt_at > dt.datetime.now(dt.UTC)
        assert session.get(OutboxMail, first).sent_at is not None
    with transaction(factory) as session:
        session.get(OutboxMail, second).next_attempt_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
    smtp = Controller(collector, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        assert deliver_due(factory, f"smtp://127.0.0.1:{smtp.port}") == 1
    finally:
        smtp.stop()
    assert [m.rcpt_tos for m in collector.messages] == [["a@example.cn"], ["b@example.cn"]]


def test_a_claimed_mail_is_not_taken_by_a_second_sender(app: Any) -> None:
    factory = app.state.session_factory
    while deliver_due(factory, None):
        pass
    mail_id = _outbox_row(factory, "c@example.cn")
    with transaction(factory) as session:
        assert [m.id for m in claim_due(session)] == [mail_id]
    with transaction(factory) as session:
        assert claim_due(session) == []


def test_a_password_reset_link_works_once_and_expires(app: Any) -> None:
    visitor = Browser(app)
    visitor.get("/password/forgot")
    assert visitor.post("/password/forgot", {"identifier": "nobody@example.cn"}).status_code == 200
    answer = visitor.post("/password/forgot", {"identifier": "demo-student@citypartner.example"})
    assert answer.status_code == 200
    mail = _latest_mail(app, "demo-student@citypartner.example")
    assert mail is not None
    token = re.search(r"token=([\w-]+)", mail.body)
    assert token
    assert 'name="token"' in visitor.get(f"/password/reset?token={token.group(1)}").text
    short = visitor.post(
        "/password/reset", {"token": token.group(1), "password": "short", "password_again": "short"}
    )
    assert short.status_code == 422
    done = visitor.post(
        "/password/reset",
        {"token": token.group(1), "password": "a-new-pass-1", "password_again": "a-new-pass-1"},
    )
    assert done.status_code == 303
    visitor.get("/password/forgot")  # signing out drew a new session: its form token
    again = visitor.post(
        "/password/reset",
        {"token": token.group(1), "password": "another-pass-2", "password_again": "another-pass-2"},
    )
    assert again.status_code == 410
    Browser(app).sign_in("demo-student@citypartner.example", "a-new-pass-1")
    with transaction(app.state.session_factory) as session:
        account_id = session.scalar(select(Account.id).where(Account.name == "demo student"))
        assert account_id is not None
        stale = issue_reset(session, account_id)
        session.flush()
        for reset in session.scalars(select(PasswordReset).where(PasswordReset.account_id == account_id)):
            reset.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert 'name="token"' not in visitor.get(f"/password/reset?token={stale}").text


def test_every_message_is_extracted_and_translated(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    root = Path(__file__).resolve().parents[3]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "api/web/babel.cfg",
            "-k",
            "_marker",
            "--no-location",
            "--omit-header",
            "-o",
            str(pot),
            "api/web",
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as stream:
        wanted = {m.id for m in read_po(stream) if m.id}
    with (LOCALES_DIR / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as stream:
        translated = {m.id for m in read_po(stream) if m.id and m.string}
    assert wanted - translated == set()
