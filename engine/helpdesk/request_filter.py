"""The filters of the request list (``/requests``), one object the list page, the month report's links and
the common-problem finder share: every figure of the report is a filter, so "the requests behind a bar" is
the list page with the same filter, counted by the same SQL that drew the bar.

Filters come from a URL (``from_args``), so anything unknown or malformed is dropped, never an error: a
hand-edited link shows a wider list rather than a 500. Months and days are Asia/Shanghai calendar ones.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from engine import identity
from engine.core import clock, keyset
from engine.core.tables import SlaClock, StepTiming
from engine.helpdesk import intake, text_search
from engine.helpdesk.tables import HelpRequest

KEPT_BY = "customer_service"  # a request handed to no department is the 客服部's own
SATISFIED_FROM = 3  # a 1–5 rating that counts as satisfied (the forms: "3 分及以上视为满意")
# Age buckets of the backlog (the procedure's 24 h / 48 h limits, then a week): (label, upper bound).
BACKLOG_BUCKETS = (("24小时内", dt.timedelta(hours=24)), ("24–48小时", dt.timedelta(hours=48)),
                   ("48小时–7天", dt.timedelta(days=7)), ("7天以上", None))
RATING_FILTERS = {"rated": "已评价", "satisfied": "满意（3分及以上）", "unsatisfied": "不满意（3分以下）"}
SLA_STATUSES = {"met": "按时", "breached": "超时", "armed": "进行中"}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KEY = re.compile(r"^[a-z_]{1,32}$")
_STEP = re.compile(r"^[A-Za-z0-9_.\-]{1,100}:[A-Za-z0-9_.\-]{1,100}$")  # process id : element id


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a "YYYY-MM" month in Asia/Shanghai, as UTC datetimes."""
    year, mon = (int(x) for x in month.split("-"))
    start = dt.datetime(year, mon, 1, tzinfo=clock.SHANGHAI)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=clock.SHANGHAI)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def day_bounds(day: str) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=clock.SHANGHAI)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def backlog_moment(month: str) -> dt.datetime:
    """When a month's backlog is counted: its end, or now for the month still running."""
    return min(month_bounds(month)[1], clock.now())


def backlog_bucket(at: dt.datetime):
    """SQL: the index of a request's age bucket at ``at`` (by ``created_at``)."""
    return case(*((HelpRequest.created_at > at - upper, i) for i, (_, upper) in enumerate(BACKLOG_BUCKETS)
                  if upper is not None), else_=len(BACKLOG_BUCKETS) - 1)


def open_at(at: dt.datetime):
    """SQL: the request had come in and was not yet closed at ``at``."""
    return and_(HelpRequest.created_at <= at, or_(HelpRequest.closed_at.is_(None), HelpRequest.closed_at > at))


