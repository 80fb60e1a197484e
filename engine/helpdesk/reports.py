"""Read-only figures for the monthly report: requests by type and channel, satisfaction, SLA compliance,
breached deadlines, and the monthly statistics instances (4.10).

Months are calendar months in Asia/Shanghai; everything is read from the projections (requests,
sla_clocks) and, for the statistics instances, from the audit log's recorded inputs — never from blobs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

from sqlalchemy import case, func, select, true
from sqlalchemy.orm import Session

from engine import identity
from engine.audit import history
from engine.core import clock
from engine.core.tables import AuditCheckpoint, AuditEvent, Instance, SlaClock, User
from engine.helpdesk import improvements, intake, month_figures, sla
from engine.helpdesk.tables import HelpRequest

STATISTICS_PROCESS = "monthly_statistics"
SATISFIED_FROM = 3  # a 1–5 rating that counts as satisfied
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str | None, today: dt.datetime | None = None) -> str:
    """"YYYY-MM" when valid, else the current month in Shanghai."""
    match = _MONTH.match((text or "").strip())
    if match and 1 <= int(match.group(2)) <= 12 and 2000 <= int(match.group(1)) <= 2100:
        return text.strip()
    return clock.to_local(today or clock.now()).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a "YYYY-MM" month in Asia/Shanghai, as UTC datetimes."""
    year, mon = (int(x) for x in month.split("-"))
    start = dt.datetime(year, mon, 1, tzinfo=clock.SHANGHAI)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=clock.SHANGHAI)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def shift_month(month: str, delta: int) -> str:
    year, mon = (int(x) for x in month.split("-"))
    index = year * 12 + (mon - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass
class MonthReport:
    month: str
    total: int = 0
    closed: int = 0
    by_category: list[tuple[str | None, str, int]] = field(default_factory=list)  # (code, name, count)
    by_channel: list[tuple[str | None, str, int]] = field(default_factory=list)
    rated: int = 0
    satisfaction: float | None = None  # average of the 1–5 ratings given
    satisfied: int = 0  # ratings of 3 or more (the forms: "3 分及以上视为满意")
    # the sub-ratings (intake.RATINGS): (field, name, average or None, how many gave it)
    ratings: list[tuple[str, str, float | None, int]] = field(default_factory=list)
    sla: dict[str, sla.KeySummary] = field(default_factory=dict)
    breached: list[tuple[SlaClock, HelpRequest | None]] = field(default_factory=list)
    breached_count: int = 0
    # the signed audit checkpoint the 公司经理 signs the report over: the log as it stood at the month's end
    checkpoint: AuditCheckpoint | None = None

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率: satisfied ratings as a percentage of the ratings given; ``None`` with none given."""
        return round(100.0 * self.satisfied / self.rated, 1) if self.rated else None


def month_report(session: Session, month: str, *, breached_limit: int | None = 500,
                 department: str | None = None) -> MonthReport:
    """The month's figures; ``breached`` lists at most ``breached_limit`` breaches, newest deadline first
    (``None``: all of them), while ``breached_count`` always counts them all. ``department``: only that
    department's requests and their clocks (a 部门主管's month)."""
    start, end = month_bounds(month)
    scope = month_figures.Scope.of(session, department)
    in_month = (HelpRequest.created_at >= start, HelpRequest.created_at < end, *scope.requests)
    report = MonthReport(month)
    cats = dict(session.execute(select(HelpRequest.category, func.count()).where(*in_month)
                                .group_by(HelpRequest.category)).all())
    report.by_category = [(code, name, cats.get(code, 0)) for code, name in intake.CATEGORIES.items()]
    if cats.get(None):
        report.by_category.append((None, "未分类", cats[None]))
    channels = dict(session.execute(select(HelpRequest.channel, func.count()).where(*in_month)
                                    .group_by(HelpRequest.channel)).all())
    report.by_channel = [(code, name, channels.pop(code, 0)) for code, name in intake.CHANNELS.items()]
    report.by_channel += [(code, code or "未知", n) for code, n in channels.items()]
    report.total = sum(cats.values())
    # Everything else about the month's requests in one pass: closed, ratings given, their average, how many
    # satisfied, and per sub-rating how many gave it and its average.
    ratings = [getattr(HelpRequest, f"rating_{key}") for key in intake.RATINGS]
    figures = session.execute(select(
        func.count(case((HelpRequest.status == "closed", 1))),
        func.count(HelpRequest.satisfaction), func.avg(HelpRequest.satisfaction),
        func.count(case((HelpRequest.satisfaction >= SATISFIED_FROM, 1))),
        *(f(c) for c in ratings for f in (func.count, func.avg))).where(*in_month)).one()
    report.closed, report.rated, average, report.satisfied = figures[0] or 0, figures[1] or 0, figures[2], figures[3] or 0
    report.satisfaction = _rounded(average)
    for i, (key, name) in enumerate(intake.RATINGS.items()):
        given, average = figures[4 + 2 * i], figures[5 + 2 * i]
        report.ratings.append((key, name, _rounded(average), given or 0))
    report.sla = sla.summary(session, start, end, scope.clocks)
    in_breach = (SlaClock.status == "breached", SlaClock.armed_at >= start, SlaClock.armed_at < end)
    report.breached_count = session.scalar(scope.clocks(select(func.count()).select_from(SlaClock)
                                                        .where(*in_breach))) or 0
    query = (select(SlaClock, HelpRequest).outerjoin(HelpRequest, HelpRequest.instance_id == SlaClock.instance_id)
             .where(*in_breach, *scope.requests).order_by(SlaClock.due_at.desc(), SlaClock.id.desc()))
    rows = session.execute(query if breached_limit is None else query.limit(breached_limit)).all()
    report.breached = [(c, r) for c, r in rows]
    report.checkpoint = attested_checkpoint(session, end)
    return report


def attested_checkpoint(session: Session, end: dt.datetime) -> AuditCheckpoint | None:
    """The latest signed checkpoint before ``end`` (or now, for the month still running). Printed in the
    report the 公司经理 signs, its root is one more copy of the tree head outside the database: a later
    rewrite of anything the month's report counted no longer matches the signed paper."""
    cutoff = min(end, clock.now()).astimezone(dt.UTC).isoformat(timespec="seconds")
    return session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.at <= cutoff)
                           .order_by(AuditCheckpoint.tree_size.desc()).limit(1)).first()


