"""Proven phone numbers: a resident's account is linked to hotline calls from a number only once they
have proven it is theirs.

Typing a number proves nothing — anyone could sign up with a neighbour's and read the neighbour's requests
(names, address, medical details) and rate them. So a number someone states is kept as ``pending_phone``
(links nothing, several accounts may claim the same one) and only :func:`prove` moves it to ``phone``, the
column hotline calls are matched on (``engine.helpdesk.queries.customer_by_phone``). Proof is a one-time code
sent to the number (``engine.notify.codes``, purpose :data:`PURPOSE`) or a 物业助理 confirming the person;
the web layer decides which and audits it. A number moves to whoever proves it: other accounts claiming it
unproven lose the claim. A number proven by one account is not taken by another's code — that needs the
staff to look into it (a number given up and reissued by the carrier, a family handing a phone on): a
物业助理 who has checked the person confirms them, and the number moves from its earlier holder
(``take_from_holder``); the earlier holder keeps their account and the requests already theirs. Several
residents of one unit each prove their own number; uniqueness is per number.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.tables import User

from .users import IdentityError

PURPOSE = "verify_phone"


@dataclass(frozen=True)
class Proven:
    phone: str
    displaced: list[str]  # usernames that claimed the number unproven and lost the claim
    moved_from: str | None = None  # the account that held the number proven before (a staff-confirmed move)


def claim(user: User, phone: str) -> None:
    """``user`` says ``phone`` is theirs: kept unproven until :func:`prove`; links nothing meanwhile."""
    if len(phone) > 32:
        raise IdentityError("手机号码过长")
    if user.phone == phone:
        user.pending_phone = None
        return
    user.pending_phone = phone
    if user.phone is None:  # changing a proven number keeps the old one (and the portal) until the new is proven
        user.must_prove_phone = True


def must_prove(user: User) -> bool:
    """Whether this resident is sent to the prove-your-number page before their requests."""
    return bool(user.must_prove_phone) and "customer" in user.role_codes


def prove(session: Session, user: User, phone: str, *, take_from_holder: bool = False) -> Proven:
    """Make ``phone`` ``user``'s proven number (the caller has checked the code or the staff member's
    confirmation, and audits the result). Other accounts' unproven claims on it end. A number another
    account has proven moves only with ``take_from_holder`` (a 物业助理's confirmation)."""
    if len(phone) > 32:
        raise IdentityError("手机号码过长")
    holder = session.scalar(select(User).where(User.phone == phone, User.id != user.id))
    if holder is not None and not take_from_holder:
        raise IdentityError("该号码已由其他账户验证，请联系物业助理核实")
    if holder is not None:
        holder.phone = None
        session.flush()  # the number is unique: free it before it is written to its new owner
    displaced = list(session.scalars(select(User).where(User.pending_phone == phone, User.id != user.id)))
    for other in displaced:
        other.pending_phone = None
    user.phone = phone
    user.pending_phone = None
    user.must_prove_phone = False
    session.flush()
    return Proven(phone, [o.username for o in displaced], holder.username if holder is not None else None)


def pending_claims(session: Session, phone: str | None = None) -> list[User]:
    """Active residents' unproven numbers (for the 物业助理's confirmation page), optionally of one number."""
    query = select(User).where(User.pending_phone.is_not(None), User.is_active.is_(True))
    if phone:
        query = query.where(User.pending_phone == phone)
    return [u for u in session.scalars(query.order_by(User.pending_phone, User.username)) if "customer" in u.role_codes]
