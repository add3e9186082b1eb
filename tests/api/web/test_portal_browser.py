"""The portal's journeys in a real browser: Playwright drives Debian's Chromium, headless,
against ``matcher serve`` on a small demo ecosystem, at a desktop and a phone-sized viewport.

Every page visited is saved as a screenshot under data/screenshots/ (ignored) and checked for
accessibility: every input has a label, and the Tab key reaches every control.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.accounts import create_account
from models.db import create_db_engine, migrate, session_factory, transaction
from models.demo import generate_ecosystem, load_ecosystem
from models.enums import AccountRole, EntityKind, InteractionKind, PersonRole
from models.portal import DEMO_PASSWORD, Login, add_login
from models.tables import Account, AccountProfile, Interaction, Investor, Person
from tests.factories import SMALL_DEMO
from tests.servers import Server, serving

CHROMIUM = Path(os.environ.get("MATCHER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "data" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
TEST_SECRET = "browser-test-secret"

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (`make browser` installs it)", allow_module_level=True)

from playwright.sync_api import Browser, Locator, Page, Playwright, expect, sync_playwright  # noqa: E402
from playwright.sync_api import Error as PlaywrightError  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    data_dir.mkdir()
    engine = create_db_engine(f"sqlite:///{data_dir / 'matcher.db'}")
    migrate(engine)
    load_ecosystem(session_factory(engine), generate_ecosystem(11, SMALL_DEMO), secret=TEST_SECRET)
    engine.dispose()
    with serving(data_dir, MATCHER_SECRET_KEY=TEST_SECRET) as server:
        yield server, data_dir


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        yield _launch(playwright)


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Visitor:
    """One person in their own browser context; every page they open is checked and saved."""

    def __init__(self, chromium: Browser, base: str, viewport: str, name: str) -> None:
        self.context = chromium.new_context(viewport=VIEWPORTS[viewport], locale="zh-CN")  # type: ignore[arg-type]
        self.page: Page = self.context.new_page()
        self.base, self.viewport, self.name = base, viewport, name
        self.errors: list[str] = []
        self.page.on(
            "console", lambda message: self.errors.append(message.text) if message.type == "error" else None
        )
        self.shots = 0

    def open(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.checked()

    def checked(self) -> Page:
        self.page.wait_for_load_state()
        self.shots += 1
        folder = SCREENSHOTS / self.viewport
        folder.mkdir(parents=True, exist_ok=True)
        self.save_screenshot(folder / f"{self.name}-{self.shots:02d}.png")
        assert_accessible(self.page)
        assert self.errors == [], self.errors
        return self.page

    def save_screenshot(self, path: Path, attempts: int = 3) -> None:
        """The screenshot is a record for people, not the behaviour under test: Chromium's
        "Unable to capture screenshot" comes and goes under a loaded CI machine, so ask again."""
        for attempt in range(1, attempts + 1):
            try:
                self.page.screenshot(path=str(path), full_page=True)
                return
            except PlaywrightError as error:
                if "Unable to capture screenshot" not in str(error) or attempt == attempts:
                    raise
                self.page.wait_for_timeout(500)

    def follow(self, control: Locator) -> Page:
        """Click a link or submit button and check the page it leads to."""
        with self.page.expect_navigation():
            control.click()
        return self.checked()

    def follow_refused(self, control: Locator) -> Page:
        """Submit a form the server refuses (422, the errors beside their fields); the console's
        note of that status is expected here, and only that one."""
        with self.page.expect_navigation() as navigation:
            control.click()
        response = navigation.value
        assert response is not None
        assert response.status == 422
        self.page.wait_for_load_state()
        self.errors = [e for e in self.errors if "status of 422" not in e]
        return self.checked()

    def sign_in(self, identifier: str, password: str = DEMO_PASSWORD) -> Page:
        page = self.open("/login")
        page.get_by_label("邮箱或手机号").fill(identifier)
        page.get_by_label("密码").fill(password)
        return self.follow(page.locator("main").get_by_role("button", name="登录"))

    def close(self) -> None:
        self.context.close()


def assert_accessible(page: Page) -> None:
    """Labels on every input, and Tab reaches every control in order."""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
              .map(e => e.outerHTML.slice(0, 120))"""
    )
    assert unlabelled == []
    controls = page.evaluate(
        """() => { const all = [...document.querySelectorAll('a[href], button:not([disabled]), '
                 + 'input:not([type=hidden]):not([disabled]), select, textarea')]
               .filter(e => e.offsetParent !== null || e.getClientRects().length);
               all.forEach((e, i) => e.dataset.a11y = String(i)); return all.length; }"""
    )
    reached: set[str] = set()
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    # A date input takes three Tab stops (year, month, day): allow for more presses than controls.
    for _ in range(3 * controls + 3):
        page.keyboard.press("Tab")
        mark = page.evaluate("() => document.activeElement && document.activeElement.dataset.a11y")
        if mark is not None:
            reached.add(mark)
        if len(reached) == controls:
            break
    missing = {str(i) for i in range(controls)} - reached
    # The skip link is reached first; a control only the mouse could reach would stay missing.
    assert not missing, f"{len(missing)} of {controls} controls not reached by Tab"


