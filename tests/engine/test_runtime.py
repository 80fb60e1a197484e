"""Runtime: starting, completing, persisting (issue 2, item 3)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from engine import identity, repository, runtime, tasks
from engine.audit import history
from engine.core import db, errors
from engine.core.tables import AuditEvent, Instance, SlaClock, TaskRow
from engine.helpdesk.tables import HelpRequest
from engine.repository import bundle
from tests.conftest import FIXTURES
from tests.engine.helpers import CALL, complete, ensure_user, ready, revision, start


def _audit_count(instance_id: str) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).where(AuditEvent.chain == instance_id))


def test_a_repair_request_runs_to_completion_through_a_call_activity(deployed):
    iid = start()
    assert revision(iid) == 1 and set(ready(iid)) == {"record"}
    complete(iid, "record", {"category": "b", "summary": "厨房漏水"})
    assert revision(iid) == 2 and set(ready(iid)) == {"fix"}
    complete(iid, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")
    complete(iid, "confirm", {"satisfaction": 5})
    with db.read_session() as session:
        inst = session.get(Instance, iid)
        assert (inst.status, inst.revision) == ("completed", 4)
        assert session.scalar(select(func.count()).select_from(TaskRow)) == 0
        req = session.get(HelpRequest, iid)
        assert (req.status, req.category, req.building, req.satisfaction) == ("closed", "b", "3栋", 5)
        clocks = session.scalars(select(SlaClock)).all()
        assert [(c.sla_key, c.status) for c in clocks] == [("response", "met")]
        kinds = [e.kind for e in history.events(session, iid)]
    assert kinds == ["started", "task_reached", "task_completed", "task_reached", "task_completed",
                     "task_reached", "task_completed", "instance_completed"]


def test_the_stored_blob_holds_no_spec(deployed):
    iid = start()
    with db.read_session() as session:
        state = json.loads(session.get(Instance, iid).state)
    assert "spec" not in state and "subprocess_specs" not in state
    assert state["spec_ref"] == "mini_request"


def test_invalid_form_data_gives_per_field_messages_and_changes_nothing(deployed):
    iid = start()
    before = (revision(iid), _audit_count(iid))
    with pytest.raises(errors.InvalidData) as err:
        complete(iid, "record", {"category": "z"})
    assert err.value.errors == {"category": "请从选项中选择", "summary": "请填写此项"}
    assert err.value.status == 422
    assert (revision(iid), _audit_count(iid)) == before
    assert set(ready(iid)) == {"record"}


def test_a_form_post_cannot_set_fields_outside_its_schema(deployed):
    iid = start(data={**CALL, "customer_username": "resident_a"})
    complete(iid, "record", {"category": "g", "summary": "借梯子", "customer_username": "intruder"})
    with db.read_session() as session:
        data = runtime.current_data(runtime.load(session, iid).workflow)
    assert data["customer_username"] == "resident_a"


def test_completing_a_task_that_is_not_ready_is_a_conflict(deployed):
    iid = start()
    record_id = ready(iid)["record"]
    complete(iid, "record", {"category": "g", "summary": "借梯子"})
    with db.transaction() as session, pytest.raises(errors.Conflict) as err:
        runtime.complete_task(session, iid, record_id, {"category": "g", "summary": "again"}, "assistant")
    assert "已由他人完成" in err.value.message and err.value.status == 409
    assert revision(iid) == 2


def test_a_task_of_another_instance_is_a_conflict(deployed):
    first, second = start(), start()
    with db.transaction() as session, pytest.raises(errors.Conflict):
        runtime.complete_task(session, first, ready(second)["record"], {"category": "g", "summary": "x"}, "a")
    assert revision(first) == 1 and revision(second) == 1


def test_a_stale_revision_is_a_conflict_not_an_overwrite(deployed):
    iid = start()
    with db.transaction() as session, pytest.raises(errors.Conflict):
        runtime.complete_task(session, iid, ready(iid)["record"], {"category": "g", "summary": "xx"}, "assistant",
                              expected_revision=0)
    assert revision(iid) == 1


def test_a_task_is_only_offered_to_its_lane(deployed):
    iid = start()
    ensure_user("engineer", "engineering")
    ensure_user("assistant", "assistant")
    with db.transaction() as session:
        engineer = identity.get_user(session, "engineer")
        assistant = identity.get_user(session, "assistant")
        assert tasks.inbox(session, engineer) == []
        assert [t.element_id for t in tasks.inbox(session, assistant)] == ["record"]
        with pytest.raises(errors.EngineError, match="没有处理此任务的权限"):
            tasks.complete(session, ready(iid)["record"], engineer, {"category": "g", "summary": "xx"})


def test_versions_are_immutable_and_instances_keep_theirs(deployed, fixture_bundle):
    old = start()
    with db.transaction() as session:
        again = repository.deploy(session, fixture_bundle, actor="tester")
    assert again and all(not r.created for r in again)  # identical bytes: no new version anywhere
    changed = bundle.read_paths([FIXTURES / "bpmn", FIXTURES / "forms"], default_forms=False)
    source = changed.bpmn["mini_request.bpmn"]
    changed.bpmn["mini_request.bpmn"] = type(source)(source.name, source.path,
                                                     source.content.replace("记录求助".encode(), "登记求助".encode()))
    with db.transaction() as session:
        result = {r.process_id: (r.version, r.created) for r in repository.deploy(session, changed, actor="t")}
    assert result["mini_request"] == (2, True) and result["mini_repair"] == (1, False)
    assert sum(created for _, created in result.values()) == 1
    new = start()
    with db.read_session() as session:
        versions = {i.id: repository.session_version(session, i) for i in session.scalars(select(Instance))}
        names = {t.instance_id: t.name for t in session.scalars(select(TaskRow))}
    assert versions == {old: 1, new: 2}
    assert names == {old: "记录求助", new: "登记求助"}
    complete(old, "record", {"category": "g", "summary": "旧版本继续"})
    assert set(ready(old)) == {"confirm"}


def test_a_failing_script_rolls_everything_back(deployed, monkeypatch):
    iid = start()
    complete(iid, "record", {"category": "b", "summary": "漏水"})
    before = (revision(iid), _audit_count(iid))
    with pytest.raises(errors.ScriptFailure) as err:
        # the script after `fix` reads len(fix_note): a number makes it raise TypeError
        with db.transaction() as session:
            loaded = runtime.load(session, iid)
            task = runtime.find_task(loaded.workflow, ready(iid)["fix"])
            monkeypatch.setattr(runtime.instances, "validate_task_data", lambda version, t, data: data)
            runtime.complete_task(session, iid, str(task.id), {"fix_note": 42, "fixed": True}, "engineer")
    assert "流程脚本执行出错" in err.value.message
    assert (revision(iid), _audit_count(iid)) == before
    assert set(ready(iid)) == {"fix"}
