"""Versions (issue 14, item 5): a required change note, the semantic diff (`liyuan diff`) and "revert to vN"
(`liyuan revert`), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from engine import repository
from engine.core import db
from engine.repository import bundle, diff, editing
from engine.repository.bundle import SourceFile
from tests.conftest import FIXTURES
from webapp.cli import main

PID = "mini_request"
SOURCE = (FIXTURES / "bpmn" / "mini_request.bpmn").read_text(encoding="utf-8")


def _edited() -> str:
    """A timer, a name, a condition, a lane, a form reference and an SLA key changed; a task added."""
    text = (SOURCE.replace('"PT30M"', '"PT20M"')
            .replace('name="回访确认"', 'name="电话回访确认"')
            .replace("category == 'b'", "category in ('b', 'e')")
            .replace("<bpmn:flowNodeRef>urge</bpmn:flowNodeRef>", "")
            .replace("<bpmn:flowNodeRef>record</bpmn:flowNodeRef>",
                     "<bpmn:flowNodeRef>record</bpmn:flowNodeRef><bpmn:flowNodeRef>urge</bpmn:flowNodeRef>")
            .replace('<spiffworkflow:property name="sla" value="response"/>',
                     '<spiffworkflow:property name="sla" value="response"/>'
                     '<spiffworkflow:property name="clause" value="T2.1"/>'))
    assert text.count("PT20M") == 1 and "电话回访确认" in text
    return text


def _deploy_with_form_change(note: str = "督办表加字段") -> None:
    """The CLI path: the diagram and a changed form (a field added, a title changed, made required)."""
    src = bundle.read_paths([FIXTURES / "bpmn", FIXTURES / "forms"], default_forms=False)
    form = json.loads(src.forms["mini_note.schema.json"].content)
    form["properties"]["note"]["title"] = "督办说明"
    form["properties"]["called_back"] = {"type": "boolean", "title": "已回电"}
    form["required"] = ["note", "called_back"]
    content = json.dumps(form, ensure_ascii=False).encode("utf-8")
    src.forms["mini_note.schema.json"] = SourceFile("mini_note.schema.json", "forms/mini_note.schema.json", content)
    src.bpmn["mini_request.bpmn"] = SourceFile("mini_request.bpmn", "bpmn/mini_request.bpmn",
                                               _edited().encode("utf-8"))
    with db.transaction() as session:
        repository.deploy(session, src, actor="owner", note=note, require_note=True)


def test_publishing_a_new_version_needs_a_note(deployed):
    with db.transaction() as session, pytest.raises(editing.EditError, match="变更说明"):
        editing.publish(session, PID, _edited().encode(), "owner", "   ")
    src = bundle.read_paths([FIXTURES / "bpmn", FIXTURES / "forms"], default_forms=False)
    src.bpmn["mini_request.bpmn"] = SourceFile("mini_request.bpmn", "bpmn/mini_request.bpmn", _edited().encode())
    with db.transaction() as session, pytest.raises(repository.validation.InvalidBundle, match="变更说明"):
        repository.deploy(session, src, actor="owner", require_note=True)
    with db.read_session() as session:
        assert repository.latest_version(session, PID).version == 1


def test_diff_lists_elements_properties_and_form_fields(deployed, capsys):
    _deploy_with_form_change()
    with db.read_session() as session:
        found = diff.diff_versions(session, PID, 1, 2)
        rows = editing.versions(session)[PID]
    assert (rows[0].version.version, rows[0].deployment.actor, rows[0].deployment.note) == (2, "owner", "督办表加字段")
    changed = {c.element_id: {k: (o, n) for k, o, n in c.changes} for c in found.elements if c.kind == "changed"}
    assert changed["record_late"]["timer"] == ('timeDuration "PT30M"', 'timeDuration "PT20M"')
    assert changed["record_late"]["clause"] == (None, "T2.1")
    assert changed["confirm"]["name"] == ("回访确认", "电话回访确认")
    assert changed["f_repair"]["condition"] == ("category == 'b'", "category in ('b', 'e')")
    assert changed["urge"]["lane"] == ("客服部主管", "物业助理")
    assert "record" not in changed  # untouched elements are not listed
    fields = {(f.form, f.field): (f.kind, dict((k, (o, n)) for k, o, n in f.changes)) for f in found.fields}
    assert fields[("mini_note.schema.json", "called_back")][0] == "added"
    kind, props = fields[("mini_note.schema.json", "note")]
    assert kind == "changed" and props["title"] == ("督办情况", "督办说明")

    assert main(["diff", PID, "v1", "v2"]) == 0
    out = capsys.readouterr().out
    assert "mini_request：第1版 → 第2版" in out
    assert '定时器：timeDuration "PT30M" → timeDuration "PT20M"' in out
    assert "泳道：客服部主管 → 物业助理" in out and "新增 mini_note.schema.json · called_back" in out
    assert main(["versions", PID]) == 0
    assert "督办表加字段" in capsys.readouterr().out


def test_revert_publishes_an_earlier_versions_content_as_a_new_version(deployed, capsys):
    _deploy_with_form_change()
    assert main(["revert", PID, "v1"]) == 1
    assert "变更说明" in capsys.readouterr().err
    assert main(["revert", PID, "v1", "--note", "新时限未获批准，恢复"]) == 0
    assert "第3版" in capsys.readouterr().out
    with db.read_session() as session:
        v1, v3 = repository.get_version(session, PID, 1), repository.get_version(session, PID, 3)
        assert (v3.files, v3.forms) == (v1.files, v1.forms)
        assert diff.diff_versions(session, PID, 1, 3).empty
        assert "新时限未获批准" in editing.versions(session)[PID][0].deployment.note
    assert main(["diff", PID, "2", "3"]) == 0
    assert '定时器：timeDuration "PT20M" → timeDuration "PT30M"' in capsys.readouterr().out
    assert main(["revert", PID, "v3", "--note", "再来一次"]) == 0  # same content as the latest: no new version
    assert "未产生新版本" in capsys.readouterr().out


def test_diff_of_a_version_that_does_not_exist_is_a_clear_error(deployed, capsys):
    assert main(["diff", PID, "1", "9"]) == 1
    assert "没有第9版" in capsys.readouterr().err
