"""Departments at work: the 物业助理's watch list of hand-overs not yet taken (信息传递：跟进部门接收情况), and the
administrator's pages for departments (who belongs where) and the duty roster (who is on duty now).

The engine decides who a task is for (``engine.identity.departments``, ``engine.tasks``); these pages only
show and edit the facts it reads. Times are typed and shown in Asia/Shanghai, stored in UTC.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine import forms, identity, tasks
from engine.core import clock, db
from engine.core.tables import TaskRow
from engine.helpdesk import queries

from . import sla_view
from .policy import current_user, note_restricted_reads, readable_clause, requires
from .web import read_db

bp = Blueprint("departments", __name__)

DEPTS = identity.departments


@bp.app_template_filter("task_who")
def task_who(row: TaskRow) -> str:
    """Whom a task is for, as a person reads it: the role, the department (工程部) or its head (工程部主管)."""
    return tasks.offered_to(row)


# --- 跟进部门接收情况 ----------------------------------------------------------------------------------------

@bp.get("/handovers")
@requires("handovers")
def watch_list():
    """Every job handed over to a department and not yet taken, the longest waiting first; only those of
    requests the reader may read (never a complaint about them, nor a confidential consultation they do
    not handle)."""
    session, user = read_db(), current_user()
    rows = queries.awaiting_department(session, visible=readable_clause(session, user, TaskRow.instance_id))
    reqs = queries.requests_by_instance(session, (r.instance_id for r in rows))
    note_restricted_reads(user, reqs.values(), "departments.watch_list")
    clocks = queries.clocks_for_tasks(session, rows)
    now = clock.now()
    items = []
    for row in rows:
        badges = [sla_view.badge(c, now) for c in clocks.get(row.id, [])]
        items.append({"task": row, "request": reqs.get(row.instance_id), "badges": badges,
                      "level": sla_view.worst(badges), "waiting": now - clock.as_utc(row.ready_at),
                      "department": DEPTS.DEPARTMENT_BY_CODE.get(row.department or "")})
    return render_template("departments/watch.html", items=items)


# --- departments (admin) -----------------------------------------------------------------------------------

@bp.get("/admin/departments")
@requires("admin")
def departments():
    session = read_db()
    return render_template("departments/admin.html", tab="departments", departments=DEPTS.DEPARTMENTS,
                           users=[u for u in identity.list_users(session) if "customer" not in u.role_codes],
                           member_of=DEPTS.departments_by_user(session))


@bp.post("/admin/departments/<username>")
@requires("admin")
def set_department(username):
    code = (request.form.get("department") or "").strip() or None
    try:
        with db.transaction() as session:
            user = identity.get_user(session, username)
            if user is None:
                raise identity.IdentityError(f"找不到用户 {username}")
            DEPTS.set_department(session, user, code)
            name = DEPTS.DEPARTMENT_BY_CODE[code].name if code else "无部门"
    except identity.IdentityError as exc:
        flash(str(exc), "error")
    else:
        flash(f"已将 {user.display_name} 调整为：{name}", "success")
    return redirect(url_for("departments.departments"))


# --- duty roster (admin) -----------------------------------------------------------------------------------

def _roster_page(form=None, error=None, status=200):
    session = read_db()
    now = clock.now()
    since = now - dt.timedelta(days=1)
    duty_roles = sorted({s.role for s in DEPTS.shifts(session, ending_after=since)} | {"security_lead"})
    return render_template(
        "departments/duty.html", tab="duty", shifts=DEPTS.shifts(session, ending_after=since), now=now,
        on_duty=DEPTS.on_duty(session, set(duty_roles), now), departments=DEPTS.DEPARTMENTS,
        roles=[r for r in identity.ROLES if r.staff], names=queries.display_names(
            session, [u.username for u in identity.list_users(session)]),
        staff=[u for u in identity.list_users(session) if u.is_active and "customer" not in u.role_codes],
        form=form or {}, error=error), status


@bp.get("/admin/duty")
@requires("admin")
def duty():
    return _roster_page()


@bp.post("/admin/duty")
@requires("admin")
def add_shift():
    form = {k: (request.form.get(k) or "").strip() for k in ("department", "role", "username", "starts_at", "ends_at")}
    starts, ends = _local(form["starts_at"]), _local(form["ends_at"])
    if starts is None or ends is None:
        return _roster_page(form, "请填写值班开始和结束时间", 422)
    try:
        with db.transaction() as session:
            DEPTS.add_shift(session, department_code=form["department"], role=form["role"],
                            username=form["username"], starts_at=starts, ends_at=ends,
                            actor=current_user().username)
    except identity.IdentityError as exc:
        return _roster_page(form, str(exc), 422)
    flash("已添加值班安排", "success")
    return redirect(url_for("departments.duty"))


@bp.post("/admin/duty/<shift_id>/delete")
@requires("admin")
def remove_shift(shift_id):
    try:
        if not shift_id.isdigit():
            raise identity.IdentityError("该值班安排不存在或已删除")
        with db.transaction() as session:
            DEPTS.remove_shift(session, int(shift_id))
    except identity.IdentityError as exc:
        flash(str(exc), "error")
    else:
        flash("已删除该值班安排", "success")
    return redirect(url_for("departments.duty"))


def _local(text: str) -> dt.datetime | None:
    """A ``datetime-local`` value (Shanghai wall clock) as an aware UTC datetime; None when unreadable."""
    if not text:
        return None
    utc = forms.local_input_to_utc(text)
    try:
        return dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
    except ValueError:
        return None
