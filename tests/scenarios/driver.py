"""Drive the deployed procedure the way staff do: start a request, then work tasks from each person's inbox.

``do`` only completes a task that is in the named user's inbox (``tasks.inbox``), and completes it through
``tasks.complete`` (right to work on it, then the form's server-side validation). So every step of a
scenario proves which lane / assignee the task went to, and that the data fits its form.

Form data is the smallest valid filling of the task's form (``fill``) overlaid with what the scenario
says; a scenario only spells out the fields that steer the process or that it asserts on.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache

from sqlalchemy import select

from engine import identity, runtime, tasks
from engine.audit import history
from engine.core import clock, config, db, errors
from engine.core.tables import Instance, SlaClock, TaskRow, Timer
from engine.forms import sample
from engine.helpdesk.tables import HelpRequest
from engine.runtime import replay
from engine.timers import firing

HOTLINE_CALLER = {"caller_name": "张三", "phone": "13800000000", "address": "3栋2单元1201",
                  "description": "厨房水管漏水"}
CUSTOMER = "customer"  # the demo resident 林业主; online requests are theirs


# --- starting ---------------------------------------------------------------------------------------------

def start_request(channel: str = "hotline", category: str | None = None, *, process: str = "help_request",
                  customer: str | None = CUSTOMER, resident: str | None = None, **caller) -> str:
    """Start ``process`` with the start data the intake pages give it (every key present, as there).

    Hotline calls are recorded by the 物业助理; online requests are submitted by the resident, who is then
    the ``customer_username`` that customer tasks are assigned to. A hotline call from a registered
    resident's phone carries that ``resident``'s account (the hotline page looks it up), else None.
    """
    data = {**HOTLINE_CALLER, **caller}
    start = {"channel": channel, "caller_name": data["caller_name"], "phone": data["phone"],
             "address": data["address"], "description": data["description"], "category": category,
             "customer_username": customer if channel == "online" else resident}
    actor = customer if channel == "online" else "assistant"
    with db.transaction() as session:
        return runtime.start(session, process, start, actor).id


# One demo member of each department (identity.DEMO_DEPARTMENTS), who takes the job handed over to it.
DEPARTMENT_MEMBER = {"engineering": "engineer", "customer_service": "assistant", "security": "security_lead",
                     "cleaning": "cleaner", "management": "manager"}


def intake(iid: str, category: str, *, channel: str = "hotline", complexity: str = "ordinary",
           priority: str = "P3", department: str = "engineering") -> None:
    """O1–O3: acknowledge/record, classify (type, priority, complexity), hand over; a member of the receiving
    department takes the job (O3.2) and gives the expected time."""
    if channel == "online":
        do(iid, "ack_online", "assistant", ack_message="您好，已收到您的求助，马上安排。", acknowledged=True)
    else:
        recorded = {k: v for k, v in data(iid).items() if k in HOTLINE_CALLER and v}
        do(iid, "record_hotline", "assistant", **recorded)
    do(iid, "assess", "assistant", category=category, priority=priority, complexity=complexity)
    do(iid, "handover", "assistant", department=department, info_verified=True)
    do(iid, "take_job", DEPARTMENT_MEMBER[department])


# --- working tasks ----------------------------------------------------------------------------------------

def user(username: str):
    with db.read_session() as session:
        found = identity.get_user(session, username)
        assert found is not None, f"no user {username}"
        return found


def inbox(username: str, iid: str | None = None) -> list[TaskRow]:
    with db.read_session() as session:
        rows = tasks.inbox(session, identity.get_user(session, username))
    return [r for r in rows if iid is None or r.instance_id == iid]


def inbox_elements(username: str, iid: str | None = None) -> list[str]:
    """Element ids of the ready tasks ``username`` sees (of one instance, if given), sorted."""
    return sorted(r.element_id for r in inbox(username, iid))


def dispatch_at_once(iid: str) -> None:
    """The emergency fast path (a, e, f known at the call): the duty lead has had the dispatch since the call."""
    do(iid, "dispatch", "security_lead", process="help_request", guards=["guard1"], dispatch_note="派两名护管员赶往现场",
       eta_minutes=5)


def record_afterwards(iid: str, category: str, *, priority: str = "P1") -> None:
    """The fast path's record-keeping, done beside or after the handling: record the call, classify it."""
    recorded = {k: v for k, v in data(iid).items() if k in HOTLINE_CALLER and v}
    do(iid, "record_hotline", "assistant", **recorded)
    do(iid, "assess", "assistant", category=category, priority=priority, complexity="ordinary")


def do(iid: str, element_id: str, username: str, data: dict | None = None, *, process: str | None = None,
       **fields) -> TaskRow:
    """Complete ``element_id`` of instance ``iid`` as ``username``; the task MUST be in their inbox.

    Returns the task row as it was offered (lane, assignee, clause, deadline) for assertions.
    """
    mine = [r for r in inbox(username, iid) if r.element_id == element_id
            and (process is None or r.process_id == process)]
    assert mine, (f"{element_id} is not in {username}'s inbox; they have {inbox_elements(username, iid)}, "
                  f"the instance waits on {ready(iid)}")
    assert len(mine) == 1, f"{element_id} is ambiguous in {username}'s inbox: {[r.process_id for r in mine]}"
    row = mine[0]
    payload = answer(row, {**(data or {}), **fields})
    with db.transaction() as session:
        tasks.complete(session, row.id, identity.get_user(session, username), payload)
    return row


