"""Rate limits on the doors anyone can knock on: sign-up, API token issue and password reset requests.

Flask-Limiter counts hits per client address (``request.remote_addr``; behind nginx set
``LIYUAN_TRUSTED_PROXIES`` so it is the client's, not the proxy's). Over the limit the answer is 429: a
Chinese page on the site, ``{"error": "too_many_requests", ...}`` under ``/api/``.

Where the counters live: ``LIYUAN_RATELIMIT_STORAGE_URI``, by default ``database://`` — the
:class:`DatabaseStorage` below, rows of ``web_rate_limits`` in the app's own database (SQLite or
PostgreSQL), so every server process and a restarted one count together with nothing else to run. Any
storage of the ``limits`` package works instead (``redis://host:6379`` with the ``redis`` client
installed); ``memory://`` is per process and only fit for a single worker.

Limits (Flask-Limiter notation, per client address), each overridable by environment or app config:
``LIYUAN_RATELIMIT_SIGNUP`` (default ``5 per hour``), ``LIYUAN_RATELIMIT_TOKEN`` (``10 per minute``),
``LIYUAN_RATELIMIT_RESET`` (asking for a reset code, ``5 per hour``), ``LIYUAN_RATELIMIT_RESET_CODE`` (entering
one, ``20 per hour``; each code also dies after five wrong guesses).
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask, current_app, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from engine.core import clock, db

from . import web
from .tables import RateLimitCounter

DEFAULT_STORAGE_URI = "database://"
DEFAULTS = {"SIGNUP": "5 per hour", "TOKEN": "10 per minute", "RESET": "5 per hour", "RESET_CODE": "20 per hour"}
MESSAGE = "操作过于频繁，请稍后再试"

limiter = Limiter(key_func=get_remote_address, strategy="fixed-window", headers_enabled=True,
                  key_prefix="liyuan")


def limit(name: str):
    """``@ratelimit.limit("SIGNUP")`` on a view: the named limit, on POST only."""
    return limiter.limit(lambda: current_app.config[f"LIYUAN_RATELIMIT_{name}"], methods=["POST"])


def init_app(app: Flask) -> None:
    for name, default in DEFAULTS.items():
        key = f"LIYUAN_RATELIMIT_{name}"
        app.config.setdefault(key, os.environ.get(key) or default)
    app.config.setdefault("RATELIMIT_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_URI",
                          os.environ.get("LIYUAN_RATELIMIT_STORAGE_URI") or DEFAULT_STORAGE_URI)
    limiter.init_app(app)
    app.register_error_handler(429, _too_many)


def _too_many(_exc):
    """429 in the shape the caller reads: the API's error JSON, the editor's JSON, or a Chinese page.
    (Flask-Limiter adds ``Retry-After`` to whichever it is.)"""
    if request.path.startswith("/api/"):
        return jsonify({"error": "too_many_requests", "message": MESSAGE, "fields": {}}), 429
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify({"ok": False, "error": "too_many_requests", "message": MESSAGE, "problems": []}), 429
    return web.friendly_error(MESSAGE, 429)


def _now() -> float:
    return clock.now().timestamp()


def _key(key: str) -> str:
    return key if len(key) <= 255 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class DatabaseStorage(Storage):
    """Fixed-window counters in ``web_rate_limits`` of the app's database (``database://``).

    One row per limit and client; ``incr`` is a single ``INSERT … ON CONFLICT DO UPDATE … RETURNING``, atomic
    on SQLite and PostgreSQL alike, so concurrent workers never lose a hit. An expired window restarts in
    the same statement. Expired rows are removed now and then by ``incr`` itself.
    """

    STORAGE_SCHEME = ["database"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._hits = 0

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = _now()
        table = RateLimitCounter.__table__
        with db.transaction() as session:
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            insert = dialect.insert(table).values(key=_key(key), count=amount, expires_at=now + expiry)
            expired = table.c.expires_at <= now
            statement = insert.on_conflict_do_update(index_elements=[table.c.key], set_={
                "count": case((expired, amount), else_=table.c.count + amount),
                "expires_at": case((expired, now + expiry), else_=table.c.expires_at),
            }).returning(table.c.count)
            count = session.execute(statement).scalar_one()
            self._hits += 1
            if self._hits % 100 == 0:
                session.execute(delete(RateLimitCounter).where(RateLimitCounter.expires_at <= now))
        return count

    def _row(self, key: str):
        with db.read_session() as session:
            return session.execute(select(RateLimitCounter.count, RateLimitCounter.expires_at)
                                   .where(RateLimitCounter.key == _key(key))).first()

    def get(self, key: str) -> int:
        row = self._row(key)
        return row.count if row is not None and row.expires_at > _now() else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row.expires_at if row is not None and row.expires_at > _now() else _now()

    def check(self) -> bool:
        try:
            with db.read_session() as session:
                session.execute(select(RateLimitCounter.key).limit(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with db.transaction() as session:
            return session.execute(delete(RateLimitCounter)).rowcount

    def clear(self, key: str) -> None:
        with db.transaction() as session:
            session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == _key(key)))

