"""`liyuan validate` names the file, line and element of each kind of broken input (issue 2, item 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from webapp.cli import main

GOOD = (FIXTURES / "bpmn" / "mini_request.bpmn").read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the fixture")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A copy of the fixture processes and forms that a test may break."""
    shutil.copytree(FIXTURES / "bpmn", tmp_path / "bpmn")
    shutil.copytree(FIXTURES / "forms", tmp_path / "forms")
    monkeypatch.setenv("LIYUAN_FORMS_DIR", str(tmp_path / "forms"))
    monkeypatch.setenv("LIYUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    return tmp_path


def _run(capsys, *paths) -> tuple[int, list[str]]:
    code = main(["validate", *map(str, paths)])
    return code, [line for line in capsys.readouterr().out.splitlines() if line]


def _break(workdir: Path, old: str, new: str) -> tuple[Path, str]:
    path = workdir / "bpmn" / "mini_request.bpmn"
    text = GOOD.replace(old, new, 1)
    assert text != GOOD, f"fixture does not contain {old!r}"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_the_fixtures_are_valid(workdir, capsys):
    code, lines = _run(capsys, workdir / "bpmn")
    assert code == 0, lines
    assert lines[-1].startswith("ok: ") and "BPMN file(s)" in lines[-1]


CASES = {
    # name: (old text, new text, element id expected, text on the expected line, words in the message)
    "unquoted timer": ('"PT30M"', "PT30M", "record_late", "<bpmn:timeDuration>", "请加引号"),
    "invalid timer": ('"PT30M"', '"PT30X"', "record_late", "<bpmn:timeDuration>", "无效的 ISO 8601"),
    # a condition is pinned on the sequence flow that holds it, not on its gateway (issue 14)
    "condition syntax": ("category == 'b'", "category == = 'b'", "f_repair", "<bpmn:conditionExpression>", "顺序流上的条件"),
    "restricted condition": ("category == 'b'", "().__class__.__mro__[1].__subclasses__()", "f_repair",
                             "<bpmn:conditionExpression>", "__subclasses__"),
    # ids SpiffWorkflow uses for its own tasks: such a diagram used to pass, then fail at its first step
    "reserved start id": ('<bpmn:startEvent id="start">', '<bpmn:startEvent id="Start">', "Start",
                          '<bpmn:startEvent id="Start">', "保留名"),
    "duplicate id": ('<bpmn:endEvent id="urge_end">', '<bpmn:endEvent id="confirm">', "confirm",
                     '<bpmn:userTask id="confirm"', "重复"),
    "ui schema names a missing field": ('value="mini_record.uischema.json"', 'value="mini_bad.uischema.json"',
                                        "record", 'id="record"', "不存在的字段「summry」"),
    "missing called process": ('calledElement="mini_repair"', 'calledElement="no_such_process"', "call_repair",
                               'id="call_repair"', "不存在"),
    "user task without form": ('<spiffworkflow:property name="formJsonSchemaFilename" value="mini_note.schema.json"/>',
                               "", "urge", 'id="urge"', "没有表单"),
    "missing form": ('value="mini_note.schema.json"', 'value="gone.schema.json"', "urge", 'id="urge"',
                     "不存在"),
    "lane without role": ('name="工程部"', 'name="维修组"', "Lane_engineering", 'id="Lane_engineering"',
                          "没有对应的角色"),
    # a department lane routes by the department its tasks name: a task that names none reaches nobody
    "department lane, task names no department": ('name="客服部主管"', 'name="部门主管"', "urge", 'id="urge"',
                                                 "须以属性 department 指明部门"),
    "unsupported element": ('<bpmn:userTask id="confirm" name="回访确认">', '<bpmn:serviceTask id="confirm" name="回访确认">',
                            "confirm", 'id="confirm"', "不支持"),
    "unknown sla key": ('value="response"', 'value="fast"', "record_late", 'id="record_late"', "未知的 SLA 键"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_names_file_line_and_element(workdir, capsys, case):
    old, new, element, line_text, words = CASES[case]
    path, text = _break(workdir, old, new)
    (workdir / "forms" / "mini_bad.uischema.json").write_text(
        json.dumps({"summry": {"ui:widget": "textarea"}}), encoding="utf-8")
    if case == "reserved start id":
        path.write_text(text.replace(">start<", ">Start<").replace('sourceRef="start"', 'sourceRef="Start"'),
                        encoding="utf-8")
        text = path.read_text(encoding="utf-8")
    if case == "unsupported element":
        path.write_text(text.replace("</bpmn:userTask>\n    <bpmn:endEvent id=\"end\">",
                                     "</bpmn:serviceTask>\n    <bpmn:endEvent id=\"end\">"), encoding="utf-8")
        text = path.read_text(encoding="utf-8")
    code, lines = _run(capsys, workdir / "bpmn")
    assert code == 1
    expected_prefix = f"{path}:{_line_of(text, line_text)}: {element}: "
    assert any(line.startswith(expected_prefix) and words in line for line in lines), (expected_prefix, lines)


def test_restricted_script_is_rejected(workdir, capsys):
    repair = workdir / "bpmn" / "mini_repair.bpmn"
    text = repair.read_text(encoding="utf-8").replace("fix_minutes = len(fix_note)", "import os")
    repair.write_text(text, encoding="utf-8")
    code, lines = _run(capsys, workdir / "bpmn")
    assert code == 1
    prefix = f"{repair}:{_line_of(text, 'id=' + chr(34) + 'stamp')}: stamp: "
    assert any(line.startswith(prefix) and "import" in line for line in lines), lines


def test_malformed_xml_names_the_line(workdir, capsys):
    path, text = _break(workdir, '<bpmn:endEvent id="end">', '<bpmn:endEvent id="end"')
    code, lines = _run(capsys, workdir / "bpmn")
    assert code == 1
    assert any(line.startswith(f"{path}:") and "XML 格式错误" in line for line in lines), lines


def test_form_that_is_not_json_or_not_a_schema(workdir, capsys):
    (workdir / "forms" / "mini_note.schema.json").write_text("{not json", encoding="utf-8")
    (workdir / "forms" / "mini_confirm.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"x": {"type": "nonsense"}}}), encoding="utf-8")
    code, lines = _run(capsys, workdir / "bpmn", workdir / "forms")
    path = workdir / "bpmn" / "mini_request.bpmn"
    assert code == 1
    urge = f"{path}:{_line_of(GOOD, 'id=' + chr(34) + 'urge' + chr(34))}: urge: "
    confirm = f"{path}:{_line_of(GOOD, 'id=' + chr(34) + 'confirm' + chr(34))}: confirm: "
    assert any(line.startswith(urge) and "不是有效的 JSON" in line for line in lines), lines
    assert any(line.startswith(confirm) and "不是有效的 JSON Schema" in line for line in lines), lines


def test_deploy_writes_nothing_when_anything_is_invalid(db_url, workdir, capsys, monkeypatch):
    monkeypatch.setenv("LIYUAN_DATABASE_URL", db_url)
    _break(workdir, '"PT30M"', "PT30M")
    assert main(["deploy", str(workdir / "bpmn")]) == 1
    assert "nothing deployed" in capsys.readouterr().err
    from engine import repository
    from engine.core import db

    with db.read_session() as session:
        assert repository.version_count(session) == 0
