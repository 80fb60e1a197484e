"""Drivers for the timer tests: start instances, move the clock, fire, and read what happened."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import func, select

from engine import runtime
from engine.core import clock, db
from engine.core.tables import AuditEvent, Instance, SlaClock, TaskRow, Timer
from engine.timers import firing

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

CALL = {"channel": "hotline", "caller_name": "张三", "phone": "13800000000", "address": "3栋1201",
        "description": "厨房水管漏水"}


def start(process_id: str = "mini_request", data: dict | None = None) -> str:
    with db.transaction() as session:
        return runtime.start(session, process_id, dict(CALL) if data is None else data, "assistant").id


def complete(instance_id: str, element_id: str, data: dict, actor: str = "assistant") -> None:
    task_id = ready(instance_id)[element_id]
    with db.transaction() as session:
        runtime.complete_task(session, instance_id, task_id, data, actor)


def ready(instance_id: str) -> dict[str, str]:
    with db.read_session() as session:
        return {r.element_id: r.id for r in session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id))}


def lanes(instance_id: str) -> dict[str, str]:
    with db.read_session() as session:
        return {r.element_id: r.lane for r in session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id))}


def timer_rows(instance_id: str | None = None) -> list[Timer]:
    with db.read_session() as session:
        query = select(Timer).order_by(Timer.due_at)
        if instance_id is not None:
            query = query.where(Timer.instance_id == instance_id)
        return list(session.scalars(query))


def start_rows() -> list[Timer]:
    with db.read_session() as session:
        return list(session.scalars(select(Timer).where(Timer.instance_id.is_(None)).order_by(Timer.due_at)))


def clocks(instance_id: str) -> list[SlaClock]:
    with db.read_session() as session:
        return list(session.scalars(select(SlaClock).where(SlaClock.instance_id == instance_id)))


def firings(instance_id: str | None = None) -> list[dict]:
    """Payloads of timer_fired audit events, in commit order."""
    with db.read_session() as session:
        query = select(AuditEvent).where(AuditEvent.kind == "timer_fired").order_by(AuditEvent.id)
        if instance_id is not None:
            query = query.where(AuditEvent.chain == instance_id)
        return [{**json.loads(e.payload), "chain": e.chain} for e in session.scalars(query)]


def instance(instance_id: str) -> Instance:
    with db.read_session() as session:
        return session.get(Instance, instance_id)


def instances_of(process_id: str) -> list[Instance]:
    """In the order they started: by start time, and under a frozen clock (a tie) by their first audit
    event, which is commit order; the table's own order is not insertion order once rows were deleted."""
    first_event = select(func.min(AuditEvent.id)).where(AuditEvent.chain == Instance.id).scalar_subquery()
    with db.read_session() as session:
        return list(session.scalars(select(Instance).where(Instance.process_id == process_id)
                                    .order_by(Instance.started_at, first_event)))


def count_events(kind: str) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == kind))


def poller(url: str, **kw) -> firing.Poller:
    kw.setdefault("owner", "test-poller")
    return firing.Poller(url, **kw)


def shanghai(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def form(name: str, root: Path | None = None) -> dict:
    return json.loads(((root or FIXTURES / "forms") / name).read_text(encoding="utf-8"))


def minimal(schema: dict) -> dict:
    """The smallest valid answer to a flat form: consts, the first enum option, a few words for text."""
    out = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        if "const" in prop:
            out[name] = prop["const"]
        elif "enum" in prop:
            out[name] = prop["enum"][0]
        elif "oneOf" in prop:
            out[name] = prop["oneOf"][0].get("const")
        elif prop.get("type") in ("integer", "number"):
            out[name] = max(prop.get("minimum", 1), 1)
        elif prop.get("type") == "boolean":
            out[name] = True
        elif prop.get("type") == "array":
            out[name] = [] if not prop.get("minItems") else [minimal(prop["items"]) if prop["items"].get("type") == "object"
                                                              else prop["items"].get("enum", ["已处理"])[0]]
        else:
            out[name] = "已处理，谢谢"
    return out


def tick_instances(n: int, first_due: dt.datetime, spacing: dt.timedelta = dt.timedelta(0)) -> list[str]:
    """``n`` instances of the one-timer fixture, their timers due at first_due + i·spacing, in one transaction."""
    with db.transaction() as session:
        return [runtime.start(session, "mini_tick", {"wake_at": (first_due + i * spacing).isoformat()}, "bench").id
                for i in range(n)]
