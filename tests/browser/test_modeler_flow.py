"""A process owner changes a timer in the browser: opens help_request in the bpmn-js modeler, sets the
response timer to PT45M in the side panel, validates, publishes, and sees the new version. Also: a broken
timer is listed as a problem, and clicking it selects the element. Screenshots go to
test-artifacts/test_modeler_flow/.

The real procedure (bpmn/ + forms/) is deployed, on a fresh SQLite file, and the app runs in a thread on a
free port with CSRF on (the editor's fetch sends the token in X-CSRFToken).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import identity, repository
from engine.core import config, db
from engine.core.tables import ProcessVersion
from engine.repository import bundle
from tests.web.conftest import PASSWORD


def _deploy_real_procedure(url: str) -> None:
    with db.transaction(url) as session:
        repository.deploy(session, bundle.read_paths([config.PROJECT_ROOT / "bpmn"]), actor="setup")
        identity.ensure_demo_users(session, PASSWORD)


@pytest.fixture
def server(serve_app, bpmn_js_vendor) -> str:
    return serve_app(_deploy_real_procedure, HELP_REQUEST_PROCESS="help_request")


def _sign_in(page, base: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", "process_owner")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url


def _result(page) -> str:
    page.wait_for_selector("#result[data-state]")
    text = page.inner_text("#result")
    page.evaluate("delete document.getElementById('result').dataset.state")
    return text


def test_process_owner_changes_the_response_timer_and_publishes_a_new_version(page, server, artifacts_dir):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _sign_in(page, server)
    page.goto(server + "/modeler")
    assert page.locator("[data-testid=version-help_request-1]").count() == 1
    page.screenshot(path=str(artifacts_dir / "01-processes.png"), full_page=True)

    page.click("[data-testid=edit-help_request]")
    page.wait_for_selector("#modeler[data-ready=true]")
    page.click("#timers li[data-element-id=b_resp]")
    assert page.inner_text("#panel-id") == "b_resp"
    assert page.input_value("#panel-timer-value") == "PT30M"
    assert page.locator(".djs-element.selected[data-element-id=b_resp]").count() == 1

    page.fill("#panel-timer-value", "45分钟")  # not a duration: refused in Chinese, nothing changed
    page.click("#panel-timer-apply")
    assert "ISO 8601" in page.inner_text("#panel-timer-error")
    page.fill("#panel-timer-value", "PT45M")
    page.click("#panel-timer-apply")
    assert page.inner_text("#panel-timer-help") == '当前表达式："PT45M"'
    page.screenshot(path=str(artifacts_dir / "02-timer-changed.png"))

    page.click("#btn-validate")
    assert _result(page) == "校验通过，可以发布"
    page.click("#btn-deploy")  # no change note yet: refused in Chinese, nothing published
    assert _result(page).startswith("请填写变更说明")
    page.fill("[data-testid=deploy-note]", "响应时限改为45分钟")
    page.click("#btn-deploy")
    assert _result(page) == "已发布 help_request 第2版"
    assert page.inner_text("[data-testid=version-label]") == "已发布为第2版"
    page.screenshot(path=str(artifacts_dir / "03-published.png"))

    page.click("#btn-deploy")  # publishing the same bytes again makes no version
    assert _result(page) == "内容未变化，未产生新版本（仍为第2版）"

    page.goto(server + "/modeler")
    assert page.locator("[data-testid=version-help_request-2]").count() == 1
    page.screenshot(path=str(artifacts_dir / "04-versions.png"), full_page=True)
    with db.read_session() as session:
        v2 = session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == "help_request",
                                                         ProcessVersion.version == 2))
        xml = repository.file_content(session, v2.bpmn_sha256).decode()
    deadline = xml[xml.index('id="b_resp"'):]
    deadline = deadline[:deadline.index("</bpmn:boundaryEvent>")]
    assert '"PT45M"' in deadline and 'name="sla" value="response"' in deadline  # spiffworkflow kept
    assert xml.count("spiffworkflow:property") == (config.PROJECT_ROOT / "bpmn" / "help_request.bpmn").read_text(
        encoding="utf-8").count("spiffworkflow:property")
    assert dialogs == []


def test_a_problem_in_the_list_selects_its_element(page, server, artifacts_dir):
    _sign_in(page, server)
    page.goto(server + "/modeler/help_request/edit")
    page.wait_for_selector("#modeler[data-ready=true]")
    page.click("#timers li[data-element-id=b_resp]")
    page.fill("#panel-timer-value", "add_duration(now(), 'PT1H'")  # a script expression, unbalanced
    page.click("#panel-timer-apply")
    page.click("body")  # deselect
    page.click("#btn-validate")
    assert _result(page).startswith("发现")
    item = page.locator("#problems li[data-element-id=b_resp]")
    assert item.count() == 1
    assert page.locator(".djs-element.mark-problem[data-element-id=b_resp]").count() == 1
    item.click()
    assert page.inner_text("#panel-id") == "b_resp"
    page.screenshot(path=str(artifacts_dir / "01-problem-selected.png"))
    page.fill("[data-testid=deploy-note]", "试改时限")
    page.click("#btn-deploy")
    assert "未发布" in _result(page)
    with db.read_session() as session:
        assert repository.latest_version(session, "help_request").version == 1
