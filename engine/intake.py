"""The help request as people see it (the ``requests`` projection) and the fee schedule.

A help request is an instance of ``help_request`` (or of any process started with a ``channel``); its
caller, address, type and status are copied out of the workflow data on every change, so lists, search
and the monthly report read one table.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock
from .models import FeeItem, HelpRequest, Instance

CATEGORIES = {
    "a": "急救病人求助", "b": "报修求助", "c": "投诉求助", "d": "咨询求助",
    "e": "治安事件求助", "f": "灾害事故求助", "g": "其他生活求助",
}
CHANNELS = {"hotline": "24小时热线", "online": "线上平台"}
_BUILDING = re.compile(r"(\d+\s*(?:栋|幢|座|号楼))")

DEFAULT_FEES = (
    ("lock_open", "开锁服务", "次", 5000), ("pipe_unblock", "管道疏通", "次", 8000),
    ("light_replace", "灯具更换（人工）", "个", 2000), ("tap_replace", "水龙头更换（人工）", "个", 3000),
    ("appliance_move", "家具搬运", "小时", 6000), ("deep_clean", "家居保洁", "小时", 4500),
)


def sync(session: Session, instance: Instance, data: dict, *, ended: bool) -> None:
    if "channel" not in data and instance.process_id != "help_request":
        return
    row = session.get(HelpRequest, instance.id)
    now = clock.now()
    if row is None:
        row = HelpRequest(instance_id=instance.id, created_at=instance.started_at, status="open")
        session.add(row)
    row.channel = _str(data.get("channel"))
    row.caller_name = _str(data.get("caller_name"))
    row.phone = _str(data.get("phone"))
    row.address = _str(data.get("address"))
    row.building = _str(data.get("building")) or _building(row.address)
    row.description = _str(data.get("description"))
    row.category = _str(data.get("category")) if data.get("category") in CATEGORIES else row.category
    row.priority = _str(data.get("priority"))
    row.customer_username = _str(data.get("customer_username"))
    score = data.get("satisfaction")
    row.satisfaction = score if isinstance(score, int) else row.satisfaction
    row.updated_at = now
    if ended:
        row.status, row.closed_at = "closed", now
    session.flush()


def _str(value) -> str | None:
    return None if value is None or value == "" else str(value)[:2000]


def _building(address: str | None) -> str | None:
    match = _BUILDING.search(address or "")
    return match.group(1).replace(" ", "") if match else None


def fee_schedule(session: Session) -> list[dict]:
    rows = session.scalars(select(FeeItem).where(FeeItem.active.is_(True)).order_by(FeeItem.code))
    return [{"code": r.code, "name": r.name, "unit": r.unit, "price": r.price_cents / 100} for r in rows]


def ensure_default_fees(session: Session) -> None:
    """Seed the fee schedule once; admins edit it afterwards."""
    if session.scalar(select(FeeItem).limit(1)) is not None:
        return
    for code, name, unit, cents in DEFAULT_FEES:
        session.add(FeeItem(code=code, name=name, unit=unit, price_cents=cents, active=True))
    session.flush()
