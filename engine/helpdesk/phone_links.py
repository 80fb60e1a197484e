"""A proven number brings its earlier hotline calls into its owner's account, and only a proven one.

A hotline call is linked to a resident's account when it is recorded, by the number the caller gives
(``queries.customer_by_phone``: proven numbers only). Calls recorded while the number was not yet proven —
the resident had not signed up, or had signed up and not yet proven it — stay unlinked then; when the number
becomes proven (a one-time code, a 物业助理 confirming the person, or an administrator setting it on the
account: ``engine.identity.phones.prove``, then :func:`record_proof`), this links them: every request under that number that belongs to no account becomes the proven owner's. A request
already linked to another account (the number's earlier proven owner) stays where it is.

The link lives on the ``requests`` row (the portal, the resident's notices and need-to-know read
``customer_username`` there), not in the workflow data: the instance's recorded state is not rewritten
(its revision is bumped, so a change computed meanwhile is computed again: see :func:`_link_one`).
Each linked request gets a ``resident_linked`` event on its own audit chain (who linked it, to whom, how the
number was proven); the projection keeps the link when the workflow later changes (``intake.sync``) and
the projection check reads the event as the reason the row differs from the data (``projections_check``).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.audit import history
from engine.core.errors import Conflict
from engine.core.tables import User
from engine.helpdesk.tables import HelpRequest
from engine.identity import phones
from engine.identity.phones import Proven
from engine.runtime import store

LINKED = "resident_linked"


def link_earlier_requests(session: Session, user: User, phone: str, *, actor: str, how: str) -> list[str]:
    """Link every request under ``phone`` that belongs to no account to ``user`` (who has just proven the
    number), in the caller's transaction; returns the instance ids it linked, oldest first."""
    if "customer" not in user.role_codes or user.phone != phone:
        return []  # only a resident's own proven number links anything
    ids = list(session.scalars(select(HelpRequest.instance_id).where(
        HelpRequest.phone == phone, HelpRequest.customer_username.is_(None)).order_by(HelpRequest.created_at)))
    payload = {"customer_username": user.username, "phone": phone, "how": how}
    return [iid for iid in ids if _link_one(session, iid, user.username, actor, payload)]


def record_proof(session: Session, actor: str, user: User, proven: Proven, how: str) -> list[str]:
    """Audit a proof of ``user``'s number (``how``: "code", "staff" — a 物业助理 confirming the person —
    or "admin" — an administrator setting the number on the account) on the ``management`` chain with the
    claims it ended, and link the number's earlier hotline calls to the proven owner; returns the linked
    requests. The one path every kind of proof takes."""
    linked = link_earlier_requests(session, user, proven.phone, actor=actor, how=how)
    history.append(session, "management", actor, "phone_proven", element_id=user.username,
                   payload={"username": user.username, "phone": proven.phone, "how": how, "linked": linked})
    for other in proven.displaced:
        history.append(session, "management", actor, "phone_claim_lost", element_id=other,
                       payload={"username": other, "phone": proven.phone, "proven_by": user.username})
    if proven.moved_from:
        history.append(session, "management", actor, "phone_moved", element_id=proven.moved_from,
                       payload={"phone": proven.phone, "from": proven.moved_from, "to": user.username})
    return linked


def set_by_admin(session: Session, actor: str, user: User) -> list[str]:
    """The number an administrator put on an account (the admin page, ``liyuan users add --phone``) counts as
    proven: staff vouching for the person, as a 物业助理's confirmation does. So it takes the same path —
    other accounts' unproven claims on it end, its earlier hotline calls join the account, and the
    ``management`` chain records who did it (``how``: "admin"). Returns the linked requests."""
    proven = phones.prove(session, user, user.phone)
    return record_proof(session, actor, user, proven, "admin")


ATTEMPTS = 5


def _link_one(session: Session, iid: str, username: str, actor: str, payload: dict) -> bool:
    """Link one request and append its event, under the instance's write like any change of the instance.

    Another change of the same request may be committing at this moment (a task completed, a timer, a
    claim): both would read the chain's head and write the same next ``seq``, and the loser's unique
    (chain, seq) violation would be a 500 on the proof page. So, as erasure does: the instance row is
    locked first (PostgreSQL ``FOR UPDATE``; SQLite's write lock is already held) and written with
    ``revision + 1``, so a task completion computed meanwhile loses the revision check and is computed
    again after the link (``instances.complete_task``), and the head is read under that lock. Appenders
    that take no instance lock (claim, 催单) can still take the next ``seq`` first (the unique key or the
    in-order trigger refuses the link's event: ``history.lost_chain_race``): the link then runs again in
    its savepoint from a fresh head, so it is written once, whole, or not at all.
    Returns False when the request was linked meanwhile (a concurrent proof of the same number).
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with session.begin_nested():
                found = store.load(session, iid, lock=True)
                linked = session.execute(update(HelpRequest).where(
                    HelpRequest.instance_id == iid, HelpRequest.customer_username.is_(None))
                    .values(customer_username=username).execution_options(synchronize_session=False))
                if linked.rowcount == 0:
                    return False
                if found is not None:
                    head = store.write(session, found[0])
                    if head is False:  # cannot happen under the row lock; never write half a link
                        raise Conflict("此求助刚被他人更新，请重试")
                    history.known_head(session, iid, head)
                history.append(session, iid, actor, LINKED, payload=payload)
            return True
        except DBAPIError as exc:
            if not history.lost_chain_race(exc) or attempt == ATTEMPTS:
                raise
            # The savepoint is gone and with it this attempt's writes; the head it cached is stale.
            session.info.get("audit_heads", {}).pop(iid, None)
    return False


def linked_to(events) -> str | None:
    """The account a request's chain says it was linked to after the call (the latest link), or None."""
    linked = [history.payload_of(e).get("customer_username") for e in events if e.kind == LINKED]
    return linked[-1] if linked else None
