"""Every API route's happy path and each of its error statuses, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from engine import runtime
from engine.core import clock, db
from engine.helpdesk.tables import HelpRequest

from .conftest import HOTLINE, ONLINE, ready_task

# --- POST /requests ------------------------------------------------------------------------------------------


def test_hotline_request_recorded_by_the_assistant(client):
    status, body = client.post("/requests", "assistant", HOTLINE)
    assert status == 201
    with db.read_session() as session:
        req = session.get(HelpRequest, body["instance_id"])
        started_by = runtime.get_instance(session, body["instance_id"]).started_by
    assert (req.channel, req.caller_name, req.building, req.category) == ("hotline", "张先生", "3栋", "b")
    assert req.customer_username is None and started_by == "assistant"


def test_online_request_belongs_to_the_resident_who_sent_it(client):
    status, body = client.post("/requests", "customer", {**ONLINE, "customer_username": "customer2"})
    assert status == 422 and "customer_username" in body["fields"]  # nobody files in another's name
    status, body = client.post("/requests", "customer", ONLINE)
    assert status == 201
    with db.read_session() as session:
        assert session.get(HelpRequest, body["instance_id"]).customer_username == "customer"


def test_channel_must_match_the_role(client):
    status, body = client.post("/requests", "customer", HOTLINE)
    assert status == 403 and body["fields"] == {"channel": "您只能提交线上求助"}
    status, body = client.post("/requests", "cs_supervisor", ONLINE)
    assert status == 403 and "channel" in body["fields"]
    status, body = client.post("/requests", "engineer", HOTLINE)
    assert status == 403 and body["error"] == "forbidden"


def test_invalid_request_is_422_with_chinese_messages_per_field(client):
    bad = {"channel": "fax", "caller_name": "", "phone": "call me", "address": "3栋", "category": "z"}
    status, body = client.post("/requests", "assistant", bad)
    assert status == 422 and body["error"] == "invalid_data"
    assert body["fields"] == {"channel": "请从选项中选择", "caller_name": "至少填写1个字",
                              "phone": "电话号码格式不正确", "description": "请填写此项", "category": "请从选项中选择"}
    status, body = client.post("/requests", "assistant", data="not json", content_type="text/plain")
    assert status == 422 and body["fields"] == {"": "提交的数据格式不正确"}


def test_request_for_an_undeployed_process_is_404(client):
    client.app.config["HELP_REQUEST_PROCESS"] = "help_request"
    status, body = client.post("/requests", "assistant", HOTLINE)
    assert status == 404 and "尚未部署" in body["message"]


# --- tasks ---------------------------------------------------------------------------------------------------


def test_my_tasks_list_the_ready_work_of_my_lane(client, hotline):
    task = ready_task(client, hotline)
    assert task["element_id"] == "record" and task["name"] == "记录求助" and task["lane"] == "物业助理"
    assert task["form"] == "mini_record.schema.json"
    due = dt.datetime.fromisoformat(task["due_at"])
    assert task["due_at"].endswith("Z") and abs((due - clock.now()) - dt.timedelta(minutes=30)) < dt.timedelta(minutes=1)
    assert client.get("/tasks", "engineer") == (200, {"tasks": [], "next": None})


def test_task_detail_has_schema_ui_schema_data_and_revision(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    status, body = client.get(f"/tasks/{task_id}", "assistant")
    assert status == 200
    assert body["schema"]["required"] == ["category", "summary"]
    assert body["ui_schema"] == {"summary": {"ui:widget": "textarea"}, "category": {"ui:widget": "radio"}}
    assert body["data"]["caller_name"] == "张先生" and body["data"]["recorded_by"] == "assistant"
    assert body["revision"] == 1 and body["may_complete"] is True and body["instructions"]


def test_options_from_task_data_are_resolved_into_enum(client):
    with db.transaction() as session:
        instance = runtime.start(session, "api_pick", {"on_duty": [
            {"username": "guard1", "name": "陈护管"}, {"username": "guard2", "name": "刘护管"}]}, "tester")
    task_id = ready_task(client, instance.id, "security_lead")["id"]
    status, body = client.get(f"/tasks/{task_id}", "security_lead")
    assert status == 200
    assert body["schema"]["properties"]["guard"]["enum"] == ["guard1", "guard2"]
    assert body["schema"]["properties"]["guard"]["x-enumNames"] == ["陈护管", "刘护管"]
    status, body = client.post(f"/tasks/{task_id}/complete", "security_lead", {"data": {"guard": "guard9"}})
    assert status == 422 and body["fields"] == {"guard": "请从选项中选择"}
    assert client.post(f"/tasks/{task_id}/complete", "security_lead", {"data": {"guard": "guard2"}})[0] == 200


def test_task_detail_errors(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    status, body = client.get("/tasks/00000000-0000-0000-0000-000000000000", "assistant")
    assert status == 404 and body["error"] == "not_found"
    status, body = client.get(f"/tasks/{task_id}", "customer")  # a resident, and not their task
    assert status == 403 and body["error"] == "forbidden"


def test_claim_then_someone_else_gets_409(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    status, body = client.post(f"/tasks/{task_id}/claim", "assistant")
    assert status == 200 and body["claimed_by"] == "assistant"
    assert client.post(f"/tasks/{task_id}/claim", "assistant")[0] == 200  # claiming again is harmless
    status, body = client.post(f"/tasks/{task_id}/claim", "assistant2")
    assert status == 409 and body["error"] == "conflict" and "assistant" in body["message"]
    assert client.get("/tasks", "assistant2") == (200, {"tasks": [], "next": None})  # held tasks leave the others' inbox


def test_claim_errors(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    status, body = client.post(f"/tasks/{task_id}/claim", "engineer")  # not 物业助理's lane
    assert status == 403 and body["error"] == "forbidden"
    status, body = client.post("/tasks/00000000-0000-0000-0000-000000000000/claim", "assistant")
    assert status == 409 and body["error"] == "conflict"


def test_release_returns_the_task_to_the_lane(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    client.post(f"/tasks/{task_id}/claim", "assistant")
    assert client.post(f"/tasks/{task_id}/release", "assistant2")[0] == 403
    status, body = client.post(f"/tasks/{task_id}/release", "assistant")
    assert status == 200 and body["claimed_by"] is None
    assert client.post(f"/tasks/{task_id}/claim", "assistant2")[0] == 200


def test_complete_runs_the_process_on(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    status, body = client.post(f"/tasks/{task_id}/complete", "assistant",
                               {"data": {"category": "b", "summary": "厨房水管漏水"}, "revision": 1})
    assert status == 200 and body == {"instance_id": hotline, "status": "running", "revision": 2}
    fix = ready_task(client, hotline, "engineer")
    assert fix["element_id"] == "fix"
    status, body = client.post(f"/tasks/{fix['id']}/complete", "engineer",
                               {"data": {"fix_note": "更换阀门", "fixed": True}})
    assert status == 200
    confirm = ready_task(client, hotline)
    status, body = client.post(f"/tasks/{confirm['id']}/complete", "assistant", {"data": {"satisfaction": 5}})
    assert status == 200 and body["status"] == "completed"


def test_complete_422_with_per_field_messages(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    status, body = client.post(f"/tasks/{task_id}/complete", "assistant",
                               {"data": {"category": "x", "summary": "漏"}})
    assert status == 422 and body["error"] == "invalid_data"
    assert body["fields"] == {"category": "请从选项中选择", "summary": "至少填写2个字"}
    status, body = client.post(f"/tasks/{task_id}/complete", "assistant", {"data": ["not", "an", "object"]})
    assert status == 422 and body["fields"] == {"data": "提交的数据格式不正确"}
    status, body = client.post(f"/tasks/{task_id}/complete", "assistant", {"data": {}, "revision": "1"})
    assert status == 422 and "revision" in body["fields"]


def test_complete_403_when_not_mine(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    done = {"data": {"category": "g", "summary": "咨询停车"}}
    status, body = client.post(f"/tasks/{task_id}/complete", "engineer", done)
    assert status == 403 and body["error"] == "forbidden"
    client.post(f"/tasks/{task_id}/claim", "assistant")
    status, body = client.post(f"/tasks/{task_id}/complete", "assistant2", done)
    assert status == 403 and "assistant" in body["message"]


def test_complete_409_when_no_longer_ready_or_revision_moved(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    done = {"data": {"category": "g", "summary": "咨询停车"}}
    status, body = client.post(f"/tasks/{task_id}/complete", "assistant", {**done, "revision": 0})
    assert status == 409 and body["error"] == "conflict" and "刷新" in body["message"]
    assert client.post(f"/tasks/{task_id}/complete", "assistant", done)[0] == 200
    status, body = client.post(f"/tasks/{task_id}/complete", "assistant", done)
    assert status == 409 and body["error"] == "conflict"


# --- instances -----------------------------------------------------------------------------------------------


def test_instance_shows_status_version_tasks_and_sla(client, hotline):
    status, body = client.get(f"/instances/{hotline}", "cs_supervisor")
    assert status == 200
    assert (body["id"], body["process_id"], body["version"], body["status"]) == (hotline, "mini_request", 1, "running")
    assert [t["element_id"] for t in body["tasks"]] == ["record"]
    assert [(c["sla_key"], c["status"]) for c in body["sla"]] == [("response", "armed")]
    assert body["request"]["caller_name"] == "张先生"


def test_resident_sees_own_instance_without_internal_deadlines(client):
    instance_id = client.post("/requests", "customer", ONLINE)[1]["instance_id"]
    status, body = client.get(f"/instances/{instance_id}", "customer")
    assert status == 200 and body["sla"] == [] and all(t["due_at"] is None for t in body["tasks"])
    assert "recorded_by" not in body["request"]
    # the resident's own view: a plain status (not a task name), nothing answered or dispatched yet
    view = body["resident_view"]
    assert view["status"] in ("已受理", "处理中") and view["answers"] == [] and view["coming"] is None
    assert view["can_urge"] is True and view["rating_source"] is None


def test_instance_errors(client, hotline):
    assert client.get("/instances/no-such-instance", "manager")[0] == 404
    status, body = client.get(f"/instances/{hotline}", "customer")  # not theirs: as if it did not exist
    assert status == 404 and body["error"] == "not_found"
    assert client.get(f"/instances/{hotline}", "process_owner")[0] == 403
    assert client.get(f"/instances/{hotline}")[0] == 401


def test_events_are_the_hash_chained_audit_trail_in_order(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    client.post(f"/tasks/{task_id}/claim", "assistant")
    client.post(f"/tasks/{task_id}/complete", "assistant", {"data": {"category": "g", "summary": "咨询停车"}})
    status, body = client.get(f"/instances/{hotline}/events", "auditor")
    assert status == 200
    events = body["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["kind"] for e in events][:4] == ["started", "task_reached", "task_claimed", "task_completed"]
    assert events[0]["actor"] == "assistant" and events[0]["payload"]["data"]["caller_name"] == "张先生"
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(events, events[1:], strict=False))
    assert all(e["at"].endswith("Z") and len(e["hash"]) == 64 for e in events)


def test_events_errors(client, hotline):
    assert client.get("/instances/no-such-instance/events", "auditor")[0] == 404
    assert client.get(f"/instances/{hotline}/events", "customer")[0] == 403
    assert client.get(f"/instances/{hotline}/events", "admin")[0] == 403  # admins manage, they do not read data


# --- errors are JSON everywhere under /api/v1 ----------------------------------------------------------------


def test_unknown_path_and_wrong_method_are_json(client):
    status, body = client.get("/no-such-thing", "assistant")
    assert status == 404 and body == {"error": "not_found", "message": "找不到请求的资源", "fields": {}}
    response = client.client.get("/api/v1/requests")
    assert response.status_code == 405 and response.get_json()["error"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_a_crash_is_a_json_500(client, hotline, monkeypatch):
    client.app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr("webapp.api.routes_instances.sla_clocks", boom)
    status, body = client.get(f"/instances/{hotline}", "manager")
    assert status == 500 and body == {"error": "server_error", "message": "服务器内部错误，请稍后重试", "fields": {}}
