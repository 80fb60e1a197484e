"""The supervisor's month in figures (issue 15): requests per day by type and channel, time to respond,
acknowledge and resolve (p50 / p90 against the deadlines the diagrams set), SLA compliance and its
12-month trend, complaint rate, satisfaction and 满意率 with their trend, 有偿服务 and their revenue, and the
backlog by age at the month's end.

Every figure is an SQL aggregate over the projections (``requests``, ``sla_clocks``): a fixed number of
grouped queries whatever the month's size, no per-request Python loop and no workflow blob read, so the
page stays fast at 100,000 requests (``bench/month_report.py``). Months and days are Asia/Shanghai ones;
Shanghai keeps UTC+8 all year (no daylight saving since 1991), which the SQLite expressions rely on.

Durations of deadlines are read from the deadline registry (``engine.helpdesk.deadlines``), never written
here. Every figure carries the :class:`RequestFilter` that lists the requests behind it.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass, field

from sqlalchemy import case, func, literal_column, or_, select
from sqlalchemy.orm import Session

from engine import identity
from engine.core import clock
from engine.core.tables import AuditEvent, Instance, ProcessVersion, SlaClock
from engine.helpdesk import deadlines, intake
from engine.helpdesk.request_filter import (
    BACKLOG_BUCKETS,
    KEPT_BY,
    SATISFIED_FROM,
    RequestFilter,
    backlog_bucket,
    backlog_moment,
    month_bounds,
    open_at,
)
from engine.helpdesk.tables import HelpRequest

TREND_MONTHS = 12
COMPLAINT = "c"  # 投诉求助
# The three durations the issue names, in the order the report shows them; any other key found is added.
TIMED_KEYS = ("response", "ack_online", "resolve_ordinary")


def shift_month(month: str, delta: int) -> str:
    year, mon = (int(x) for x in month.split("-"))
    index = year * 12 + (mon - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def local_text(session: Session, column, unit: str):
    """SQL: a UTC timestamp column as its Shanghai day ("YYYY-MM-DD") or month ("YYYY-MM")."""
    if _dialect(session) == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM-DD" if unit == "day" else "YYYY-MM")
    return func.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m", column, "+8 hours")


def seconds_between(session: Session, later, earlier):
    """SQL: ``later - earlier`` in seconds (a float)."""
    if _dialect(session) == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * literal_column("86400.0")


@dataclass
class Timing:
    """How long one kind of work took in the month: settled clocks of a deadline (or the closed requests
    for 办结用时), their p50 / p90 by nearest rank, and the deadline the diagrams set."""

    key: str
    name: str
    count: int
    p50: float | None  # seconds
    p90: float | None
    deadline: dt.timedelta | None
    deadline_text: str
    breached: int = 0  # of ``count``: their time is the deadline's (a lower bound: the work finished later)
    filter: RequestFilter = field(default_factory=RequestFilter)


@dataclass
class Compliance:
    key: str
    name: str
    met: int
    breached: int
    armed: int

    @property
    def rate(self) -> float | None:
        settled = self.met + self.breached
        return round(100.0 * self.met / settled, 1) if settled else None


@dataclass
class MonthLine:
    """One month of the trend: requests, complaints, ratings, and SLA compliance per deadline."""

    month: str
    total: int = 0
    complaints: int = 0
    rated: int = 0
    satisfied: int = 0
    average: float | None = None
    compliance: dict[str, Compliance] = field(default_factory=dict)

    @property
    def complaint_rate(self) -> float | None:
        return round(100.0 * self.complaints / self.total, 1) if self.total else None

    @property
    def satisfaction_rate(self) -> float | None:
        return round(100.0 * self.satisfied / self.rated, 1) if self.rated else None


@dataclass
class DepartmentLine:
    """One department's month (客服部 includes the requests it kept, never handed over): requests that came
    in, how many are closed, complaints, ratings, 有偿服务, and deadlines breached on its requests."""

    code: str
    name: str
    total: int = 0
    closed: int = 0
    complaints: int = 0
    rated: int = 0
    satisfied: int = 0
    average: float | None = None
    paid_count: int = 0
    paid_cents: int = 0
    breached: int = 0

    @property
    def satisfaction_rate(self) -> float | None:
        return round(100.0 * self.satisfied / self.rated, 1) if self.rated else None


@dataclass
class MonthFigures:
    month: str
    days: list[str]
    per_day_category: dict[str, list[int]]  # category code ("none": unclassified) -> count per day
    per_day_channel: dict[str, list[int]]
    timings: list[Timing]
    trend: list[MonthLine]  # TREND_MONTHS months ending with this one
    sources: list[tuple[str, str, int, float | None]]  # (source, name, ratings, average)
    paid_count: int
    paid_cents: int
    backlog_at: dt.datetime
    backlog: list[tuple[str, int]]
    deadline_names: dict[str, str]
    departments: list[DepartmentLine] = field(default_factory=list)
    # deadlines whose duration a deployment changed during the month (see deadlines.changes_between)
    changes: list[deadlines.Change] = field(default_factory=list)

    def changes_of(self, key: str) -> list[deadlines.Change]:
        return [c for c in self.changes if c.key == key]

    @property
    def this(self) -> MonthLine:
        return self.trend[-1]

    @property
    def total(self) -> int:
        return self.this.total

    # The department the figures are cut to (a 部门主管's month), None for the whole company. A plain class
    # attribute, not a field: the signed month's canonical JSON (month_seal) stays as it was.
    department = None

    def filter(self, **narrow) -> RequestFilter:
        """A filter of requests (narrowed by ``narrow``), cut to the figures' department when there is one."""
        return RequestFilter(**{"department": self.department, **narrow})

    def link(self, **narrow) -> RequestFilter:
        """The filter of the requests of this month (narrowed by ``narrow``)."""
        return self.filter(month=self.month, **narrow)


