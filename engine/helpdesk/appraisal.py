"""Satisfaction → 绩效考核 (the requirements count 客户满意度调查结果 in the appraisal): per staff member, the
month's requests served, their ratings by source (the resident's own 评价 and the 客服部's 电话回访 only),
deadlines missed, last month's average beside this one, and a score by a rule written on the page.

The rule lives here, as numbers the page prints (:func:`rule_text`), so what the 公司经理 reads is what
was computed. Tasks completed come from the audit log (:func:`engine.helpdesk.reports.staff_performance`);
the ratings of the requests served are one grouped SQL query per staff member over the projection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core.tables import AuditEvent
from engine.helpdesk import intake, reports
from engine.helpdesk.month_figures import shift_month
from engine.helpdesk.request_filter import month_bounds
from engine.helpdesk.tables import HelpRequest

POINTS_PER_STAR = 20  # the 5-point average as a 100-point score
LATE_PENALTY = 2  # points off per task finished after its deadline fired
SOURCES = tuple(intake.RATING_SOURCES)  # ratings from residents and 回访 only


def rule_text() -> str:
    return (f"绩效满意度得分 = 所经手求助的平均满意度（5分制，仅计住户评价与电话回访）× {POINTS_PER_STAR}"
            f" − 超时完成任务数 × {LATE_PENALTY}，最低为0分；本月没有评价的员工不计分。")


@dataclass
class Appraisal:
    staff: reports.StaffFigures
    by_source: dict[str, tuple[int, float | None]] = field(default_factory=dict)  # source -> (ratings, average)
    previous: float | None = None  # last month's average satisfaction of the requests they served

    @property
    def rated(self) -> int:
        return sum(n for n, _avg in self.by_source.values())

    @property
    def average(self) -> float | None:
        total = sum(n * avg for n, avg in self.by_source.values() if avg is not None)
        return round(total / self.rated, 2) if self.rated else None

    @property
    def score(self) -> float | None:
        if self.average is None:
            return None
        return round(max(0.0, self.average * POINTS_PER_STAR - self.staff.late * LATE_PENALTY), 1)

    @property
    def change(self) -> float | None:
        """Month over month: this month's average minus last month's."""
        if self.average is None or self.previous is None:
            return None
        return round(self.average - self.previous, 2)


def appraisals(session: Session, month: str) -> list[Appraisal]:
    out = []
    previous = shift_month(month, -1)
    for staff in reports.staff_performance(session, month):
        out.append(Appraisal(staff, _ratings(session, staff.username, month),
                             _average(_ratings(session, staff.username, previous))))
    return out


def _served(username: str, month: str):
    """SQL: the requests this person completed a task of in the month."""
    start, end = month_bounds(month)
    return (select(AuditEvent.chain).where(AuditEvent.kind == "task_completed", AuditEvent.actor == username,
                                           AuditEvent.at >= start, AuditEvent.at < end).distinct())


def _ratings(session: Session, username: str, month: str) -> dict[str, tuple[int, float | None]]:
    rows = session.execute(select(HelpRequest.rating_source, func.count(), func.avg(HelpRequest.satisfaction))
                           .where(HelpRequest.instance_id.in_(_served(username, month)),
                                  HelpRequest.satisfaction.is_not(None), HelpRequest.rating_source.in_(SOURCES))
                           .group_by(HelpRequest.rating_source))
    return {source: (n, round(float(avg), 2) if avg is not None else None) for source, n, avg in rows}


def _average(by_source: dict[str, tuple[int, float | None]]) -> float | None:
    rated = sum(n for n, _ in by_source.values())
    return round(sum(n * a for n, a in by_source.values() if a is not None) / rated, 2) if rated else None