@dataclass(frozen=True)
class RequestFilter:
    q: str | None = None  # words in the caller's name, phone, address or description
    status: str | None = None  # open | closed
    category: str | None = None  # a–g, or "none" for unclassified
    channel: str | None = None
    building: str | None = None
    address: str | None = None  # exactly this unit
    phone: str | None = None  # exactly this caller
    month: str | None = None  # came in this month (with ``sla``: the clock was armed in it; with ``step``: done in it)
    day: str | None = None  # came in this day
    sla: str | None = None  # has a deadline clock of this key …
    sla_status: str | None = None  # … in this state
    rating: str | None = None  # rated | satisfied | unsatisfied
    source: str | None = None  # where the rating came from (intake.RATING_SOURCES)
    paid: str | None = None  # "1": a paid service was charged
    backlog: str | None = None  # "YYYY-MM": still open at that month's end (or now) …
    age: str | None = None  # … in this age bucket (index into BACKLOG_BUCKETS)
    department: str | None = None  # handed to this department (customer_service: also those never handed over)
    step: str | None = None  # "process:element": had this user task completed (the slowest steps)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> RequestFilter:
        raw = {f.name: (args.get(f.name) or "").strip()[:200] or None for f in fields(cls)}
        checks = {
            "status": lambda v: v in ("open", "closed"),
            "category": lambda v: v in intake.CATEGORIES or v == "none",
            "channel": lambda v: len(v) <= 16,
            "month": lambda v: bool(_MONTH.match(v)),
            "backlog": lambda v: bool(_MONTH.match(v)),
            "day": _valid_day,
            "sla": lambda v: bool(_KEY.match(v)),
            "sla_status": lambda v: v in SLA_STATUSES,
            "rating": lambda v: v in RATING_FILTERS,
            "source": lambda v: v in intake.RATING_SOURCES,
            "paid": lambda v: v == "1",
            "age": lambda v: v.isdigit() and int(v) < len(BACKLOG_BUCKETS),
            "department": lambda v: v in identity.departments.DEPARTMENT_BY_CODE,
            "step": lambda v: bool(_STEP.match(v)),
        }
        return cls(**{k: v if v is None or k not in checks or checks[k](v) else None for k, v in raw.items()})

    def args(self) -> dict[str, str]:
        """The filter as URL query arguments (only those set)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def but(self, **changes) -> RequestFilter:
        return replace(self, **changes)

    def apply(self, query, *, search_index: bool = True):
        """``query`` (over ``requests``) narrowed to this filter (``search_index``: see text_search.condition)."""
        r = HelpRequest
        conditions = []
        if self.status:
            conditions.append(r.status == self.status)
        if self.category:
            conditions.append(r.category.is_(None) if self.category == "none" else r.category == self.category)
        if self.channel:
            conditions.append(r.channel == self.channel)
        if self.building:
            conditions.append(r.building == self.building)
        if self.address:
            conditions.append(r.address == self.address)
        if self.phone:
            conditions.append(r.phone == self.phone)
        if self.q:
            conditions.append(text_search.condition(self.q, through_index=search_index))
        if self.sla:
            clocks = [SlaClock.instance_id == r.instance_id, SlaClock.sla_key == self.sla]
            if self.sla_status:
                clocks.append(SlaClock.status == self.sla_status)
            if self.month:
                start, end = month_bounds(self.month)
                clocks += [SlaClock.armed_at >= start, SlaClock.armed_at < end]
            conditions.append(exists(select(SlaClock.id).where(*clocks)))
        if self.step:
            process_id, element_id = self.step.split(":", 1)
            steps = [StepTiming.instance_id == r.instance_id, StepTiming.process_id == process_id,
                     StepTiming.element_id == element_id]
            if self.month:
                start, end = month_bounds(self.month)
                steps += [StepTiming.completed_at >= start, StepTiming.completed_at < end]
            conditions.append(exists(select(StepTiming.id).where(*steps)))
        if self.month and not self.sla and not self.step:
            start, end = month_bounds(self.month)
            conditions += [r.created_at >= start, r.created_at < end]
        if self.day:
            start, end = day_bounds(self.day)
            conditions += [r.created_at >= start, r.created_at < end]
        if self.rating == "rated":
            conditions.append(r.satisfaction.is_not(None))
        elif self.rating == "satisfied":
            conditions.append(r.satisfaction >= SATISFIED_FROM)
        elif self.rating == "unsatisfied":
            conditions.append(r.satisfaction < SATISFIED_FROM)
        if self.source:
            conditions.append(r.rating_source == self.source)
        if self.paid:
            conditions.append(r.paid_cents.is_not(None))
        if self.department:
            conditions.append(func.coalesce(r.department, KEPT_BY) == self.department)
        if self.backlog:
            at = backlog_moment(self.backlog)
            conditions.append(open_at(at))
            if self.age is not None:
                conditions.append(backlog_bucket(at) == int(self.age))
        return query.where(*conditions) if conditions else query

    def describe(self, step_name: str | None = None) -> list[str]:
        """The filter in words, for the list page's heading ("2026年11月", "报修求助" …); ``step_name``: the
        diagram's name of ``step`` (:func:`engine.helpdesk.slow_steps.step_name`), else its id is shown."""
        out = []
        if self.month:
            out.append(f"{self.month[:4]}年{int(self.month[5:])}月" + (
                "（计时开始）" if self.sla else "（环节完成）" if self.step else "受理"))
        if self.day:
            out.append(f"{self.day} 受理")
        if self.category:
            out.append(intake.CATEGORIES.get(self.category, "未分类"))
        if self.channel:
            out.append(intake.CHANNELS.get(self.channel, self.channel))
        for value, prefix in ((self.building, "楼栋"), (self.address, "地址"), (self.phone, "电话"), (self.q, "含")):
            if value:
                out.append(f"{prefix}：{value}")
        if self.step:
            out.append(f"环节：{step_name}" if step_name else f"环节 {self.step}")
        if self.sla:
            out.append(f"时限 {self.sla}" + (f" {SLA_STATUSES[self.sla_status]}" if self.sla_status else ""))
        if self.rating:
            out.append(RATING_FILTERS[self.rating])
        if self.source:
            out.append(intake.RATING_SOURCES[self.source])
        if self.paid:
            out.append("有偿服务")
        if self.department:
            out.append(identity.departments.DEPARTMENT_BY_CODE[self.department].name)
        if self.backlog:
            out.append(f"{self.backlog} 月末未办结" + (f"，{BACKLOG_BUCKETS[int(self.age)][0]}" if self.age else ""))
        if self.status:
            out.append({"open": "处理中", "closed": "已办结"}[self.status])
        return out


