"""The 24 h hotline number residents are shown at once when they report an emergency online.

A resident who reports a sick person (a), a theft or fight (e) or a fire or flood (f) in the portal is
helped at once (the same fast path as a call: ``help_request.bpmn`` gateway ``gw_fast``), but the
quickest help is still a phone call: the portal shows the hotline number as a tap-to-call link on the
confirmation and on the request's page, instead of promising a time to acknowledge the form. The number is
the admin's (管理 → 服务热线, stored in ``desk_settings``); until set, :data:`DEFAULT_NUMBER` (the demo's).
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from engine.core import clock
from engine.forms import limits
from engine.helpdesk.tables import DeskSetting, HelpRequest

KEY = "hotline_number"
DEFAULT_NUMBER = "0755-2688 8000"
# The types the first screen sends down the fast path: the gateway gw_fast of help_request.bpmn
# (``fast_path = category in ('a', 'e', 'f')``).
EMERGENCY_CATEGORIES = frozenset({"a", "e", "f"})


class SettingError(ValueError):
    """The number the admin typed cannot be used (message in Chinese)."""


def number(session: Session) -> str:
    row = session.get(DeskSetting, KEY)
    return row.value if row is not None else DEFAULT_NUMBER


def save(session: Session, value: str, actor: str) -> str:
    """Store the hotline number after checking it is one a phone can dial; returns it as stored."""
    value = limits.normalise_phone(value or "")
    if not value:
        raise SettingError("请填写24小时服务热线号码")
    if not limits.is_phone(value) or len(value) > 32:
        raise SettingError("热线号码格式不正确，例如：0755-2688 8000 或 400-800-1234")
    row = session.get(DeskSetting, KEY)
    if row is None:
        session.add(DeskSetting(key=KEY, value=value, updated_at=clock.now(), updated_by=actor))
    else:
        row.value, row.updated_at, row.updated_by = value, clock.now(), actor
    session.flush()
    return value


def tel_uri(value: str) -> str:
    """``tel:`` link a phone dials: digits and a leading + only ("0755-2688 8000" -> "tel:075526888000");
    an extension ("转 123") is left out, the caller asks for it."""
    main = re.split(r"转|[eE][xX][tT]\.?|[xX]", value)[0]
    return "tel:" + re.sub(r"[^\d+]", "", main)


def is_emergency(request: HelpRequest) -> bool:
    return (request.category or "") in EMERGENCY_CATEGORIES


def shown_for(session: Session, request: HelpRequest) -> str | None:
    """The number to show beside ``request``: for an emergency that is not yet closed, else None."""
    if not is_emergency(request) or request.status == "closed":
        return None
    return number(session)