def _rounded(average) -> float | None:
    """An SQL average (Decimal on PostgreSQL, float on SQLite, None over no rows) to two places."""
    return round(float(average), 2) if average is not None else None


# Age buckets of the open backlog (the procedure's 24 h / 48 h limits, then a week): (label, upper bound).
BACKLOG_BUCKETS = (("24小时内", dt.timedelta(hours=24)), ("24–48小时", dt.timedelta(hours=48)),
                   ("48小时–7天", dt.timedelta(days=7)), ("7天以上", None))


@dataclass
class Backlog:
    """Requests not yet closed, as of ``at``: counts per age bucket and the oldest ones."""

    at: dt.datetime
    buckets: list[tuple[str, int]]
    oldest: list[HelpRequest]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.buckets)

    def age(self, request: HelpRequest) -> dt.timedelta:
        return self.at - clock.as_utc(request.created_at)


def open_backlog(session: Session, limit: int = 20, *, visible=None, department: str | None = None) -> Backlog:
    """The requests still open now, by how long ago they came in; a supervisor's "what is dragging on".
    ``visible`` (the reader's need-to-know condition on ``requests``) cuts the list of the oldest; the
    counts are figures and count every request (of ``department``, when given: a 部门主管's month)."""
    now = clock.now()
    scope = month_figures.Scope.of(session, department).requests
    bucket = case(*((HelpRequest.created_at > now - upper, i) for i, (_, upper) in enumerate(BACKLOG_BUCKETS)
                    if upper is not None), else_=len(BACKLOG_BUCKETS) - 1)
    found = dict(session.execute(select(bucket, func.count()).where(HelpRequest.status == "open", *scope)
                                 .group_by(bucket)).all())
    counts = [(label, found.get(i, 0)) for i, (label, _) in enumerate(BACKLOG_BUCKETS)]
    oldest = list(session.scalars(select(HelpRequest).where(HelpRequest.status == "open", *scope,
                                                            true() if visible is None else visible)
                                  .order_by(HelpRequest.created_at, HelpRequest.instance_id).limit(limit)))
    return Backlog(now, counts, oldest)


@dataclass
class StaffFigures:
    """One staff member's month, for the 绩效考核 the procedure ties to satisfaction."""

    username: str
    name: str
    completed: int = 0  # user tasks they completed in the month
    requests: int = 0  # distinct requests those tasks belonged to
    late: int = 0  # of those, tasks whose deadline had already been breached when they completed them
    rated: int = 0  # of those requests, how many the resident rated
    satisfaction: float | None = None  # the average of those ratings
    # where those ratings came from: intake.RATING_SOURCES key ('resident', 'callback') -> how many
    by_source: dict[str, int] = field(default_factory=dict)