@dataclass(frozen=True)
class Scope:
    """What part of the requests the figures count: all of them, or one department's (:func:`department_key`:
    handed to it, or for the 客服部 also kept by it). ``requests`` are conditions on ``requests``;
    :meth:`clocks` narrows a query over ``sla_clocks`` by the department of their request."""

    department: str | None = None
    dialect: str = "sqlite"

    @classmethod
    def of(cls, session: Session, department: str | None) -> Scope:
        return cls(department, _dialect(session))

    @property
    def requests(self) -> tuple:
        """``department_key() == department`` for a month's queries. On SQLite as an expression no index
        serves: the month's range of ``created_at`` / ``armed_at`` is read and each row tested, which beats
        reading the department's requests of every month (measured at 100,000 requests). PostgreSQL has no
        statistics on the expression and misjudges it (300 rows for 33,000), so it gets :attr:`indexed`."""
        if self.dialect != "sqlite":
            return self.indexed
        return (department_key() == self.department,) if self.department else ()

    @property
    def indexed(self) -> tuple:
        """The same condition written for ``ix_requests_department_instance``: the 12-month trend and the
        backlog read a department's requests through it, not the year's clocks or requests one by one."""
        if not self.department:
            return ()
        if self.department == KEPT_BY:
            return (or_(HelpRequest.department.is_(None), HelpRequest.department == KEPT_BY),)
        return (HelpRequest.department == self.department,)

    def clocks(self, query):
        if not self.department:
            return query
        return query.join(HelpRequest, HelpRequest.instance_id == SlaClock.instance_id).where(*self.requests)


def month_figures(session: Session, month: str, registry: deadlines.Registry | None = None,
                  department: str | None = None) -> MonthFigures:
    """The month's figures; ``department``: only that department's requests and their clocks (the month of
    a 部门主管), every figure's filter cut to it."""
    registry = registry if registry is not None else deadlines.current(session)
    scope = Scope.of(session, department)
    start, end = month_bounds(month)
    months = [shift_month(month, d) for d in range(-(TREND_MONTHS - 1), 1)]
    days = _days(start, end)
    per_category, per_channel = _per_day(session, start, end, days, scope)
    trend = _trend(session, months, registry, scope)
    names = {key: registry.label(key) for line in trend for key in line.compliance}
    sources = [(src, intake.RATING_SOURCES.get(src, src or "未注明"), n, _rounded(avg)) for src, n, avg in
               session.execute(select(HelpRequest.rating_source, func.count(), func.avg(HelpRequest.satisfaction))
                               .where(HelpRequest.created_at >= start, HelpRequest.created_at < end,
                                      HelpRequest.satisfaction.is_not(None), *scope.requests)
                               .group_by(HelpRequest.rating_source).order_by(HelpRequest.rating_source))]
    paid_count, paid_cents = session.execute(
        select(func.count(HelpRequest.paid_cents), func.sum(HelpRequest.paid_cents))
        .where(HelpRequest.created_at >= start, HelpRequest.created_at < end, *scope.requests)).one()
    at = backlog_moment(month)
    bucket = backlog_bucket(at)
    # the backlog reads every request come in before the month's end: a department's through its index
    found = dict(session.execute(select(bucket, func.count()).where(open_at(at), *scope.indexed)
                                 .group_by(bucket)).all())
    backlog = [(label, found.get(i, 0)) for i, (label, _upper) in enumerate(BACKLOG_BUCKETS)]
    fig = MonthFigures(month, days, per_category, per_channel,
                       _timings(session, month, start, end, registry, scope), trend, sources, paid_count or 0,
                       int(paid_cents or 0), at, backlog, names, _departments(session, start, end, scope),
                       deadlines.changes_between(session, start, end))
    fig.department = department
    return fig


