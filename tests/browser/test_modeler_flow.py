"""A process owner changes a timer in the browser: opens help_request in the studio, sets the response
timer to PT25M in the properties panel, checks, reads the diff, publishes, and sees the new version. Also:
a broken timer is listed as a problem pinned on its element, and clicking it selects the element.
Screenshots go to test-artifacts/test_modeler_flow/. (The full studio flow: test_studio_flow.py.)

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
from tests.browser.panel import show_in_panel
from tests.web.conftest import PASSWORD


def _deploy_real_procedure(url: str) -> None:
    with db.transaction(url) as session:
        repository.deploy(session, bundle.read_paths([config.PROJECT_ROOT / "bpmn"]), actor="setup")
        identity.ensure_demo_users(session, PASSWORD)


@pytest.fixture
def server(serve_app, bpmn_js_vendor, tmp_path) -> str:
    # No scenario files: publishing here is about the editor; test_studio_flow.py runs scenarios.
    (tmp_path / "no-scenarios").mkdir()
    return serve_app(_deploy_real_procedure, HELP_REQUEST_PROCESS="help_request",
                     SCENARIO_DIR=str(tmp_path / "no-scenarios"))


def _sign_in(page, base: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", "process_owner")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url


def _result(page) -> str:
    page.wait_for_selector("#result[data-state=ok], #result[data-state=bad]", timeout=120_000)
    text = page.inner_text("#result")
    page.evaluate("() => { document.getElementById('result').dataset.state = 'read'; }")
    return text


def _select(page, element_id: str) -> None:
    show_in_panel(page, element_id)


def _timer(page, value: str) -> None:
    page.fill("#bio-properties-panel-liyuan-timer-value", value)
    page.locator("#bio-properties-panel-liyuan-timer-value").blur()
    page.wait_for_timeout(400)  # the panel's debounce


def test_process_owner_changes_the_response_timer_and_publishes_a_new_version(page, server, artifacts_dir):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _sign_in(page, server)
    page.goto(server + "/modeler")
    assert page.locator("[data-testid=version-help_request-1]").count() == 1
    page.screenshot(path=str(artifacts_dir / "01-processes.png"), full_page=True)

    page.click("[data-testid=edit-help_request]")
    page.wait_for_selector("#modeler[data-ready=true]")
    _select(page, "b_resp")
    assert page.input_value("#bio-properties-panel-liyuan-timer-value") == "PT30M"
    assert page.locator(".djs-element.selected[data-element-id=b_resp]").count() == 1
    assert page.inner_text(".bio-properties-panel-header-type").strip() == "定时器边界事件"  # labels in Chinese

    _timer(page, "45分钟")  # not a duration: refused in Chinese, nothing changed
    assert "ISO 8601" in page.inner_text("[data-entry-id=liyuan-timer-value]")
    assert page.evaluate("() => window.liyuanModeler.get('elementRegistry').get('b_resp')"
                         ".businessObject.eventDefinitions[0].timeDuration.body") == '"PT30M"'
    _timer(page, "PT25M")
    assert page.evaluate("() => window.liyuanModeler.get('elementRegistry').get('b_resp')"
                         ".businessObject.eventDefinitions[0].timeDuration.body") == '"PT25M"'
    page.screenshot(path=str(artifacts_dir / "02-timer-changed.png"))

    page.click("[data-testid=check]")
    assert _result(page) == "校验通过，可以发布"
    page.click("[data-testid=publish]")  # no change note yet: refused in Chinese, nothing published
    assert _result(page).startswith("请填写变更说明")
    page.fill("[data-testid=deploy-note]", "响应时限改为25分钟")
    page.click("[data-testid=publish]")
    assert _result(page).startswith("请核对差异")
    assert '"PT30M" → timeDuration "PT25M"' in page.inner_text("[data-testid=diff]")
    page.click("[data-testid=confirm-publish]")
    assert _result(page) == "已发布 help_request 第2版"
    assert page.inner_text("[data-testid=version-label]") == "已发布为第2版"
    page.screenshot(path=str(artifacts_dir / "03-published.png"))

    page.goto(server + "/modeler")
    assert page.locator("[data-testid=version-help_request-2]").count() == 1
    page.screenshot(path=str(artifacts_dir / "04-versions.png"), full_page=True)
    with db.read_session() as session:
        v2 = session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == "help_request",
                                                         ProcessVersion.version == 2))
        xml = repository.file_content(session, v2.bpmn_sha256).decode()
    deadline = xml[xml.index('id="b_resp"'):]
    deadline = deadline[:deadline.index("</bpmn:boundaryEvent>")]
    assert '"PT25M"' in deadline and 'name="sla" value="response"' in deadline  # spiffworkflow kept
    assert xml.count("spiffworkflow:property") == (config.PROJECT_ROOT / "bpmn" / "help_request.bpmn").read_text(
        encoding="utf-8").count("spiffworkflow:property")
    assert dialogs == []


def test_a_problem_in_the_list_selects_its_element(page, server, artifacts_dir):
    _sign_in(page, server)
    page.goto(server + "/modeler/help_request/edit")
    page.wait_for_selector("#modeler[data-ready=true]")
    _select(page, "b_resp")
    _timer(page, "add_duration(now(), 'PT1H'")  # a script expression, unbalanced
    _select(page, "assess")
    page.click("[data-testid=check]")
    assert _result(page).startswith("发现")
    item = page.locator("#problems li[data-element-id=b_resp]")
    assert item.count() == 1
    assert page.locator(".djs-element.mark-problem[data-element-id=b_resp]").count() == 1
    item.click()
    assert page.input_value("#bio-properties-panel-liyuan-timer-value") == "add_duration(now(), 'PT1H'"
    page.screenshot(path=str(artifacts_dir / "01-problem-selected.png"))
    page.fill("[data-testid=deploy-note]", "试改时限")
    page.click("[data-testid=publish]")
    assert _result(page).startswith("请核对差异")
    page.click("[data-testid=confirm-publish]")
    assert "未发布" in _result(page)
    with db.read_session() as session:
        assert repository.latest_version(session, "help_request").version == 1


def test_the_form_editor_previews_with_the_staff_macros_and_shows_schema_errors_as_typed(page, server, artifacts_dir):
    _sign_in(page, server)
    page.goto(server + "/modeler/help_request/edit")
    page.wait_for_selector("#modeler[data-ready=true]")
    _select(page, "assess")
    page.wait_for_selector("#form-editor[data-state=ok]")
    assert "help_assess.schema.json" in page.inner_text("#form-name")
    assert "help_request" in page.inner_text("[data-testid=form-used-by]")
    assert "求助类型" in page.inner_text("[data-testid=form-preview]")
    text = page.input_value("[data-testid=form-schema]")

    page.fill("[data-testid=form-schema]", text[:-3])  # cut off: shown as typed, nothing taken
    page.wait_for_selector("#form-editor[data-state=invalid]")
    assert "不是有效的 JSON" in page.inner_text("[data-testid=form-errors]")
    page.fill("[data-testid=form-schema]", text.replace('"评估说明"', '"评估意见"'))
    page.wait_for_selector("#form-editor[data-state=ok]")
    assert "评估意见" in page.inner_text("[data-testid=form-preview]")
    page.screenshot(path=str(artifacts_dir / "01-form-editor.png"), full_page=True)
    page.fill("[data-testid=deploy-note]", "评估说明改称评估意见")
    page.click("[data-testid=publish]")
    assert _result(page).startswith("请核对差异")
    assert "help_assess.schema.json · assessment_note" in page.inner_text("[data-testid=diff]")
