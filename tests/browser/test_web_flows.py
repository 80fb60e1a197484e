"""The web app in a real browser, on the REAL procedure (bpmn/ + forms/, deployed as ``liyuan deploy`` does):
a repair call from the hotline to the resident's rating, and the supervisor's countdown turning red.
Screenshots of every page go to test-artifacts/test_web_flows/<test>/.

The app runs in a thread of this process (``serve_app``) with CSRF on, so ``engine.core.clock.advance`` moves the
server's time too. Every text typed carries a ``<script>``: it must come back as text, never run.
"""

from __future__ import annotations

from engine import identity, repository
from engine.core import clock, config, db
from engine.helpdesk import intake
from engine.repository import bundle
from tests.web.conftest import PASSWORD

EVIL = "<script>window.__xss = 1; alert(1)</script>"
RESIDENT, RESIDENT_NAME = "13800000001", "陈先生"  # a resident signs up with their phone: phone = username


def _deploy(url: str) -> None:
    with db.transaction(url) as session:
        repository.deploy(session, bundle.read_paths([config.bpmn_dir()]), actor="setup")
        intake.ensure_default_fees(session)
        identity.ensure_demo_users(session, PASSWORD)
        identity.add_user(session, RESIDENT, PASSWORD, ["customer"], display_name=RESIDENT_NAME, phone=RESIDENT)


def _server(serve_app, bpmn_js_vendor) -> str:
    return serve_app(_deploy, HELP_REQUEST_PROCESS="help_request", INBOX_REFRESH_SECONDS=1)


class Person:
    """One signed-in browser context; fails the test on JavaScript errors or any alert()."""

    def __init__(self, browser, base, username, shots, mobile=False):
        size = {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900}
        self.context = browser.new_context(viewport=size, locale="zh-CN")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))
        self.base, self.shots = base, shots
        self.page.goto(base + "/login")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("main button[type=submit]")
        self.page.wait_for_load_state()
        assert "/login" not in self.page.url, f"{username} could not sign in"

    def goto(self, path):
        self.page.goto(self.base + path)

    def shot(self, name):
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def open_task(self, name):
        """Find the task in my inbox and open it."""
        self.goto("/inbox")
        self.page.locator("article.task", has_text=name).get_by_role("link", name="办理").click()
        self.page.wait_for_selector("form button[value=submit]")

    def submit(self, shot=None, *, fill=None, check=(), choose=None, select=None):
        """Fill the open task form, screenshot it, submit it; staff land back in their inbox."""
        p = self.page
        for field, value in (fill or {}).items():
            p.fill(f"#field-{field}", value)
        for field in check:
            p.check(f"#field-{field}")
        for field, value in (choose or {}).items():
            p.check(f"input[type=radio][name={field}][value='{value}']")
        for field, value in (select or {}).items():
            p.select_option(f"#field-{field}", value)
        if shot:
            self.shot(shot)
        name = p.inner_text("h1")
        p.click("button[value=submit]")
        p.wait_for_load_state()
        assert f"已提交「{name}」" in p.inner_text("main"), p.inner_text("main")

    def assert_shown_as_text(self):
        """EVIL typed earlier appears as text on this page, escaped in the HTML, and never ran."""
        assert EVIL in self.page.inner_text("main")
        assert "&lt;script&gt;window.__xss" in self.page.content()
        assert self.page.evaluate("window.__xss") is None

    def close(self):
        assert not self.errors, self.errors
        assert self.page.evaluate("window.__xss") is None
        self.context.close()


def _record_and_hand_over(person: Person, caller: str, phone: str, shots: bool = False) -> None:
    """O1–O3 by the 物业助理: record the hotline call (type b), classify, hand over to 工程部."""
    p = person.page
    person.goto("/intake/hotline")
    p.fill("#field-caller_name", caller)
    p.fill("#field-phone", phone)
    p.fill("#field-address", "3栋2单元1201")
    p.fill("#field-description", "厨房水管漏水 " + EVIL)
    p.select_option("#field-category", "b")
    if shots:
        person.shot("01-hotline-filled")
    p.click("main button[type=submit]")
    p.wait_for_url("**/tasks/*")  # straight on to 热线求助记录, the recorder's own task, prefilled
    assert p.input_value("#field-phone") == phone
    person.submit("02-record-hotline" if shots else None)
    person.open_task("初步评估与定级")
    person.submit("03-assess" if shots else None, choose={"category": "b", "priority": "P3",
                                                           "complexity": "ordinary"})
    person.open_task("转交相关部门")
    person.submit("04-handover" if shots else None, select={"department": "engineering"},
                  fill={"handover_note": "请工程部上门检修厨房水管"}, check=["info_verified"])


