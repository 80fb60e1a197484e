"""Common problems found, not typed (4.10, overview step 7 识别常见问题): what keeps coming back in a month,
each finding with the filter that lists its requests.

- the same unit (address) three or more times in 30 days,
- a type of request above its average of the three months before,
- repeat callers (the same phone twice or more in the month),
- frequent words of the month's descriptions (Chinese segmentation with jieba),
- the deadlines breached most (by deadline and the step it guarded),
- the slowest steps of the procedure (:mod:`engine.helpdesk.slow_steps`: ready → completed per user task,
  from the ``step_timings`` projection that ``liyuan audit verify --projections`` checks against the log).

The counts are SQL GROUP BYs over the projections; only the word count reads the descriptions' text (one
column, the month's rows), since segmenting Chinese needs jieba. It is its own page, so the month page
never waits for jieba's dictionary.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core.tables import SlaClock
from engine.helpdesk import deadlines, intake, slow_steps
from engine.helpdesk.month_figures import shift_month
from engine.helpdesk.request_filter import RequestFilter, month_bounds
from engine.helpdesk.tables import HelpRequest

SAME_UNIT_TIMES = 3  # "the same unit three times in 30 days"
SAME_UNIT_WINDOW = dt.timedelta(days=30)
REPEAT_CALLER_TIMES = 2
RISING_MIN = 3  # a type with fewer requests than this in the month is not called rising, whatever its average
TOP = 10
# Words that say nothing about the problem (function words and the procedure's own vocabulary).
STOP_WORDS = frozenset("""的 了 是 在 我 我们 你 您 他 她 有 和 就 不 也 都 又 很 还 要 请 想 问问 一下 一个 怎么 什么
这个 那个 没有 可以 已经 现在 今天 昨天 明天 住户 业主 求助 反映 问题 帮忙 需要 情况 处理 一直 家里""".split())


@dataclass
class Finding:
    kind: str  # unit | rising | caller | word | breach
    label: str  # what was found, in words
    count: int
    detail: str = ""
    filter: RequestFilter = field(default_factory=RequestFilter)


@dataclass
class CommonProblems:
    month: str
    units: list[Finding]
    rising: list[Finding]
    callers: list[Finding]
    words: list[Finding]
    breaches: list[Finding]
    steps: list[slow_steps.SlowStep] = field(default_factory=list)


def find(session: Session, month: str, registry: deadlines.Registry | None = None) -> CommonProblems:
    registry = registry if registry is not None else deadlines.current(session)
    start, end = month_bounds(month)
    return CommonProblems(month, repeated_units(session, month, start, end), rising_categories(session, month),
                          repeat_callers(session, month, start, end), frequent_words(session, month, start, end),
                          breached_most(session, month, start, end, registry), slow_steps.slowest(session, month))


def repeated_units(session, month, start, end) -> list[Finding]:
    """Units with three or more requests within some 30 days that end in this month: the month and the 30
    days before it are counted per unit in SQL, and a unit is reported when three of its requests fit in
    one 30-day window of which at least one is this month's."""
    since = start - SAME_UNIT_WINDOW
    r = HelpRequest
    candidates = [a for a, in session.execute(
        select(r.address).where(r.created_at >= since, r.created_at < end, r.address.is_not(None))
        .group_by(r.address).having(func.count() >= SAME_UNIT_TIMES)
        .having(func.max(r.created_at) >= start).order_by(func.count().desc(), r.address).limit(50))]
    out = []
    for address in candidates:  # at most 50 units, each a handful of timestamps
        times = [t for t, in session.execute(select(r.created_at).where(
            r.address == address, r.created_at >= since, r.created_at < end).order_by(r.created_at))]
        best = _most_in_window(times, start)
        if best >= SAME_UNIT_TIMES:
            out.append(Finding("unit", address, best, f"30天内{best}次",
                               RequestFilter(address=address)))
    return sorted(out, key=lambda f: (-f.count, f.label))[:TOP]


def _most_in_window(times: list[dt.datetime], start: dt.datetime) -> int:
    """The most requests in one 30-day window that ends with a request of the month."""
    best = 0
    left = 0
    for right, t in enumerate(times):
        while t - times[left] > SAME_UNIT_WINDOW:
            left += 1
        if _utc(t) >= start:
            best = max(best, right - left + 1)
    return best


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def rising_categories(session, month) -> list[Finding]:
    """Types with more requests this month than their average over the three months before (and at least
    :data:`RISING_MIN`)."""
    first = month_bounds(shift_month(month, -3))[0]
    start, end = month_bounds(month)
    r = HelpRequest
    now = dict(session.execute(select(r.category, func.count()).where(r.created_at >= start, r.created_at < end)
                               .group_by(r.category)).all())
    before = dict(session.execute(select(r.category, func.count()).where(r.created_at >= first,
                                                                        r.created_at < start)
                                  .group_by(r.category)).all())
    out = []
    for code, n in now.items():
        average = before.get(code, 0) / 3
        if code and n >= RISING_MIN and n > average:
            out.append(Finding("rising", f"{code}. {intake.CATEGORIES.get(code, code)}", n,
                               f"前三个月平均{average:.1f}件", RequestFilter(month=month, category=code)))
    return sorted(out, key=lambda f: (-f.count, f.label))


def repeat_callers(session, month, start, end) -> list[Finding]:
    r = HelpRequest
    rows = session.execute(select(r.phone, func.count(), func.max(r.caller_name))
                           .where(r.created_at >= start, r.created_at < end, r.phone.is_not(None))
                           .group_by(r.phone).having(func.count() >= REPEAT_CALLER_TIMES)
                           .order_by(func.count().desc(), r.phone).limit(TOP))
    return [Finding("caller", f"{name or ''} {phone}".strip(), n, f"本月来电{n}次",
                    RequestFilter(month=month, phone=phone)) for phone, n, name in rows]


def frequent_words(session, month, start, end, top: int = 20) -> list[Finding]:
    """The month's most frequent words of two or more characters (jieba's precise mode), each counted once
    per request; a word's requests are those whose description contains it."""
    import jieba  # imported here: its dictionary takes a second to load, and only this page needs it

    jieba.setLogLevel(logging.WARNING)
    counts: Counter[str] = Counter()
    texts = session.scalars(select(HelpRequest.description).where(
        HelpRequest.created_at >= start, HelpRequest.created_at < end, HelpRequest.description.is_not(None)))
    for text in texts:
        counts.update({w for w in jieba.lcut(text) if len(w) >= 2 and w not in STOP_WORDS and not w.isdigit()})
    return [Finding("word", word, n, "", RequestFilter(month=month, q=word)) for word, n in counts.most_common(top)
            if n >= 2]


def breached_most(session, month, start, end, registry) -> list[Finding]:
    rows = session.execute(select(SlaClock.sla_key, func.count())
                           .where(SlaClock.status == "breached", SlaClock.armed_at >= start, SlaClock.armed_at < end)
                           .group_by(SlaClock.sla_key).order_by(func.count().desc(), SlaClock.sla_key).limit(TOP))
    return [Finding("breach", registry.label(key), n, "", RequestFilter(month=month, sla=key, sla_status="breached"))
            for key, n in rows]
