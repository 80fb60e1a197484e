"""Notifications through one outbox: messages written in the transaction of the change that causes them,
sent by the scheduler with retries, every attempt recorded.

- ``outbox``: writing messages (in-app to a person or a role, SMS to a phone) and reading a person's list;
- ``delivery``: the scheduler's pass — claim (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), send, record,
  back off, give up after N failures for the admin to retry;
- ``senders``: the SMS provider adapters chosen by ``LIYUAN_SMS_PROVIDER`` (log | http), and which
  numbers an SMS can reach;
- ``templates``: the Chinese wording per event, admin-editable, rendered in a Jinja2 sandbox;
- ``codes``: one-time codes to a phone (proving a number, resetting a password).

This room knows no procedure: *which* change sends *what* to *whom* is the help desk's
(:mod:`engine.helpdesk.notices`).
"""

from engine.notify import codes, delivery, outbox, senders, templates
from engine.notify.tables import MessageTemplate, OutboxAttempt, OutboxMessage, PhoneCode

__all__ = ["MessageTemplate", "OutboxAttempt", "OutboxMessage", "PhoneCode", "codes", "delivery", "outbox",
           "senders", "templates"]
