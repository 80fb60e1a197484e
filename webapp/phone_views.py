"""Proving a phone number: the resident's page (a code by SMS) and the 物业助理's confirmation of a person.

A number typed at sign-up is only claimed (``engine.identity.phones``); hotline calls link to an account
once its number is proven. Residents who must prove theirs (new sign-ups, accounts from before proof) are
sent here before their requests. Sending a code is limited by ``engine.notify.codes`` (one a minute per
number) and per address (``webapp.ratelimit``); a wrong code counts against the code's five tries, and the
count is committed even though the answer is "no". Every proof and every lost claim is an audit event on
the ``management`` chain; a proof links the number's earlier hotline calls to the proven owner
(``engine.helpdesk.phone_links``, an event on each request's chain).
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from engine import forms, identity, notify
from engine.core import db
from engine.core.tables import User
from engine.helpdesk import phone_links

from . import ratelimit
from .policy import current_user, requires
from .web import read_db

bp = Blueprint("phones", __name__)

PHONE = re.compile(r"^1[3-9]\d{9}$")
WRONG_CODE = "验证码不正确"


def _number(raw: str | None) -> str:
    return re.sub(r"[\s-]", "", forms.normalise_phone((raw or "").strip()))


def linked_text(linked: list[str]) -> str:
    """The flash clause saying how many earlier hotline calls a proof linked (empty when none)."""
    return f"，此前以该号码登记的 {len(linked)} 条来电求助已关联到账户" if linked else ""


@bp.before_app_request
def prove_before_requests():
    """A resident who must prove their number sees that page before their requests."""
    if not (request.endpoint or "").startswith("portal."):
        return None
    user = current_user()
    if user is not None and identity.phones.must_prove(user):
        flash("请先验证您的手机号码，验证后来电求助记录才会显示在您的账户中", "info")
        return redirect(url_for("phones.prove"))
    return None


@bp.get("/account/phone")
@requires("portal")
def prove():
    me = read_db().get(User, current_user().id)
    return render_template("account/phone.html", me=me, number=me.pending_phone or "", errors={}), 200


@bp.post("/account/phone/send")
@requires("portal")
@ratelimit.limit("RESET")
def send():
    number = _number(request.form.get("phone"))
    errors: dict[str, str] = {}
    if not PHONE.match(number):
        errors["phone"] = "请输入11位手机号码"
    else:
        try:
            with db.transaction() as tx:
                me = tx.get(User, current_user().id)
                if me.phone == number and not me.pending_phone:
                    errors["phone"] = "该号码已验证"
                else:
                    identity.phones.claim(me, number)
                    notify.codes.send_code(tx, number, identity.phones.PURPOSE)
        except (notify.codes.CodeError, identity.IdentityError) as exc:
            errors["phone"] = str(exc)
    if errors:
        me = read_db().get(User, current_user().id)
        status = 429 if "频繁" in errors.get("phone", "") else 422
        return render_template("account/phone.html", me=me, number=number, errors=errors), status
    flash(f"验证码已发送至 {number}，10分钟内有效", "success")
    return redirect(url_for("phones.prove"))


@bp.post("/account/phone/verify")
@requires("portal")
@ratelimit.limit("RESET_CODE")
def verify():
    code = (request.form.get("code") or "").strip()[:16]
    error = None
    with db.transaction() as tx:  # committed also for a wrong code: it counts against the code's tries
        me = tx.get(User, current_user().id)
        number = me.pending_phone
        if not number:
            error = "请先填写手机号码并获取验证码"
        elif not code:
            error = "请填写验证码"
        else:
            try:
                ok = notify.codes.check_code(tx, number, identity.phones.PURPOSE, code)
            except notify.codes.CodeError as exc:
                error = str(exc)
            else:
                error = None if ok else WRONG_CODE
        if error is None:
            try:  # refused before anything is written: the used-up code stays used
                proven = identity.phones.prove(tx, me, number)
            except identity.IdentityError as exc:
                error = str(exc)
            else:
                linked = phone_links.record_proof(tx, me.username, me, proven, "code")
    if error is not None:
        me = read_db().get(User, current_user().id)
        return render_template("account/phone.html", me=me, number=me.pending_phone or "",
                               errors={"code": error}), 422
    flash(f"手机号码已验证，此号码的来电求助将显示在您的账户中{linked_text(linked)}", "success")
    return redirect(url_for("portal.index"))


@bp.get("/phones")
@requires("intake")
def claims():
    """The 物业助理's list of residents' unproven numbers, to confirm a person they know or have checked."""
    q = _number(request.args.get("q"))[:32]
    session = read_db()
    rows = identity.phones.pending_claims(session, q or None)
    numbers = {u.pending_phone for u in rows}
    holders = dict(session.execute(select(User.phone, User.username).where(User.phone.in_(numbers))).all())
    return render_template("account/phone_claims.html", rows=rows, q=q, holders=holders)


@bp.post("/phones/<username>/confirm")
@requires("intake")
def confirm(username: str):
    if request.form.get("checked") != "yes":
        flash("请先当面或通过登记信息核实住户本人，再勾选确认", "error")
        return redirect(url_for("phones.claims"))
    staff = current_user()
    try:
        with db.transaction() as tx:
            user = tx.scalar(select(User).where(User.username == username))
            if user is None or not user.pending_phone or "customer" not in user.role_codes:
                abort(404)
            proven = identity.phones.prove(tx, user, user.pending_phone, take_from_holder=True)
            linked = phone_links.record_proof(tx, staff.username, user, proven, "staff")
            name = user.display_name
    except identity.IdentityError as exc:
        flash(str(exc), "error")
        return redirect(url_for("phones.claims"))
    moved = f"（该号码原由 {proven.moved_from} 验证，现已转给此住户）" if proven.moved_from else ""
    flash(f"已确认 {name} 的手机号码 {proven.phone}{moved}{linked_text(linked)}", "success")
    return redirect(url_for("phones.claims"))


def username_for_phone(session, phone: str) -> str:
    """A new resident's username: their number, or the number with a suffix when an earlier account (one
    that only claimed the number) already has it as its username."""
    taken = set(session.scalars(select(User.username).where(User.username.like(f"{phone}%"))))
    if phone not in taken:
        return phone
    n = 2
    while f"{phone}-{n}" in taken:
        n += 1
    return f"{phone}-{n}"