def test_repair_call_from_hotline_to_rating(browser, serve_app, bpmn_js_vendor, artifacts_dir):
    base = _server(serve_app, bpmn_js_vendor)
    assistant = Person(browser, base, "assistant", artifacts_dir, mobile=True)
    _record_and_hand_over(assistant, RESIDENT_NAME + EVIL, RESIDENT, shots=True)
    assistant.goto("/handovers")  # 接单跟进: handed over to 工程部, not yet taken
    assert "尚无人接单" in assistant.page.inner_text("main")
    assistant.assert_shown_as_text()  # the caller's description, in the watch list
    assistant.shot("05-handover-watch-list")
    assistant.close()

    engineer = Person(browser, base, "engineer", artifacts_dir, mobile=True)
    engineer.open_task("部门接单并给出预计完成时间")  # in 工程部's inbox without anyone acting for it
    engineer.submit("05b-department-takes-job", fill={"expected_done_at": "2026-11-27T18:00"})
    engineer.goto("/inbox")
    card = engineer.page.locator("article.task", has_text="接单并告知预计到场时间")
    assert card.count() == 1
    engineer.shot("06-engineer-inbox")
    card.get_by_role("link", name="办理").click()
    p = engineer.page
    p.fill("#field-eta", "2026-11-27T17:00")
    p.check("#field-customer_informed")
    p.click("button[value=submit]")  # 维修人员 left empty
    assert p.inner_text("#field-engineer-error") == "请填写此项"
    assert p.input_value("#field-eta") == "2026-11-27T17:00"  # what was typed is kept
    assert p.is_checked("#field-customer_informed")
    engineer.shot("07-form-with-error")
    engineer.submit("08-form-corrected", fill={"engineer": "王工程师 " + EVIL})
    engineer.open_task("到场调查")
    engineer.submit(fill={"arrived_at": "2026-11-27T16:40", "diagnosis": "厨房角阀老化渗水"},
                    choose={"repair_area": "private"})  # 有偿维修 left unticked: free of charge
    engineer.open_task("临时措施")
    engineer.submit(fill={"temporary_measures": "关闭进水总阀"})
    engineer.open_task("维修实施")
    engineer.submit("09-repair-work", fill={"work_done": "更换厨房角阀，已试水无渗漏", "completed_at": "2026-11-27T17:30"})
    engineer.open_task("维修质量检查")
    engineer.submit(check=["qc_passed"], fill={"qc_note": "复查无渗漏"})
    engineer.close()

    assistant = Person(browser, base, "assistant", artifacts_dir, mobile=True)
    assistant.open_task("处理结果质量核查")
    assistant.submit("10-quality-check", check=["resolved"], fill={"qc_result": "住户厨房已无渗漏"})
    assistant.goto("/inbox")
    assert assistant.page.locator("article.task", has_text="电话回访").count() == 0  # a resident: no phone 回访
    assistant.close()

    resident = Person(browser, base, RESIDENT, artifacts_dir, mobile=True)
    resident.goto("/portal")
    resident.shot("11-portal-list")
    resident.page.get_by_text("待您确认评价").click()
    p = resident.page
    p.wait_for_selector("form button[value=submit]")
    p.check("#field-problem_solved")
    p.select_option("#field-satisfaction", "5")
    for field, stars in {"speed": 5, "quality": 4, "attitude": 5}.items():
        p.check(f"input[type=radio][name={field}][value='{stars}']")
    p.fill("#field-feedback_comment", "师傅很专业 " + EVIL)
    resident.shot("12-rating-form")
    p.click("button[value=submit]")
    p.wait_for_url("**/portal/requests/*")
    assert "已提交「确认解决情况并评价」" in p.inner_text("main")
    resident.shot("13-portal-rated")
    resident.close()

    assistant = Person(browser, base, "assistant", artifacts_dir, mobile=True)
    assistant.open_task("记录归档")
    assistant.assert_shown_as_text()
    assistant.submit("14-archive", fill={"record_summary": "更换角阀，住户已确认并评价"})
    assistant.close()

    resident = Person(browser, base, RESIDENT, artifacts_dir, mobile=True)
    resident.goto("/portal")
    resident.page.locator("a[href*='/portal/requests/']").first.click()
    p = resident.page
    assert p.inner_text("[data-testid=status]") == "已关闭"  # rated and filed: the resident's plain status (engine.helpdesk.resident)
    resident.shot("15-portal-closed")
    resident.close()


def test_supervisor_sees_the_countdown_turn_red(browser, serve_app, bpmn_js_vendor, artifacts_dir):
    base = _server(serve_app, bpmn_js_vendor)
    assistant = Person(browser, base, "assistant", artifacts_dir)
    _record_and_hand_over(assistant, "刘女士", "13700000003")  # the department's 10-minute 部门接单 clock runs
    assistant.close()

    supervisor = Person(browser, base, "cs_supervisor", artifacts_dir)
    supervisor.goto("/inbox?scope=all")
    card = supervisor.page.locator("article.task", has_text="部门接单并给出预计完成时间")
    badge = card.locator("[data-testid=sla-badge]").first
    assert "badge--green" in badge.get_attribute("class")
    supervisor.shot("01-supervisor-green")
    clock.advance(minutes=8)
    _wait_for_badge(supervisor.page, "部门接单并给出预计完成时间", "badge--orange")  # no reload: the list refreshes
    supervisor.shot("02-supervisor-orange")
    clock.advance(minutes=4, seconds=30)
    _wait_for_badge(supervisor.page, "部门接单并给出预计完成时间", "badge--red")
    red = card.locator("[data-testid=sla-badge].badge--red")
    assert "超时 0小时2分" in red.inner_text()
    supervisor.shot("03-supervisor-red")
    supervisor.close()


def _wait_for_badge(page, task_name: str, color: str) -> None:
    page.wait_for_function(
        """([name, color]) => [...document.querySelectorAll('article.task')]
             .filter(a => a.innerText.includes(name))
             .some(a => a.querySelector('[data-testid=sla-badge].' + color))""", arg=[task_name, color])
