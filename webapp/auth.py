"""Signing in and out, and residents signing up with their phone number (claimed, then proven:
:mod:`webapp.phone_views`).

Failed sign-ins are counted by :mod:`webapp.login_throttle` per (username, client address), per username and
per address, across every server process. Every attempt costs one argon2 verification, also for a username
that does not exist (``identity.authenticate``), so timing does not reveal which accounts exist. Signing out
ends every session and API token of the user (``identity.end_sessions``), not just this browser's cookie:
a copy of the cookie kept elsewhere is refused from then on. Sign-up is rate limited per address
(:mod:`webapp.ratelimit`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import logout_user
from sqlalchemy import select

from engine import forms, identity
from engine.core import db
from engine.core.tables import User

from . import ratelimit
from .login_throttle import LoginThrottle
from .password_form import new_password_errors
from .phone_views import username_for_phone
from .policy import allowed, current_user, public
from .web import read_db, start_session

bp = Blueprint("auth", __name__)

PHONE = re.compile(r"^1[3-9]\d{9}$")
LOCKED_MESSAGE = "尝试次数过多，请10分钟后再试"
WRONG_MESSAGE = "用户名或密码不正确"


def limiter() -> LoginThrottle:
    return current_app.extensions.setdefault("liyuan_login_limiter", LoginThrottle())


def home_for(user) -> str:
    """Where a person lands after signing in: their work, not a menu."""
    for area, endpoint in (("inbox", "inbox.index"), ("portal", "portal.index"), ("modeler", "modeler.index"),
                           ("audit", "audit.index"), ("admin", "admin.index"), ("requests", "requests.index")):
        if allowed(user, area) and endpoint in current_app.view_functions:
            return url_for(endpoint)
    return url_for("notifications.index")


_NOT_IN_A_PATH = re.compile(r"[\s\x00-\x1f\x7f\\]")


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths ("/inbox"), never "//evil.example" or absolute URLs.

    Browsers drop tabs and line breaks from a URL and read a backslash as "/", so "/%09/evil.example"
    would land on //evil.example: any white space, control character or backslash makes the target unusable.
    """
    if not target or _NOT_IN_A_PATH.search(target) or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user() is not None:
        return redirect(home_for(current_user()))
    error = None
    username = (request.form.get("username") or "").strip()
    if request.method == "POST":
        key = (username.lower(), request.remote_addr or "")
        if limiter().locked(key):
            return render_template("auth/login.html", error=LOCKED_MESSAGE, username=username), 429
        # A resident may sign in with their proven number even when their username differs from it.
        owner = read_db().scalar(select(User.username).where(User.phone == username)) if username else None
        user = identity.authenticate(read_db(), owner or username, request.form.get("password", ""))
        if user is None:
            limiter().fail(key)
            status = 429 if limiter().locked(key) else 401
            error = LOCKED_MESSAGE if status == 429 else WRONG_MESSAGE
            return render_template("auth/login.html", error=error, username=username), status
        limiter().clear(key)
        user.role_codes  # noqa: B018 - roles are needed after the session closes
        read_db().expunge(user)
        start_session(user)
        if identity.phones.must_prove(user):  # new sign-ups and accounts from before numbers were proven
            return redirect(url_for("phones.prove"))
        return redirect(_safe_next(request.args.get("next")) or home_for(user))
    return render_template("auth/login.html", error=error, username=username)


@bp.post("/logout")
@public
def logout():
    user = current_user()
    if user is not None:
        with db.transaction() as tx:
            identity.end_sessions(tx, user)
    logout_user()
    session.clear()
    flash("您已退出登录", "info")
    return redirect(url_for("auth.login"))


@bp.route("/signup", methods=["GET", "POST"])
@public
@ratelimit.limit("SIGNUP")
def signup():
    """业主/住户 sign up with a mobile number; it becomes their username."""
    values = {k: (request.form.get(k) or "").strip() for k in ("phone", "display_name")}
    # "１３８ ００１３ ８０００" from a Chinese input method is the same number as "13800138000".
    values["phone"] = re.sub(r"[\s-]", "", forms.normalise_phone(values["phone"]))
    errors: dict[str, str] = {}
    if request.method == "POST":
        password = request.form.get("password", "")
        if not PHONE.match(values["phone"]):
            errors["phone"] = "请输入11位手机号码"
        if not values["display_name"]:
            errors["display_name"] = "请填写您的称呼"
        elif len(values["display_name"]) > 50:
            errors["display_name"] = "称呼不超过50个字"
        errors.update(new_password_errors(request.form, username=values["phone"], phone=values["phone"]))
        if not errors:
            # The number is only claimed here: it links no hotline call until proven (engine.identity.phones),
            # so a neighbour's number gains nothing, and its owner can still sign up with it.
            try:
                with db.transaction() as tx:
                    username = username_for_phone(tx, values["phone"])
                    user = identity.add_user(tx, username, password, ["customer"],
                                             display_name=values["display_name"])
                    identity.phones.claim(user, values["phone"])
                    tx.flush()
                    user.role_codes  # noqa: B018
                    tx.expunge(user)
            except identity.IdentityError as exc:
                errors["phone"] = str(exc)
            else:
                start_session(user)
                suffix = f"（您的登录账号为 {username}）" if username != values["phone"] else ""
                flash(f"注册成功{suffix}，请验证您的手机号码", "success")
                return redirect(url_for("phones.prove"))
    return render_template("auth/signup.html", values=values, errors=errors), (422 if errors else 200)
