"""The 客服部主管 opens a month, sees its charts (ECharts, drawn under the CSP), clicks a bar and lands on
the requests behind it; on a phone the page keeps to the screen's width. The month is ``month_seed``'s,
whose figures ``tests/web/test_month_report.py`` works out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine import identity, repository
from engine.core import clock, db
from tests.browser.conftest import REPO_ROOT, unavailable
from tests.web import month_seed
from tests.web.conftest import PASSWORD, web_bundle

ECHARTS = REPO_ROOT / "webapp" / "static" / "vendor" / "echarts" / "echarts.common.min.js"


@pytest.fixture
def echarts_vendor() -> Path:
    if not ECHARTS.is_file():
        unavailable("webapp/static/vendor/echarts is not built: run `make assets`")
    return ECHARTS


def _seed(url: str) -> None:
    with db.transaction(url) as session:
        repository.deploy(session, web_bundle(), actor="setup")
        identity.ensure_demo_users(session, PASSWORD)
        month_seed.seed_month(session)
    clock.freeze(month_seed.NOW)


def _sign_in(browser, base, size):
    context = browser.new_context(viewport=size, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(base + "/login")
    page.fill("#username", "cs_supervisor")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    return context, page, errors


def test_supervisor_clicks_a_chart_bar_and_lands_on_its_requests(browser, serve_app, echarts_vendor, artifacts_dir):
    base = serve_app(_seed)
    context, page, errors = _sign_in(browser, base, {"width": 1280, "height": 900})
    page.goto(base + "/reports?month=2026-11")
    page.wait_for_selector("#chart-per-day-category canvas")
    assert page.locator(".chart canvas").count() == 6  # every chart drawn
    page.screenshot(path=str(artifacts_dir / "month-desktop.png"), full_page=True)
    chart = page.locator("#chart-per-day-category")
    chart.scroll_into_view_if_needed()
    # the middle of the 报修 bar of 10 November (2 requests, stacked on 0 emergency calls)
    x, y = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('chart-per-day-category'))
                              .convertToPixel({xAxisIndex: 0, yAxisIndex: 0}, ['11-10', 1])""")
    box = chart.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/requests?**")
    assert "day=2026-11-10" in page.url and "category=b" in page.url
    assert page.locator("[data-testid=request-row]").count() == 2
    assert "2026-11-10 受理" in page.inner_text("[data-testid=narrowed]")
    assert page.locator("select[name=category]").input_value() == "b"  # the list's own filter, shown set
    assert not errors, errors
    context.close()


def test_the_month_fits_a_phone(browser, serve_app, echarts_vendor, artifacts_dir):
    base = serve_app(_seed)
    context, page, errors = _sign_in(browser, base, {"width": 390, "height": 844})
    page.goto(base + "/reports?month=2026-11")
    page.wait_for_selector("#chart-backlog canvas")
    width = page.evaluate("document.querySelector('#chart-backlog canvas').getBoundingClientRect().width")
    assert 200 < width <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
    page.screenshot(path=str(artifacts_dir / "month-phone.png"), full_page=True)
    assert not errors, errors
    context.close()


def _seed_with_month_end(url: str) -> None:
    from engine.core import config
    from engine.repository import bundle

    clock.freeze(dt.datetime(2026, 11, 30, 23, 0, tzinfo=clock.SHANGHAI))
    with db.transaction(url) as session:
        repository.deploy(session, web_bundle(), actor="setup")
        repository.deploy(session, bundle.read_paths([config.PROJECT_ROOT / "bpmn" / "monthly_statistics.bpmn"]),
                          actor="setup")
        identity.ensure_demo_users(session, PASSWORD)
        month_seed.seed_month(session)


def test_supervisor_follows_the_month_to_two_improvement_actions_and_sees_their_state_next_month(
        browser, serve_app, echarts_vendor, artifacts_dir):
    from tests.scenarios import driver as d

    base = serve_app(_seed_with_month_end)
    clock.freeze(dt.datetime(2026, 11, 30, 23, 59, tzinfo=clock.SHANGHAI))
    assert d.fire_due() == 0  # the poller arms the month-end start timer …
    assert d.advance(minutes=1, seconds=1) == 1  # 1 December 00:00: the month-end process for November
    [run] = d.instances_of("monthly_statistics")
    clock.freeze(dt.datetime(2026, 12, 1, 9, 0, tzinfo=clock.SHANGHAI))
    d.do(run.id, "compile", "assistant", common_issues="3栋2单元1201 厨房水管反复漏水")

    context, page, errors = _sign_in(browser, base, {"width": 1280, "height": 900})
    # the month, a bar, its requests
    page.goto(base + "/reports?month=2026-11")
    page.wait_for_selector("#chart-per-day-category canvas")
    chart = page.locator("#chart-per-day-category")
    chart.scroll_into_view_if_needed()
    x, y = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('chart-per-day-category'))
                              .convertToPixel({xAxisIndex: 0, yAxisIndex: 0}, ['11-10', 1])""")
    box = chart.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/requests?**")
    assert "day=2026-11-10" in page.url and page.locator("[data-testid=request-row]").count() == 2
    # the month-end task: the analysis with two improvement actions, each with an owner and a due date
    page.goto(base + "/inbox")
    page.locator("article.task", has_text="统计分析与总结").get_by_role("link", name="办理").click()
    page.wait_for_selector("form button[value=submit]")
    page.fill("#field-analysis", "报修集中在3栋2单元，同一单元30天内三次漏水")
    page.fill("#field-action_1-what", "3栋水管全面检修")
    page.select_option("#field-action_1-owner", "eng_head")
    page.fill("#field-action_1-due", "2026-12-05")
    page.fill("#field-action_2-what", "夜间热线增加一名接听人员")
    page.select_option("#field-action_2-owner", "cs_supervisor")
    page.fill("#field-action_2-due", "2026-12-10")
    page.fill("#field-performance_notes", "满意度按规则计入绩效")
    page.screenshot(path=str(artifacts_dir / "month-end-actions.png"), full_page=True)
    page.click("button[value=submit]")
    page.wait_for_load_state()
    assert "已提交「统计分析与总结，记录改进措施」" in page.inner_text("main")
    # each action is now its owner's task: the 工程部主管 finishes his in time, the other runs late
    assert d.inbox_elements("eng_head", run.id) == ["act"]
    clock.freeze(dt.datetime(2026, 12, 4, 16, 0, tzinfo=clock.SHANGHAI))
    d.do(run.id, "act", "eng_head", result="已检修3栋全部立管", effect="3栋报修减少")
    clock.freeze(dt.datetime(2026, 12, 11, 9, 0, tzinfo=clock.SHANGHAI))
    assert d.fire_due() == 1  # the second action's deadline, the end of 10 December
    page.goto(base + "/reports?month=2026-12")
    table = page.locator("[data-testid=improvements]")
    table.scroll_into_view_if_needed()
    assert table.locator("[data-testid=action-2026-11-1] [data-testid=action-state]").inner_text() == "已完成"
    assert table.locator("[data-testid=action-2026-11-2] [data-testid=action-state]").inner_text() == "已逾期"
    assert "3栋水管全面检修" in table.inner_text() and "效果：3栋报修减少" in table.inner_text()
    page.screenshot(path=str(artifacts_dir / "next-month-actions.png"), full_page=True)
    assert not errors, errors
    context.close()
