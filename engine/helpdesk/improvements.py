"""Improvement actions followed to their end (issue 15, overview step 7 优化服务流程).

At the month-end analysis (``monthly_statistics``, task 统计分析与总结) the 客服部主管 records up to three
improvement actions, each with what is to be done, an owner and a due date. The diagram turns each into a
task of its own (the multi-instance sub-process 跟踪改进措施: the task 落实改进措施 is assigned to the owner,
and a timer with the SLA key ``improvement_due`` fires at the end of the due day, which marks the action
overdue and breaches its clock). The following month's report lists every action and how it stands.

The state is read from the audit log of the statistics instance — the review's recorded form (the actions)
and each 落实改进措施 completion (its ``action_no``, what was done, the effect seen) — so it needs no table of
its own, and what the report says can be re-derived by anyone who can verify the log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import identity
from engine.audit import history
from engine.core import clock
from engine.core.tables import AuditEvent, Instance, User

PROCESS = "monthly_statistics"
REVIEW = "review"  # the task where the actions are recorded
ACT = "act"  # the owner's task, one per action
SLOTS = ("action_1", "action_2", "action_3")  # the review form's action fields, in their numbering order
STATES = {"open": "进行中", "done": "已完成", "done_late": "逾期完成", "overdue": "已逾期"}


@dataclass
class Action:
    period: str  # the month whose analysis proposed it
    no: int
    what: str
    owner: str
    owner_name: str
    due: dt.date
    instance_id: str
    done_at: dt.datetime | None = None
    done_by: str | None = None
    result: str = ""
    effect: str = ""
    state: str = "open"

    @property
    def state_name(self) -> str:
        return STATES[self.state]


def staff_choices(session: Session) -> list[dict[str, str]]:
    """Who may own an action (the review form's 负责人 list): active staff, "郑工程师（工程部）"."""
    out = []
    for user in session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.username)):
        if not any(identity.ROLE_BY_CODE[c].staff for c in user.role_codes if c in identity.ROLE_BY_CODE):
            continue
        dept = identity.departments.department_of(session, user)
        name = user.display_name or user.username
        label = f"{name}（{identity.departments.DEPARTMENT_BY_CODE[dept].name}）" \
            if dept in identity.departments.DEPARTMENT_BY_CODE else name
        out.append({"code": user.username, "name": label})
    return out


def numbered(data: dict) -> list[dict]:
    """The review form's filled action slots, numbered 1, 2 … in slot order (as the diagram's script does)."""
    out = []
    for slot in SLOTS:
        action = data.get(slot)
        if isinstance(action, dict) and action.get("what"):
            out.append({"no": len(out) + 1, **{k: action.get(k) for k in ("what", "owner", "due")}})
    return out


def actions(session: Session, periods: list[str], now: dt.datetime | None = None) -> list[Action]:
    """Every action proposed by the analyses of ``periods`` ("YYYY-MM"), with its state as of ``now``."""
    now = now or clock.now()
    today = clock.to_local(now).date()
    runs = list(session.scalars(select(Instance).where(Instance.process_id == PROCESS)
                                .order_by(Instance.started_at)))
    if not runs:
        return []
    events = list(session.scalars(select(AuditEvent).where(
        AuditEvent.chain.in_([i.id for i in runs]), AuditEvent.kind.in_(("started", "task_completed")))
        .order_by(AuditEvent.chain, AuditEvent.seq)))
    period_of: dict[str, str] = {}
    for e in events:
        if e.kind == "started":
            data = history.payload_of(e).get("data") or {}
            if data.get("period") in periods:
                period_of[e.chain] = data["period"]
    names = {u.username: u.display_name or u.username for u in session.scalars(select(User))}
    found: dict[tuple[str, int], Action] = {}
    for e in events:
        if e.chain not in period_of or e.kind != "task_completed":
            continue
        data = history.payload_of(e).get("data") or {}
        if e.element_id == REVIEW:
            for a in numbered(data):
                due = _date(a.get("due"))
                if due is None:
                    continue
                found[(e.chain, a["no"])] = Action(period_of[e.chain], a["no"], str(a["what"]), str(a["owner"]),
                                                   names.get(str(a["owner"]), str(a["owner"])), due, e.chain)
        elif e.element_id == ACT and (action := found.get((e.chain, data.get("action_no")))) is not None:
            action.done_at, action.done_by = clock.as_utc(e.at), e.actor
            action.result, action.effect = str(data.get("result") or ""), str(data.get("effect") or "")
    for a in found.values():
        if a.done_at is not None:
            a.state = "done" if clock.to_local(a.done_at).date() <= a.due else "done_late"
        else:
            a.state = "overdue" if today > a.due else "open"
    return sorted(found.values(), key=lambda a: (a.period, a.instance_id, a.no))


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None
