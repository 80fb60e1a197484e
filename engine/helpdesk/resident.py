"""What the resident sees of their request: a plain status, the department's promise, and the answers.

The portal used to list internal task names (including escalations such as 解决超时督办), which tell a
resident nothing and reveal the desk's internals. Here the procedure's state is folded into the handful of
words a resident understands (已受理 / 已派单 / 处理中 / 待您处理 / 待您确认 / 回访中 / 已完成 / 已关闭), derived from the
request row and the open tasks' element ids — never from their names, so renaming a task does not change it.

Answers come from ONE source: the outbox's 答复 (``answered``) SMS rows, written by :mod:`notices` exactly
when an answer for the resident is completed. Every answer has one SMS row (a landline's is ``skipped`` but
still recorded), so reading that channel shows each answer once, with the time it was given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.helpdesk import hotline, touchpoints
from engine.helpdesk.tables import HelpRequest
from engine.notify.tables import OutboxMessage

# The element ids the statuses read, from the one list notices.py also writes messages by.
INTAKE = touchpoints.elements(touchpoints.INTAKE)
HANDED = touchpoints.elements(touchpoints.HANDED)
CONFIRM = touchpoints.elements(touchpoints.CONFIRM)
RESIDENT_TASKS = touchpoints.elements(touchpoints.RESIDENT_TASKS)
CALLBACK = touchpoints.elements(touchpoints.FOLLOWUP)
ARCHIVE = touchpoints.elements(touchpoints.ARCHIVE)


@dataclass(frozen=True)
class Answer:
    at: dt.datetime
    text: str


def resident_status(request: HelpRequest, open_element_ids: Iterable[str]) -> str:
    """The request's state in the resident's words. Escalation tasks (``esc_*``) are internal and ignored."""
    ids = {e for e in open_element_ids if e and not e.startswith("esc_")}
    work = ids - ARCHIVE
    if request.satisfaction is not None and not work:
        return "已关闭"  # rated: only the desk's filing is left (a "not solved" rating reopens the work)
    if request.status == "closed" or (ids and not work):
        return "已完成"
    if ids & CONFIRM:
        return "待您确认"
    if ids & RESIDENT_TASKS:
        return "待您处理"
    if ids & CALLBACK:
        return "回访中"
    if ids & HANDED:
        return "已派单"
    if ids and ids <= INTAKE:
        return "已受理"
    return "处理中"


def can_urge(request: HelpRequest, status: str) -> bool:
    """催单 is offered only while the work is open: not once rated, closed or waiting for the resident."""
    return status not in ("已关闭", "已完成", "待您确认", "待您处理") and request.status != "closed"


def answers(session: Session, instance_id: str) -> list[Answer]:
    """Every answer written for the resident, oldest first, each once (its 答复 SMS row)."""
    rows = session.scalars(select(OutboxMessage).where(
        OutboxMessage.instance_id == instance_id, OutboxMessage.event == "answered",
        OutboxMessage.channel == "sms").order_by(OutboxMessage.created_at, OutboxMessage.id))
    return [Answer(r.created_at, r.body) for r in rows if r.body]


def dispatched(session: Session, instance_id: str) -> Answer | None:
    """The latest 派单 message: which department or person is coming and by when, as they gave it (a
    department's 部门接单 with its expected time, a repair's engineer and arrival time)."""
    row = session.scalars(select(OutboxMessage).where(
        OutboxMessage.instance_id == instance_id, OutboxMessage.event == "dispatched",
        OutboxMessage.channel == "sms").order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(1)).first()
    return Answer(row.created_at, row.body) if row is not None and row.body else None


@dataclass(frozen=True)
class View:
    """Everything the resident's page (and ``GET /api/v1/my/requests/<id>``) shows of one request."""

    status: str
    can_urge: bool
    coming: Answer | None
    answers: list[Answer]
    hotline: str | None  # the 24 h hotline number, shown at once for an emergency (a, e, f)


def view(session: Session, request: HelpRequest, open_element_ids: Iterable[str]) -> View:
    status = resident_status(request, open_element_ids)
    return View(status=status, can_urge=can_urge(request, status), coming=dispatched(session, request.instance_id),
                answers=answers(session, request.instance_id), hotline=hotline.shown_for(session, request))
