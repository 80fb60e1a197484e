"""The administrator's pages: accounts, API tokens, the fee schedule《有偿服务收费标准》, the timers and their
incidents.

Each change is one ``db.transaction``; a rejected form is shown again with the Chinese messages beside
the fields and what was typed kept.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine import forms, identity, timers
from engine.core import clock, db, errors
from engine.helpdesk import intake, management, phone_links
from engine.timers import incidents as timer_incidents

from . import personal_erasure, sla_view
from .api import tokens as api_tokens
from .phone_views import linked_text
from .policy import current_user, requires
from .web import read_db

bp = Blueprint("admin", __name__, url_prefix="/admin")

ASSIGNABLE_ROLES = [r for r in identity.ROLES]


@bp.get("")
@requires("admin")
def index():
    return redirect(url_for("admin.users"))


# --- users ------------------------------------------------------------------------------------------------

def _users_page(form=None, errors=None, status=200):
    return render_template("admin/users.html", users=identity.list_users(read_db()), roles=ASSIGNABLE_ROLES,
                           form=form or {}, errors=errors or {}, tab="users"), status


@bp.get("/users")
@requires("admin")
def users():
    return _users_page()


@bp.post("/users")
@requires("admin")
def add_user():
    form = {k: request.form.get(k, "").strip() for k in ("username", "display_name", "phone")}
    form["phone"] = forms.normalise_phone(form["phone"])  # full-width digits from a Chinese input method
    password = request.form.get("password", "")
    roles = request.form.getlist("roles")
    form["roles"] = roles
    errors = {}
    if not form["username"]:
        errors["username"] = "请填写用户名"
    if not form["display_name"]:
        errors["display_name"] = "请填写姓名"
    if form["phone"] and not forms.is_phone(form["phone"]):
        errors["phone"] = "电话号码格式不正确"
    if not roles:
        errors["roles"] = "请至少选择一个角色"
    problem = identity.password_problem(password, username=form["username"], phone=form["phone"] or None)
    if problem:
        errors["password"] = problem
    linked: list[str] = []
    if not errors:
        try:
            with db.transaction() as session:
                user = identity.add_user(session, form["username"], password, roles,
                                         display_name=form["display_name"], phone=form["phone"] or None)
                if user.phone:
                    linked = phone_links.set_by_admin(session, current_user().username, user)
        except identity.IdentityError as exc:
            message = str(exc)
            field = ("username" if "用户名" in message else "phone" if "手机" in message
                     else "display_name" if "姓名" in message
                     else "password" if "密码" in message else "roles")
            errors[field] = message
    if errors:
        return _users_page(form, errors, 422)
    flash(f"已添加用户 {form['display_name']}（{form['username']}）{linked_text(linked)}", "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/active")
@requires("admin")
def set_active(username):
    active = request.form.get("active") == "1"
    try:
        with db.transaction() as session:
            user = management.set_active(session, username, active, actor=current_user().username)
            name = user.display_name
    except management.ManagementError as exc:
        flash(exc.message, "error")
    else:
        flash(f"已{'启用' if active else '停用'}账号 {name}", "success")
    return redirect(url_for("admin.users"))


# --- API tokens -----------------------------------------------------------------------------------------------

@bp.get("/tokens")
@requires("admin")
def tokens():
    """The API tokens that still work (or, with ?all=1, the latest 200 of any state), each revocable."""
    show_all = request.args.get("all") == "1"
    rows = api_tokens.listing(read_db(), include_inactive=show_all)
    return render_template("admin/tokens.html", rows=rows, show_all=show_all, tab="tokens")


@bp.post("/tokens/<token_id>/revoke")
@requires("admin")
def revoke_token(token_id):
    if not token_id.isdecimal() or len(token_id) > 15:
        abort(404)
    with db.transaction() as session:
        revoked = api_tokens.revoke(session, int(token_id), actor=current_user().username)
    if revoked:
        flash(f"已撤销访问令牌 #{token_id}，持有者须重新登录", "success")
    else:
        flash(f"访问令牌 #{token_id} 不存在或已撤销", "warning")
    return redirect(url_for("admin.tokens"))


# --- fee schedule -----------------------------------------------------------------------------------------

def _fees_page(new=None, errors=None, edit_errors=None, status=200):
    return render_template("admin/fees.html", fees=management.list_fees(read_db()), new=new or {},
                           errors=errors or {}, edit_errors=edit_errors or {}, yuan=management.yuan,
                           is_example=intake.is_example,
                           tab="fees"), status


@bp.get("/fees")
@requires("admin")
def fees():
    return _fees_page()


@bp.post("/fees")
@requires("admin")
def add_fee():
    new = {k: request.form.get(k, "") for k in ("code", "name", "unit", "price")}
    try:
        with db.transaction() as session:
            item = management.add_fee(session, actor=current_user().username, **new)
            label = f"{item.name} {management.yuan(item.price_cents)} 元/{item.unit}"
    except management.ManagementError as exc:
        return _fees_page(new, exc.fields or {"code": exc.message}, status=422)
    flash(f"已添加收费项目：{label}", "success")
    return redirect(url_for("admin.fees"))


@bp.post("/fees/<code>")
@requires("admin")
def edit_fee(code):
    changes = {k: request.form[k] for k in ("price", "name", "unit") if k in request.form}
    if "active" in request.form:
        changes["active"] = request.form["active"] == "1"
    if not changes:
        abort(400)
    try:
        with db.transaction() as session:
            item = management.update_fee(session, code, actor=current_user().username, **changes)
            label = f"{item.name} {management.yuan(item.price_cents)} 元/{item.unit}" + ("" if item.active else "（已停用）")
    except management.ManagementError as exc:
        if not exc.fields:
            flash(exc.message, "error")
            return redirect(url_for("admin.fees"))
        return _fees_page(edit_errors={code: exc.fields}, status=422)
    flash(f"已更新收费项目：{label}", "success")
    return redirect(url_for("admin.fees"))


# --- timers ---------------------------------------------------------------------------------------------------

LATENESS_LABELS = ("0.1秒内", "0.1–1秒", "1–10秒", "10秒–1分钟", "1分钟以上")  # timers.LATENESS_BOUNDS_MS


@bp.get("/timers")
@requires("admin")
def timer_overview():
    """What `liyuan timers` prints, for an admin without a shell: is anything overdue, how late the recent
    firings were, and what comes next."""
    session = read_db()
    now = clock.now()
    values = timers.recent_lateness_ms(session)
    histogram = list(zip(LATENESS_LABELS, timers.lateness_histogram(values), strict=True))
    return render_template("admin/timers.html", tab="timers", missed=timers.overdue(session),
                           late=timers.summarize(values), histogram=histogram, top=max([n for _, n in histogram] + [1]),
                           upcoming=[(row, clock.as_utc(row.due_at) - now) for row in timers.upcoming(session, 50)],
                           sla_label=sla_view.label)


# --- incidents --------------------------------------------------------------------------------------------

@bp.get("/incidents")
@requires("admin")
def incidents():
    session = read_db()
    show_all = request.args.get("all") == "1"
    rows = timer_incidents.list_incidents(session, open_only=not show_all)
    return render_template("admin/incidents.html", rows=rows, show_all=show_all, tab="incidents")


@bp.post("/incidents/<incident_id>/retry")
@requires("admin")
def retry(incident_id):
    if not incident_id.isdecimal() or len(incident_id) > 9:  # a huge number overflows the database's integer
        abort(404)
    number = int(incident_id)
    try:
        with db.transaction() as session:
            timer_incidents.retry_incident(session, number, current_user().username)
    except errors.NotFound:
        abort(404)
    except errors.Conflict as exc:
        flash(exc.message, "warning")
    else:
        flash(f"异常 #{number} 已标记处理，计时器将在下一轮重新触发", "success")
    return redirect(url_for("admin.incidents"))


# --- erasure of personal data (PIPL) ----------------------------------------------------------------------

@bp.get("/erasure")
@requires("admin")
def erasure_page():
    return render_template("admin/erasure.html", tab="erasure", form={}, errors={}, result=None)


@bp.post("/erasure")
@requires("admin")
def erase_person():
    """Erase one person's personal data on a lawful request (what ``liyuan audit erase`` does)."""
    form = {k: request.form.get(k, "").strip() for k in ("person", "reason")}
    errs = {}
    if not form["person"]:
        errs["person"] = "请填写电话号码或住户账号"
    if not form["reason"]:
        errs["reason"] = "请填写删除依据（如申请编号）"
    if request.form.get("confirm") != "1":
        errs["confirm"] = "请勾选确认：删除后无法恢复"
    if not errs:
        try:
            with db.transaction() as session:
                result = personal_erasure.erase(session, form["person"], current_user().username, form["reason"])
        except errors.InvalidData as exc:
            errs = exc.errors
        except errors.NotFound as exc:
            errs = {"person": exc.message}
        else:
            return render_template("admin/erasure.html", tab="erasure", form={}, errors={}, result=result)
    return render_template("admin/erasure.html", tab="erasure", form=form, errors=errs, result=None), 422
