"""Starting a help request with the start data the procedure expects, whoever records it.

The hotline page, the residents' portal and the JSON API all start ``help_request`` the same way: every
start key present (``None`` when unknown) so gateways can test it; an online request belongs to the
resident who submitted it; a hotline call belongs to the registered resident with the caller's phone, if
any, so it shows up in their portal and they confirm and rate it there, and it names who recorded it.

They also check the start fields against one schema (:data:`START_SCHEMA`), so a name the hotline page
accepts is one the API accepts too, and the OpenAPI document states the same limits.

The first screen is all an emergency needs (issue 10, emergency fast path): for a sick resident (a), a theft
or fight (e) or a fire or flood (f) it records the type, for a the help the caller wants (送医院 / 120 / 护理)
and whether it is a major emergency (重大紧急: the company manager hears at once). The process then gives
the 护管部值班负责人 a dispatch task at once, starts the handling, and lets the record-keeping run beside it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine import runtime
from engine.core import db, errors
from engine.core.tables import User
from engine.helpdesk import intake, queries
from engine.helpdesk.tables import HelpRequest

# The fields that start a help request, with the one set of limits every entry point checks: the hotline
# page, the residents' form, the JSON API and its OpenAPI document. Each limit fits its column of the request
# row (engine.helpdesk.tables.HelpRequest: caller_name 100, phone 32, address 255; the description is
# projected up to 2,000 characters); a phone number has at most 20 digits (the "phone" format) but a landline
# written with spaces and an extension ("010 6552 9988 ext. 123") is longer, so its limit is the column's 32.
# Strings are trimmed before they are checked:
# "pattern": r"\S" tells other readers of the schema that a blank one is no value.
START_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "title": "求助",
    "required": ["caller_name", "phone", "address", "description"],
    "properties": {
        "caller_name": {"type": "string", "title": "求助人", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
        "phone": {"type": "string", "title": "联系电话", "format": "phone", "maxLength": 32},
        "address": {"type": "string", "title": "楼栋/单元/房号", "minLength": 2, "maxLength": 255, "pattern": r"\S"},
        "description": {"type": "string", "title": "求助内容", "minLength": 2, "maxLength": 2000,
                        "pattern": r"\S"},
        "category": {"type": "string", "title": "求助类型（初步判断）", "enum": list(intake.CATEGORIES),
                     "x-enumNames": list(intake.CATEGORIES.values())},
        "help_mode": {"type": "string", "title": "急救方式（急救病人）", "enum": list(intake.HELP_MODES),
                      "x-enumNames": list(intake.HELP_MODES.values())},
        "is_major": {"type": "boolean", "title": "重大紧急（立即报公司经理）"},
    },
    # A sick resident (a) is helped the way the caller chose on the first screen (4.2 1)), so the choice is
    # asked there and not again after the duty lead has been sent.
    "if": {"properties": {"category": {"const": "a"}}, "required": ["category"]},
    "then": {"required": ["help_mode"]},
}
START_FIELDS = tuple(START_SCHEMA["properties"])
_CHANNEL = {"type": "string", "title": "渠道", "enum": list(intake.CHANNELS),
            "x-enumNames": list(intake.CHANNELS.values())}


def start_schema(*, titles: Mapping[str, str] | None = None, required: Iterable[str] | None = None,
                 with_channel: bool = False) -> dict:
    """:data:`START_SCHEMA` as one entry point presents it, its limits untouched: its own wording
    (``titles``: the hotline asks for the 来电人, the portal for a 联系人), the fields it insists on
    (``required``: the portal fills in the resident's own name and phone), and for a JSON body
    (``with_channel``) the ``channel`` first and no keys beyond the schema's."""
    schema = copy.deepcopy(START_SCHEMA)
    for name, title in (titles or {}).items():
        schema["properties"][name]["title"] = title
    if required is not None:
        schema["required"] = [name for name in START_FIELDS if name in set(required)]
    if with_channel:
        schema["properties"] = {"channel": dict(_CHANNEL), **schema["properties"]}
        schema["required"] = ["channel", *schema["required"]]
        schema["additionalProperties"] = False
    return schema


@dataclass(frozen=True)
class Started:
    instance_id: str
    resident: User | None  # the resident account the request belongs to (None: an unregistered caller)


def start(session: Session, process_id: str, channel: str, fields: dict, actor: User, *,
          follows_up: str | None = None, customer_username: str | None = None) -> Started:
    """Start ``process_id`` (see the module docstring); ``follows_up`` links it to an earlier request, whose
    resident (``customer_username``) it keeps when the caller's phone names nobody."""
    data = {"channel": channel, **{key: fields.get(key) for key in START_FIELDS}}
    if follows_up is not None:
        data["follows_up"] = follows_up
    if channel == "online":
        resident = actor
    else:
        with db.reading(session) as read:  # not the write session: its lock waits for the runtime's write
            resident = queries.customer_by_phone(read, fields["phone"]) if fields.get("phone") else None
        data["recorded_by"] = actor.username
    data["customer_username"] = resident.username if resident is not None else customer_username
    instance = runtime.start(session, process_id, data, actor.username)
    return Started(instance.id, resident)


def follow_up(session: Session, earlier_id: str, description: str, actor: User, *,
              category: str | None = None) -> Started:
    """6 反馈与跟踪: a new problem found while handling ``earlier_id`` opens a request of its own, linked to
    it, for the same caller and address; recorded by staff (the hotline path: 热线求助记录 then 评估), and the
    resident's account carried over so they follow it in their portal. Both request pages list the link."""
    with db.reading(session) as read:
        earlier = read.get(HelpRequest, earlier_id)
        if earlier is None:
            raise errors.NotFound("找不到要跟进的求助")
        fields = {"caller_name": earlier.caller_name, "phone": earlier.phone, "address": earlier.address,
                  "description": description, "category": category}
        customer = earlier.customer_username
    return start(session, "help_request", "hotline", fields, actor, follows_up=earlier_id, customer_username=customer)
