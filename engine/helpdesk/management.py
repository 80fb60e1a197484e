"""The administrator's levers: switching accounts on and off, and editing 《有偿服务收费标准》.

Fee prices are kept in whole fen (``FeeItem.price_cents``); the admin types yuan with at most two decimals.
A fee item is never deleted, only deactivated: quotes already recorded in the audit log name its code.
Errors are :class:`ManagementError` with a Chinese message, per field where there is one.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import identity
from engine.audit import history
from engine.core.tables import User
from engine.helpdesk.tables import FeeItem

MAX_PRICE_CENTS = 100_000_00  # 十万元: a typo guard, not a business rule
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class ManagementError(ValueError):
    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


# --- accounts -------------------------------------------------------------------------------------------

def set_active(session: Session, username: str, active: bool, *, actor: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise ManagementError("找不到该用户")
    if not active and username == actor:
        raise ManagementError("不能停用自己的账号")
    user.is_active = active
    if not active:  # its sessions and API tokens end now, and stay ended if the account is switched on again
        identity.end_sessions(session, user)
    history.append(session, "management", actor, "user_activated" if active else "user_deactivated",
                   element_id=username, payload={"username": username})
    session.flush()
    return user


# --- fee schedule -----------------------------------------------------------------------------------------

def parse_price(text: str | None) -> int:
    """"50" / "50.5" / "50.50" / "¥50" → fen. Raises ManagementError with a Chinese message."""
    raw = (text or "").strip().replace("¥", "").replace("元", "").replace(",", "").strip()
    if not raw:
        raise ManagementError("请填写价格", {"price": "请填写价格"})
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ManagementError("价格必须是数字", {"price": "价格必须是数字，例如 50 或 50.00"}) from None
    if not value.is_finite():
        raise ManagementError("价格必须是数字", {"price": "价格必须是数字，例如 50 或 50.00"})
    if value < 0:
        raise ManagementError("价格不能为负数", {"price": "价格不能为负数"})
    if value > Decimal(MAX_PRICE_CENTS) / 100:  # before any arithmetic: "1e999999" overflows it (a 500)
        raise ManagementError("价格过高", {"price": "价格不能超过 100000.00 元"})
    if value != value.quantize(Decimal("0.01")):
        raise ManagementError("价格最多保留两位小数", {"price": "价格最多保留两位小数（精确到分）"})
    cents = int(value * 100)
    if cents > MAX_PRICE_CENTS:
        raise ManagementError("价格过高", {"price": "价格不能超过 100000.00 元"})
    return cents


def _text(value: str | None, field: str, label: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ManagementError(f"请填写{label}", {field: f"请填写{label}"})
    if len(value) > limit:
        raise ManagementError(f"{label}不能超过{limit}个字", {field: f"{label}不能超过{limit}个字"})
    return value


def list_fees(session: Session) -> list[FeeItem]:
    return list(session.scalars(select(FeeItem).order_by(FeeItem.active.desc(), FeeItem.code)))


def add_fee(session: Session, code: str, name: str, unit: str, price: str, *, actor: str) -> FeeItem:
    code = (code or "").strip()
    errors: dict[str, str] = {}
    if not _CODE.match(code):
        errors["code"] = "编码须以小写字母开头，只含小写字母、数字和下划线，不超过32位"
    elif session.get(FeeItem, code) is not None:
        errors["code"] = f"编码 {code} 已存在"
    values = {}
    for field, label, limit, raw in (("name", "项目名称", 100, name), ("unit", "计价单位", 16, unit)):
        try:
            values[field] = _text(raw, field, label, limit)
        except ManagementError as exc:
            errors.update(exc.fields)
    try:
        cents = parse_price(price)
    except ManagementError as exc:
        errors.update(exc.fields)
    if errors:
        raise ManagementError("提交的内容有误，请按提示修改", errors)
    item = FeeItem(code=code, name=values["name"], unit=values["unit"], price_cents=cents, active=True)
    session.add(item)
    _log_fee(session, item, actor, "fee_added")
    session.flush()
    return item


def update_fee(session: Session, code: str, *, actor: str, price: str | None = None, name: str | None = None,
               unit: str | None = None, active: bool | None = None) -> FeeItem:
    item = session.get(FeeItem, code)
    if item is None:
        raise ManagementError("找不到该收费项目")
    errors: dict[str, str] = {}
    if price is not None:
        try:
            item.price_cents = parse_price(price)
        except ManagementError as exc:
            errors.update(exc.fields)
    for field, label, limit, raw in (("name", "项目名称", 100, name), ("unit", "计价单位", 16, unit)):
        if raw is not None:
            try:
                setattr(item, field, _text(raw, field, label, limit))
            except ManagementError as exc:
                errors.update(exc.fields)
    if errors:
        raise ManagementError("提交的内容有误，请按提示修改", errors)
    if active is not None:
        item.active = active
    _log_fee(session, item, actor, "fee_changed")
    session.flush()
    return item


def _log_fee(session: Session, item: FeeItem, actor: str, kind: str) -> None:
    """Fee changes go on the ``management`` chain, so an auditor can see who changed a price and when."""
    history.append(session, "management", actor, kind, element_id=item.code,
                   payload={"code": item.code, "name": item.name, "unit": item.unit,
                            "price_cents": item.price_cents, "active": item.active})


def yuan(cents: int) -> str:
    return f"{cents / 100:.2f}"
