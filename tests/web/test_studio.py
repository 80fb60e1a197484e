"""The studio's endpoints (issue 14): the engine's validator and the clause check on the edited XML (errors
and warnings with element ids), the diff of an unpublished edit with its form changes, 试运行, and publishing
that refuses a departure from the 工作规程 without a written reason and an edit whose scenarios fail.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from engine import identity, repository
from engine.core import config, db
from engine.core.tables import Blob, Deployment
from engine.repository import bundle
from tests.web.conftest import PASSWORD, WEB_FIXTURES, make_app

SOURCE = (WEB_FIXTURES / "bpmn" / "web_help_request.bpmn").read_text(encoding="utf-8")
PID = "web_help_request"
# The repair timer says it implements T2.1 (30 minutes) in these tests.
WITH_CLAUSE = SOURCE.replace('<spiffworkflow:property name="sla" value="response" />',
                             '<spiffworkflow:property name="sla" value="response" />'
                             '<spiffworkflow:property name="clause" value="T2.1" />', 1)


@pytest.fixture
def owner(seeded, tmp_path):
    (tmp_path / "none").mkdir()
    app = make_app(SCENARIO_DIR=str(tmp_path / "none"))
    client = app.test_client()
    assert client.post("/login", data={"username": "process_owner", "password": PASSWORD}).status_code == 302
    return client


def _post(client, what: str, xml: str, **extra):
    res = client.post(f"/modeler/{PID}/{what}", json={"xml": xml, **extra})
    return res.status_code, res.get_json()


def test_a_timer_past_its_clause_is_a_warning_and_publishing_it_needs_a_written_reason(owner):
    assert 'xmlns:spiffworkflow' in SOURCE and WITH_CLAUSE != SOURCE
    assert _post(owner, "deploy", WITH_CLAUSE, note="标注条款")[0] == 200  # v2: the clause, within its 30 minutes
    longer = WITH_CLAUSE.replace('"PT30M"', '"PT45M"')
    status, body = _post(owner, "validate", longer)
    assert status == 200 and body["ok"] is True and "偏离工作规程" in body["message"]
    (warning,) = body["problems"]
    assert (warning["severity"], warning["element_id"]) == ("warning", "repair_late") and "条款 T2.1" in warning["message"]

    status, body = _post(owner, "deploy", longer, note="放宽时限")
    assert status == 422 and body["needs_reason"] is True and body["ok"] is False
    status, body = _post(owner, "deploy", longer, note="放宽时限", reason="工程部人手不足，临时放宽")
    assert status == 200 and body["version"] == 3
    with db.read_session() as session:
        v3 = repository.get_version(session, PID, 3)
        assert session.get(Deployment, v3.deployment_id).note == "放宽时限（偏离工作规程的理由：工程部人手不足，临时放宽）"


def test_errors_are_pinned_on_their_elements_and_block_publishing(owner):
    broken = SOURCE.replace('"PT30M"', "PT30M")
    status, body = _post(owner, "validate", broken)
    assert status == 200 and body["ok"] is False
    assert {(p["severity"], p["element_id"]) for p in body["problems"]} == {("error", "repair_late")}
    status, body = _post(owner, "scenarios", broken)
    assert body["ok"] is False and "先修正" in body["message"]
    status, body = _post(owner, "deploy", broken, note="x", reason="y")
    assert status == 422 and "未发布" in body["message"]


def test_the_diff_of_an_edit_lists_elements_and_form_fields_before_publishing(owner):
    with db.read_session() as session:
        latest = repository.latest_version(session, PID)
        name = next(n for n in latest.forms if n.endswith(".schema.json"))
        form = json.loads(session.get(Blob, latest.forms[name]).content)
    field = next(iter(form["properties"]))
    form["properties"][field]["title"] = "新标题"
    status, body = _post(owner, "changes", SOURCE.replace('"PT30M"', '"PT20M"'), forms={name: form})
    assert status == 200 and body["empty"] is False and (body["old"], body["new"]) == (1, 2)
    (change,) = body["elements"]
    assert change["element_id"] == "repair_late" and change["changes"] == [
        ["定时器", 'timeDuration "PT30M"', 'timeDuration "PT20M"']]
    assert [(f["form"], f["field"], f["kind"]) for f in body["fields"]] == [(name, field, "changed")]
    assert _post(owner, "changes", SOURCE)[1]["empty"] is True
    assert _post(owner, "scenarios", SOURCE)[1]["message"] == "没有经过此流程的场景，未试运行"

    status, body = _post(owner, "deploy", SOURCE, note="改表单标题", forms={name: form})
    assert status == 200 and body["version"] == 2
    with db.read_session() as session:
        v2 = repository.get_version(session, PID, 2)
        assert json.loads(session.get(Blob, v2.forms[name]).content)["properties"][field]["title"] == "新标题"
    status, body = _post(owner, "deploy", SOURCE, note="x", forms={"nope.schema.json": form})
    assert status == 400 and "不存在" in body["message"]


def procedure_studio(password_hash, monkeypatch, folder):
    """The real procedure deployed and the process owner signed in; the studio's scenario folder: ``folder``."""
    with monkeypatch.context() as m:
        m.setattr(identity.users, "hash_password", lambda _pw: password_hash)
        with db.transaction() as session:
            repository.deploy(session, bundle.read_paths([config.PROJECT_ROOT / "bpmn"]), actor="setup")
            identity.ensure_demo_users(session, PASSWORD)
    client = make_app(SCENARIO_DIR=str(folder), HELP_REQUEST_PROCESS="help_request").test_client()
    assert client.post("/login", data={"username": "process_owner", "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def procedure_owner(db_url, password_hash, monkeypatch, tmp_path):
    """The real procedure deployed; the studio's scenarios: the 30-minute response one only."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    shutil.copy(config.bpmn_dir() / "scenarios" / "t2_1_response_late.yaml", folder)
    return procedure_studio(password_hash, monkeypatch, folder)


def test_publishing_runs_the_scenarios_and_refuses_when_one_fails(procedure_owner):
    source = (config.PROJECT_ROOT / "bpmn" / "help_request.bpmn").read_text(encoding="utf-8")
    marker = '<bpmn:boundaryEvent id="b_resp"'
    head, tail = source.split(marker, 1)
    slower = head + marker + tail.replace('"PT30M"', '"PT45M"', 1)
    res = procedure_owner.post("/modeler/help_request/deploy",
                               json={"xml": slower, "note": "响应放宽", "reason": "试行"})
    body = res.get_json()
    assert res.status_code == 422 and body["message"].startswith("场景未全部通过，未发布")
    (result,) = body["results"]
    assert result["file"] == "t2_1_response_late.yaml" and result["ok"] is False and result["step"]
    with db.read_session() as session:
        assert repository.latest_version(session, "help_request").version == 1
        assert session.scalar(select(Deployment).order_by(Deployment.id.desc()).limit(1)).actor == "setup"
