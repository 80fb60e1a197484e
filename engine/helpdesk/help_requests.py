"""Starting a help request with the start data the procedure expects, whoever records it.

The hotline page, the residents' portal and the JSON API all start ``help_request`` the same way: every
start key present (``None`` when unknown) so gateways can test it; an online request belongs to the
resident who submitted it; a hotline call belongs to the registered resident with the caller's phone, if
any, so it shows up in their portal and they confirm and rate it there, and it names who recorded it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine import runtime
from engine.core import db
from engine.core.tables import User
from engine.helpdesk import queries

START_FIELDS = ("caller_name", "phone", "address", "description", "category")


@dataclass(frozen=True)
class Started:
    instance_id: str
    resident: User | None  # the resident account the request belongs to (None: an unregistered caller)


def start(session: Session, process_id: str, channel: str, fields: dict, actor: User) -> Started:
    data = {"channel": channel, **{key: fields.get(key) for key in START_FIELDS}}
    if channel == "online":
        resident = actor
    else:
        with db.reading(session) as read:  # not the write session: its lock waits for the runtime's write
            resident = queries.customer_by_phone(read, fields["phone"]) if fields.get("phone") else None
        data["recorded_by"] = actor.username
    data["customer_username"] = resident.username if resident is not None else None
    instance = runtime.start(session, process_id, data, actor.username)
    return Started(instance.id, resident)
