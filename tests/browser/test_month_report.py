"""The 客服部主管 opens a month, sees its charts (ECharts, drawn under the CSP), clicks a bar and lands on
the requests behind it; on a phone the page keeps to the screen's width. The month is ``month_seed``'s,
whose figures ``tests/web/test_month_report.py`` works out by hand."""

from __future__ import annotations

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
