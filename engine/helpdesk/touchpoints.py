"""Where the procedure touches the resident: the one list of element ids the resident-facing code knows.

Two readers use it and must never disagree: :mod:`notices` (which completed or reached task writes which
message to the resident) and :mod:`resident` (which open task means which plain status). A new diagram
that answers the resident, dispatches someone or asks the resident for something adds its line here.
Keys are ``(process id, element id)``; the status rules only need the element ids (:func:`elements`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dispatch:
    """A completed task that tells the resident who is coming and by when.

    ``person``: the form field naming who comes (None: the department and the person who took the job);
    ``eta``: the field with the expected time; ``eta_minutes``: whether that field counts minutes from the
    moment the task is completed (the duty lead's 预计几分钟到达) rather than holding a date-time.
    """

    person: str | None
    eta: str
    eta_minutes: bool = False


# 派单: the department took the job (部门接单并给出预计完成时间), a repair was accepted with its arrival time, the
# duty lead sent someone on the emergency fast path (紧急求助接报出动, minutes to arrival)
DISPATCHED: dict[tuple[str, str], Dispatch] = {
    ("help_request", "take_job"): Dispatch(None, "expected_done_at"),
    ("repair", "accept"): Dispatch("engineer", "eta"),
    ("help_request", "dispatch"): Dispatch(None, "eta_minutes", eta_minutes=True),
}
# 答复: a completed task -> the field holding the answer written for the resident
ANSWERED: dict[tuple[str, str], str] = {
    ("help_request", "ack_online"): "ack_message",
    ("consultation", "answer_oral"): "answer",
    ("consultation", "answer_written"): "answer",
    ("consultation", "supervisor_reply"): "supervisor_answer",
    ("consultation", "relay"): "answer",
    ("consultation", "company_reply"): "company_reply",
    ("complaint", "reply"): "reply_content",
    ("complaint", "explain"): "explanation",  # an invalid complaint: the explanation is the answer
    ("general_help", "supervisor_decide"): "supervisor_reply",
}
# 待确认: the resident's own 确认解决情况并评价
CONFIRM = {("help_request", "confirm_customer")}
# 回访: the 客服部 calls back (reached: the call is coming)
FOLLOWUP = {("help_request", "callback"), ("complaint", "revisit")}
# other tasks in the resident's own lane: a paid service's quote waiting for their acceptance
RESIDENT_TASKS = {("paid_service", "customer_accept")}
# open while the request is still being recorded or assessed
INTAKE = {("help_request", "record_hotline"), ("help_request", "ack_online"), ("help_request", "assess"),
          ("help_request", "handover")}
# handed to a department (or an engineer) that has not taken it yet: the tasks whose completion is 派单
HANDED = {("help_request", "take_job"), ("repair", "accept")}
# the desk's own filing once the resident has been served: no work the resident waits for
ARCHIVE = {("help_request", "archive")}


def elements(keys) -> frozenset[str]:
    """The element ids of ``(process id, element id)`` keys."""
    return frozenset(element for _process, element in keys)
