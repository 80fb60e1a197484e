"""Any published process can be started (issue 14, item 8): ``POST /processes/<id>/instances`` by the roles
its start lane names, with its start form's data. SQLite and PostgreSQL."""

from __future__ import annotations

from engine import repository, runtime
from engine.core import db
from engine.repository import bundle
from engine.repository.bundle import SourceFile
from tests.api.conftest import HOTLINE
from tests.conftest import FIXTURES

# A new 规程 the process owner publishes: 工程部 starts it with the 督办 form filled in.
NEW_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="Definitions_eng" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="eng_inspection" name="设备巡检（新规程）" isExecutable="true">
    <bpmn:laneSet id="LaneSet_e">
      <bpmn:lane id="Lane_e" name="工程部"><bpmn:flowNodeRef>e_start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>e_check</bpmn:flowNodeRef><bpmn:flowNodeRef>e_end</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="e_start" name="发起巡检">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="mini_note.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:outgoing>e1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="e_check" name="巡检">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="mini_fix.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>e1</bpmn:incoming><bpmn:outgoing>e2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="e_end"><bpmn:incoming>e2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="e1" sourceRef="e_start" targetRef="e_check"/>
    <bpmn:sequenceFlow id="e2" sourceRef="e_check" targetRef="e_end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _publish_new_process():
    src = bundle.read_paths([FIXTURES / "forms"], default_forms=False)
    src.bpmn["eng_inspection.bpmn"] = SourceFile("eng_inspection.bpmn", "eng_inspection.bpmn", NEW_PROCESS.encode())
    with db.transaction() as session:
        repository.deploy(session, src, actor="process_owner", note="新规程：设备巡检")


def test_a_newly_published_process_is_started_by_its_start_lane_with_its_start_form(client):
    _publish_new_process()
    status, body = client.post("/processes/eng_inspection/instances", "engineer", {"note": "  二号泵房巡检  "})
    assert status == 201, body
    assert (body["process_id"], body["version"]) == ("eng_inspection", 1)
    with db.read_session() as session:
        loaded = runtime.load(session, body["instance_id"])
        assert runtime.current_data(loaded.workflow)["note"] == "二号泵房巡检"
        assert [t.task_spec.bpmn_id for t in runtime.ready_user_tasks(loaded.workflow)] == ["e_check"]
        assert loaded.instance.started_by == "engineer"

    status, body = client.post("/processes/eng_inspection/instances", "assistant", {"note": "x"})
    assert status == 403 and body["message"] == "只有「工程部」可以发起此流程"
    status, body = client.post("/processes/eng_inspection/instances", "engineer", {"note": "", "extra": 1})
    assert status == 422 and set(body["fields"]) == {"note", "extra"} and body["fields"]["extra"] == "不支持此字段"
    status, body = client.post("/processes/eng_inspection/instances", "engineer", ["not", "an", "object"])
    assert status == 422


def test_a_process_without_a_start_form_starts_as_a_help_request(client):
    status, body = client.post("/processes/mini_request/instances", "assistant", HOTLINE)
    assert status == 201 and body["process_id"] == "mini_request", body
    status, body = client.get(f"/instances/{body['instance_id']}", "assistant")
    assert status == 200 and body["request"]["caller_name"] == "张先生"
    # the start lane is 物业助理: a resident, and an engineer, may not start it here
    assert client.post("/processes/mini_request/instances", "customer", {**HOTLINE, "channel": "online"})[0] == 403
    assert client.post("/processes/mini_request/instances", "engineer", HOTLINE)[0] == 403


def test_unknown_and_timer_started_processes_are_refused(client):
    status, body = client.post("/processes/no_such/instances", "assistant", HOTLINE)
    assert status == 404 and "尚未发布" in body["message"]
    status, body = client.post("/processes/mini_monthly/instances", "assistant", {})
    assert status == 409 and "定时器" in body["message"]
    assert client.post("/processes/mini_request/instances", None, HOTLINE)[0] == 401
