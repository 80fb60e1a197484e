"""One's own password: changing it when signed in, and setting a new one with a one-time code when it is
forgotten.

Both end every other session and API token of the account (``identity.set_password`` moves the user to a new
sign-in generation); the browser that changed the password stays signed in under the new one. The new
password must pass the rules of ``engine.identity.passwords`` (12+ characters, not a common password).

Reset: the person names their account (username or phone number); a six-digit code goes out through
``webapp.code_delivery.deliver_code`` and the answer is the same whether the account exists or not, so the
form does not tell which accounts exist. Requests are rate limited per address; the code itself allows five
guesses and lives fifteen minutes (``engine.identity.reset``).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select

from engine import identity
from engine.audit import history
from engine.core import db
from engine.core.tables import User

from . import ratelimit
from .auth import limiter
from .code_delivery import deliver_code
from .password_form import new_password_errors
from .policy import current_user, public, requires
from .web import start_session

bp = Blueprint("account", __name__)

SENT_MESSAGE = "如果该账号存在，验证码已发送至其登记的手机，15分钟内有效"
BAD_CODE_MESSAGE = "验证码不正确或已过期，请重新获取"


def _audit(session, username: str, kind: str) -> None:
    history.append(session, "management", username, kind, element_id=username, payload={"username": username})


@bp.route("/account/password", methods=["GET", "POST"])
@requires("account")
def change_password():
    me = current_user()
    errors: dict[str, str] = {}
    if request.method == "POST":
        current = request.form.get("current_password", "")
        password = request.form.get("password", "")
        key = (me.username.lower(), request.remote_addr or "")
        if limiter().locked(key):
            errors["current_password"] = "尝试次数过多，请10分钟后再试"
        elif not identity.verify_password(me, current):
            limiter().fail(key)  # a borrowed session must not become a password-guessing oracle
            errors["current_password"] = "当前密码不正确"
        errors.update(new_password_errors(request.form, username=me.username, phone=me.phone))
        if "password" not in errors and "password2" not in errors and password == current:
            errors["password"] = "新密码不能与当前密码相同"
        if not errors:
            with db.transaction() as tx:
                user = tx.get(User, me.id)
                epoch = identity.set_password(tx, user, password)
                _audit(tx, user.username, "password_changed")
            start_session(me, epoch=epoch)
            flash("密码已修改，您在其他设备上的登录和访问令牌已全部失效", "success")
            return redirect(url_for("account.change_password"))
    return render_template("account/password.html", errors=errors), (422 if errors else 200)


@bp.route("/password/reset", methods=["GET", "POST"])
@public
@ratelimit.limit("RESET")
def reset_request():
    account = (request.form.get("account") or "").strip()
    if request.method == "POST":
        if not account or len(account) > 64:
            return render_template("account/reset_request.html", account=account,
                                   error="请填写用户名或手机号"), 422
        with db.transaction() as tx:
            user = tx.scalar(select(User).where(or_(User.username == account, User.phone == account)))
            code = identity.issue_reset_code(tx, user) if user is not None and user.is_active else None
            if code is not None:  # the SMS is written with the code, in one transaction
                deliver_code(tx, user, code)
        flash(SENT_MESSAGE, "info")
        return redirect(url_for("account.reset_confirm", account=account))
    return render_template("account/reset_request.html", account=account, error=None)


@bp.route("/password/reset/confirm", methods=["GET", "POST"])
@public
@ratelimit.limit("RESET_CODE")
def reset_confirm():
    values = {"account": (request.values.get("account") or "").strip()[:64],
              "code": (request.form.get("code") or "").strip()[:16]}
    errors: dict[str, str] = {}
    if request.method == "POST":
        password = request.form.get("password", "")
        if not values["account"]:
            errors["account"] = "请填写用户名或手机号"
        if not values["code"]:
            errors["code"] = "请填写验证码"
        errors.update(new_password_errors(request.form, username=values["account"]))
        if not errors:
            try:
                with db.transaction() as tx:
                    user = tx.scalar(select(User).where(or_(User.username == values["account"],
                                                            User.phone == values["account"])))
                    ok = (user is not None and user.is_active
                          and identity.redeem_reset_code(tx, user, values["code"]))
                    if ok:
                        identity.set_password(tx, user, password)
                        _audit(tx, user.username, "password_reset")
            except identity.IdentityError as exc:  # e.g. the new password is the user's phone number
                errors["password"] = str(exc)
            else:
                if ok:
                    flash("密码已重设，请用新密码登录", "success")
                    return redirect(url_for("auth.login"))
                errors["code"] = BAD_CODE_MESSAGE
    return render_template("account/reset_confirm.html", values=values, errors=errors), (422 if errors else 200)
