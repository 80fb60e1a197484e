"""A second approver for publishing (issue 14, item 5): with the admin's 发布审批 on, a process owner's 发布
waits for a 公司经理, who sees the change note and the diff and approves (deployed as the next version with
both names recorded) or refuses with a reason (the published version stays); nobody approves their own
request; every step is on the repository audit chain. Off, publishing is one step as before.
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import identity, repository
from engine.core import db
from engine.core.tables import AuditEvent, Deployment
from engine.helpdesk.tables import PendingPublication
from tests.web.conftest import PASSWORD
from tests.web.test_studio import WITH_CLAUSE

PID = "web_help_request"
EDITED = WITH_CLAUSE  # the repair timer now names its clause T2.1: a small, valid change


@pytest.fixture
def studio(studio_for):
    return studio_for


def _turn_on(studio) -> None:
    admin = studio("admin")
    assert admin.post("/admin/publish-approval", data={"required": "1"}).status_code == 302
    assert "已启用" in admin.get("/admin/publish-approval").get_data(as_text=True)


def _publish(client, note="标注条款 T2.1"):
    res = client.post(f"/modeler/{PID}/deploy", json={"xml": EDITED, "note": note})
    return res.status_code, res.get_json()


def _latest() -> int:
    with db.read_session() as session:
        return repository.latest_version(session, PID).version


def _events(kind: str) -> list[AuditEvent]:
    with db.read_session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.kind == kind)))


def test_with_a_second_approver_a_publish_waits_until_the_manager_approves(studio):
    _turn_on(studio)
    owner, manager = studio("process_owner"), studio("manager")
    status, body = _publish(owner)
    assert status == 200 and body["pending"] is True and body["created"] is False and "公司经理批准" in body["message"]
    assert _latest() == 1  # not deployed yet

    page = manager.get("/approvals").get_data(as_text=True)
    assert "标注条款 T2.1" in page and "repair_late" in page  # the note and the diff (the timer got a clause)
    assert f"/approvals/{body['pending_id']}/approve" in page
    res = manager.post(f"/approvals/{body['pending_id']}/approve", follow_redirects=True)
    assert "已发布为第2版" in res.get_data(as_text=True)
    assert _latest() == 2
    with db.read_session() as session:
        v2 = repository.get_version(session, PID, 2)
        assert session.get(Deployment, v2.deployment_id).actor == "process_owner"
        row = session.get(PendingPublication, body["pending_id"])
        assert (row.status, row.requested_by, row.decided_by, row.version) == ("approved", "process_owner", "manager", 2)
    listing = owner.get("/modeler").get_data(as_text=True)
    assert 'data-testid="approved-by-web_help_request-2">（批准：钱经理）' in listing
    (asked,) = _events("publication_requested")
    (approved,) = _events("publication_approved")
    assert asked.actor == "process_owner" and approved.actor == "manager"
    assert _events("publish_approval_setting")[0].actor == "admin"
    # decided once: a second approval is refused
    res = manager.post(f"/approvals/{body['pending_id']}/approve", follow_redirects=True)
    assert "已处理" in res.get_data(as_text=True) and _latest() == 2


def test_a_refusal_keeps_the_published_version_and_tells_the_owner_why(studio):
    _turn_on(studio)
    owner, manager = studio("process_owner"), studio("manager")
    _status, body = _publish(owner)
    res = manager.post(f"/approvals/{body['pending_id']}/refuse", data={"reason": ""}, follow_redirects=True)
    assert "请写明拒绝的理由" in res.get_data(as_text=True)
    res = manager.post(f"/approvals/{body['pending_id']}/refuse", data={"reason": "条款编号待确认"},
                       follow_redirects=True)
    assert "已发布的版本不变" in res.get_data(as_text=True)
    assert _latest() == 1
    assert "钱经理 已拒绝：条款编号待确认" in owner.get("/modeler").get_data(as_text=True)
    (refused,) = _events("publication_refused")
    assert refused.actor == "manager" and "条款编号待确认" in refused.payload
    assert manager.post(f"/approvals/{body['pending_id']}/approve").status_code == 302 and _latest() == 1


def test_nobody_approves_their_own_publish(studio, password_hash, monkeypatch):
    monkeypatch.setattr(identity.users, "hash_password", lambda _pw: password_hash)
    with db.transaction() as session:
        identity.add_user(session, "owner_manager", PASSWORD, ["process_owner", "manager"], display_name="兼任经理")
    _turn_on(studio)
    both = studio("owner_manager")
    _status, body = _publish(both)
    assert "须由另一位公司经理审批" in both.get("/approvals").get_data(as_text=True)
    res = both.post(f"/approvals/{body['pending_id']}/approve", follow_redirects=True)
    assert "不能审批自己提交的发布申请" in res.get_data(as_text=True)
    assert _latest() == 1
    assert studio("manager").post(f"/approvals/{body['pending_id']}/approve").status_code == 302
    assert _latest() == 2


def test_a_revert_also_waits_and_only_managers_decide(studio):
    owner = studio("process_owner")
    assert _publish(owner)[1]["version"] == 2  # off by default: one step, as before
    _turn_on(studio)
    res = owner.post(f"/modeler/{PID}/v1/revert", data={"note": "条款未定，先退回"}, follow_redirects=True)
    assert "已提交恢复为第1版的申请" in res.get_data(as_text=True) and _latest() == 2
    assert owner.get("/approvals").status_code == 403
    with db.read_session() as session:
        (row,) = session.scalars(select(PendingPublication))
    assert studio("manager").post(f"/approvals/{row.id}/approve").status_code == 302
    assert _latest() == 3
    with db.read_session() as session:
        v3 = repository.get_version(session, PID, 3)
        assert v3.fingerprint == repository.get_version(session, PID, 1).fingerprint
