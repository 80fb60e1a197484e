"""The web app in a real browser: a repair call from the hotline to the resident's rating, and the
supervisor's countdown turning red — on the fixture process ``web_help_request`` (tests/web/fixtures),
shaped like the real help request. Screenshots of every page go to test-artifacts/test_web_flows/.

The app runs in a thread of this process on a free port over a fresh SQLite file, with CSRF on, so
``engine.clock.advance`` moves the server's time too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from engine import clock, db, migrate
from tests.web.conftest import PASSWORD, RESIDENT_PHONE, make_app, seed

EVIL = '<script>window.__xss = 1; alert("xss")</script>'


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    monkeypatch.setenv("LIYUAN_DATABASE_URL", url)
    clock.reset()
    migrate.upgrade(url)
    seed(url)
    app = make_app(WTF_CSRF_ENABLED=True, TESTING=False, INBOX_REFRESH_SECONDS=1)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        clock.reset()
        db._engines.pop(url, None)


class Person:
    """One signed-in browser context; fails the test on JavaScript errors or any alert()."""

    def __init__(self, browser, base, username, shots, mobile=False):
        size = {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900}
        self.context = browser.new_context(viewport=size, locale="zh-CN")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))
        self.base, self.shots, self.username = base, shots, username
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

    def close(self):
        assert not self.errors, self.errors
        assert self.page.evaluate("window.__xss") is None
        self.context.close()


def test_repair_call_from_hotline_to_rating(browser, server, artifacts_dir):
    assistant = Person(browser, server, "assistant", artifacts_dir, mobile=True)
    assistant.goto("/intake/hotline")
    assistant.shot("01-hotline-empty")
    p = assistant.page
    p.fill("#field-caller_name", "陈先生" + EVIL)
    p.fill("#field-phone", RESIDENT_PHONE)
    p.fill("#field-address", "3栋2单元1201")
    p.fill("#field-description", "厨房水管漏水 " + EVIL)
    p.select_option("#field-category", "b")
    assistant.shot("02-hotline-filled")
    p.click("main button[type=submit]")
    p.wait_for_url("**/requests/*")
    p.wait_for_selector("#diagram[data-ready=true]")
    assert p.locator(".mark-active").count() >= 1 and p.locator(".mark-finished").count() >= 1
    assert EVIL in p.inner_text("[data-testid=request-description]")  # shown as text, not run
    assistant.shot("03-request-page")
    assistant.close()

    engineer = Person(browser, server, "engineer", artifacts_dir, mobile=True)
    engineer.goto("/inbox")
    card = engineer.page.locator("article.task", has_text="维修处理")
    assert card.locator("[data-testid=sla-badge]").inner_text().endswith("剩余 30分")
    engineer.shot("04-engineer-inbox")
    card.get_by_role("link", name="办理").click()
    p = engineer.page
    assert EVIL in p.inner_text("[data-testid=instructions]")
    p.fill("#field-minutes", "20")
    p.click("button[value=submit]")
    assert p.inner_text("#field-result-error") == "请填写此项"
    assert p.input_value("#field-minutes") == "20"  # input kept
    engineer.shot("05-form-with-error")
    p.fill("#field-result", "更换厨房角阀，已试水无渗漏")
    p.check("#field-fixed")
    p.click("button[value=submit]")
    p.wait_for_url("**/inbox")
    assert "已提交「维修处理」" in p.inner_text("main")
    engineer.shot("06-engineer-done")
    engineer.close()

    resident = Person(browser, server, RESIDENT_PHONE, artifacts_dir, mobile=True)
    resident.goto("/portal")
    resident.shot("07-portal-list")
    resident.page.get_by_text("待您确认评价").click()
    p = resident.page
    p.check("#field-resolved-1")
    p.check("#field-speed-5")
    p.check("#field-quality-4")
    p.check("#field-attitude-5")
    p.fill("#field-comment", "师傅很专业 " + EVIL)
    resident.shot("08-rating-form")
    p.click("button[value=submit]")
    p.wait_for_url("**/portal/requests/*")
    assert p.inner_text("[data-testid=status]") == "已办结"
    assert "求助已办结" in p.inner_text("main")
    resident.shot("09-portal-closed")
    resident.close()


def test_supervisor_sees_the_countdown_turn_red(browser, server, artifacts_dir):
    assistant = Person(browser, server, "assistant", artifacts_dir)
    assistant.goto("/intake/hotline")
    p = assistant.page
    p.fill("#field-caller_name", "刘女士")
    p.fill("#field-phone", "13700000003")
    p.fill("#field-address", "7栋1单元502")
    p.fill("#field-description", "卫生间灯不亮")
    p.select_option("#field-category", "b")
    p.click("main button[type=submit]")
    p.wait_for_url("**/requests/*")
    assistant.close()

    supervisor = Person(browser, server, "cs_supervisor", artifacts_dir)
    supervisor.goto("/inbox?scope=all")
    badge = supervisor.page.locator("article.task", has_text="维修处理").locator("[data-testid=sla-badge]")
    assert "badge--green" in badge.get_attribute("class")
    supervisor.shot("10-supervisor-green")
    clock.advance(minutes=24)
    supervisor.page.wait_for_function(
        "() => document.querySelector('[data-testid=sla-badge]').classList.contains('badge--orange')")
    supervisor.shot("11-supervisor-orange")
    clock.advance(minutes=8, seconds=30)
    # no reload: the list refreshes itself
    supervisor.page.wait_for_function(
        "() => document.querySelector('[data-testid=sla-badge]').classList.contains('badge--red')")
    assert "超时 0小时2分" in badge.inner_text()
    supervisor.shot("12-supervisor-red")
    supervisor.close()
