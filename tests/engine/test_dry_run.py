"""The deploy-time dry run (issue 14, item 3): nothing that passes `liyuan validate` fails at its first step.

Each broken diagram here passed `liyuan validate` before the dry run existed and then failed when the first
instance started. The checks must name the file, the line and the element, in Chinese, and the deploy
path must refuse the same diagrams.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import FIXTURES
from webapp.cli import main

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="Definitions_dry" targetNamespace="http://bpmn.io/schema/bpmn">
"""


def _process(pid: str, body: str, *, lane_nodes: str = "") -> str:
    return HEAD + f"""  <bpmn:process id="{pid}" name="试运行测试" isExecutable="true">
{body}
  </bpmn:process>
</bpmn:definitions>
"""


TASK = """    <bpmn:userTask id="{id}" name="处理">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="mini_note.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>{inc}</bpmn:incoming><bpmn:outgoing>{out}</bpmn:outgoing>
    </bpmn:userTask>"""


def _gateway_first(condition: str) -> str:
    """start -> gateway (condition on one flow, default on the other) -> a user task each."""
    return _process("dry_gw", f"""    <bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="gw" name="紧急?" default="f_normal">
      <bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f_urgent</bpmn:outgoing><bpmn:outgoing>f_normal</bpmn:outgoing>
    </bpmn:exclusiveGateway>
{TASK.format(id="t_urgent", inc="f_urgent", out="f1")}
{TASK.format(id="t_normal", inc="f_normal", out="f2")}
    <bpmn:endEvent id="e1"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="gw"/>
    <bpmn:sequenceFlow id="f_urgent" sourceRef="gw" targetRef="t_urgent">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_normal" sourceRef="gw" targetRef="t_normal"/>
    <bpmn:sequenceFlow id="f1" sourceRef="t_urgent" targetRef="e1"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t_normal" targetRef="e2"/>""")


START_END = _process("dry_ids", f"""    <bpmn:startEvent id="Start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
{TASK.format(id="work", inc="f0", out="f1")}
    <bpmn:endEvent id="End"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="Start" targetRef="work"/>
    <bpmn:sequenceFlow id="f1" sourceRef="work" targetRef="End"/>""")

SCRIPT_FIRST = _process("dry_script", f"""    <bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute" name="计算"><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:script>minutes = len(description) // missing_count</bpmn:script></bpmn:scriptTask>
{TASK.format(id="work", inc="f1", out="f2")}
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="compute"/>
    <bpmn:sequenceFlow id="f1" sourceRef="compute" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="e"/>""")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "bpmn").mkdir()
    shutil.copytree(FIXTURES / "forms", tmp_path / "forms")
    monkeypatch.setenv("LIYUAN_FORMS_DIR", str(tmp_path / "forms"))
    monkeypatch.setenv("LIYUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    return tmp_path


def _write(workdir, name: str, text: str):
    path = workdir / "bpmn" / name
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _validate(capsys, workdir) -> tuple[int, list[str]]:
    code = main(["validate", str(workdir / "bpmn")])
    return code, [line for line in capsys.readouterr().out.splitlines() if line]


def test_start_and_end_ids_are_refused_naming_the_elements(workdir, capsys):
    path = _write(workdir, "dry_ids.bpmn", START_END)
    code, lines = _validate(capsys, workdir)
    assert code == 1
    for element in ("Start", "End"):
        prefix = f"{path}:{_line_of(START_END, f'id={chr(34)}{element}{chr(34)}')}: {element}: "
        assert any(line.startswith(prefix) and "保留名" in line for line in lines), (prefix, lines)


def test_condition_over_a_field_nobody_set_is_pinned_on_its_flow(workdir, capsys):
    text = _gateway_first("priority == 'P1'")
    path = _write(workdir, "dry_gw.bpmn", text)
    code, lines = _validate(capsys, workdir)
    assert code == 1, lines
    prefix = f"{path}:{_line_of(text, 'id=' + chr(34) + 'f_urgent')}: f_urgent: "
    assert any(line.startswith(prefix) and "无法求值" in line and "priority" in line for line in lines), lines
    assert not any(": gw: " in line for line in lines), lines


def test_condition_over_the_start_forms_fields_passes(workdir, capsys):
    """The dry run starts with the start form's sample data (the hotline call): its fields are known."""
    _write(workdir, "dry_gw.bpmn", _gateway_first("channel == 'hotline' and len(description) > 1"))
    code, lines = _validate(capsys, workdir)
    assert code == 0, lines


def test_script_failing_at_the_first_step_is_named(workdir, capsys):
    path = _write(workdir, "dry_script.bpmn", SCRIPT_FIRST)
    code, lines = _validate(capsys, workdir)
    assert code == 1
    prefix = f"{path}:{_line_of(SCRIPT_FIRST, 'id=' + chr(34) + 'compute')}: compute: "
    assert any(line.startswith(prefix) and "试运行" in line and "missing_count" in line for line in lines), lines


def test_called_process_runs_with_the_data_its_caller_passes(workdir, capsys):
    """A called process whose first gateway reads a field its caller never sets fails in the dry run."""
    caller = _process("dry_caller", f"""    <bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
{TASK.format(id="first", inc="f0", out="f1")}
    <bpmn:callActivity id="call" name="调用" calledElement="dry_gw"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="first"/>
    <bpmn:sequenceFlow id="f1" sourceRef="first" targetRef="call"/>
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="e"/>""")
    _write(workdir, "dry_caller.bpmn", caller)
    called = _gateway_first("note == 'x'")  # `note`: the caller's form field (mini_note) -> known
    _write(workdir, "dry_gw.bpmn", called)
    code, lines = _validate(capsys, workdir)
    assert code == 0, lines
    _write(workdir, "dry_gw.bpmn", _gateway_first("never_set > 1"))
    code, lines = _validate(capsys, workdir)
    assert code == 1 and any(": f_urgent: " in line and "never_set" in line for line in lines), lines


def test_deploy_refuses_what_the_dry_run_refuses(db_url, workdir, capsys, monkeypatch):
    monkeypatch.setenv("LIYUAN_DATABASE_URL", db_url)
    _write(workdir, "dry_gw.bpmn", _gateway_first("priority == 'P1'"))
    assert main(["deploy", str(workdir / "bpmn")]) == 1
    captured = capsys.readouterr()
    assert "f_urgent" in captured.out + captured.err and "nothing deployed" in captured.err
    from engine import repository
    from engine.core import db

    with db.read_session() as session:
        assert repository.version_count(session) == 0


def test_the_procedures_diagrams_pass_the_dry_run(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LIYUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    from engine.core import config

    code = main(["validate", str(config.bpmn_dir())])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("ok: "), out


def test_a_start_events_form_gives_the_dry_run_its_data(workdir, capsys):
    """A process started with a form (the 督办 form: ``note``) may read that field at once."""
    text = _gateway_first("len(note) > 0").replace(
        '<bpmn:startEvent id="s">',
        '<bpmn:startEvent id="s"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formJsonSchemaFilename" value="mini_note.schema.json"/>'
        '</spiffworkflow:properties></bpmn:extensionElements>')
    _write(workdir, "dry_gw.bpmn", text)
    code, lines = _validate(capsys, workdir)
    assert code == 0, lines
    _write(workdir, "dry_gw.bpmn", text.replace('value="mini_note.schema.json"', 'value="gone.schema.json"'))
    code, lines = _validate(capsys, workdir)
    assert code == 1 and any(": s: " in line and "不存在" in line for line in lines), lines
