"""The 流程负责人 edits a deployed diagram: validates it (problems with element ids), publishes it as a new
version, and instances already running stay on the version they started with. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from engine import repository
from engine.core import clock, db
from engine.core.tables import Instance, ProcessVersion, Timer
from tests.web.conftest import PASSWORD, WEB_FIXTURES, make_app, record_call

SOURCE = (WEB_FIXTURES / "bpmn" / "web_help_request.bpmn").read_text(encoding="utf-8")
PID = "web_help_request"


def _validate(client, xml: str):
    res = client.post(f"/modeler/{PID}/validate", json={"xml": xml})
    return res.status_code, res.get_json()


def _deploy(client, xml: str, note: str = "改时限"):
    res = client.post(f"/modeler/{PID}/deploy", json={"xml": xml, "note": note})
    return res.status_code, res.get_json()


def _versions() -> list[int]:
    with db.read_session() as session:
        return list(session.scalars(select(ProcessVersion.version).where(ProcessVersion.process_id == PID)
                                    .order_by(ProcessVersion.version)))


def test_process_owner_sees_processes_versions_and_any_versions_diagram(client_for):
    owner = client_for("process_owner")
    html = owner.get("/modeler").get_data(as_text=True)
    assert "客户求助（测试）" in html and 'data-testid="version-web_help_request-1"' in html
    assert "tester" in html  # who deployed it
    assert f'href="/modeler/{PID}/edit"' in html
    page = owner.get(f"/modeler/{PID}/v1").get_data(as_text=True)
    assert "第1版" in page and "bpmn-navigated-viewer.production.min.js" in page
    body = owner.get(f"/modeler/{PID}/v1/diagram.bpmn")
    assert body.status_code == 200 and body.get_data(as_text=True) == SOURCE
    edit = owner.get(f"/modeler/{PID}/edit").get_data(as_text=True)
    assert "vendor/studio/studio.js" in edit and 'id="studio-data"' in edit
    assert owner.get(f"/modeler/{PID}/v9").status_code == 404
    assert owner.get("/modeler/nope/edit").status_code == 404
    for other in ("assistant", "auditor", "admin", "manager"):
        assert client_for(other).get("/modeler").status_code == 403
        assert client_for(other).post(f"/modeler/{PID}/deploy", json={"xml": SOURCE}).status_code == 403


def test_a_broken_diagram_is_listed_with_element_ids_and_nothing_is_deployed(client_for):
    owner = client_for("process_owner")
    assert _validate(owner, SOURCE) == (200, {"ok": True, "message": "校验通过，可以发布", "problems": []})

    broken = SOURCE.replace('"PT30M"', "PT30M").replace('name="工程部"', 'name="维修班"')
    status, body = _validate(owner, broken)
    assert status == 200 and body["ok"] is False
    by_element = {p["element_id"]: p for p in body["problems"]}
    assert {"repair_late", "Lane_engineering"} <= set(by_element)
    assert "请加引号" in by_element["repair_late"]["message"]
    assert by_element["repair_late"]["file"] == "web_help_request.bpmn" and by_element["repair_late"]["line"] > 0

    status, body = _deploy(owner, broken)
    assert status == 422 and body["ok"] is False and "未发布" in body["message"]
    assert {p["element_id"] for p in body["problems"]} >= {"repair_late", "Lane_engineering"}
    assert _versions() == [1]

    status, body = _validate(owner, "<bpmn:definitions")
    assert status == 200 and body["problems"][0]["message"].startswith("XML 格式错误")
    renamed = SOURCE.replace('processRef="web_help_request"', 'processRef="other_id"').replace(
        'process id="web_help_request"', 'process id="other_id"')
    status, body = _deploy(owner, renamed)
    assert status == 422 and "no longer defines process 'web_help_request'" in body["problems"][0]["message"]
    assert _validate(owner, "")[0] == 400
    assert owner.post(f"/modeler/{PID}/validate", data="not json").status_code == 400
    assert _versions() == [1]


def test_publishing_a_changed_timer_makes_a_new_version_and_running_instances_keep_theirs(client_for):
    clock.freeze(dt.datetime(2026, 11, 27, 9, 0, tzinfo=clock.SHANGHAI))
    before = record_call(client_for("assistant"))  # a repair waiting for 工程部 with a 30-minute clock
    owner = client_for("process_owner")

    status, body = _deploy(owner, SOURCE)
    assert (status, body["created"], body["message"]) == (200, False, "内容未变化，未产生新版本（仍为第1版）")

    status, body = _deploy(owner, SOURCE.replace('"PT30M"', '"PT45M"'))
    assert status == 200 and body == {"ok": True, "created": True, "version": 2,
                                      "message": "已发布 web_help_request 第2版", "problems": [], "results": []}
    assert _versions() == [1, 2]
    after = record_call(client_for("assistant"))
    with db.read_session() as session:
        versions = {i.id: session.get(ProcessVersion, i.version_id).version
                    for i in session.scalars(select(Instance).where(Instance.id.in_([before, after])))}
        due = {t.instance_id: t.due_at for t in session.scalars(select(Timer).where(Timer.element_id == "repair_late"))}
        deployment = repository.latest_version(session, PID)
        from engine.core.tables import Deployment

        actor = session.get(Deployment, deployment.deployment_id).actor
    assert versions == {before: 1, after: 2}
    start = clock.now()
    assert clock.as_utc(due[before]) == start + dt.timedelta(minutes=30)  # the old deadline stands
    assert clock.as_utc(due[after]) == start + dt.timedelta(minutes=45)
    assert actor == "process_owner"
    html = owner.get("/modeler").get_data(as_text=True)
    assert 'data-testid="version-web_help_request-2"' in html and "何流程" in html
    # the request page of the old instance still draws version 1
    assert "第 1 版" in client_for("engineer").get(f"/requests/{before}").get_data(as_text=True)


def test_publishing_needs_a_note_and_an_old_version_can_be_restored_with_its_diff_listed(client_for):
    owner = client_for("process_owner")
    status, body = _deploy(owner, SOURCE.replace('"PT30M"', '"PT45M"'), note="  ")
    assert status == 400 and body["message"].startswith("请填写变更说明") and _versions() == [1]
    assert _deploy(owner, SOURCE.replace('"PT30M"', '"PT45M"'), note="工程部时限放宽")[1]["version"] == 2
    html = owner.get("/modeler").get_data(as_text=True)
    assert "工程部时限放宽" in html and f'data-testid="revert-{PID}-1"' in html
    diff = owner.get(f"/modeler/{PID}/diff?from=1&to=2").get_data(as_text=True)
    assert "repair_late" in diff and "&#34;PT30M&#34; → timeDuration &#34;PT45M&#34;" in diff
    assert owner.get(f"/modeler/{PID}/diff?from=1&to=7").status_code == 404

    assert owner.post(f"/modeler/{PID}/v1/revert", data={"note": ""}).status_code == 302
    assert _versions() == [1, 2]  # no note: refused
    page = owner.get("/modeler").get_data(as_text=True)
    assert "请填写变更说明" in page
    assert owner.post(f"/modeler/{PID}/v1/revert", data={"note": "放宽未获批准"}).status_code == 302
    assert _versions() == [1, 2, 3]
    assert "已将第1版的内容发布为第3版" in owner.get("/modeler").get_data(as_text=True)
    with db.read_session() as session:
        v1, v3 = (repository.get_version(session, PID, n) for n in (1, 3))
        assert v1.fingerprint == v3.fingerprint
    assert client_for("assistant").post(f"/modeler/{PID}/v1/revert", data={"note": "x"}).status_code == 403


def test_the_json_posts_need_the_csrf_token_from_the_page(seeded):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    assert client.post("/login", data={"username": "process_owner", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    edit = client.get(f"/modeler/{PID}/edit").get_data(as_text=True)
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', edit).group(1)
    assert client.post(f"/modeler/{PID}/validate", json={"xml": SOURCE}).status_code == 400
    res = client.post(f"/modeler/{PID}/validate", json={"xml": SOURCE}, headers={"X-CSRFToken": meta})
    assert res.status_code == 200 and res.get_json()["ok"] is True
