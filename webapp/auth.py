"""Signing in and out, and residents signing up with their phone number.

Failed sign-ins are counted per (username, client IP) by :mod:`webapp.login_throttle`: five failures
within ten minutes lock that pair for the rest of the window, across every server process.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from sqlalchemy import select

from engine import forms, identity
from engine.core import db
from engine.core.tables import User

from .login_throttle import LoginThrottle
from .policy import allowed, current_user, public
from .web import SessionUser, read_db

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
        user = identity.get_user(read_db(), username) if username else None
        if user is None or not user.is_active or not identity.verify_password(user, request.form.get("password", "")):
            limiter().fail(key)
            status = 429 if limiter().locked(key) else 401
            error = LOCKED_MESSAGE if status == 429 else WRONG_MESSAGE
            return render_template("auth/login.html", error=error, username=username), status
        limiter().clear(key)
        user.role_codes  # noqa: B018 - roles are needed after the session closes
        read_db().expunge(user)
        login_user(SessionUser(user), remember=False)
        return redirect(_safe_next(request.args.get("next")) or home_for(user))
    return render_template("auth/login.html", error=error, username=username)


@bp.post("/logout")
@public
def logout():
    logout_user()
    flash("您已退出登录", "info")
    return redirect(url_for("auth.login"))


@bp.route("/signup", methods=["GET", "POST"])
@public
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
        if len(password) < 8:
            errors["password"] = "密码至少8位"
        elif password != request.form.get("password2", ""):
            errors["password2"] = "两次输入的密码不一致"
        if not errors:
            try:
                with db.transaction() as session:
                    if session.scalar(select(User.id).where(User.phone == values["phone"])):
                        raise identity.IdentityError("该手机号已注册，请直接登录")
                    user = identity.add_user(session, values["phone"], password, ["customer"],
                                             display_name=values["display_name"], phone=values["phone"])
                    user.role_codes  # noqa: B018
                    session.expunge(user)
            except identity.IdentityError as exc:
                errors["phone"] = str(exc).replace(f"用户名 {values['phone']} 已存在", "该手机号已注册，请直接登录")
            else:
                login_user(SessionUser(user))
                flash("注册成功，欢迎使用荔园物业线上求助", "success")
                return redirect(url_for("portal.index"))
    return render_template("auth/signup.html", values=values, errors=errors), (422 if errors else 200)
