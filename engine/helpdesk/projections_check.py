"""Recomputing from the log what reports, inboxes and KPIs read, and naming every row that says otherwise.

Reports never deserialize workflows: they read the projections (``requests``, ``tasks``, ``sla_clocks``,
``instances.status``). Someone covering a missed deadline or a bad rating edits those rows and leaves the
log alone; the chains and the Merkle tree stay valid. So this re-runs each instance from its log (the same
replay the auditor's page uses, :mod:`engine.runtime.replay`), recomputes each projection the way the
runtime wrote it, and reports every field that differs as tampering with that row. It lives with the help
desk because the request row is the help desk's projection; the runtime's rows are checked the same way.

Not recomputed: claims and assignments (``tasks.claimed_by``), which the inbox writes beside the workflow.

At scale the instances are checked in chunks on several cores (:mod:`engine.core.parallel`): a chunk reads
its instances, their events and every projection row of theirs with one query per table.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import personal
from engine.core import clock, db, parallel
from engine.core.tables import AuditEvent, Instance, SlaClock, TaskRow
from engine.helpdesk import intake, phone_links
from engine.helpdesk.tables import HelpRequest
from engine.runtime import replay, replay_all, task_rows, timer_rows
from engine.runtime.workflow import all_tasks, current_data, ready_user_tasks

REQUEST_FIELDS = ("channel", "caller_name", "phone", "address", "building", "description", "priority",
                  "customer_username", "category", "satisfaction", "rating_speed", "rating_quality",
                  "rating_attitude", "rating_source", "paid_cents",
                  # need-to-know reads these: clearing a 被投诉人 or a confidential flag would open a request
                  "department", "complained_staff", "confidential")


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
        gone = [tid for tid in self.waiting if tid not in current and tid in self.clocks
                and self.clocks[tid]["status"] == "armed"]
        if gone:
            tasks = {str(t.id): t for t in all_tasks(wf)}
            for tid in gone:
                task = tasks.get(tid)
                if task is not None and task.state == TaskState.COMPLETED:
                    self.clocks[tid]["status"] = "breached"
                elif task is not None and timer_rows.withdrawn(task):
                    del self.clocks[tid]  # the deadline stopped applying: the runtime removes its clock
                else:
                    self.clocks[tid]["status"] = "met"
        for tid, w in current.items():
            if tid not in self.waiting and tid not in self.clocks and w.sla_key:
                self.clocks[tid] = {"sla_key": w.sla_key, "element_id": w.element_id, "status": "armed",
                                    "due_at": w.due_at}
        self.waiting = current
        if wf.is_completed() and self.completed_at is None:
            self.completed_at = now


@dataclass
class _Rows:
    """The projection rows of one chunk of instances, read with one query per table."""

    tasks: dict[str, list[TaskRow]]
    clocks: dict[str, list[SlaClock]]
    requests: dict[str, HelpRequest]
    personal: dict[str, dict]  # chain -> ref -> personal value, for the replay

    @classmethod
    def read(cls, session: Session, ids: list[str]) -> _Rows:
        tasks, clocks = defaultdict(list), defaultdict(list)
        for row in session.scalars(select(TaskRow).where(TaskRow.instance_id.in_(ids))):
            tasks[row.instance_id].append(row)
        for row in session.scalars(select(SlaClock).where(SlaClock.instance_id.in_(ids))):
            clocks[row.instance_id].append(row)
        requests = {r.instance_id: r for r in session.scalars(select(HelpRequest).where(HelpRequest.instance_id.in_(ids)))}
        return cls(tasks, clocks, requests, personal.values_by_chain(session, ids))


def _check_instance(session: Session, instance: Instance, events: list, rows: _Rows) -> list[Difference]:
    seen = _Recompute()
    result = replay.replay_loaded(session, instance, events, observe=seen, known=rows.personal.get(instance.id, {}))
    out: list[Difference] = []
    iid = instance.id
    if result.error or seen.wf is None:
        return [Difference("instances", iid, "state", "（保存的状态）", f"无法由日志重放：{result.error}")]
    wf = seen.wf
    status = "completed" if wf.is_completed() else "running"
    if instance.status != status:
        out.append(Difference("instances", iid, "status", instance.status, status))
    # the inbox: ready user tasks with their nearest SLA deadline (task ids are random per run: compare content)
    deadlines = task_rows.deadlines(list(seen.waiting.values()), [str(t.id) for t in ready_user_tasks(wf)])
    expected = Counter((t.workflow.spec.name, t.task_spec.bpmn_id, t.task_spec.lane,
                        *deadlines.get(str(t.id), (None, None))) for t in ready_user_tasks(wf))
    stored = Counter((r.process_id, r.element_id, r.lane, clock.as_utc(r.due_at) if r.due_at else None, r.sla_key)
                     for r in rows.tasks.get(iid, ()))
    for row in sorted((stored - expected).keys(), key=str):
        out.append(Difference("tasks", iid, f"{row[0]}:{row[1]}", "存在", "不应存在"))
    for row in sorted((expected - stored).keys(), key=str):
        out.append(Difference("tasks", iid, f"{row[0]}:{row[1]}", "缺失", "应为待办"))
    # SLA outcomes (met / breached / armed) per deadline
    expected_sla = Counter((c["sla_key"], c["element_id"], c["status"]) for c in seen.clocks.values())
    stored_sla = Counter((c.sla_key, c.element_id, c.status) for c in rows.clocks.get(iid, ()))
    for key, status_, in_db in _diff(stored_sla, expected_sla):
        out.append(Difference("sla_clocks", iid, key, in_db, status_))
    # the request row (type, priority, ratings, status)
    values = intake.projection(instance.process_id, current_data(wf))
    if values is not None and values.get("customer_username") is None:  # linked once the number was proven
        values["customer_username"] = phone_links.linked_to(events)
    req = rows.requests.get(iid)
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


def check_chunk(url: str | None, ids: list[str]) -> list[Difference]:
    """Every difference for the instances ``ids`` (a worker's unit of work)."""
    out: list[Difference] = []
    with db.read_session(url) as session:
        instances = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(ids)))}
        logged = set(session.scalars(select(AuditEvent.chain).where(AuditEvent.chain.in_(ids),
                                                                     AuditEvent.kind == "started")))
        events = replay_all.events_by_chain(session, ids)
        rows = _Rows.read(session, ids)
        for iid in ids:
            instance = instances.get(iid)
            if instance is None:
                continue  # deleted while the check ran: nothing of it is read by a report any more
            if iid not in logged:
                out.append(Difference("instances", iid, "（整行）", "存在", "审计日志中没有该实例的启动记录"))
            else:
                out += _check_instance(session, instance, events[iid], rows)
    return out


def verify(session: Session, progress: parallel.Progress | None = None, *, url: str | None = None,
           jobs: int = 1, chunk: int = 50) -> list[Difference]:
    """Every difference between the projections and what the log says, instance by instance; rows that
    belong to no logged instance are differences too. ``session`` lists the instances; the chunks are
    checked on ``url``'s database (default: the session's), ``jobs`` processes at a time."""
    url = url or session.get_bind().engine.url.render_as_string(hide_password=False)
    ids = replay_all.instance_ids(session)
    if jobs > 1:
        replay_all.preload_versions(url)
    order = {iid: n for n, iid in enumerate(ids)}
    out = sorted(parallel.map_chunks(check_chunk, url, ids, jobs=jobs, chunk=chunk, progress=progress),
                 key=lambda d: order[d.instance_id])
    known = set(ids)
    for table, column in ((HelpRequest, HelpRequest.instance_id), (TaskRow, TaskRow.instance_id),
                          (SlaClock, SlaClock.instance_id)):
        for iid in sorted(set(session.scalars(select(column).distinct())) - known):
            out.append(Difference(table.__tablename__, iid, "（整行）", "存在", "没有对应的流程实例"))
    return out
