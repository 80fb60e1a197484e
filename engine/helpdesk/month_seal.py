"""The signed month (issue 15, 4.10 审阅): once the 公司经理 completes 公司经理审阅签发 in the month-end process,
the month's figures are frozen as they stood at that moment.

A month report recomputed later from the projections could differ — a request re-opened, a late rating, a
clock settled after the month — and a signed paper must not change silently. So the figures
(:class:`engine.helpdesk.month_figures.MonthFigures`) are kept as canonical JSON with their SHA-256 in
``month_seals``, written by an audit listener in the very transaction of the signing event. The report
shows the signed figures and, beside them, every figure that a recomputation now gives differently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import history
from engine.core import clock
from engine.core.tables import AuditEvent
from engine.helpdesk import deadlines, month_figures
from engine.helpdesk.month_figures import Compliance, DepartmentLine, MonthFigures, MonthLine, Timing
from engine.helpdesk.request_filter import RequestFilter
from engine.helpdesk.tables import MonthSeal

PROCESS = "monthly_statistics"
SIGNING = "manager_review"  # the 公司经理's task: completing it signs the month


# --- the figures as JSON and back ----------------------------------------------------------------------------

def _default(value):
    if isinstance(value, dt.datetime):
        return clock.as_utc(value).isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"not JSON: {type(value).__name__}")


def canonical(fig: MonthFigures) -> str:
    return json.dumps(asdict(fig), default=_default, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def thaw(text: str) -> MonthFigures:
    d = json.loads(text)
    timings = [Timing(t["key"], t["name"], t["count"], t["p50"], t["p90"],
                      dt.timedelta(seconds=t["deadline"]) if t["deadline"] is not None else None,
                      t["deadline_text"], t["breached"], RequestFilter(**t["filter"])) for t in d["timings"]]
    trend = [MonthLine(m["month"], m["total"], m["complaints"], m["rated"], m["satisfied"], m["average"],
                       {k: Compliance(**c) for k, c in m["compliance"].items()}) for m in d["trend"]]
    changes = [deadlines.Change(**{**c, "at": dt.datetime.fromisoformat(c["at"])}) for c in d.get("changes", [])]
    return MonthFigures(d["month"], d["days"], d["per_day_category"], d["per_day_channel"], timings, trend,
                        [tuple(s) for s in d["sources"]], d["paid_count"], d["paid_cents"],
                        dt.datetime.fromisoformat(d["backlog_at"]), [tuple(b) for b in d["backlog"]],
                        d["deadline_names"], [DepartmentLine(**x) for x in d.get("departments", [])], changes)


# --- signing --------------------------------------------------------------------------------------------------

def seal(session: Session, month: str, *, instance_id: str, actor: str, seq: int) -> MonthSeal:
    """Freeze ``month`` as it stands now (a second signing of the same month replaces the first)."""
    text = canonical(month_figures.month_figures(session, month, deadlines.current(session)))
    row = session.get(MonthSeal, month) or MonthSeal(month=month)
    row.instance_id, row.signed_by, row.signed_at, row.audit_seq = instance_id, actor, clock.now(), seq
    row.figures, row.fingerprint = text, hashlib.sha256(text.encode()).hexdigest()
    session.add(row)
    return row


def on_events(session: Session, chain: str, rows: list[dict]) -> None:
    """The audit listener: the 公司经理 completing 公司经理审阅签发 of a month-end instance seals its month."""
    for row in rows:
        if row["kind"] != "task_completed" or row["element_id"] != SIGNING:
            continue
        payload = json.loads(row["payload"])
        if payload.get("process_id") != PROCESS:
            continue
        started = session.scalar(select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.kind == "started"))
        period = (history.payload_of(started).get("data") or {}).get("period") if started is not None else None
        if period:
            seal(session, period, instance_id=chain, actor=row["actor"], seq=row["seq"])


# --- reading --------------------------------------------------------------------------------------------------

@dataclass
class Difference:
    label: str
    signed: object
    now: object


@dataclass
class Signed:
    seal: MonthSeal
    figures: MonthFigures
    differences: list[Difference]
    other_changes: bool  # a detail outside the compared figures differs (the JSON's hash does)


def signed(session: Session, month: str, live: MonthFigures) -> Signed | None:
    """The signed month, compared with ``live`` (the month recomputed now); None while it is unsigned."""
    row = session.get(MonthSeal, month)
    if row is None:
        return None
    frozen = thaw(row.figures)
    before, after = headline(frozen), headline(live)
    diffs = [Difference(label, before.get(label), after.get(label)) for label in dict.fromkeys([*before, *after])
             if before.get(label) != after.get(label)]
    same = hashlib.sha256(canonical(live).encode()).hexdigest() == row.fingerprint
    return Signed(row, frozen, diffs, not same and not diffs)


def headline(fig: MonthFigures) -> dict[str, object]:
    """The figures a reader compares, by their Chinese label."""
    this = fig.this
    out: dict[str, object] = {
        "求助总数": this.total, "投诉数": this.complaints, "评价数": this.rated, "满意数（3分及以上）": this.satisfied,
        "平均满意度": this.average, "有偿服务（件）": fig.paid_count, "有偿服务收入（元）": fig.paid_cents / 100}
    for key, c in this.compliance.items():
        name = fig.deadline_names.get(key, key)
        out.update({f"{name} 按时": c.met, f"{name} 超时": c.breached, f"{name} 进行中": c.armed})
    for t in fig.timings:
        out.update({f"{t.name} 已结束": t.count, f"{t.name} p50（秒）": t.p50, f"{t.name} p90（秒）": t.p90})
    for label, n in fig.backlog:
        out[f"月末未办结 {label}"] = n
    for d in fig.departments:
        out.update({f"{d.name} 求助数": d.total, f"{d.name} 已办结": d.closed, f"{d.name} 超时": d.breached})
    return out


def shown(session: Session, month: str, registry: deadlines.Registry,
          department: str | None = None) -> tuple[MonthFigures, Signed | None]:
    """What a report of ``month`` shows: the signed figures once the month is signed (with the differences a
    recomputation gives now), else the figures computed now. The page, the workbook and the CLI all call it.
    A department's month (``department``) is never signed — the 公司经理 signs the company's — so it is
    always computed now."""
    if department:
        return month_figures.cached(session, month, registry, department), None
    live = month_figures.cached(session, month, registry)
    found = signed(session, month, live)
    return (found.figures if found else live), found
