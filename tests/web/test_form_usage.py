"""A form shared by several diagrams (issue 14, item 4): the form editor says which diagrams and elements use
it, and the diff before publishing, the publish's answer and the version diff list every diagram a form
change concerns — this one, which the change affects, and the others, which keep the copy they pinned.
SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from engine import repository
from engine.core import db
from engine.core.tables import Blob
from engine.repository.bundle import SourceFile
from tests.web.conftest import PASSWORD, WEB_FIXTURES, make_app, web_bundle

SOURCE = (WEB_FIXTURES / "bpmn" / "web_help_request.bpmn").read_text(encoding="utf-8")
PID, OTHER, FORM = "web_help_request", "web_second_desk", "web_note.schema.json"


@pytest.fixture
def owner(seeded, tmp_path):
    """A second diagram (another desk's copy of the process) deployed beside the first, sharing its forms."""
    second = SOURCE.replace("web_help_request", OTHER).replace("客户求助（测试）", "第二服务台求助（测试）")
    shared = web_bundle()
    shared.bpmn = {f"{OTHER}.bpmn": SourceFile(f"{OTHER}.bpmn", f"{OTHER}.bpmn", second.encode("utf-8"))}
    with db.transaction() as session:
        assert [r.process_id for r in repository.deploy(session, shared, actor="tester")] == [OTHER]
    (tmp_path / "none").mkdir()
    client = make_app(SCENARIO_DIR=str(tmp_path / "none")).test_client()
    assert client.post("/login", data={"username": "process_owner", "password": PASSWORD}).status_code == 302
    return client


def _note_form() -> dict:
    with db.read_session() as session:
        return json.loads(session.get(Blob, repository.latest_version(session, PID).forms[FORM]).content)


def test_the_form_editor_shows_every_diagram_and_element_using_a_form(owner):
    res = owner.post("/modeler/forms/preview", json={"schema": _note_form(), "name": FORM})
    body = res.get_json()
    assert res.status_code == 200 and body["ok"] is True
    assert [(u["process_id"], [e["element_id"] for e in u["elements"]]) for u in body["usage"]] == [
        (PID, ["handle", "supervise"]), (OTHER, ["handle", "supervise"])]
    assert "客户求助（测试）（web_help_request 第1版）：handle「处理求助」、supervise「超时督办」" in body["used_by"]
    unused = owner.post("/modeler/forms/preview", json={"schema": _note_form(), "name": "nobody.schema.json"})
    assert unused.get_json()["used_by"] == []


def test_a_form_change_lists_every_diagram_it_concerns_in_the_diff_and_on_publishing(owner):
    form = _note_form()
    field = next(iter(form["properties"]))
    form["properties"][field]["title"] = "处理说明（新）"
    res = owner.post(f"/modeler/{PID}/changes", json={"xml": SOURCE, "forms": {FORM: form}})
    body = res.get_json()
    assert res.status_code == 200
    first, others, other = body["affects"]
    assert first.startswith(f"表单 {FORM} 的变更影响：客户求助（测试）（{PID} 第1版）：handle")
    assert "另有 1 个流程图使用此表单" in others and other.strip().startswith(f"第二服务台求助（测试）（{OTHER} 第1版）")
    assert body["lines"][-3:] == body["affects"]
    assert owner.post(f"/modeler/{PID}/changes", json={"xml": SOURCE}).get_json()["affects"] == []

    res = owner.post(f"/modeler/{PID}/deploy", json={"xml": SOURCE, "note": "改处理说明标题", "forms": {FORM: form}})
    body = res.get_json()
    assert res.status_code == 200 and body["version"] == 2 and len(body["affects"]) == 3
    assert OTHER in body["affects"][2]
    page = owner.get(f"/modeler/{PID}/diff?from=1&to=2").get_data(as_text=True)
    assert f"表单 {FORM} 的变更影响" in page and "第二服务台求助（测试）" in page
    with db.read_session() as session:  # the other diagram keeps the copy it pinned
        assert repository.latest_version(session, OTHER).forms[FORM] != repository.latest_version(session, PID).forms[FORM]
