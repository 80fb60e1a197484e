"""The audit log told as a story: who did what and when, in Chinese, for the request page and the portal.

Residents get the same events with staff names replaced by their role, and internal events (claims,
assignments, escalations) left out: they need to know their request is moving, not who is on shift.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from engine.audit import history
from engine.helpdesk import queries

from . import sla_view

CUSTOMER_LANE = "业主/住户"
CUSTOMER_KINDS = {"started", "task_reached", "task_completed", "instance_completed", "urged", "escalated"}


@dataclass(frozen=True)
class Line:
    at: dt.datetime
    who: str
    what: str
    kind: str


def element_names(version) -> dict:
    """Element names of a loaded version, called processes included, keyed by (process id, bpmn id) —
    ids repeat across processes (help_request and repair both have a ``qc``) — and by bare bpmn id, where
    the main process's own elements win."""
    names: dict = {}
    for spec in [*version.subprocess_specs.values(), version.spec]:
        for ts in spec.task_specs.values():
            bpmn_id = getattr(ts, "bpmn_id", None)
            if bpmn_id:
                name = getattr(ts, "bpmn_name", None) or bpmn_id
                names[(spec.name, bpmn_id)] = names[bpmn_id] = name
    return names


def _describe(kind: str, element: str, payload: dict, names: dict[str, str], people: dict[str, str]) -> str:
    lane = payload.get("lane")
    if kind == "started":
        channel = (payload.get("data") or {}).get("channel")
        return {"hotline": "热线来电登记，求助已受理", "online": "线上提交求助"}.get(channel, "求助已创建")
    if kind == "task_completed":
        return f"完成「{element}」"
    if kind == "task_reached":
        return f"进入「{element}」" + (f"（{lane}）" if lane else "")
    if kind == "escalated":
        return f"超时升级：「{element}」" + (f"交由{lane}" if lane else "")
    if kind == "task_claimed":
        return f"领取「{element}」"
    if kind == "task_released":
        return f"退回「{element}」"
    if kind == "task_assigned":
        to = payload.get("to", "")
        return f"派单：「{element}」派给 {people.get(to, to)}"
    if kind == "task_cancelled":
        return f"「{element}」已取消"
    if kind == "timer_fired":
        sla = sla_view.label(payload.get("sla_key"))
        return f"计时到期：{element}" + (f"（{sla}）" if sla else "")
    if kind == "instance_completed":
        return "求助已办结"
    if kind == "urged":
        return "住户催单"
    if kind == "data_edited":
        return "修改了求助资料"
    if kind == "personal_data_erased":
        return f"依法删除个人信息（{len(payload.get('refs', []))} 项），此处记录已显示为“已删除”"
    if kind == "migrated":
        return f"流程由第{payload.get('from_version')}版迁移到第{payload.get('to_version')}版" + (
            "（时限按新版本重算）" if payload.get("recompute_deadlines") else "（已承诺的时限不变）")
    return kind


def lines(session, instance_id: str, version, *, viewer: str | None = None, events=None) -> list[Line]:
    """Every event as a line; with ``viewer`` (a resident) only the customer-facing ones, staff unnamed.
    ``events``: the instance's audit events when the caller has already read them."""
    for_customer = viewer is not None
    events = history.events(session, instance_id) if events is None else events
    names = element_names(version) if version is not None else {}
    people = queries.display_names(session, {e.actor for e in events} | _targets(events))
    out = []
    for event in events:
        if for_customer and event.kind not in CUSTOMER_KINDS:
            continue
        payload = history.payload_of(event)
        element_id = event.element_id or ""
        element = names.get((payload.get("process_id"), element_id)) or names.get(element_id, element_id)
        who = _who(event.actor, payload, people, viewer)
        what = _describe(event.kind, element, payload, names, people)
        if for_customer and event.kind in ("task_reached", "escalated"):
            lane = payload.get("lane")
            what = "等待您确认结果并评价" if lane == CUSTOMER_LANE else f"转交{lane or '工作人员'}处理：「{element}」"
            who = "物业服务中心"
        out.append(Line(event.at, who, what, event.kind))
    return out


def _targets(events) -> set[str]:
    out = set()
    for e in events:
        if e.kind == "task_assigned":
            out.add(json.loads(e.payload).get("to", ""))
    return out


def _who(actor: str, payload: dict, people: dict[str, str], viewer: str | None) -> str:
    if viewer is not None:
        if actor == viewer:
            return "您"
        return payload.get("lane") or "物业服务中心"
    if actor in ("engine", "scheduler", "timer"):
        return "系统"
    return people.get(actor, actor)
