"""Who is told what when a request moves: the procedure's rules for the outbox (:mod:`engine.notify`).

The help desk listens to every audit event as it is appended (``history.add_listener``, registered by
``install()``), in the transaction of the change, and writes the messages that event causes:

to the resident (in-app when they have an account, and an SMS to the request's phone — skipped with the
reason when it is a landline), worded by the admin's templates:

- 受理 ``received``: the request is recorded (the instance started);
- 派单 ``dispatched``: the department took the work, with who and the expected time as they gave them
  (跟进接单并告知预计时间; a repair's 接单并告知预计到场时间);
- 答复 ``answered``: an answer written for the resident (the online acknowledgement, a consultation's
  answer, a supervisor's or the company's written reply, the assistant's relay of the supervisor's reply, a
  complaint's reply), each once (:func:`resident_answer`). A reply touching company secrets sends instead
  the ``resident_answer`` the handler wrote without them;
- 待确认 ``confirm``: the resident's confirmation and rating task is waiting;
- 回访 ``followup``: the 客服部 is about to call back (电话回访, 投诉回访);

and to staff, in-app only: a task handed to them (派单 by a supervisor), a task escalated to their role by
a deadline, and a resident's 催单 for the roles working on the request. Deadlines that were breached are
read from the SLA clocks by the notification page itself.

The element ids live in :mod:`touchpoints`, the list :mod:`resident` reads its statuses from too.
"""

from __future__ import annotations

import datetime as dt
import json
import os

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine import identity
from engine.core import clock
from engine.core.tables import TaskRow, User
from engine.helpdesk import confirm_links, touchpoints
from engine.helpdesk.tables import HelpRequest
from engine.notify import outbox, templates

CUSTOMER_LANE = identity.ROLE_BY_CODE["customer"].name

# Which element does what to the resident: one list, shared with the statuses (resident.py).
DISPATCHED, ANSWERED = touchpoints.DISPATCHED, touchpoints.ANSWERED
CONFIRM, FOLLOWUP = touchpoints.CONFIRM, touchpoints.FOLLOWUP

_KINDS = {"started", "task_completed", "task_reached", "escalated", "task_assigned", "urged"}


def on_events(session: Session, chain: str, rows: list[dict]) -> None:
    """The audit listener: the messages these just-appended events cause, written in the same transaction."""
    wanted = [r for r in rows if r["kind"] in _KINDS]
    if not wanted:
        return
    request = None
    for row in wanted:
        payload = json.loads(row["payload"])
        kind, where = row["kind"], (payload.get("process_id"), row["element_id"])
        if kind == "task_assigned":
            _assigned(session, chain, row, payload)
        elif kind == "urged":
            roles = _role_codes(payload.get("lanes") or ())
            outbox.in_app(session, "urged", f"住户催单，请尽快处理（求助编号 {number(chain)}）", instance_id=chain,
                          roles=roles)
        elif kind in ("task_reached", "escalated") and payload.get("lane") != CUSTOMER_LANE:
            if kind == "escalated":
                name = _task_name(session, payload.get("task_id"), row["element_id"])
                lane, roles = payload.get("lane"), _role_codes([payload.get("lane")])
                if lane == identity.departments.HEAD_LANE:  # the head of the department the task is routed to
                    dept = _department_of_task(session, payload.get("task_id"))
                    lane, roles = (dept.head_name, [dept.head_role]) if dept is not None else (lane, [])
                outbox.in_app(session, "escalated", f"超时升级：「{name}」待{lane}处理", instance_id=chain,
                              roles=roles)
            if where in FOLLOWUP:
                request = request or session.get(HelpRequest, chain)
                _to_resident(session, request, "followup", {})
        elif kind in ("task_reached", "escalated"):  # a task in the resident's own lane
            request = request or session.get(HelpRequest, chain)
            if where in CONFIRM:
                _to_resident(session, request, "confirm", {"link": confirm_link(chain, payload.get("task_id"))})
            elif request is not None and request.customer_username:
                name = _task_name(session, payload.get("task_id"), row["element_id"])
                outbox.in_app(session, "confirm", f"请您处理：「{name}」（求助编号 {number(chain)}）",
                              instance_id=chain, users=[request.customer_username])
        elif kind == "started":
            request = request or session.get(HelpRequest, chain)
            _to_resident(session, request, "received", {})
        elif kind == "task_completed":
            data = payload.get("data") or {}
            if where in DISPATCHED:
                request = request or session.get(HelpRequest, chain)
                _to_resident(session, request, "dispatched", _dispatch_values(session, DISPATCHED[where], data,
                                                                              payload, row))
            answer = resident_answer(where, data)
            if answer:
                request = request or session.get(HelpRequest, chain)
                _to_resident(session, request, "answered", {"answer": answer})