def _valid_day(value: str) -> bool:
    if not _DAY.match(value):
        return False
    try:
        dt.datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _narrowed(query, f: RequestFilter, customer: str | None, visible, search_index: bool = True):
    query = f.apply(query, search_index=search_index)
    if customer is not None:
        query = query.where(HelpRequest.customer_username == customer)
    if visible is not None:
        query = query.where(visible)
    return query


def list_requests(session: Session, f: RequestFilter, *, customer: str | None = None, limit: int = 100,
                  after: str | None = None, visible=None) -> list[HelpRequest]:
    """Newest first; ties on the creation time broken by instance id, so paging never skips or repeats.
    ``after``: the cursor of the previous page's last row (:func:`cursor_of`), read through the index from
    there rather than counted past. ``visible``: the reader's need-to-know condition
    (webapp.policy.visible_requests)."""
    common = bool(f.q) and text_search.common(session, f.q)  # a page of common words: newest first
    query = _narrowed(select(HelpRequest), f, customer, visible, search_index=not common)
    key = keyset.decode(after, 2)
    if key is not None:
        query = query.where(keyset.after([HelpRequest.created_at, HelpRequest.instance_id], list(key),
                                         descending=True))
    query = query.order_by(HelpRequest.created_at.desc(), HelpRequest.instance_id.desc())
    return list(session.scalars(query.limit(limit)))


def cursor_of(row: HelpRequest) -> str:
    """The cursor of the page that continues after ``row`` (newest first)."""
    return keyset.encode((clock.as_utc(row.created_at), row.instance_id))


def count_requests(session: Session, f: RequestFilter, *, customer: str | None = None, visible=None,
                   cap: int = 1000) -> tuple[int, bool]:
    """How many requests the filter finds, counted up to ``cap``: (count, more than that)."""
    if f.q and text_search.indexed(f.q):  # the search index's candidates, in no order: it stops at the cap
        plain = _narrowed(select(HelpRequest.instance_id), f, customer, visible, search_index=False)
        return keyset.capped_total(session, text_search.through_index(session, plain, f.q), cap)
    query = _narrowed(select(HelpRequest.instance_id), f, customer, visible)
    # in the list's own order, so the count reads the same index as the page and stops after ``cap`` rows
    return keyset.capped_total(session, query.order_by(HelpRequest.created_at.desc(),
                                                       HelpRequest.instance_id.desc()), cap)
