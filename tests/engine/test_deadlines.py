"""Deadlines are defined once, in the diagrams: the registry reads them from the deployed versions, and
deploying a diagram with another duration changes what residents and staff read."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine import identity, repository
from engine.core import db
from engine.helpdesk import deadlines
from engine.repository import bundle

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "deadline-test-pw"
MINUTES = dt.timedelta(minutes=1)


def _deploy(*paths: Path) -> None:
    with db.transaction() as session:
        repository.deploy(session, bundle.read_paths(list(paths)), actor="tester")


def _deploy_changed(tmp_path: Path, name: str, old: str, new: str) -> None:
    """A copy of ``bpmn/<name>`` with one timer literal changed, deployed on top of the procedure."""
    text = (ROOT / "bpmn" / name).read_text(encoding="utf-8")
    assert text.count(old) == 1
    changed = tmp_path / name
    changed.write_text(text.replace(old, new), encoding="utf-8")
    _deploy(changed)


def _registry() -> deadlines.Registry:
    with db.read_session() as session:
        return deadlines.current(session)


def _summary(registry: deadlines.Registry) -> dict:
    return {d.key: (d.label, d.duration) for d in registry}


def test_the_registry_reads_the_durations_of_the_deployed_procedure(db_url):
    assert _registry() is deadlines.EMPTY  # nothing deployed: names without durations
    assert deadlines.EMPTY.label("ack_online") == "线上受理" and deadlines.EMPTY.duration("response") is None

    _deploy(ROOT / "bpmn", ROOT / "forms")
    registry = _registry()
    assert _summary(registry) == {
        "ack_online": ("线上受理（15分钟）", 15 * MINUTES),
        "response": ("响应（30分钟）", 30 * MINUTES),
        "take_over": ("部门接单（10分钟）", 10 * MINUTES),
        "supervisor_reply": ("主管回复（10分钟）", 10 * MINUTES),
        "resolve_ordinary": ("一般问题解决（24小时）", dt.timedelta(hours=24)),
        "solution_complex": ("复杂问题方案（48小时）", dt.timedelta(hours=48)),
        # dates people promise (the department's expected time, a plan's completion date): no fixed duration
        "promised_done": ("部门承诺完成", None),
        "plan_promised": ("方案承诺完成", None),
        # the due date the 客服部主管 sets for each month-end improvement action
        "improvement_due": ("改进措施期限", None),
    }
    reply = registry.get("supervisor_reply")
    assert [(t.process_id, t.element_id, t.expression) for t in reply.timers] == [
        ("consultation", "b_reply", '"PT10M"'), ("general_help", "b_reply", '"PT10M"')]
    # one clock per request, watched from receipt (not one per category's handling step)
    assert [(t.process_id, t.element_id) for t in registry.get("resolve_ordinary").timers] == [("help_request", "b_res")]
    # the 48 hours are counted from receipt, also when the timer is armed later (re-classified as complex)
    [plan] = registry.get("solution_complex").timers
    assert (plan.element_id, plan.expression) == ("b_plan", 'add_duration(received_at, "PT48H")')
    assert _registry() is registry  # cached until a deployment changes what is current
    assert deadlines.from_sources(ROOT / "bpmn") == registry  # the diagrams as written say the same


def test_deploying_another_duration_changes_the_registry_and_every_label(db_url, tmp_path):
    from webapp import reports_views, sla_view

    _deploy(ROOT / "bpmn", ROOT / "forms")
    _deploy_changed(tmp_path, "help_request.bpmn", '"PT15M"', '"PT20M"')
    registry = _registry()
    assert registry.get("ack_online").label == "线上受理（20分钟）"
    assert registry.duration("ack_online") == 20 * MINUTES and registry.text("response") == "30分钟"
    armed = SimpleNamespace(sla_key="ack_online", status="armed")
    assert sla_view.customer_promises([armed], registry) == ["预计20分钟内受理"]
    assert reports_views.stat_labels(registry)["ack_online_rate"] == "线上20分钟确认率(%)"

    # …and on the pages, which ask the database themselves: the resident's promise, the staff's clock.
    with db.transaction() as session:
        identity.add_user(session, "13800000001", PASSWORD, ["customer"], display_name="陈先生", phone="13800000001")
        identity.add_user(session, "supervisor", PASSWORD, ["cs_supervisor"], display_name="主管")
    from webapp.app import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False})
    resident, staff = app.test_client(), app.test_client()
    assert resident.post("/login", data={"username": "13800000001", "password": PASSWORD}).status_code == 302
    assert staff.post("/login", data={"username": "supervisor", "password": PASSWORD}).status_code == 302
    res = resident.post("/portal/new", data={"address": "5栋1单元301", "description": "楼道灯不亮"})
    assert res.status_code == 302, res.get_data(as_text=True)
    page = resident.get(res.headers["Location"]).get_data(as_text=True)
    assert "预计20分钟内受理" in page and "15分钟" not in page
    instance_id = res.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    page = staff.get(f"/requests/{instance_id}").get_data(as_text=True)
    assert "线上受理（20分钟）" in page


def test_timers_that_disagree_are_labelled_by_the_most_common_duration(db_url, tmp_path):
    _deploy(ROOT / "bpmn", ROOT / "forms")
    _deploy_changed(tmp_path, "consultation.bpmn", '"PT10M"', '"PT15M"')
    reply = _registry().get("supervisor_reply")
    # help_request was not redeployed: its latest version still calls the consultation it pinned (10 minutes)
    assert sorted((t.process_id, t.duration) for t in reply.timers) == [
        ("consultation", 10 * MINUTES), ("consultation", 15 * MINUTES), ("general_help", 10 * MINUTES)]
    assert reply.label == "主管回复（10分钟，部分流程不同）"

    procedure = tmp_path / "procedure"
    shutil.copytree(ROOT / "bpmn", procedure)
    shutil.copy(tmp_path / "consultation.bpmn", procedure / "consultation.bpmn")
    _deploy(procedure)  # now help_request calls the new consultation too
    reply = _registry().get("supervisor_reply")
    assert [(t.process_id, t.duration) for t in reply.timers] == [("consultation", 15 * MINUTES),
                                                                  ("general_help", 10 * MINUTES)]
    assert reply.varies and reply.durations == [10 * MINUTES, 15 * MINUTES]  # a tie: the shorter first
    assert reply.label == "主管回复（10分钟，部分流程不同）"


@pytest.mark.parametrize(("expression", "expected"), [
    ('"PT15M"', 15 * MINUTES), ("'PT1H30M'", dt.timedelta(hours=1, minutes=30)), ('"P2D"', dt.timedelta(days=2)),
    ('"P1W"', dt.timedelta(weeks=1)),
    ("PT15M", None),  # unquoted: SpiffWorkflow would evaluate it as Python
    ("limit_minutes", None), ('"P1M"', None),  # known only at run time; a month's length varies
    ('"2026-12-01T00:00:00+08:00"', None), ("", None), (None, None),
])
def test_only_a_quoted_literal_duration_has_a_known_length(expression, expected):
    assert deadlines.literal_duration(expression) == expected


@pytest.mark.parametrize(("expression", "expected"), [
    ('add_duration(received_at, "PT48H")', dt.timedelta(hours=48)),
    ("add_duration(received_at, 'PT30M')", 30 * MINUTES),
    ("add_duration(received_at, limit)", None),  # known only at run time
    ('add_duration(received_at, "P1M")', None), ('other(received_at, "PT48H")', None),
    ('"2026-12-01T00:00:00+08:00"', None), ("add_duration(", None), (None, None),
])
def test_a_deadline_counted_from_a_recorded_moment_has_the_length_it_adds(expression, expected):
    assert deadlines.counted_duration(expression) == expected


@pytest.mark.parametrize(("delta", "text"), [
    (15 * MINUTES, "15分钟"), (30 * MINUTES, "30分钟"), (dt.timedelta(hours=24), "24小时"),
    (dt.timedelta(hours=48), "48小时"), (90 * MINUTES, "1小时30分钟"), (dt.timedelta(days=7), "7天"),
    (dt.timedelta(seconds=45), "45秒"),
])
def test_durations_read_as_the_procedure_writes_them(delta, text):
    assert deadlines.format_duration(delta) == text


def test_without_a_deployed_duration_labels_name_the_deadline_only():
    from webapp import reports_views, sla_view

    armed = SimpleNamespace(sla_key="response", status="armed")
    assert deadlines.EMPTY.label("response") == "响应"
    assert sla_view.customer_promises([armed], deadlines.EMPTY) == []  # no promise we cannot put a number on
    labels = reports_views.stat_labels(deadlines.EMPTY)
    assert (labels["ack_online_rate"], labels["response_rate"]) == ("线上确认率(%)", "响应率(%)")

