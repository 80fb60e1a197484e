"""The scenario runner and its commands: a failing step is named with what was found instead, a malformed
file is refused before anything runs, ``liyuan simulate`` runs on a throwaway database against ``bpmn/`` or
``LIYUAN_BPMN_DIR``, and ``liyuan clauses --tests`` reads the clauses proven from each run's audit log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.core import config, db
from engine.helpdesk import clauses, scenarios
from webapp.cli import main

SCENARIOS = config.bpmn_dir() / "scenarios"

ONLINE_ACK_LATE = """
name: 线上求助16分钟未确认
start: {channel: online, category: g}
steps:
  - {advance: PT16M}
  - {expect: {inbox: {cs_supervisor: [esc_ack]}, clocks: {ack_online: breached}}}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_failing_step_is_named_with_what_was_found_instead(procedure, tmp_path):
    path = write(tmp_path, "wrong.yaml", """
start: {channel: hotline}
steps:
  - {do: record_hotline, as: assistant}
  - {expect: {ready: [assess], clocks: {solution_complex: armed}}}
  - {do: handover, as: assistant}
  - {do: assess, as: assistant}
""")
    outcome = scenarios.run(scenarios.load(path), procedure)
    assert not outcome.ok and outcome.failed_step.number == 2
    assert outcome.message == "时限 solution_complex 应为 armed，实为 未启动"
    assert outcome.describe().startswith("wrong.yaml：第2步（expect ready、clocks）")

    path.write_text(path.read_text(encoding="utf-8").replace("clocks: {solution_complex: armed}", "clocks: {solution_complex: null}"),
                    encoding="utf-8")
    outcome = scenarios.run(scenarios.load(path), procedure)
    assert outcome.failed_step.number == 3
    assert outcome.message.startswith("任务 handover 不在 assistant 的待办中；其待办：['assess']")


def test_a_form_refused_is_a_failed_step_not_a_crash(procedure, tmp_path):
    path = write(tmp_path, "refused.yaml", """
start: {channel: hotline}
steps:
  - {do: record_hotline, as: assistant}
  - {do: assess, as: assistant, data: {category: z}}
""")
    outcome = scenarios.run(scenarios.load(path), procedure)
    assert not outcome.ok and outcome.failed_step.number == 2
    assert outcome.message.startswith("表单被拒绝：") and "category" in outcome.message


def test_a_task_is_only_completed_from_the_users_own_inbox(procedure, tmp_path):
    path = write(tmp_path, "not_mine.yaml", "start: {channel: hotline}\nsteps:\n  - {do: record_hotline, as: engineer}\n")
    outcome = scenarios.run(scenarios.load(path), procedure)
    assert not outcome.ok and "不在 engineer 的待办中" in outcome.message


@pytest.mark.parametrize("text, message", [
    ("start: {channel: fax}\nsteps: [{advance: PT1H}]", "start 须有 channel"),
    ("start: {channel: online}\nsteps: [{advance: soon}]", "不是 ISO 8601 时长"),
    ("start: {channel: online}\nsteps: [{expect: {colour: red}}]", "expect 的键只能是"),
    ("start: {channel: online}\nsteps: [{do: ack_online}]", "do 需要 as"),
    ("start: {channel: online}\nsteps: [{do: x, as: y, advance: PT1H}]", "应有且只有 do、advance、expect 之一"),
    ("start: {channel: online}\nsteps: []", "没有步骤"),
    ("start: {channel: online}\nsteps: [{expect: {inbox: {assistant: ack_online}}}]", "expect.inbox 应为"),
    ("start: {channel: online}\nsteps: [{expect: {data: done}}]", "expect.data 应为"),
    ("start: {channel: online}\nsteps: [{advance: PT1H}]\nwhen: today", "未知的键：when"),
])
def test_a_malformed_file_is_refused_with_its_place(tmp_path, text, message):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(scenarios.ScenarioError) as exc:
        scenarios.load(path)
    assert message in str(exc.value) and str(path) in str(exc.value)


def test_the_audit_log_records_gateways_and_call_activities_the_run_passed(procedure):
    outcome = scenarios.run(scenarios.load(SCENARIOS / "g_help_online_direct.yaml"), procedure)
    assert outcome.ok
    assert {("help_request", "gw_category"), ("help_request", "call_g"), ("general_help", "gw_eval"),
            ("help_request", "start"), ("help_request", "end")} <= outcome.passed
    assert ("help_request", "call_b") not in outcome.passed
    matrix = clauses.build(config.bpmn_dir())
    proven = scenarios.proven_clauses(matrix, [outcome])
    assert proven["4.8"] == ["g_help_online_direct.yaml"] and proven["4.5"] == []


