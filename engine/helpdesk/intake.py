"""The help request as people see it (the ``requests`` projection) and the fee schedule.

A help request is an instance of ``help_request`` (or of any process started with a ``channel``); its
caller, address, type and status are copied out of the workflow data on every change, so lists, search
and the monthly report read one table.
"""

from __future__ import annotations

import re

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from engine import identity
from engine.core import clock
from engine.core.errors import InvalidData
from engine.helpdesk.tables import FeeItem, HelpRequest

CATEGORIES = {
    "a": "急救病人求助", "b": "报修求助", "c": "投诉求助", "d": "咨询求助",
    "e": "治安事件求助", "f": "灾害事故求助", "g": "其他生活求助",
}
CHANNELS = {"hotline": "24小时热线", "online": "线上平台"}
# The help a sick resident's caller chooses (4.2 1)); the values emergency_patient routes on.
HELP_MODES = {"escort": "送医院", "call_120": "拨打120", "nursing": "短时护理"}
PRIORITIES = {"P1": "紧急", "P2": "高", "P3": "一般", "P4": "低"}  # as 初步评估与定级 (help_assess) sets them
# The resident's three 1–5 sub-ratings (the confirmation form's field -> what the report calls it); each is
# projected to ``requests.rating_<field>`` beside the overall ``satisfaction``.
RATINGS = {"speed": "响应速度", "quality": "处理质量", "attitude": "服务态度"}
# Where a rating may come from (requests.rating_source): only the resident or the 回访 call.
RATING_SOURCES = {"resident": "住户评价", "callback": "电话回访"}
_BUILDING = re.compile(r"(\d+\s*(?:栋|幢|座|号楼))")

DEFAULT_FEES = (
    ("lock_open", "开锁服务", "次", 5000), ("pipe_unblock", "管道疏通", "次", 8000),
    ("light_replace", "灯具更换（人工）", "个", 2000), ("tap_replace", "水龙头更换（人工）", "个", 3000),
    ("appliance_move", "家具搬运", "小时", 6000), ("deep_clean", "家居保洁", "小时", 4500),
)


def projection(process_id: str, data: dict) -> dict | None:
    """The request's fields as copied out of the workflow data; ``None`` when the instance is no request."""
    if "channel" not in data and process_id != "help_request":
        return None
    address = _str(data.get("address"))
    values = {
        "channel": _str(data.get("channel")), "caller_name": _str(data.get("caller_name")),
        "phone": _str(data.get("phone")), "address": address,
        "building": _str(data.get("building")) or _building(address),
        "description": _str(data.get("description")), "priority": _str(data.get("priority")),
        "customer_username": _str(data.get("customer_username")),
    }
    if data.get("category") in CATEGORIES:
        values["category"] = data["category"]
    # need-to-know: who handles it, whom a complaint is about, whether a consultation is confidential
    dept = identity.departments.department(data.get("department"))
    values["department"] = dept.code if dept else None
    values["complained_staff"] = _str(str(data.get("complained_staff") or "").strip())
    values["confidential"] = data.get("confidential") is True
    if isinstance(data.get("follows_up"), str):  # set by help_requests.follow_up, never by a form
        values["follows_up"] = data["follows_up"][:36]
    if _rating(data.get("satisfaction")) is not None:
        values["satisfaction"] = data["satisfaction"]
        if data.get("rating_source") in RATING_SOURCES:  # set by the diagram's confirmation / 回访 task
            values["rating_source"] = data["rating_source"]
        else:  # diagrams that set none: the 电话回访 form (help_callback) records a callback_note
            values["rating_source"] = "callback" if "callback_note" in data else "resident"
    charged = data.get("amount_charged")  # the 收取费用 form of 有偿服务, in yuan
    if isinstance(charged, int | float) and not isinstance(charged, bool) and 0 <= charged < 10_000_000:
        values["paid_cents"] = round(charged * 100)
    for key in RATINGS:
        if _rating(data.get(key)) is not None:
            values[f"rating_{key}"] = data[key]
    _check_lengths(values)
    return values


def _check_lengths(values: dict) -> None:
    """A value longer than its column is refused, not cut: SQLite would store it whole and PostgreSQL fail
    with a 500, and a cut phone number is a wrong one. Forms cap their fields (``maxLength``), so this
    guards what reaches the request by other ways (a script, an older form)."""
    too_long = {}
    for key, value in values.items():
        limit = getattr(_R.c[key].type, "length", None) if key in _R.c else None
        if isinstance(value, str) and limit is not None and len(value) > limit:
            too_long[key] = f"最多填写{limit}个字"
    if too_long:
        raise InvalidData(too_long)


def _rating(value) -> int | None:
    """A 1–5 score as the forms give it; anything else (missing, text, a boolean) is no rating."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5 else None


_R = HelpRequest.__table__


def sync(session: Session, instance, values: dict, *, ended: bool) -> None:
    """Write the request's projected fields (one UPDATE, or an INSERT the first time; no ORM round trip).

    The runtime calls this only when the projection changed (or the instance ended), so ``updated_at`` is
    the time the request's own fields last changed. A request's resident account is never unset here.
    """
    now = clock.now()
    values = {**values, "updated_at": now}
    if values.get("customer_username") is None:  # a call linked to its resident after the number was proven
        values.pop("customer_username", None)    # (``phone_links``) stays linked whatever the workflow does
    if ended:
        values.update(status="closed", closed_at=now)
    changed = session.execute(update(_R).where(_R.c.instance_id == instance.id).values(**values)).rowcount
    if not changed:
        session.execute(insert(_R).values(instance_id=instance.id, created_at=instance.started_at,
                                          status=values.pop("status", "open"), **values))


def _str(value) -> str | None:
    return None if value is None or value == "" else str(value)


def _building(address: str | None) -> str | None:
    match = _BUILDING.search(address or "")
    return match.group(1).replace(" ", "") if match else None


def is_example(row: FeeItem) -> bool:
    """Whether a fee row is still one of the demo figures seeded by :data:`DEFAULT_FEES`: 4.9 points to the
    company's 《有偿服务收费标准》, which we do not have, so these are examples, not the company's prices, until
    an administrator changes them."""
    return (row.code, row.name, row.unit, row.price_cents) in DEFAULT_FEES


def fee_schedule(session: Session) -> list[dict]:
    """The active fee rows as a quote form offers them; ``label`` says 示例 on a row still at its demo figure."""
    rows = session.scalars(select(FeeItem).where(FeeItem.active.is_(True)).order_by(FeeItem.code))
    return [{"code": r.code, "name": r.name, "unit": r.unit, "price": r.price_cents / 100,
             "example": is_example(r),
             "label": f"{r.name} {r.price_cents / 100:.2f}元/{r.unit}" + ("（示例价格，非公司标准）" if is_example(r) else "")}
            for r in rows]


def ensure_default_fees(session: Session) -> None:
    """Seed the fee schedule once; admins edit it afterwards."""
    if session.scalar(select(FeeItem).limit(1)) is not None:
        return
    for code, name, unit, cents in DEFAULT_FEES:
        session.add(FeeItem(code=code, name=name, unit=unit, price_cents=cents, active=True))
    session.flush()
