"""Flask app factory: configuration, sign-in, CSRF, the blueprints and the shared page furniture.

Secrets: ``LIYUAN_SECRET_KEY`` when set, else a key created once in ``var/secret_key`` so sessions survive
a restart of the embedded server. Cookies are HttpOnly and SameSite=Lax, and Secure when
``LIYUAN_SECURE_COOKIES=1`` (behind HTTPS). Input limits, security headers and the proxy set-up are
``webapp.security``'s.
"""

from __future__ import annotations

import datetime as dt
import os

from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

import engine.helpdesk
from engine import timers
from engine.core import config as engine_config
from engine.core import errors

from . import form_filters, policy, ratelimit, security, web

csrf = CSRFProtect()

# (endpoint, label, area) of the nav bar; an item shows when the user may enter its area and the
# endpoint exists (other teams' blueprints — modeler, audit, reports, admin — appear when registered).
NAV = (
    ("inbox.index", "待办", "inbox"),
    ("intake.hotline", "热线登记", "intake"),
    ("phones.claims", "核实手机号", "intake"),
    ("departments.watch_list", "接单跟进", "handovers"),
    ("requests.index", "求助记录", "requests"),
    ("portal.index", "我的求助", "portal"),
    ("portal.new", "我要求助", "portal"),
    ("reports.index", "报表", "reports"),
    ("reports.index", "部门报表", "department_reports"),  # a 部门主管: their department's month (see furniture)
    ("modeler.index", "流程设计", "modeler"),
    ("publication.index", "发布审批", "publish_approval"),
    ("audit.index", "审计", "audit"),
    ("admin.index", "管理", "admin"),
)


def create_app(config: dict | None = None) -> Flask:
    engine.helpdesk.install()
    app = Flask(__name__)
    secure = os.environ.get("LIYUAN_SECURE_COOKIES") == "1"
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session: a long night shift must not lose a form
        HELP_REQUEST_PROCESS=os.environ.get("LIYUAN_HELP_PROCESS", "help_request"),
        INBOX_REFRESH_SECONDS=10,
    )
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = engine_config.secret_key()

    security.init_app(app)  # first: its limits and checks run before CSRF and sign-in look at the request
    ratelimit.init_app(app)
    csrf.init_app(app)
    web.login_manager.init_app(app)
    form_filters.register(app)
    web.register_filters(app)
    app.teardown_appcontext(web.close_read_db)

    from . import (
        account_views,
        admin_messages,
        admin_views,
        api,
        audit_views,
        auth,
        confirm_link,
        departments_views,
        inbox,
        intake_views,
        modeler_views,
        notifications,
        phone_views,
        portal,
        publication_views,
        reports_views,
        requests_view,
        studio_views,
        taskform,
    )

    # Staff and residents, then the back-office audiences: 审计员, 管理员, report readers, 流程负责人.
    for blueprint in (auth.bp, account_views.bp, phone_views.bp, inbox.bp, taskform.bp, intake_views.bp, portal.bp, confirm_link.bp,
                      requests_view.bp,
                      notifications.bp, departments_views.bp, audit_views.bp, admin_views.bp, admin_messages.bp,
                      reports_views.bp, modeler_views.bp, studio_views.bp, publication_views.bp):
        app.register_blueprint(blueprint)
    api.init_app(app)  # the JSON API: bearer tokens, CSRF-exempt

    _pages(app)
    return app


def _pages(app: Flask) -> None:
    @app.get("/")
    @policy.public
    def landing():
        user = policy.current_user()
        if user is not None:
            from .auth import home_for

            return redirect(home_for(user))
        return render_template("landing.html")

    @app.get("/healthz")
    @policy.public
    def healthz():
        """For a load balancer or a monitor: 200 when the database answers and no timer is overdue, 503
        otherwise (the missed-timer alarm means no scheduler is firing deadlines)."""
        try:
            missed = timers.overdue(web.read_db())
        except Exception:  # any database failure: say so without details
            app.logger.exception("health check: database unavailable")
            return jsonify(status="down", database="error"), 503
        body = {"status": "degraded" if missed.count else "ok", "database": "ok", "timers_overdue": missed.count,
                "oldest_overdue_due_at": missed.oldest_due.isoformat() if missed.oldest_due else None}
        return jsonify(body), 503 if missed.count else 200

    @app.context_processor
    def furniture():
        user = policy.current_user()
        if user is None:
            return {"nav": [], "me": None, "unread": 0, "missed_timers": None}
        items = []
        for ep, label, area in NAV:
            if ep not in app.view_functions or not policy.allowed(user, area):
                continue
            if area == "department_reports":  # opens the head's own department; nothing for company readers
                department = policy.report_department_for(user)
                if department is not None:
                    items.append((url_for(ep, department=department), label, ep))
                continue
            items.append((url_for(ep), label, ep))
        unread = 0
        if policy.allowed(user, "notifications") and request.endpoint != "inbox.fragment":  # not every 10 s
            from .notifications import unread_count

            unread = unread_count(web.read_db(), user)
        roles = "、".join(web.role_name(c) for c in sorted(user.role_codes))
        missed = None
        if policy.allowed(user, "timer_alarm") and request.endpoint != "inbox.fragment":
            missed = timers.overdue(web.read_db())
        return {"nav": items, "me": user, "my_roles": roles, "unread": unread,
                "missed_timers": missed if missed is not None and missed.count else None}

    @app.errorhandler(CSRFError)
    def csrf_refused(_exc):
        return web.friendly_error("页面已过期或来源不明，请刷新页面后重新提交。", 400, title="请求被拒绝")

    @app.errorhandler(errors.EngineError)
    def engine_error(exc):
        return web.friendly_error(exc.message, exc.status if exc.status in (403, 404, 409, 422, 507) else 400)

    @app.errorhandler(403)
    def forbidden(_exc):
        return web.friendly_error("您没有权限访问此页面。", 403)

    @app.errorhandler(404)
    def not_found(_exc):
        return web.friendly_error("找不到您要访问的页面或记录。", 404)