def _departments(session, start, end, scope: Scope) -> list[DepartmentLine]:
    """Two grouped queries: the requests per department, and the breached clocks of the month per department
    of their request. Every department is listed, in the organisation's order, even with nothing; a
    department's month lists only its own line."""
    dept = department_key()
    r = HelpRequest
    lines = {d.code: DepartmentLine(d.code, d.name) for d in identity.departments.DEPARTMENTS
             if scope.department in (None, d.code)}
    for code, total, closed, complaints, rated, satisfied, average, paid_n, paid in session.execute(select(
            dept, func.count(), func.count(case((r.status == "closed", 1))),
            func.count(case((r.category == COMPLAINT, 1))), func.count(r.satisfaction),
            func.count(case((r.satisfaction >= SATISFIED_FROM, 1))), func.avg(r.satisfaction),
            func.count(r.paid_cents), func.sum(r.paid_cents))
            .where(r.created_at >= start, r.created_at < end, *scope.requests).group_by(dept)):
        line = lines.setdefault(code, DepartmentLine(code, code))
        line.total, line.closed, line.complaints, line.rated, line.satisfied = total, closed, complaints, rated, satisfied
        line.average, line.paid_count, line.paid_cents = _rounded(average), paid_n, int(paid or 0)
    for code, n in session.execute(
            select(dept, func.count()).select_from(SlaClock).join(r, r.instance_id == SlaClock.instance_id)
            .where(SlaClock.status == "breached", SlaClock.armed_at >= start, SlaClock.armed_at < end,
                   *scope.requests)
            .group_by(dept)):
        lines.setdefault(code, DepartmentLine(code, code)).breached = n
    return list(lines.values())


def department_key():
    """SQL: a request's department code, the requests the 客服部 kept (never handed over) counted as its own."""
    return func.coalesce(HelpRequest.department, KEPT_BY)


def _days(start: dt.datetime, end: dt.datetime) -> list[str]:
    local = start + dt.timedelta(hours=8)
    count = round((end - start) / dt.timedelta(days=1))
    return [(local + dt.timedelta(days=i)).strftime("%Y-%m-%d") for i in range(count)]


def _per_day(session, start, end, days, scope: Scope):
    day = local_text(session, HelpRequest.created_at, "day")
    rows = session.execute(select(day, HelpRequest.category, HelpRequest.channel, func.count())
                           .where(HelpRequest.created_at >= start, HelpRequest.created_at < end, *scope.requests)
                           .group_by(day, HelpRequest.category, HelpRequest.channel)).all()
    index = {d: i for i, d in enumerate(days)}
    categories = {code: [0] * len(days) for code in intake.CATEGORIES}
    channels = {code: [0] * len(days) for code in intake.CHANNELS}
    for d, category, channel, n in rows:
        i = index[d]
        categories.setdefault(category or "none", [0] * len(days))[i] += n
        channels.setdefault(channel or "none", [0] * len(days))[i] += n
    return categories, channels


