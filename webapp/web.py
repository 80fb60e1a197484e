"""What every blueprint shares: the signed-in person, the per-request read session, display filters and
the friendly error pages.

The Flask-Login user is a thin wrapper around a *detached* ``engine.core.tables.User`` row (roles loaded
eagerly), exposed as ``.user`` so ``policy.current_user()`` hands views the same object the engine's
``tasks`` functions expect.

Every request reloads the user and compares the sign-in generation the session cookie was given
(:func:`start_session`) with the user's ``auth_epoch``: a cookie kept from before a sign-out, a password
change or a deactivation names an old generation and is treated as signed out, in every server process.
"""

from __future__ import annotations

import datetime as dt

from flask import g, render_template, session
from flask_login import LoginManager, UserMixin, login_user

from engine import identity
from engine.core import clock, db
from engine.core.tables import User
from engine.helpdesk import hotline, intake

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"
login_manager.login_message_category = "info"


class SessionUser(UserMixin):
    def __init__(self, user: User):
        self.user = user
        self.id = str(user.id)

    @property
    def is_active(self) -> bool:
        return bool(self.user.is_active)

    def __getattr__(self, name):  # username, display_name, role_codes … straight from the row
        return getattr(self.user, name)


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return None
    with db.read_session() as reader:
        user = reader.get(User, uid)
        if user is None or not user.is_active or session.get(EPOCH_KEY) != user.auth_epoch:
            return None
        user.role_codes  # noqa: B018 - load roles before the session closes
        reader.expunge(user)
    return SessionUser(user)


EPOCH_KEY = "liyuan_epoch"


def start_session(user: User, *, epoch: int | None = None) -> None:
    """Sign ``user`` in on this browser under their current sign-in generation (or ``epoch``, after a
    change that moved it on), written into the signed session cookie beside Flask-Login's user id."""
    login_user(SessionUser(user), remember=False)
    session[EPOCH_KEY] = user.auth_epoch if epoch is None else epoch


def id_or_404(raw: str) -> int:
    """A row id from a URL: digits only, short enough for the database's integer, else 404."""
    from flask import abort

    if not raw.isdecimal() or len(raw) > 9:
        abort(404)
    return int(raw)


def read_db():
    """One read session per request, closed at teardown; writes use ``db.transaction()`` explicitly."""
    if "read_db" not in g:
        g.read_db = db.read_session()
    return g.read_db


def close_read_db(_exc=None) -> None:
    session = g.pop("read_db", None)
    if session is not None:
        session.close()


# --- display -----------------------------------------------------------------------------------------------

def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """UTC from the database → Asia/Shanghai wall time."""
    local = clock.to_local(value)
    return local.strftime(fmt) if local else ""


def duration_text(delta: dt.timedelta) -> str:
    """"2小时5分" / "12分" — whole minutes, never negative."""
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    if hours >= 24:
        days, hours = divmod(hours, 24)
        return f"{days}天{hours}小时"
    return f"{hours}小时{minutes}分" if hours else f"{minutes}分"


def role_name(code: str) -> str:
    role = identity.ROLE_BY_CODE.get(code)
    return role.name if role else code


STATUS_NAMES = {"open": "处理中", "closed": "已办结", "running": "处理中", "completed": "已办结",
                "cancelled": "已取消", "incident": "异常待处理"}


def category_name(code: str | None) -> str:
    return intake.CATEGORIES.get(code or "", "未分类")


def sub_ratings(req) -> list[tuple[str, int]]:
    """The resident's sub-ratings of a request that were given: [(name, score)], in the form's order."""
    return [(name, getattr(req, f"rating_{key}")) for key, name in intake.RATINGS.items()
            if getattr(req, f"rating_{key}", None) is not None]


def register_filters(app) -> None:
    app.jinja_env.filters.update(
        local_time=local_time, duration=duration_text, role_name=role_name,
        category_name=category_name,
        channel_name=lambda c: intake.CHANNELS.get(c or "", c or ""),
        priority_name=lambda p: intake.PRIORITIES.get(p or "", ""),
        status_name=lambda s: STATUS_NAMES.get(s or "", s or ""),
        sub_ratings=sub_ratings, tel_uri=hotline.tel_uri,
    )
    app.jinja_env.globals["now_local"] = lambda: local_time(clock.now(), "%H:%M:%S")


def friendly_error(message: str, status: int, *, title: str | None = None, back: str | None = None,
                   back_label: str = "返回"):
    """A page that explains, in Chinese, what happened and where to go next (403/404/409 …)."""
    titles = {403: "没有权限", 404: "找不到页面", 409: "操作未完成", 422: "内容有误", 429: "请稍后再试"}
    return render_template("error.html", message=message, title=title or titles.get(status, "出错了"),
                           back=back, back_label=back_label), status
