"""Issue 14's Done-when, in real Chromium: the process owner opens help_request in the studio, changes a
form field's label, an SLA timer (and sees the clause warning), a condition, a lane and a script in the
properties panel, sees a problem pinned on an element, fixes it, runs the scenarios (their steps numbered
on the diagram), reads the diff,
publishes v2 with a note (and the written reason the clause warning asks for). New requests then start on
v2; a request already running stays on v1 until it is migrated on the studio's migration page (dry run
first), then continues on v2 to its end with its audit chain and replay intact (checked through the engine
in the same test). Before that, the token simulation starts and stops, and a task dropped on the canvas
unconnected draws bpmnlint's error on it and keeps publishing refused until it is removed.
Screenshots go to test-artifacts/test_studio_flow/.

The scenarios the studio runs come from a folder of two of the procedure's files (SCENARIO_DIR), so the
test takes minutes, not the whole procedure's; ``liyuan simulate`` runs all of them.
"""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from engine import repository, runtime
from engine.audit import history
from engine.core import config, db
from engine.core.tables import AuditEvent, Blob, Instance
from engine.helpdesk.scenarios import runner
from tests.browser.panel import show_in_panel
from tests.browser.test_modeler_flow import _deploy_real_procedure, _sign_in

SCENARIOS = ("g_help_online_direct.yaml", "d_consultation_oral_relayed.yaml")
RUNNING = config.bpmn_dir() / "scenarios" / "g_help_online_direct.yaml"