def test_simulate_runs_on_a_throwaway_database_and_exits_1_naming_the_failure(tmp_path, monkeypatch, capsys):
    real = tmp_path / "real.db"
    monkeypatch.setenv("LIYUAN_DATABASE_URL", f"sqlite:///{real}")
    good = write(tmp_path, "good.yaml", ONLINE_ACK_LATE)
    bad = write(tmp_path, "bad.yaml", ONLINE_ACK_LATE.replace("PT16M", "PT14M"))
    assert main(["simulate", str(good)]) == 0
    assert "通过  good.yaml" in capsys.readouterr().out
    assert main(["simulate", str(good), str(bad)]) == 1
    out = capsys.readouterr()
    assert "失败  bad.yaml：第2步（expect inbox、clocks）：cs_supervisor 的待办应为 ['esc_ack']，实为 []" in out.out
    assert "1 个场景通过，1 个失败" in out.err
    assert not real.exists()  # the real database was never opened

    # --json: what the studio's 试运行 reads from its child process
    assert main(["simulate", "--json", str(good), str(bad)]) == 1
    results = json.loads(capsys.readouterr().out)
    assert [(r["file"], r["ok"]) for r in results] == [("good.yaml", True), ("bad.yaml", False)]
    assert results[1]["step"] == "expect inbox、clocks" and "cs_supervisor 的待办应为" in results[1]["message"]
    # ... and where each step went, for the studio to number on the diagram: the start's path, the timer that
    # fired and the escalation it reached; the failed step names the element it expected
    good_steps, bad_steps = results[0]["steps"], results[1]["steps"]
    assert [(s["number"], s["kind"], s["ok"]) for s in good_steps] == [(0, "start", True), (1, "advance", True),
                                                                       (2, "expect", True)]
    elements = [[(e["process_id"], e["element_id"]) for e in s["elements"]] for s in good_steps]
    assert elements[0][0] == ("help_request", "start") and ("help_request", "ack_online") in elements[0]
    assert elements[1] == [("help_request", "b_ack"), ("help_request", "esc_ack")] and elements[2] == []
    assert results[0]["failed_number"] is None and results[1]["failed_number"] == 2
    assert bad_steps[1] == {"number": 1, "kind": "advance", "ok": True, "elements": []}
    assert bad_steps[2] == {"number": 2, "kind": "expect", "ok": False,
                            "elements": [{"process_id": None, "element_id": "esc_ack"}]}


def test_simulate_tries_an_edited_copy_of_the_diagrams_from_LIYUAN_BPMN_DIR(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "bpmn"
    shutil.copytree(config.bpmn_dir(), copy)
    diagram = copy / "help_request.bpmn"
    diagram.write_text(diagram.read_text(encoding="utf-8").replace(
        '<bpmn:timerEventDefinition id="TimerDef_b_ack"><bpmn:timeDuration>"PT15M"',
        '<bpmn:timerEventDefinition id="TimerDef_b_ack"><bpmn:timeDuration>"PT20M"'), encoding="utf-8")
    monkeypatch.setenv("LIYUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'real.db'}")
    monkeypatch.setenv("LIYUAN_BPMN_DIR", str(copy))
    scenario = write(tmp_path, "ack.yaml", ONLINE_ACK_LATE)
    assert main(["simulate", str(scenario)]) == 1
    assert "时限 ack_online 应为 breached，实为 armed" in capsys.readouterr().out


def test_simulate_refuses_a_malformed_file_before_running_anything(tmp_path, capsys):
    bad = write(tmp_path, "bad.yaml", "steps: []")
    assert main(["simulate", str(bad)]) == 1
    assert "start 须有 channel" in capsys.readouterr().err


def test_clauses_tests_lists_per_clause_the_scenarios_that_passed_through_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIYUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'real.db'}")
    # One scenario proves some clauses only: the command names the empty ones and exits 1.
    assert main(["clauses", "--tests", str(SCENARIOS / "e_theft_hotline.yaml")]) == 1
    out = capsys.readouterr()
    lines = {line.split()[0]: line for line in out.out.splitlines() if line.strip()}
    assert lines["4.6"].endswith("e_theft_hotline.yaml") and lines["4.5"].endswith("— 无场景证明")
    # The procedure's own scenarios prove every clause.
    assert main(["clauses", "--tests"]) == 0
    out = capsys.readouterr().out
    total = len(clauses.build(config.bpmn_dir()).clauses)
    assert f"{total}/{total} 条款由通过的场景证明" in out and "无场景证明" not in out
    db.dispose_all()