@pytest.fixture
def visitors(site: tuple[Server, Path], chromium: Browser, viewport: str) -> Iterator[Any]:
    opened: list[Visitor] = []

    def visitor(name: str) -> Visitor:
        opened.append(Visitor(chromium, site[0].url, viewport, name))
        return opened[-1]

    yield visitor
    for one in opened:
        one.close()


def _factory(data_dir: Path) -> Any:
    return session_factory(create_db_engine(f"sqlite:///{data_dir / 'matcher.db'}"))


def _login_for_investor(data_dir: Path, investor_id: int, viewport: str) -> str:
    """The investor a founder asked, given a portal login (the demo's partners have none)."""
    identifier = f"partner-{investor_id}@vc.example.cn"
    with transaction(_factory(data_dir)) as session:
        partner = session.scalar(select(Investor.partner_id).where(Investor.id == investor_id))
        holder = session.scalar(select(Account).where(Account.person_id == partner))
        account = holder or create_account(
            session, name="partner", role=AccountRole.investor, person_id=partner
        )
        login = session.scalar(select(Login).where(Login.account_id == account.id))
        if login is not None:
            return login.email or login.phone or ""
        add_login(session, account, identifier, DEMO_PASSWORD, verified=True)
    return identifier


def test_a_founder_registers_asks_an_investor_and_both_see_contacts(
    visitors: Any, site: tuple[Server, Path], viewport: str
) -> None:
    startup = {"desktop": "光谷视觉科技", "phone": "江城慧眼智能"}[viewport]
    founder = visitors("founder")
    page = founder.open("/register")
    page.get_by_label("我是").select_option("founder")
    page.get_by_label("姓名").fill("陈晓")
    page.get_by_label("邮箱或手机号").fill(f"chenxiao-{viewport}@example.cn")
    page.get_by_label(re.compile("^密码")).fill("guanggu-2026")
    page.get_by_label("再次输入密码").fill("guanggu-2026")
    page.get_by_label("区域").select_option("hongshan")
    page.get_by_label("我同意本计划将我的资料与他人进行匹配（《个人信息保护法》第二十九条）。").check()
    page = founder.follow(page.get_by_role("button", name="创建账号"))
    page = founder.follow(page.get_by_role("link", name="继续"))
    page = founder.follow(page.get_by_role("link", name="添加创业企业"))
    page.get_by_label("企业名称").fill(startup)
    page.get_by_label("一句话介绍").fill("用机器视觉做光电子器件的缺陷检测")
    page.get_by_label("行业").select_option(["artificial_intelligence"])
    page.get_by_label("阶段").select_option("angel")
    page.get_by_label("区域").select_option("hongshan")
    page.get_by_label("融资需求（万元）").fill("800")
    page = founder.follow(page.get_by_role("button", name="保存并查看推荐"))
    expect(page.get_by_role("heading", name=startup)).to_be_visible()
    expect(page.locator(".match").first).to_be_visible()
    expect(page.get_by_text("双向匹配度").first).to_be_visible()
    page.get_by_role("button", name="申请引荐").first.click()
    expect(page.get_by_role("status").first).to_contain_text("已申请")
    founder.checked()

    with _factory(site[1])() as session:
        asked = session.scalars(
            select(Interaction)
            .where(
                Interaction.kind == InteractionKind.contacted, Interaction.target_kind == EntityKind.investor
            )
            .order_by(Interaction.id.desc())
        ).first()
    assert asked is not None
    investor = visitors("investor-accepts")
    investor.sign_in(_login_for_investor(site[1], asked.target_id, viewport))
    page = investor.open("/intros")
    card = page.locator("article", has_text=startup)
    expect(card.locator(".contact")).to_have_count(0)
    page = investor.follow(card.get_by_role("button", name="接受"))
    expect(page.locator("article", has_text=startup).locator(".contact")).to_contain_text(
        f"chenxiao-{viewport}@example.cn"
    )
    page = founder.open("/requests")
    expect(page.locator(".contact").first).to_be_visible()