def staff_performance(session: Session, month: str) -> list[StaffFigures]:
    """Per staff member: tasks completed in the month, the requests they served, how many of their tasks
    were finished after the deadline guarding them fired, and the residents' average rating of those
    requests. Read from the audit log (who completed what, when) and the projections; most tasks first.

    Completing the confirmation or the 回访 call (where the rating is entered) does not make a request one
    the staff member served: the one who records a rating is never rated by it."""
    start, end = month_bounds(month)
    staff = {u.username: u for u in session.scalars(select(User).where(User.is_active.is_(True)))
             if any(identity.ROLE_BY_CODE[c].staff for c in u.role_codes if c in identity.ROLE_BY_CODE)}
    events = session.execute(select(AuditEvent.actor, AuditEvent.chain, AuditEvent.payload)
                             .where(AuditEvent.kind == "task_completed", AuditEvent.at >= start,
                                    AuditEvent.at < end, AuditEvent.actor.in_(list(staff))))
    figures: dict[str, StaffFigures] = {}
    chains: dict[str, set[str]] = {}
    completed_by: dict[str, str] = {}  # task id -> who completed it
    for actor, chain, payload in events:
        row = figures.setdefault(actor, StaffFigures(actor, staff[actor].display_name or actor))
        row.completed += 1
        data = json.loads(payload)
        if data.get("element_id") not in sla.REOPENING:
            chains.setdefault(actor, set()).add(chain)
        task_id = data.get("task_id")
        if task_id:
            completed_by[task_id] = actor
    for ids in _batches(completed_by):
        for task_id in session.scalars(select(SlaClock.guarded_task_id).where(
                SlaClock.status == "breached", SlaClock.guarded_task_id.in_(ids))):
            figures[completed_by[task_id]].late += 1
    ratings: dict[str, int] = {}
    sources: dict[str, str | None] = {}
    for ids in _batches({c for served in chains.values() for c in served}):
        for iid, score, source in session.execute(select(
                HelpRequest.instance_id, HelpRequest.satisfaction, HelpRequest.rating_source).where(
                HelpRequest.instance_id.in_(ids), HelpRequest.satisfaction.is_not(None))):
            ratings[iid], sources[iid] = score, source
    for actor, served in chains.items():
        row = figures[actor]
        row.requests = len(served)
        for c in served:
            if c in ratings:
                key = sources[c] or "unknown"
                row.by_source[key] = row.by_source.get(key, 0) + 1
        given = [ratings[c] for c in served if c in ratings]
        row.rated = len(given)
        row.satisfaction = round(sum(given) / len(given), 2) if given else None
    return sorted(figures.values(), key=lambda f: (-f.completed, f.username))


def _batches(values, size: int = 500):
    """``IN (…)`` lists of a bounded length (SQLite caps the number of bound parameters)."""
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


# The 整理当月求助数据 form's rates (forms/monthly_compile.schema.json) and the SLA key each measures.
RATE_FIELDS = {"ack_online_rate": "ack_online", "response_rate": "response", "resolve_24h_rate": "resolve_ordinary"}


def statistics_prefill(session: Session, month: str) -> dict:
    """The month's figures for the statistics form, computed from the projections: the assistant checks
    and corrects them instead of counting by hand. A figure with nothing to base it on is left out, so
    the form asks for it."""
    report = month_report(session, month, breached_limit=0)  # figures only: no breach rows
    values = {"total_requests": report.total, "closed_requests": report.closed,
              "satisfaction_rate": report.satisfaction_rate}
    for field_name, key in RATE_FIELDS.items():
        values[field_name] = report.sla[key].compliance if key in report.sla else None
    return {k: v for k, v in values.items() if v is not None}


def checkpoint_figures(session: Session, month: str) -> dict:
    """The month-end signed checkpoint for the statistics process's data: the 公司经理 who reviews the month
    sees, and signs off, the tree head the figures were drawn from (nothing without a signing key)."""
    cp = attested_checkpoint(session, month_bounds(month)[1])
    if cp is None:
        return {}
    return {"audit_tree_size": cp.tree_size, "audit_root": cp.root, "audit_key_id": cp.key_id,
            "audit_checkpoint_at": cp.at}


@dataclass
class StatisticsRun:
    instance: Instance
    period: str | None
    data: dict  # what the start event and the completed forms recorded, later values winning


def statistics_runs(session: Session, limit: int = 24) -> list[StatisticsRun]:
    """The monthly statistics instances, newest first, with the figures and notes their forms recorded."""
    instances = list(session.scalars(select(Instance).where(Instance.process_id == STATISTICS_PROCESS)
                                     .order_by(Instance.started_at.desc()).limit(limit)))
    if not instances:
        return []
    inputs: dict[str, dict] = {i.id: {} for i in instances}
    events = session.scalars(select(AuditEvent).where(AuditEvent.chain.in_(list(inputs)),
                                                      AuditEvent.kind.in_(("started", "task_completed")))
                             .order_by(AuditEvent.chain, AuditEvent.seq))
    for event in events:
        data = history.payload_of(event).get("data")
        if isinstance(data, dict):
            inputs[event.chain].update(data)
    for data in inputs.values():  # the actions as the diagram's script numbers them (the forms hold slots)
        if improvements.numbered(data):
            data["improvements"] = improvements.numbered(data)
    return [StatisticsRun(i, inputs[i.id].get("period"), inputs[i.id]) for i in instances]