def resident_answer(where: tuple, data: dict) -> str | None:
    """The text this completed task answers the resident with, or None — each answer is sent exactly once:

    - a first-line answer counts only when it says it answered (``answered`` false: the question goes on to
      the supervisor, whose reply is the answer);
    - a supervisor reply "由物业助理转达" is sent by the relay (its ``answer``), not by the supervisor too;
    - a reply touching company secrets sends the handler's ``resident_answer`` that withholds them.
    """
    field = ANSWERED.get(where)
    if field is None or data.get("answered") is False:
        return None
    if where == ("consultation", "supervisor_reply") and data.get("reply_method") == "via_assistant":
        return None
    if data.get("confidential"):
        field = "resident_answer"
    answer = data.get(field)
    return answer.strip() if isinstance(answer, str) and answer.strip() else None


def _to_resident(session: Session, request: HelpRequest | None, event: str, values: dict) -> None:
    if request is None:  # not a help request (the monthly statistics)
        return
    body = templates.render(session, event, {"number": number(request.instance_id), "caller_name":
                                             request.caller_name, "description": _short(request.description),
                                             "link": link(request.instance_id), **values})
    if request.customer_username:
        outbox.in_app(session, event, body, instance_id=request.instance_id, users=[request.customer_username])
    outbox.sms(session, event, request.phone, body, instance_id=request.instance_id)


def _dispatch_values(session: Session, spec: touchpoints.Dispatch, data: dict, payload: dict, row: dict) -> dict:
    """Who is coming and by when, as the one who took the job gave them."""
    who = data.get(spec.person) if spec.person else _taker(session, payload.get("task_id"), row["actor"])
    eta = data.get(spec.eta)
    if spec.eta_minutes:  # "预计几分钟到达", counted from the dispatch
        minutes = eta if isinstance(eta, int) and not isinstance(eta, bool) else None
        return {"person": who, "eta": clock.to_local(clock.now() + dt.timedelta(minutes=minutes))
                .strftime("%m月%d日 %H:%M") if minutes else None}
    return {"person": who, "eta": local_time(eta)}


def _assigned(session: Session, chain: str, row: dict, payload: dict) -> None:
    to = payload.get("to")
    if not to:
        return
    name = _task_name(session, payload.get("task_id"), row["element_id"])
    who = session.scalar(select(User.display_name).where(User.username == row["actor"])) or row["actor"]
    outbox.in_app(session, "assigned", f"{who} 把「{name}」派给了您", instance_id=chain, users=[to])


_TASK_NAME = select(TaskRow.name).where(TaskRow.id == bindparam("task_id"))  # built once: asked on every firing


def _task_name(session: Session, task_id: str | None, element_id: str | None) -> str:
    name = session.scalar(_TASK_NAME, {"task_id": str(task_id)}) if task_id else None
    return name or element_id or ""


def _department_of_task(session: Session, task_id):
    row = session.get(TaskRow, str(task_id)) if task_id else None
    return identity.departments.department(row.department) if row is not None else None


def _taker(session: Session, task_id, actor: str) -> str:
    """"工程部 郑工程师": the department a job was handed to and the person who took it."""
    dept = _department_of_task(session, task_id)
    user = session.scalar(select(User).where(User.username == actor))
    if dept is None and user is not None:  # a task of a role's lane (the duty lead): the person's department
        dept = identity.departments.department(identity.departments.department_of(session, user))
    person = user.display_name if user is not None and user.display_name else actor
    return f"{dept.name} {person}" if dept is not None else person


def _role_codes(lanes) -> list[str]:
    return [r.code for r in (identity.lane_role(lane) for lane in lanes) if r is not None]


def _short(text: str | None, limit: int = 40) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "…"


def number(instance_id: str) -> str:
    """The request number people read out on the phone: the first 8 characters of its id."""
    return instance_id[:8].upper()


def link(instance_id: str) -> str:
    """Where the resident follows the request: ``LIYUAN_PUBLIC_URL`` + the portal page."""
    base = os.environ.get("LIYUAN_PUBLIC_URL", "").rstrip("/")
    return f"{base}/portal/requests/{instance_id}" if base else "荔园物业住户服务“我的求助”"


def confirm_link(instance_id: str, task_id: str | None) -> str:
    """The 待确认 SMS's link: a page where the resident confirms without signing in, its token naming this
    confirmation task (:mod:`confirm_links`); without ``LIYUAN_PUBLIC_URL`` or a task, the portal."""
    base = os.environ.get("LIYUAN_PUBLIC_URL", "").rstrip("/")
    if not base or not task_id:
        return link(instance_id)
    return f"{base}/confirm/{confirm_links.make(instance_id, str(task_id))}"


def local_time(value) -> str | None:
    """A form's date-time as the resident reads it (Asia/Shanghai), or the text as given."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.SHANGHAI)
    return clock.to_local(moment).strftime("%m月%d日 %H:%M")
