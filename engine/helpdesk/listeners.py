"""The help desk plugged into the generic runtime (see :mod:`engine.runtime.listeners`).

- the ``requests`` row is the help desk's projection of every instance that carries a ``channel`` (or is a
  ``help_request``): caller, address, type, priority, ratings, copied out of the workflow data;
- scripts quote paid services with ``fee_schedule()``, read from the admin-edited table and recorded in the
  audit event, so a replay quotes the prices of that day; forms that name people (guards, carers, the gate
  guard) offer them from ``staff_roster()``, recorded the same way (:mod:`engine.helpdesk.staff`);
- the monthly statistics process starts with the month's figures computed from the projections (and the
  staff who may own an improvement action);
- a timer may carry only an SLA key the deadline registry names (a typo is a deploy error);
- every audit event is heard by the notices (``notices.on_events``), which write the outbox messages it
  causes in the same transaction, and by ``month_seal.on_events``, which freezes a month when the
  公司经理 signs it;
- the staff member a complaint is about (被投诉人) may not work on, claim or be handed any task of it
  (``engine.tasks.add_refusal``), whatever their lane.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import tasks
from engine.audit import history
from engine.core.tables import TaskRow, User
from engine.forms import sample
from engine.helpdesk import (
    deadlines,
    help_requests,
    improvements,
    intake,
    month_seal,
    notices,
    reports,
    staff,
)
from engine.helpdesk.tables import HelpRequest
from engine.repository import validation
from engine.runtime import listeners


def _statistics_figures(session: Session, process_id: str, data: dict) -> dict:
    if process_id != reports.STATISTICS_PROCESS or "period" not in data:
        return {}
    return {**reports.statistics_prefill(session, data["period"]),
            **reports.checkpoint_figures(session, data["period"]),
            "staff_choices": improvements.staff_choices(session)}  # who may own an improvement action


def _sample_starts(process_id: str) -> list[dict]:
    """What the hotline page and the residents' form would start a request with (the dry run's data):
    the start form's required fields filled plausibly, by each channel, the type not yet known."""
    if process_id == reports.STATISTICS_PROCESS:
        return [{"period": "2026-10"}]
    fields = {**sample.fill(help_requests.START_SCHEMA, help_requests.START_SCHEMA["required"]),
              "phone": "13800000000", "category": None}
    samples = [{"channel": "hotline", **fields, "recorded_by": "assistant", "customer_username": None},
               {"channel": "online", **fields, "customer_username": "customer"}]
    return samples + _scenario_starts(process_id, fields)


def _scenario_starts(process_id: str, fields: dict) -> list[dict]:
    """The start data of the procedure's scenario files (``bpmn/scenarios``) that start ``process_id``: each
    channel and known type the owner wrote a story for, so the dry run starts those too."""
    from engine.core import config
    from engine.helpdesk import scenarios  # imported here: only a dry run reads the scenario files

    out, seen = [], set()
    for start in _scenario_files_starts(config.bpmn_dir() / "scenarios", scenarios):
        if "timer" in start or start.get("process", "help_request") != process_id:
            continue
        key = (start["channel"], start.get("category"))
        if key in seen:
            continue
        seen.add(key)
        data = {"channel": start["channel"], **fields, **(start.get("caller") or {}), "category": start.get("category"),
                "customer_username": "customer" if start["channel"] == "online" else None}
        if start["channel"] == "hotline":
            data["recorded_by"] = start.get("as", "assistant")
        out.append({k: v for k, v in data.items() if k in (*help_requests.START_FIELDS, "channel", "recorded_by",
                                                              "customer_username")})
    return out


# folder -> (the files' names, sizes and modification times, their start sections). Every deploy's dry run
# asks for the starts of every process; reading the same files again each time cost most of a deploy.
_starts_read: dict[Path, tuple[tuple, list[dict]]] = {}


def _scenario_files_starts(folder: Path, scenarios) -> list[dict]:
    """The ``start`` section of each readable scenario file in ``folder``, read again only when a file changed."""
    paths = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    known = _starts_read.get(folder)
    if known is not None and known[0] == stamp:
        return known[1]
    starts = []
    for path in paths:
        try:
            starts.append(scenarios.load(path).start)
        except scenarios.ScenarioError:
            continue  # `liyuan simulate` reports a broken file; the dry run only borrows good ones
    _starts_read[folder] = (stamp, starts)
    return starts


def _complaint_about(session: Session, user: User, row: TaskRow) -> str | None:
    """The 被投诉人 keeps away from every task of the complaint about them (issue 12).

    Asked for every task a page or an API call shows or acts on: the request this session already loaded
    (the task routes and the list read it for need-to-know) is used as it stands, else one column is read."""
    held = session.identity_map.get(session.identity_key(HelpRequest, (row.instance_id,)))
    named = (held.complained_staff if held is not None else
             session.scalar(select(HelpRequest.complained_staff).where(HelpRequest.instance_id == row.instance_id)))
    return "此投诉的被投诉人" if named and named == user.username else None


def install() -> None:
    """Register the help desk with the runtime; idempotent, called by every entry point at start-up."""
    listeners.add_projection(listeners.Projection(
        "request", intake.projection,
        lambda session, instance, values, ended: intake.sync(session, instance, values, ended=ended)))
    listeners.add_script_helper("fee_schedule", intake.fee_schedule, list)
    listeners.add_script_helper("staff_roster", staff.roster, staff.empty)
    listeners.add_start_data("statistics", _statistics_figures)
    listeners.add_sample_start("help_request", _sample_starts)
    validation.register_sla_keys(deadlines.NAMES)
    history.add_listener(notices.on_events)
    tasks.add_refusal("complained_staff", _complaint_about)
    history.add_listener(month_seal.on_events)  # the 公司经理's signing freezes the month
