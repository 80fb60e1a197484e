"""The slowest steps of the procedure in a month (4.10, overview step 7: 识别常见问题, 优化服务流程): for each user
task of the diagrams, how long it waited from the moment it was ready (in someone's inbox) until it was done,
over the tasks completed in the month.

Read from the ``step_timings`` projection (:class:`engine.core.tables.StepTiming`), which the runtime writes
with the change that completes a task and ``liyuan audit verify --projections`` recomputes from the log; so
the figures are an aggregate over one index, never a workflow blob. Percentiles are nearest-rank, computed in
SQL with window functions (:func:`engine.helpdesk.month_figures.percentiles`): SQLite has no
``percentile_cont``, and the same query on both databases keeps the page and the workbook equal. The month is
the month of completion (Asia/Shanghai); each step's requests are the list filtered by ``step`` and ``month``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from engine.core.tables import StepTiming
from engine.helpdesk.month_figures import Scope, percentiles
from engine.helpdesk.request_filter import RequestFilter, month_bounds
from engine.helpdesk.tables import HelpRequest

TOP = 10


@dataclass
class SlowStep:
    process_id: str
    element_id: str
    name: str
    clause: str | None
    count: int  # tasks of this step completed in the month
    p50: float | None  # seconds from ready to completed
    p90: float | None
    longest: float | None
    filter: RequestFilter = field(default_factory=RequestFilter)

    @property
    def step(self) -> str:
        return f"{self.process_id}:{self.element_id}"


def slowest(session: Session, month: str, *, department: str | None = None, top: int = TOP) -> list[SlowStep]:
    """The ``top`` steps of the month by median time (then p90, then count), slowest first; ``department``:
    only the steps of that department's requests (a 部门主管's month)."""
    start, end = month_bounds(month)
    s = StepTiming
    scope = Scope.of(session, department)
    within = (s.completed_at >= start, s.completed_at < end)

    def narrow(query):
        if not department:
            return query
        return query.where(s.instance_id.in_(select(HelpRequest.instance_id).where(*scope.requests)))

    key = s.process_id + literal(":") + s.element_id
    found = percentiles(session, key, s.seconds, within, ps=(0.5, 0.9, 1.0), narrow=narrow)
    if not found:
        return []
    labels = {f"{p}:{e}": (name, clause) for p, e, name, clause in session.execute(
        narrow(select(s.process_id, s.element_id, func.max(s.name), func.max(s.clause)).where(*within))
        .group_by(s.process_id, s.element_id))}
    out = []
    for step, ranked in found.items():
        process_id, element_id = step.split(":", 1)
        name, clause = labels.get(step, (element_id, None))
        p50, p90, longest = ranked.values
        out.append(SlowStep(process_id, element_id, name, clause, ranked.n, p50, p90, longest,
                            RequestFilter(month=month, step=step, department=department)))
    out.sort(key=lambda x: (-(x.p50 or 0), -(x.p90 or 0), -x.count, x.step))
    return out[:top]


def step_name(session: Session, step: str) -> str | None:
    """The name a step ("process:element") had when it was last timed, for the list page's heading."""
    process_id, element_id = step.split(":", 1)
    s = StepTiming
    return session.scalar(select(s.name).where(s.process_id == process_id, s.element_id == element_id)
                          .order_by(s.completed_at.desc()).limit(1))