def test_the_investor_moves_a_startup_through_the_pipeline_and_exports_it(
    visitors: Any, tmp_path: Path
) -> None:
    investor = visitors("investor")
    investor.sign_in("demo-investor@citypartner.example")
    page = investor.open("/investor")
    first = page.locator(".match").first
    name = first.locator("h3").inner_text()
    for stage in ("已收藏", "已联系", "会谈中"):
        first = page.locator(".match", has_text=name)
        first.get_by_label("移到").select_option(label=stage)
        first.get_by_role("button", name="移动").click()
        expect(page.locator(".match", has_text=name).locator(".status")).to_have_text(stage)
    investor.checked()
    page = investor.open("/investor/pipeline")
    expect(page.get_by_role("cell", name=name).first).to_be_visible()
    for label, suffix in (("导出 CSV", ".csv"), ("导出 Excel", ".xlsx")):
        with page.expect_download() as download:
            page.get_by_role("link", name=label).click()
        saved = tmp_path / f"pipeline{suffix}"
        download.value.save_as(saved)
        assert saved.stat().st_size > 0
    assert saved.read_bytes()[:2] == b"PK"
    assert (tmp_path / "pipeline.csv").read_bytes().startswith("\ufeff".encode())


def test_an_operator_fills_a_vacancy(visitors: Any) -> None:
    operator = visitors("operator")
    operator.sign_in("demo-operator@citypartner.example")
    page = operator.open("/operator")
    vacant = int(page.locator("#vacant").inner_text())
    expect(page.locator("svg.chart")).to_be_visible()
    page = operator.follow(page.locator(".match").first.get_by_role("button", name="录取"))
    expect(page.locator("#vacant")).to_have_text(str(vacant - 1))


def test_an_enterprise_edits_its_slots_and_accepts_an_application(
    site: tuple[Server, Path], visitors: Any, viewport: str
) -> None:
    with transaction(_factory(site[1])) as session:
        base_id = session.scalar(
            select(AccountProfile.profile_id)
            .join(Account, Account.id == AccountProfile.account_id)
            .where(Account.name == "demo enterprise", AccountProfile.profile_kind == EntityKind.practice_base)
        )
        student = session.scalars(
            select(Person).where(Person.role == PersonRole.student).order_by(Person.id).offset(len(viewport))
        ).first()
        assert base_id is not None
        assert student is not None
        applicant = student.name
        session.add(
            Interaction(
                external_id=f"BROWSER-APPLY-{viewport}",
                actor_kind=EntityKind.person,
                actor_id=student.id,
                target_kind=EntityKind.practice_base,
                target_id=base_id,
                kind=InteractionKind.applied,
                occurred_at=dt.datetime.now(dt.UTC),
            )
        )
    enterprise = visitors("enterprise")
    enterprise.sign_in("demo-enterprise@citypartner.example")
    page = enterprise.open(f"/openings?kind=practice_base&id={base_id}")
    free = int(page.locator("#free").inner_text())
    page = enterprise.follow(page.get_by_role("link", name="修改容量"))
    total = int(page.get_by_label("名额总数").input_value())
    page.get_by_label("空余名额").fill(str(total + 5))
    page = enterprise.follow_refused(page.get_by_role("button", name="保存"))
    expect(page.locator("#e-slots_free")).to_have_text("不能超过总数。")
    expect(page.get_by_label("空余名额")).to_have_value(str(total + 5))
    page.get_by_label("名额总数").fill(str(total + 2))
    page.get_by_label("空余名额").fill(str(free + 2))
    page = enterprise.follow(page.get_by_role("button", name="保存"))
    expect(page.locator("#free")).to_have_text(str(free + 2))
    card = page.locator("article", has_text=applicant)
    page = enterprise.follow(card.get_by_role("button", name="接受"))
    expect(page.locator("#free")).to_have_text(str(free + 1))