def _trend(session, months, registry, scope: Scope) -> list[MonthLine]:
    lines = {m: MonthLine(m) for m in months}
    figures = (func.count(), func.count(case((HelpRequest.category == COMPLAINT, 1))),
               func.count(HelpRequest.satisfaction),
               func.count(case((HelpRequest.satisfaction >= SATISFIED_FROM, 1))), func.avg(HelpRequest.satisfaction))
    rows = []
    if scope.department:
        # A department's year in one query from its requests (ix_requests_department_instance), as for its
        # clocks below: a month's range on created_at would read every request of the month for its department.
        start, end = month_bounds(months[0])[0], month_bounds(months[-1])[1]
        label = local_text(session, HelpRequest.created_at, "month")
        rows = [tuple(row) for row in session.execute(
            select(label, *figures).where(*scope.indexed, HelpRequest.created_at >= start,
                                          HelpRequest.created_at < end).group_by(label))]
    else:
        # One range query per month on the (created_at, category, satisfaction) index, as for the clocks below.
        for m in months:
            m_start, m_end = month_bounds(m)
            rows.append((m, *session.execute(select(*figures).where(
                HelpRequest.created_at >= m_start, HelpRequest.created_at < m_end)).one()))
    for m, total, complaints, rated, satisfied, average in rows:
        line = lines[m]
        line.total, line.complaints, line.rated, line.satisfied = total, complaints, rated, satisfied
        line.average = _rounded(average)
    rows = _trend_clocks(session, months, scope)
    keys: set[str] = set()
    for m, key, status, n in rows:
        c = lines[m].compliance.setdefault(key, Compliance(key, registry.label(key), 0, 0, 0))
        setattr(c, status if status in ("met", "breached") else "armed", n)
        keys.add(key)
    order = [k for k in registry.deadlines if k in keys] + sorted(keys - set(registry.deadlines))
    for line in lines.values():  # every month lists every key, in the registry's order
        line.compliance = {k: line.compliance.get(k) or Compliance(k, registry.label(k), 0, 0, 0) for k in order}
    return list(lines.values())


def _trend_clocks(session, months, scope: Scope) -> list[tuple[str, str, str, int]]:
    """(month, key, status, clocks) of the trend's months.

    The company's: one range query per month on the (armed_at, sla_key, status) index, twelve index-only
    scans, cheaper on SQLite than labelling each of a year's clocks with its month. A department's: one
    query for the year driven by the department's requests (``ix_requests_department_instance``), each
    joined to its clocks through the (instance_id, armed_at, sla_key, status) index — not every clock of the
    year looked up in ``requests`` for its department, which took a second at 100,000 requests on SQLite."""
    if scope.department:
        start, end = month_bounds(months[0])[0], month_bounds(months[-1])[1]
        label = local_text(session, SlaClock.armed_at, "month")
        return [tuple(row) for row in session.execute(
            select(label, SlaClock.sla_key, SlaClock.status, func.count()).select_from(HelpRequest)
            .join(SlaClock, SlaClock.instance_id == HelpRequest.instance_id)
            .where(*scope.indexed, SlaClock.armed_at >= start, SlaClock.armed_at < end)
            .group_by(label, SlaClock.sla_key, SlaClock.status))]
    rows = []
    for m in months:
        m_start, m_end = month_bounds(m)
        rows += [(m, *row) for row in session.execute(
            select(SlaClock.sla_key, SlaClock.status, func.count())
            .where(SlaClock.armed_at >= m_start, SlaClock.armed_at < m_end)
            .group_by(SlaClock.sla_key, SlaClock.status))]
    return rows


@dataclass
class Ranked:
    """Of one group: the percentiles asked for, how many values, and how many of them ``late``."""

    values: list[float | None]
    n: int = 0
    late: int = 0


def percentiles(session, group, value, conditions, ps=(0.5, 0.9), narrow=None, late=None) -> dict[object, Ranked]:
    """Nearest-rank percentiles (the ⌈p·n⌉-th smallest value) of ``value`` per ``group``: one query with
    window functions (SQLite, which has no percentile function, and PostgreSQL alike), one sort; the counts
    (n, and how many rows meet ``late`` when given) come from the same windows, not a second pass.
    ``narrow``: a function applied to the inner query (a department's scope)."""
    late_count = func.count(case((late, 1))) if late is not None else func.count(literal_column("NULL"))
    ranked = select(group.label("g"), value.label("v"),
                    func.row_number().over(partition_by=group, order_by=value).label("rank"),
                    func.count().over(partition_by=group).label("n"),
                    late_count.over(partition_by=group).label("late")).where(*conditions)
    ranked = (narrow(ranked) if narrow else ranked).subquery()
    wanted = [ranked.c.rank == _ceil(p, ranked.c.n) for p in ps]  # ≥ 1: p > 0 and n ≥ 1
    out: dict[object, Ranked] = {}
    rows = session.execute(select(ranked.c.g, ranked.c.rank, ranked.c.n, ranked.c.late, ranked.c.v)
                           .where(or_(*wanted)))
    for g, rank, n, late_n, v in rows:
        found = out.setdefault(g, Ranked([None] * len(ps), n, late_n or 0))
        for i, p in enumerate(ps):
            if rank == max(1, math.ceil(p * n)):
                found.values[i] = round(float(v), 1) if v is not None else None
    return out


