"""A proven number brings its earlier hotline calls into its owner's account, and only a proven one.

A hotline call is linked to a resident's account when it is recorded, by the number the caller gives
(``queries.customer_by_phone``: proven numbers only). Calls recorded while the number was not yet proven —
the resident had not signed up, or had signed up and not yet proven it — stay unlinked then; when the number
becomes proven (a one-time code, or a 物业助理 confirming the person: ``engine.identity.phones.prove``), this
links them: every request under that number that belongs to no account becomes the proven owner's. A request
already linked to another account (the number's earlier proven owner) stays where it is.

The link lives on the ``requests`` row (the portal, the resident's notices and need-to-know read
``customer_username`` there), not in the workflow data: the instance's recorded state is not rewritten.
Each linked request gets a ``resident_linked`` event on its own audit chain (who linked it, to whom, how the
number was proven); the projection keeps the link when the workflow later changes (``intake.sync``) and
the projection check reads the event as the reason the row differs from the data (``projections_check``).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.audit import history
from engine.core.tables import User
from engine.helpdesk.tables import HelpRequest

LINKED = "resident_linked"


def link_earlier_requests(session: Session, user: User, phone: str, *, actor: str, how: str) -> list[str]:
    """Link every request under ``phone`` that belongs to no account to ``user`` (who has just proven the
    number), in the caller's transaction; returns their instance ids, oldest first."""
    if "customer" not in user.role_codes or user.phone != phone:
        return []  # only a resident's own proven number links anything
    ids = list(session.scalars(select(HelpRequest.instance_id).where(
        HelpRequest.phone == phone, HelpRequest.customer_username.is_(None)).order_by(HelpRequest.created_at)))
    if not ids:
        return []
    session.execute(update(HelpRequest).where(HelpRequest.instance_id.in_(ids),
                                              HelpRequest.customer_username.is_(None))
                    .values(customer_username=user.username))
    for iid in ids:
        history.append(session, iid, actor, LINKED, payload={"customer_username": user.username, "phone": phone,
                                                             "how": how})
    return ids


def linked_to(events) -> str | None:
    """The account a request's chain says it was linked to after the call (the latest link), or None."""
    linked = [history.payload_of(e).get("customer_username") for e in events if e.kind == LINKED]
    return linked[-1] if linked else None
