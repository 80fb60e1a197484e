"""SLA clocks as people read them: a coloured countdown for staff, a promise for residents.

Colours follow the share of the allowed time already used: green below 50 %, yellow from 50 %, orange
from 75 %, red once the due time has passed ("超时 X小时Y分"). A clock counts as breached as soon as its due
time is past, even if the scheduler has not fired its timer yet: a supervisor must not see green for a
request that is already late.

Every deadline's name and duration ("响应（30分钟）", "预计30分钟内响应") comes from the deployed diagrams
through :mod:`engine.helpdesk.deadlines`; nothing here knows how long a deadline is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import g, has_app_context

from engine.core import clock
from engine.helpdesk import deadlines

from .web import duration_text, read_db

# What a resident is promised, around the deadline's duration from the diagrams ({} = "15分钟"). Internal
# targets (the supervisor's reply) are not shown to them.
CUSTOMER_PROMISES = {
    "ack_online": "预计{}内受理",
    "response": "预计{}内响应",
    "resolve_ordinary": "预计{}内处理完毕",
    "solution_complex": "预计{}内给出解决方案",
}
LEVEL_NAMES = {"green": "正常", "yellow": "已过半", "orange": "即将超时", "red": "已超时", "met": "已达成"}


@dataclass(frozen=True)
class Badge:
    key: str
    name: str
    level: str  # green | yellow | orange | red | met
    text: str
    due_at: dt.datetime
    used: float  # share of the allowed time used, 0..1+ (for sorting and tests)


def page_deadlines() -> deadlines.Registry:
    """The deadlines every label on the page is built from: those of the deployed diagrams (read once per
    request). Outside a request — a test, a script, with no database to ask — the diagrams in ``bpmn/``
    as written."""
    if not has_app_context():
        return deadlines.from_sources()
    if "deadlines" not in g:
        g.deadlines = deadlines.current(read_db())
    return g.deadlines


def label(sla_key: str | None) -> str:
    """"响应（30分钟）" for a clock's key; "" for none."""
    return page_deadlines().label(sla_key) if sla_key else ""


def badge(clk, now: dt.datetime | None = None, registry: deadlines.Registry | None = None) -> Badge:
    now = now or clock.now()
    armed, due = clock.as_utc(clk.armed_at), clock.as_utc(clk.due_at)
    name = (registry if registry is not None else page_deadlines()).label(clk.sla_key)
    if clk.status == "met":
        return Badge(clk.sla_key, name, "met", "已达成", due, 0.0)
    total = max((due - armed).total_seconds(), 1.0)
    used = (now - armed).total_seconds() / total
    if clk.status == "breached" or now >= due:
        late_since = clock.as_utc(clk.breached_at) if clk.breached_at and clk.status == "breached" else due
        late_since = min(late_since, due)
        return Badge(clk.sla_key, name, "red", "超时 " + overdue_text(now - late_since), due, max(used, 1.0))
    level = "orange" if used >= 0.75 else "yellow" if used >= 0.5 else "green"
    # rounded up: a clock armed a few seconds ago still reads "剩余 30分", and "剩余 0分" never shows
    left = due - now
    return Badge(clk.sla_key, name, level, "剩余 " + duration_text(left + dt.timedelta(seconds=59.999)), due, used)


def overdue_text(delta: dt.timedelta) -> str:
    """Always "X小时Y分" (also "0小时5分"): the supervisor compares these at a glance."""
    hours, minutes = divmod(max(0, int(delta.total_seconds() // 60)), 60)
    return f"{hours}小时{minutes}分"


def worst(badges: list[Badge]) -> str | None:
    order = ["red", "orange", "yellow", "green", "met"]
    levels = [b.level for b in badges]
    return next((lvl for lvl in order if lvl in levels), None)


def customer_promises(clocks, registry: deadlines.Registry | None = None) -> list[str]:
    """The armed clocks a resident may know about, as sentences. A deadline whose duration the deployed
    diagrams do not state promises nothing: we do not promise what we cannot name."""
    registry = registry if registry is not None else page_deadlines()
    out = []
    for clk in clocks:
        if clk.status == "armed" and clk.sla_key in CUSTOMER_PROMISES and registry.text(clk.sla_key):
            text = CUSTOMER_PROMISES[clk.sla_key].format(registry.text(clk.sla_key))
            if text not in out:
                out.append(text)
    return out