def attempt(iid: str, element_id: str, username: str, data: dict | None = None, *, omit: tuple = (),
            **fields) -> dict[str, str]:
    """Submit a form that should be refused (``omit``: leave those fields out); returns the per-field
    messages, and checks the task is still waiting."""
    [row] = [r for r in inbox(username, iid) if r.element_id == element_id]
    payload = {k: v for k, v in answer(row, {**(data or {}), **fields}).items() if k not in omit}
    try:
        with db.transaction() as session:
            tasks.complete(session, row.id, identity.get_user(session, username), payload)
    except errors.InvalidData as exc:
        assert element_id in ready(iid), "a refused form must leave the task ready"
        return exc.errors
    raise AssertionError(f"{element_id} accepted {payload}")


def answer(row: TaskRow, given: dict) -> dict:
    """``given`` over the smallest valid filling of the task's form (``engine.forms.sample``)."""
    return sample.answer(form(row.form) if row.form else None, given)


@cache
def _form_text(name: str) -> str:
    return (config.forms_dir() / name).read_text(encoding="utf-8")


def form(name: str) -> dict:
    return json.loads(_form_text(name))


fill = sample.fill


# --- reading what happened --------------------------------------------------------------------------------

def ready(iid: str) -> dict[str, str]:
    """{element id: lane} of the instance's ready user tasks (the inbox projection)."""
    with db.read_session() as session:
        rows = session.scalars(select(TaskRow).where(TaskRow.instance_id == iid))
        return {r.element_id: r.lane for r in rows}


def task_row(iid: str, element_id: str) -> TaskRow:
    with db.read_session() as session:
        [row] = session.scalars(select(TaskRow).where(TaskRow.instance_id == iid, TaskRow.element_id == element_id))
        return row


def data(iid: str) -> dict:
    with db.read_session() as session:
        return runtime.current_data(runtime.load(session, iid).workflow)


def task_data(iid: str, element_id: str) -> dict:
    """The data a ready task was offered (what its form and instructions see)."""
    with db.read_session() as session:
        loaded = runtime.load(session, iid)
        [task] = [t for t in runtime.ready_user_tasks(loaded.workflow) if t.task_spec.bpmn_id == element_id]
        return dict(task.data)


def clocks(iid: str) -> dict[str, str]:
    """{sla key: status} — one clock per key in the scenarios that read this."""
    out: dict[str, str] = {}
    for c in clock_rows(iid):
        out[c.sla_key] = c.status if c.sla_key not in out else f"{out[c.sla_key]},{c.status}"
    return out


def clock_rows(iid: str) -> list[SlaClock]:
    with db.read_session() as session:
        return list(session.scalars(select(SlaClock).where(SlaClock.instance_id == iid).order_by(SlaClock.id)))


def armed_timers(iid: str) -> dict[str, dt.datetime]:
    with db.read_session() as session:
        return {t.element_id: clock.as_utc(t.due_at)
                for t in session.scalars(select(Timer).where(Timer.instance_id == iid))}


def request_row(iid: str) -> HelpRequest | None:
    with db.read_session() as session:
        return session.get(HelpRequest, iid)


def audit_kinds(iid: str) -> list[tuple[str, str | None, str]]:
    """(kind, element id, actor) of the instance's audit events, in order."""
    with db.read_session() as session:
        return [(e.kind, e.element_id, e.actor) for e in history.events(session, iid)]


def instances_of(process_id: str) -> list[Instance]:
    with db.read_session() as session:
        return list(session.scalars(select(Instance).where(Instance.process_id == process_id)
                                    .order_by(Instance.started_at)))


# --- time -------------------------------------------------------------------------------------------------

def advance(**delta: float) -> int:
    """Move the engine clock and let the timer poller fire what came due; returns how many fired."""
    clock.advance(**delta)
    return fire_due()


def fire_due() -> int:
    poller = firing.Poller(config.database_url(), owner="scenario-poller")
    try:
        return poller.run_due().fired
    finally:
        poller.release()


# --- the end ----------------------------------------------------------------------------------------------

def assert_finished(iid: str) -> dict:
    """The instance ended: no task or timer left, no SLA clock still armed, the request (if any) closed,
    the audit chains verify (the instance's and every other), and replaying the instance's log against its
    pinned version reproduces every recorded state. Returns the final data."""
    with db.read_session() as session:
        instance = session.get(Instance, iid)
        assert instance.status == "completed", f"{iid} is {instance.status}; waiting on {ready(iid)}"
        assert instance.completed_at is not None
        assert session.scalars(select(TaskRow).where(TaskRow.instance_id == iid)).all() == []
        assert session.scalars(select(Timer).where(Timer.instance_id == iid)).all() == []
        armed = session.scalars(select(SlaClock).where(SlaClock.instance_id == iid, SlaClock.status == "armed")).all()
        assert armed == []
        req = session.get(HelpRequest, iid)
        if req is not None:
            assert req.status == "closed" and req.closed_at is not None
        checked, breaks = history.verify(session, iid)
        assert breaks == [] and checked > 1
        assert history.verify(session)[1] == []  # the repository's deployment chain too
        final = runtime.current_data(runtime.load(session, iid).workflow)
        replayed = replay.replay(session, iid)
        assert replayed.ok, (replayed.error, replayed.first_mismatch)
    assert audit_kinds(iid)[-1][0] == "instance_completed"
    return final
