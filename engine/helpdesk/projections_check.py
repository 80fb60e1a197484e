"""Recomputing from the log what reports, inboxes and KPIs read, and naming every row that says otherwise.

Reports never deserialize workflows: they read the projections (``requests``, ``tasks``, ``sla_clocks``,
``instances.status``). Someone covering a missed deadline or a bad rating edits those rows and leaves the
log alone; the chains and the Merkle tree stay valid. So this re-runs each instance from its log (the same
replay the auditor's page uses, :mod:`engine.runtime.replay`), recomputes each projection the way the
runtime wrote it, and reports every field that differs as tampering with that row. It lives with the help
desk because the request row is the help desk's projection; the runtime's rows are checked the same way.

Not recomputed: claims and assignments (``tasks.claimed_by``), which the inbox writes beside the workflow.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import clock
from engine.core.tables import AuditEvent, Instance, SlaClock, TaskRow
from engine.helpdesk import intake
from engine.helpdesk.tables import HelpRequest
from engine.runtime import replay, task_rows, timer_rows
from engine.runtime.workflow import all_tasks, current_data, ready_user_tasks

REQUEST_FIELDS = ("channel", "caller_name", "phone", "address", "building", "description", "priority",
                  "customer_username", "category", "satisfaction", "rating_speed", "rating_quality",
                  "rating_attitude", "rating_source", "paid_cents")


@dataclass(frozen=True)
class Difference:
    table: str
    instance_id: str
    field: str
    stored: object
    from_log: object

    def __str__(self) -> str:
        return (f"{self.table}（实例 {self.instance_id}）字段 {self.field}：表中为 {self.stored!r}，"
                f"按审计日志应为 {self.from_log!r}——该行被改动过")


class _Recompute:
    """Follows one replay step by step, settling SLA clocks exactly as the runtime's timer sync does."""

    def __init__(self) -> None:
        self.clocks: dict[str, dict] = {}
        self.waiting: dict[str, object] = {}
        self.completed_at = None
        self.wf = None
        self.version = None

    def __call__(self, version, event, wf) -> None:
        self.wf, self.version = wf, version
        now = clock.as_utc(event.at)
        current = {w.task_id: w for w in timer_rows.waiting(wf, version)}
        states = {str(t.id): t.state for t in all_tasks(wf)}
        for tid in self.waiting:
            clk = self.clocks.get(tid)
            if tid not in current and clk is not None and clk["status"] == "armed":
                clk["status"] = "breached" if states.get(tid) == TaskState.COMPLETED else "met"
        for tid, w in current.items():
            if tid not in self.waiting and tid not in self.clocks and w.sla_key:
                self.clocks[tid] = {"sla_key": w.sla_key, "element_id": w.element_id, "status": "armed",
                                    "due_at": w.due_at}
        self.waiting = current
        if wf.is_completed() and self.completed_at is None:
            self.completed_at = now


def _check_instance(session: Session, instance: Instance) -> list[Difference]:
    seen = _Recompute()
    result = replay.replay(session, instance.id, observe=seen)
    out: list[Difference] = []
    iid = instance.id
    if result.error or seen.wf is None:
        return [Difference("instances", iid, "state", "（保存的状态）", f"无法由日志重放：{result.error}")]
    wf = seen.wf
    status = "completed" if wf.is_completed() else "running"
    if instance.status != status:
        out.append(Difference("instances", iid, "status", instance.status, status))
    # the inbox: ready user tasks with their nearest SLA deadline (task ids are random per run: compare content)
    deadlines = task_rows.deadlines(list(seen.waiting.values()))
    expected = Counter((t.workflow.spec.name, t.task_spec.bpmn_id, t.task_spec.lane,
                        *deadlines.get(str(t.id), (None, None))) for t in ready_user_tasks(wf))
    stored = Counter((r.process_id, r.element_id, r.lane, clock.as_utc(r.due_at) if r.due_at else None, r.sla_key)
                     for r in session.scalars(select(TaskRow).where(TaskRow.instance_id == iid)))
    for row in sorted((stored - expected).keys(), key=str):
        out.append(Difference("tasks", iid, f"{row[0]}:{row[1]}", "存在", "不应存在"))
    for row in sorted((expected - stored).keys(), key=str):
        out.append(Difference("tasks", iid, f"{row[0]}:{row[1]}", "缺失", "应为待办"))
    # SLA outcomes (met / breached / armed) per deadline
    expected_sla = Counter((c["sla_key"], c["element_id"], c["status"]) for c in seen.clocks.values())
    stored_sla = Counter((c.sla_key, c.element_id, c.status)
                         for c in session.scalars(select(SlaClock).where(SlaClock.instance_id == iid)))
    for key, status_, in_db in _diff(stored_sla, expected_sla):
        out.append(Difference("sla_clocks", iid, key, in_db, status_))
    # the request row (type, priority, ratings, status)
    values = intake.projection(instance.process_id, current_data(wf))
    req = session.get(HelpRequest, iid)
    if values is not None and req is None:
        out.append(Difference("requests", iid, "（整行）", "缺失", "应存在"))
    elif values is not None:
        for name in REQUEST_FIELDS:
            if getattr(req, name) != values.get(name):
                out.append(Difference("requests", iid, name, getattr(req, name), values.get(name)))
        req_status = "closed" if wf.is_completed() else "open"
        if req.status != req_status:
            out.append(Difference("requests", iid, "status", req.status, req_status))
    return out


def _diff(stored: Counter, expected: Counter):
    """(field, expected status, stored status) for every SLA deadline whose outcome differs."""
    keys = {(k, e) for k, e, _s in stored} | {(k, e) for k, e, _s in expected}
    for key, element in sorted(keys):
        has = sorted(s for (k, e, s), n in stored.items() for _ in range(n) if (k, e) == (key, element))
        want = sorted(s for (k, e, s), n in expected.items() for _ in range(n) if (k, e) == (key, element))
        if has != want:
            yield f"{key}@{element}", "/".join(want) or "（无）", "/".join(has) or "（无）"


def verify(session: Session, progress: Callable[[int, int, float], None] | None = None) -> list[Difference]:
    """Every difference between the projections and what the log says, instance by instance; rows that
    belong to no logged instance are differences too."""
    logged = set(session.scalars(select(AuditEvent.chain).where(AuditEvent.kind == "started")))
    instances = list(session.scalars(select(Instance).order_by(Instance.started_at, Instance.id)))
    out: list[Difference] = []
    started = time.monotonic()
    for done, instance in enumerate(instances, start=1):
        if instance.id not in logged:
            out.append(Difference("instances", instance.id, "（整行）", "存在", "审计日志中没有该实例的启动记录"))
        else:
            out += _check_instance(session, instance)
        if progress is not None:
            progress(done, len(instances), started)
    known = {i.id for i in instances}
    for table, column in ((HelpRequest, HelpRequest.instance_id), (TaskRow, TaskRow.instance_id),
                          (SlaClock, SlaClock.instance_id)):
        for iid in sorted(set(session.scalars(select(column).distinct())) - known):
            out.append(Difference(table.__tablename__, iid, "（整行）", "存在", "没有对应的流程实例"))
    return out