def test_staff_run_an_allocation_round_and_verify_a_b_card(visitors: Any, viewport: str) -> None:
    newcomer = visitors("investor-registers")
    page = newcomer.open("/register?kind=investor")
    page.get_by_label("我是").select_option("investor")
    page.get_by_label("姓名").fill(f"周投资{viewport}")
    page.get_by_label("邮箱或手机号").fill(f"zhou-{viewport}@vc.example.cn")
    page.get_by_label(re.compile("^密码")).fill("donghu-angel-1")
    page.get_by_label("再次输入密码").fill("donghu-angel-1")
    page.get_by_label("机构或基金").fill("东湖天使基金")
    page.get_by_label("投资人类型").select_option("angel")
    page.get_by_label("我同意本计划将我的资料与他人进行匹配（《个人信息保护法》第二十九条）。").check()
    page = newcomer.follow(page.get_by_role("button", name="创建账号"))
    expect(page.get_by_role("status")).to_contain_text("等待工作人员审核")

    staff = visitors("staff")
    staff.sign_in("demo-staff@citypartner.example")
    page = staff.open("/staff/rounds/new")
    page.get_by_label("轮次名称").fill(f"冬季入驻 {viewport}")
    page.get_by_label("类型").select_option("space_admission")
    page.get_by_label("申请者上限").fill("40")
    page.get_by_label("对象上限").fill("6")
    page = staff.follow(page.get_by_role("button", name="创建轮次"))
    page = staff.follow(page.get_by_role("button", name="求解（稳定匹配）"))
    expect(page.get_by_role("heading", name="建议的匹配")).to_be_visible()
    page = staff.follow(page.get_by_role("button", name="锁定").first)
    page = staff.follow(page.get_by_role("button", name="求解（稳定匹配）"))
    page = staff.follow(page.get_by_role("button", name="标记为已审阅"))
    page = staff.follow(page.get_by_role("button", name="发布", exact=True))
    expect(page.locator("#round-status")).to_have_text("已发布")

    page = staff.open(f"/staff/review?q=周投资{viewport}")
    row = page.get_by_role("row", name=re.compile(f"周投资{viewport}"))
    page = staff.follow(row.get_by_role("button", name="审核通过"))
    page = staff.open(f"/staff/review?show=all&q=周投资{viewport}")
    row = page.get_by_role("row", name=re.compile(f"周投资{viewport}"))
    row.get_by_label("卡").select_option("B")
    page = staff.follow(row.get_by_role("button", name="授予"))
    expect(
        page.get_by_role("row", name=re.compile(f"周投资{viewport}")).get_by_text("已审核")
    ).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(f"周投资{viewport}")).get_by_label("卡")).to_have_value(
        "B"
    )
    page = staff.open("/staff")
    expect(page.locator("svg.chart").first).to_be_visible()


def test_the_english_switch_works_on_every_page(visitors: Any) -> None:
    visitor = visitors("english")
    page = visitor.open("/")
    page = visitor.follow(page.get_by_role("link", name="English"))
    expect(page.get_by_role("heading", name="City Partner portal")).to_be_visible()
    page = visitor.follow(page.get_by_role("link", name="Sign in").first)
    expect(page.get_by_label("Email or mobile number")).to_be_visible()
    page = visitor.follow(page.get_by_role("link", name="中文"))
    expect(page.get_by_label("邮箱或手机号")).to_be_visible()


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