def _ceil(p: float, n):
    """SQL: ⌈p·n⌉ for a whole ``n`` and p in tenths (SQLite has no ceil() before 3.35): ``(10p·n + 9) // 10``
    in integer arithmetic."""
    tenths = round(p * 10)
    return (n * tenths + 9) // 10


def _timings(session, month, start, end, registry, scope: Scope) -> list[Timing]:
    settled = func.coalesce(SlaClock.met_at, SlaClock.breached_at)
    took = seconds_between(session, settled, SlaClock.armed_at)
    # Settled clocks are those with a met or breached time; filtering on that (not on ``status``, which has an
    # index of its own) keeps SQLite on the (armed_at, …) index even before ANALYZE has run.
    base = (SlaClock.armed_at >= start, SlaClock.armed_at < end, settled.is_not(None))
    found = percentiles(session, SlaClock.sla_key, took, base, narrow=scope.clocks,
                         late=SlaClock.status == "breached")
    keys = [k for k in TIMED_KEYS if k in found or k in registry.deadlines]
    keys += sorted(k for k in found if k not in keys)
    out = []
    for key in keys:
        ranked = found.get(key) or Ranked([None, None])
        p50, p90 = ranked.values
        deadline = registry.get(key)
        out.append(Timing(key, deadline.name, ranked.n, p50, p90, deadline.duration, deadline.text, ranked.late,
                          RequestFilter(month=month, sla=key, department=scope.department)))
    resolved = (HelpRequest.created_at >= start, HelpRequest.created_at < end, HelpRequest.closed_at.is_not(None),
                *scope.requests)
    took = seconds_between(session, HelpRequest.closed_at, HelpRequest.created_at)
    one = literal_column("1")
    ranked = next(iter(percentiles(session, one, took, resolved).values()), None) or Ranked([None, None])
    p50, p90 = ranked.values
    out.append(Timing("closed", "办结用时（受理至办结）", ranked.n, p50, p90, None, "", 0,
                      RequestFilter(month=month, status="closed", department=scope.department)))
    return out


def _rounded(average) -> float | None:
    return round(float(average), 2) if average is not None else None


# --- the computed month, cached by the data it was computed from ---------------------------------------------

_CACHE_SIZE = 48
_cache: dict[tuple, MonthFigures] = {}
_cache_lock = threading.Lock()


# The audit chain on which reads of restricted requests are recorded (webapp.policy.ACCESS_CHAIN): the month
# page itself appends to it, and a read changes no figure, so it is no part of the watermark.
READS_CHAIN = "access"


def watermark(session: Session) -> tuple:
    """What the month's figures depend on, in one query of five index look-ups: the last audit event (every
    change of an instance appends one, with its projections in the same transaction; not the reads the
    page itself records, else no second request would hit the cache), the number of requests
    and clocks and the latest request update (rows written without an event: imports, tests), the latest
    deployment (the deadline registry), and the greatest instance id (random: two databases filled alike,
    one after the other at the same address, do not share a key)."""
    return tuple(session.execute(select(
        select(AuditEvent.id).where(AuditEvent.chain != READS_CHAIN).order_by(AuditEvent.id.desc()).limit(1)
        .scalar_subquery(),
        select(func.count()).select_from(HelpRequest).scalar_subquery(),
        select(func.max(HelpRequest.updated_at)).scalar_subquery(),
        select(func.count()).select_from(SlaClock).scalar_subquery(),
        select(func.max(ProcessVersion.id)).scalar_subquery(),
        select(func.max(Instance.id)).scalar_subquery())).one())


def cached(session: Session, month: str, registry: deadlines.Registry, department: str | None = None) -> MonthFigures:
    """:func:`month_figures`, computed once per month, department and data watermark (and, for the month
    still running, per minute: its backlog is counted at "now"). The figures are read-only for every caller."""
    end = month_bounds(month)[1]
    now = clock.now()
    key = (str(session.get_bind().url), month, department, watermark(session), id(registry),
           None if end <= now else now.replace(second=0, microsecond=0))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    fig = month_figures(session, month, registry, department)
    with _cache_lock:
        _cache[key] = fig
        while len(_cache) > _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
    return fig