@pytest.fixture
def studio(serve_app, bpmn_js_vendor, tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in SCENARIOS:
        shutil.copy(config.bpmn_dir() / "scenarios" / name, folder / name)
    started = {}

    def seed(url: str) -> None:
        _deploy_real_procedure(url)
        started["v1"] = runner._start(runner.load(RUNNING).start, url)  # an online request waiting on v1
        started["url"] = url

    base = serve_app(seed, HELP_REQUEST_PROCESS="help_request", SCENARIO_DIR=str(folder))
    return base, started


def _select(page, element_id: str) -> None:
    show_in_panel(page, element_id)
    page.wait_for_selector(f".djs-element.selected[data-element-id={element_id}]", state="attached")


def _type(page, entry: str, value: str) -> None:
    field = page.locator(f"#bio-properties-panel-{entry}")
    if field.evaluate("el => el.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)
        field.blur()
    page.wait_for_timeout(400)  # the panel's debounce


def _result(page, timeout: float = 30_000) -> str:
    page.wait_for_selector("#result[data-state=ok], #result[data-state=bad]", timeout=timeout)
    text = page.inner_text("#result")
    page.evaluate("() => { document.getElementById('result').dataset.state = 'read'; }")
    return text


def test_process_owner_edits_tries_and_publishes_help_request_then_migrates_a_running_request(page, studio, artifacts_dir):
    base, started = studio
    _sign_in(page, base)
    page.goto(base + "/modeler/help_request/edit")
    page.wait_for_selector("#modeler[data-ready=true]")

    # 令牌模拟: the toolbar's button starts bpmn-js-token-simulation (▶ on the start event) and ends it
    token = page.locator("[data-testid=token-simulation]")
    assert token.inner_text() == "令牌模拟"
    token.click()
    assert token.get_attribute("aria-pressed") == "true" and token.inner_text() == "结束令牌模拟"
    page.wait_for_selector(".simulation .djs-overlays[data-container-id=start] .bts-context-pad", state="attached")
    page.screenshot(path=str(artifacts_dir / "00-token-simulation.png"))
    # the simulation's own buttons speak Chinese too (it writes English straight into the page)
    titles = page.eval_on_selector_all("[class*=bts-][title]", "els => els.map(e => e.getAttribute('title'))")
    assert "显示或隐藏模拟日志" in titles and "触发事件" in titles, titles
    assert not {"Toggle Simulation Log", "Trigger Event", "Reset Simulation", "Play/Pause Simulation"} & set(titles)
    token.click()
    assert token.get_attribute("aria-pressed") == "false" and page.locator(".simulation").count() == 0

    # bpmnlint: an unconnected task gets the lint error on it, and publishing is refused until it is gone
    added = page.evaluate("""() => {
        const m = window.liyuanModeler, registry = m.get('elementRegistry');
        const parent = registry.filter((e) => e.type === 'bpmn:Participant')[0] || m.get('canvas').getRootElement();
        const shape = m.get('modeling').createShape({ type: 'bpmn:Task' }, { x: parent.x + 300, y: parent.y + 60 }, parent);
        return shape.id;
    }""")
    page.wait_for_selector(f".djs-overlays[data-container-id={added}] .bjsl-overlay")
    page.fill("[data-testid=deploy-note]", "试试")
    page.click("[data-testid=publish]")
    assert _result(page).startswith("建模规则检查发现")
    lint = page.locator(f"#problems li.problem-error[data-element-id={added}]")
    assert lint.count() >= 1 and "元素未连线" in " ".join(lint.all_inner_texts())
    assert page.locator("[data-testid=confirm-box]").is_hidden()
    page.screenshot(path=str(artifacts_dir / "00-lint-refused.png"))
    page.evaluate("id => { const m = window.liyuanModeler; m.get('modeling').removeElements([m.get('elementRegistry').get(id)]); }",
                  added)
    page.wait_for_selector(f".djs-overlays[data-container-id={added}]", state="detached")
    page.fill("[data-testid=deploy-note]", "")

    # a form field's label (the 初步评估 form's 求助类型)
    _select(page, "assess")
    assert page.input_value("#bio-properties-panel-liyuan-form") == "help_assess.schema.json"
    assert page.input_value("#bio-properties-panel-liyuan-field-category") == "求助类型"
    _type(page, "liyuan-field-category", "求助类别")

    # an SLA timer: 10 → 15 minutes on an element carrying clause 4.1.2.a (10 minutes): warned in the panel
    _select(page, "b_take")
    assert page.input_value("#bio-properties-panel-liyuan-timer-value") == "PT10M"
    assert page.input_value("#bio-properties-panel-liyuan-sla") == "take_over"
    _type(page, "liyuan-timer-value", "PT15M")
    assert "超过规程时限：条款 4.1.2.a 规定不超过10分钟" in page.inner_text("[data-entry-id=liyuan-timer-value]")

    # a condition, first mistyped: the engine's validator pins the problem on the sequence flow
    _select(page, "Flow_gw_channel_ack_online")
    assert page.input_value("#bio-properties-panel-liyuan-condition-expression") == "channel == 'online'"
    _type(page, "liyuan-condition-expression", "channel = 'online'")

    # a lane: 公司领导督办 moves to the 公司经理 lane
    _select(page, "esc_plan_leader")
    assert page.input_value("#bio-properties-panel-liyuan-task-lane") == "Lane_4"
    _type(page, "liyuan-task-lane", "Lane_3")

    # a script
    _select(page, "note_receipt")
    script = page.input_value("#bio-properties-panel-liyuan-script-body")
    assert script.startswith("received_at = now()")
    _type(page, "liyuan-script-body", script + "\nstudio_checked = True")
    page.screenshot(path=str(artifacts_dir / "01-edited.png"))

    page.click("[data-testid=check]")
    assert _result(page, 120_000).startswith("发现 1 个问题")
    problem = page.locator("#problems li.problem-error[data-element-id=Flow_gw_channel_ack_online]")
    assert problem.count() == 1
    assert page.locator(".djs-element.mark-problem[data-element-id=Flow_gw_channel_ack_online]").count() == 1
    assert page.locator(".studio-badge--error[data-element-id=Flow_gw_channel_ack_online]").count() == 1
    assert page.locator("#problems li.problem-warning[data-element-id=b_take]").count() == 1
    page.screenshot(path=str(artifacts_dir / "02-problem-pinned.png"))

    problem.click()  # selects the flow; fix the condition in the panel
    assert page.input_value("#bio-properties-panel-liyuan-condition-expression") == "channel = 'online'"
    _type(page, "liyuan-condition-expression", "channel in ('online', 'app')")
    page.click("[data-testid=check]")
    assert _result(page, 120_000) == "校验通过，但有 1 处偏离工作规程：发布时须写明理由"
    assert page.locator("#problems li.problem-error").count() == 0

    page.click("[data-testid=run-scenarios]")
    assert _result(page, 600_000) == "试运行 2 个场景：2 个通过，0 个失败"
    assert sorted(page.locator("#scenarios li[data-ok=true]").evaluate_all("els => els.map(e => e.dataset.file)")) == \
        sorted(SCENARIOS)
    # the path of a run is numbered on the diagram: the request coming in (起点) at the start event
    page.wait_for_selector(".djs-element.mark-step[data-element-id=start]", state="attached")
    assert page.inner_text(".studio-badge--step[data-element-id=start]").startswith("起点")
    page.click("#scenarios li[data-file='g_help_online_direct.yaml']")  # that run's steps, online channel
    page.wait_for_selector(".djs-element.mark-step[data-element-id=ack_online]", state="attached")
    assert page.locator(".studio-badge--step-failed").count() == 0
    page.screenshot(path=str(artifacts_dir / "03-scenarios.png"))

    page.click("[data-testid=publish]")  # no note yet
    assert _result(page).startswith("请填写变更说明")
    page.fill("[data-testid=deploy-note]", "部门接单时限放宽为15分钟；线上渠道条件；公司领导督办改由公司经理")
    page.click("[data-testid=publish]")
    assert _result(page).startswith("请核对差异")
    diff = page.inner_text("[data-testid=diff]")
    for expected in ("修改 b_take", '"PT10M" → timeDuration "PT15M"', "Flow_gw_channel_ack_online",
                     "修改 esc_plan_leader", "泳道：公司领导 → 公司经理", "note_receipt",
                     "表单字段 help_assess.schema.json · category", "求助类型 → 求助类别"):
        assert expected in diff, expected
    assert page.locator(".djs-element.mark-diff-changed[data-element-id=b_take]").count() == 1
    page.screenshot(path=str(artifacts_dir / "04-diff.png"))

    page.click("[data-testid=confirm-publish]")  # the clause warning needs a written reason
    assert _result(page, 600_000).startswith("此修改有 1 处偏离工作规程")
    page.fill("[data-testid=deviation-reason]", "部门人手调整，经公司经理同意试行15分钟")
    page.click("[data-testid=confirm-publish]")
    assert _result(page, 600_000) == "已发布 help_request 第2版"
    assert page.inner_text("[data-testid=version-label]") == "已发布为第2版"
    page.screenshot(path=str(artifacts_dir / "05-published.png"))

    url = started["url"]
    with db.read_session(url) as session:
        v2 = repository.get_version(session, "help_request", 2)
        xml = repository.file_content(session, v2.bpmn_sha256).decode()
        form = json.loads(session.get(Blob, v2.forms["help_assess.schema.json"]).content)
        from engine.core.tables import Deployment

        note = session.get(Deployment, v2.deployment_id).note
    assert '"PT15M"' in xml and "channel in ('online', 'app')" in xml and "studio_checked = True" in xml
    assert form["properties"]["category"]["title"] == "求助类别"
    assert "偏离工作规程的理由：部门人手调整" in note

    # new requests use v2; the running one stays on v1
    newer = runner._start(runner.load(RUNNING).start, url)
    with db.read_session(url) as session:
        assert repository.session_version(session, session.get(Instance, newer)) == 2
        assert repository.session_version(session, session.get(Instance, started["v1"])) == 1

    # migrate it in the studio: preview, dry run, then migrate
    page.goto(base + "/modeler/help_request/migrate")
    row = page.locator(f"[data-testid=plan-{started['v1']}]")
    assert "可以迁移" in row.inner_text() and "ack_online" in row.inner_text()
    page.click("[data-testid=dry-run]")
    assert "可以迁移（试迁移，未修改）" in page.inner_text("[data-testid=migrate-results]")
    with db.read_session(url) as session:
        assert repository.session_version(session, session.get(Instance, started["v1"])) == 1
    page.screenshot(path=str(artifacts_dir / "06-migrate-preview.png"), full_page=True)
    page.click("[data-testid=migrate]")
    # the batch runs beside the page, which shows its progress until it has finished
    page.wait_for_selector("[data-testid=job-finished]", timeout=30000)
    assert page.inner_text("[data-testid=job-progress]") == "1 / 1"
    assert "已迁移到第2版" in page.inner_text(f"[data-testid=job-row-{started['v1']}]")
    page.screenshot(path=str(artifacts_dir / "07-migrate-job.png"), full_page=True)
    page.goto(base + "/modeler/help_request/migrate")
    assert page.locator("[data-testid=nothing-to-migrate]").count() == 1

    # it continues on v2 to its end; the audit chain and the replay hold across the migration
    iid = started["v1"]
    for step in runner.load(RUNNING).steps:
        runner._STEPS[step.kind](iid, step.spec, url)
    with db.read_session(url) as session:
        inst = session.get(Instance, iid)
        assert inst.status == "completed" and repository.session_version(session, inst) == 2
        kinds = [e.kind for e in session.scalars(select(AuditEvent).where(AuditEvent.chain == iid).order_by(AuditEvent.seq))]
        assert "migrated" in kinds
        replayed = runtime.replay.replay(session, iid)
        assert replayed.ok, (replayed.error, replayed.first_mismatch)
        checked, breaks = history.verify(session)
        assert checked > 0 and breaks == []
