"""Recomputing from the log what reports, inboxes and KPIs read, and naming every row that says otherwise.

Reports never deserialize workflows: they read the projections (``requests``, ``tasks``, ``sla_clocks``,
``instances.status``). Someone covering a missed deadline or a bad rating edits those rows and leaves the
log alone; the chains and the Merkle tree stay valid. So this re-runs each instance from its log (the same
replay the auditor's page uses, :mod:`engine.runtime.replay`), recomputes each projection the way the
runtime wrote it, and reports every field that differs as tampering with that row. It lives with the help
desk because the request row is the help desk's projection; the runtime's rows are checked the same way.

Not recomputed: claims and assignments (``tasks.claimed_by``), which the inbox writes beside the workflow.
Step timings (``step_timings``) are recomputed from the replay: a task's ready time is the time of the event
whose change made it ready, its completion the event that completed it, and its duration the difference; the
labels the row copies from the diagram (department, clause) are not. Completions up to the instant migration
0062 noted (``step_timings_since``, a database that had history before the table existed) need no row.

At scale the instances are checked in chunks on several cores (:mod:`engine.core.parallel`): a chunk reads
its instances, their events and every projection row of theirs with one query per table.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from engine.audit import history, personal
from engine.core import clock, db, parallel
from engine.core.tables import AuditEvent, Instance, SlaClock, StepTiming, TaskRow
from engine.helpdesk import intake, phone_links
from engine.helpdesk.tables import DeskSetting, HelpRequest
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
    """Follows one replay step by step, settling SLA clocks exactly as the runtime's timer sync does, and
    keeping the request row as the runtime's commits wrote it."""

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id
        # The request row as written change by change: ``intake.sync`` updates only the fields a change's
        # projection holds, so a field set once (the type, a rating) stays when later data no longer has it.
        self.request: dict | None = None
        self.clocks: dict[str, dict] = {}
        self.waiting: dict[str, object] = {}
        self.completed_at = None
        self.wf = None
        self.version = None
        self.ready: dict[str, tuple] = {}  # replayed task id -> (when it became ready, the task)
        self.steps: list[dict] = []  # the step timings, as the runtime wrote them

    def __call__(self, version, event, wf) -> None:
        self.wf, self.version = wf, version
        now = clock.as_utc(event.at)
        self._time_steps(wf, event, now)
        values = intake.projection(self.process_id, current_data(wf))
        if values is not None:
            if values.get("customer_username") is None:  # never unset by a change (intake.sync)
                values.pop("customer_username", None)
            self.request = {**(self.request or {}), **values}
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


    def _time_steps(self, wf, event, now) -> None:
        """A task ready after this event and not before became ready at it; a ready task this event
        completed (a ``task_completed``: one person's submission) took from then to now."""
        ready = {str(t.id): t for t in ready_user_tasks(wf)}
        for tid in [tid for tid in self.ready if tid not in ready]:
            since, task = self.ready.pop(tid)
            if event.kind == "task_completed" and task.state == TaskState.COMPLETED:
                spec = task.task_spec
                self.steps.append({"process_id": task.workflow.spec.name, "element_id": spec.bpmn_id,
                                   "name": spec.bpmn_name or spec.bpmn_id, "lane": spec.lane, "ready_at": since,
                                   "completed_at": now, "completed_by": event.actor, "task": task,
                                   "event": event})
        for tid, task in ready.items():
            self.ready.setdefault(tid, (now, task))


@dataclass
class _Rows:
    """The projection rows of one chunk of instances, read with one query per table."""

    tasks: dict[str, list[TaskRow]]
    clocks: dict[str, list[SlaClock]]
    requests: dict[str, HelpRequest]
    personal: dict[str, dict]  # chain -> ref -> personal value, for the replay
    steps: dict[str, list[StepTiming]]
    steps_since: object = None  # completions up to this instant need no step-timing row (migration 0062)

    @classmethod
    def read(cls, session: Session, ids: list[str]) -> _Rows:
        tasks, clocks, steps = defaultdict(list), defaultdict(list), defaultdict(list)
        for row in session.scalars(select(TaskRow).where(TaskRow.instance_id.in_(ids))):
            tasks[row.instance_id].append(row)
        for row in session.scalars(select(SlaClock).where(SlaClock.instance_id.in_(ids))):
            clocks[row.instance_id].append(row)
        for row in session.scalars(select(StepTiming).where(StepTiming.instance_id.in_(ids))):
            steps[row.instance_id].append(row)
        requests = {r.instance_id: r for r in session.scalars(select(HelpRequest).where(HelpRequest.instance_id.in_(ids)))}
        return cls(tasks, clocks, requests, personal.values_by_chain(session, ids), steps, steps_since(session))


STEPS_SINCE = "step_timings_since"
# Seconds a step timing's instants may differ from its events': a task already waiting when migration 0062 was
# applied carries the inbox's ready time, taken microseconds after its event's; every other row holds the
# event's own instant.
STEP_TOLERANCE = 1.0


def steps_since(session: Session):
    """The instant up to which completed tasks have no step-timing row (the database's history before
    migration 0062), or None: every completion has its row."""
    row = session.get(DeskSetting, STEPS_SINCE)
    return clock.as_utc(dt.datetime.fromisoformat(row.value)) if row is not None else None


def _check_steps(iid: str, expected: list[dict], stored: list[StepTiming], since) -> list[Difference]:
    """Each stored step timing must be one the log shows (ready and completion times, duration, who),
    and each completion the log shows must have its row (unless it came before ``since``)."""
    out: list[Difference] = []
    left = list(expected)
    for row in sorted(stored, key=lambda r: (clock.as_utc(r.completed_at), r.element_id)):
        label = f"{row.process_id}:{row.element_id}"
        match = next((e for e in left if e["process_id"] == row.process_id and e["element_id"] == row.element_id
                      and abs((clock.as_utc(row.completed_at) - e["completed_at"]).total_seconds()) < STEP_TOLERANCE),
                     None)
        if match is None:
            out.append(Difference("step_timings", iid, label, _when(row.completed_at), "日志中没有该环节在此时完成的记录"))
            continue
        left.remove(match)
        took = (match["completed_at"] - match["ready_at"]).total_seconds()
        if abs(clock.as_utc(row.ready_at).timestamp() - match["ready_at"].timestamp()) >= STEP_TOLERANCE:
            out.append(Difference("step_timings", iid, f"{label} ready_at", _when(row.ready_at),
                                  _when(match["ready_at"])))
        if row.seconds is None or abs(row.seconds - took) >= STEP_TOLERANCE:
            out.append(Difference("step_timings", iid, f"{label} seconds", row.seconds, round(took, 3)))
        if row.completed_by != match["completed_by"]:
            out.append(Difference("step_timings", iid, f"{label} completed_by", row.completed_by,
                                  match["completed_by"]))
        if row.lane != match["lane"]:
            out.append(Difference("step_timings", iid, f"{label} lane", row.lane, match["lane"]))
    for e in left:
        if since is not None and e["completed_at"] <= since:
            continue  # completed before the table existed (see steps_since)
        out.append(Difference("step_timings", iid, f"{e['process_id']}:{e['element_id']}", "缺失",
                              f"应有于 {_when(e['completed_at'])} 完成的记录"))
    return out


def _when(value) -> str:
    return clock.to_local(clock.as_utc(value)).strftime("%Y-%m-%d %H:%M:%S")


def _check_instance(session: Session, instance: Instance, events: list, rows: _Rows) -> list[Difference]:
    seen = _Recompute(instance.process_id)
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
    values = seen.request
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
    out += _check_steps(iid, seen.steps, rows.steps.get(iid, []), rows.steps_since)
    return out


def _diff(stored: Counter, expected: Counter):
    """(field, expected status, stored status) for every SLA deadline whose outcome differs."""
    keys = {(k, e) for k, e, _s in stored} | {(k, e) for k, e, _s in expected}
    for key, element in sorted(keys):
        has = sorted(s for (k, e, s), n in stored.items() for _ in range(n) if (k, e) == (key, element))
        want = sorted(s for (k, e, s), n in expected.items() for _ in range(n) if (k, e) == (key, element))
        if has != want:
            yield f"{key}@{element}", "/".join(want) or "（无）", "/".join(has) or "（无）"


def fill_step_timings(session: Session, progress: parallel.Progress | None = None) -> int:
    """Write the step timings of the tasks completed before migration 0062 (up to :func:`steps_since`),
    recomputed from each instance's log as verify recomputes them, then drop the note, so that from now on
    every completion must have its row. Returns how many rows were written. The labels the runtime copies
    from the inbox row are taken from the diagram; a ``department`` the diagram computes from the request's
    data is evaluated on the task's data at the end of the replay."""
    since = steps_since(session)
    if since is None:
        return 0
    ids = sorted(set(session.scalars(select(AuditEvent.chain).where(AuditEvent.kind == "task_completed",
                                                                     AuditEvent.at <= since))))
    events = replay_all.events_by_chain(session, ids)
    rows = _Rows.read(session, ids)
    written, started = 0, time.monotonic()
    for n, iid in enumerate(ids, start=1):
        instance = session.get(Instance, iid)
        seen = _Recompute(instance.process_id)
        if instance is not None:
            replay.replay_loaded(session, instance, events[iid], observe=seen, known=rows.personal.get(iid, {}))
        have = {(r.process_id, r.element_id, round(clock.as_utc(r.completed_at).timestamp()))
                for r in rows.steps.get(iid, ())}
        new = []
        for step in seen.steps:
            key = (step["process_id"], step["element_id"], round(step["completed_at"].timestamp()))
            if step["completed_at"] > since or key in have:
                continue
            labels = task_rows.describe(step["task"], seen.version)
            task_id = history.payload_of(step["event"]).get("task_id") or str(step["task"].id)
            new.append({"id": task_id, "instance_id": iid, "process_id": step["process_id"],
                        "element_id": step["element_id"], "name": step["name"], "lane": step["lane"],
                        "department": labels["department"], "clause": labels["clause"],
                        "ready_at": step["ready_at"], "completed_at": step["completed_at"],
                        "seconds": (step["completed_at"] - step["ready_at"]).total_seconds(),
                        "completed_by": step["completed_by"]})
        if new:
            session.execute(insert(StepTiming), new)
            written += len(new)
        if progress is not None:
            progress(n, len(ids), started)
    session.execute(delete(DeskSetting).where(DeskSetting.key == STEPS_SINCE))
    return written


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
                          (SlaClock, SlaClock.instance_id), (StepTiming, StepTiming.instance_id)):
        for iid in sorted(set(session.scalars(select(column).distinct())) - known):
            out.append(Difference(table.__tablename__, iid, "（整行）", "存在", "没有对应的流程实例"))
    return out
