"""What every response and every request goes through before a view sees it: size and shape limits on
input, security headers on output, and the proxy set-up.

Why here and not in each view: a hostile value (a NUL byte, a lone surrogate, JSON nested ten thousand
deep, ``NaN``) is refused the same way on every route, before it can reach the database — where PostgreSQL
would answer with a 500 and SQLite would store it — so no view has to remember to check. Form fields are
then checked against their JSON Schema (``engine.forms.validate``) with a message beside each field.

Settings (environment):

- ``LIYUAN_MAX_REQUEST_BYTES`` — the largest request body accepted (default 6 MB: a BPMN diagram, up to
  the editor's own 5 MB, is the largest thing anyone posts); larger bodies get 413. Form fields are also
  held to Werkzeug's 500 KB per field.
- ``LIYUAN_TRUSTED_PROXIES`` — how many reverse proxies (nginx …) stand in front of the app. Their
  ``X-Forwarded-For/-Proto/-Host`` headers are believed for that many hops, so the sign-in throttle sees the
  real client address and redirects keep https. 0 (the default) believes no such header: a client could
  otherwise forge its address.
- ``LIYUAN_SECURE_COOKIES=1`` — the site is served over HTTPS: cookies are Secure and browsers are told to
  use HTTPS only (HSTS).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.forms import limits

from . import web

DEFAULT_MAX_REQUEST_BYTES = 6 * 1024 * 1024

# No inline script anywhere (templates load static files; JSON data blocks are not scripts). Styles may be
# inline: bpmn-js draws diagrams by setting style attributes on SVG elements.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000; includeSubDomains"


class HostileJSON(ValueError):
    """JSON that parses but must not be taken in; ``message`` says why, in Chinese."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _refuse_constant(name: str) -> Any:
    raise HostileJSON(f"数值无效（不接受 NaN 或无穷大：{name}）")


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading only what can be stored and sent back as standard JSON.

    Python's ``json`` takes ``NaN``/``Infinity`` (not JSON: stored, they make the document unreadable to
    every other tool), recurses without bound (deep nesting is a 500 by RecursionError) and lets ``"\\ud800"``
    through as a lone surrogate (which no database encoding can hold).
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _refuse_constant)
        try:
            value = json.loads(s, **kwargs)
        except RecursionError as exc:
            raise HostileJSON(f"数据嵌套层数过多（最多{limits.MAX_DEPTH}层）") from exc
        problem = limits.problem_in(value)
        if problem:
            raise HostileJSON(problem)
        return value


def init_app(app: Flask) -> None:
    app.json = SafeJSONProvider(app)
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is no limit at all
        app.config["MAX_CONTENT_LENGTH"] = int(os.environ.get("LIYUAN_MAX_REQUEST_BYTES")
                                               or DEFAULT_MAX_REQUEST_BYTES)
    proxies = int(os.environ.get("LIYUAN_TRUSTED_PROXIES") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies,
                                x_prefix=proxies)
    app.before_request(_refuse_hostile_input)
    app.after_request(_headers)
    app.register_error_handler(RequestEntityTooLarge, _too_large)


# In a URL no control character is legitimate; a form's textarea posts tabs and line breaks.
_CONTROL_IN_URL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_FORM = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _refuse_hostile_input():
    """400 for control characters in the URL or a form post, and for JSON bodies ``SafeJSONProvider``
    refuses; the parse here is what lets the message name the reason instead of "not JSON"."""
    in_url = [request.path, *request.args.keys(), *request.args.values()]
    in_form = []
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        in_form = [*request.form.keys(), *request.form.values()]
    if any(_CONTROL_IN_URL.search(t) for t in in_url) or any(_CONTROL_IN_FORM.search(t) for t in in_form):
        return refusal(400, "提交的内容含有不可见的控制字符，请删除后重试")
    if request.is_json and request.content_length != 0:
        try:
            request.get_json(silent=False, cache=True)
        except RequestEntityTooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - Werkzeug and Flask wrap the provider's error in BadRequest
            hostile = _hostile_cause(exc)
            return refusal(400, hostile.message if hostile else "请求内容不是有效的 JSON")
    return None


def _hostile_cause(exc: BaseException | None) -> HostileJSON | None:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, HostileJSON):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def refusal(status: int, message: str):
    """The same refusal in the shape the caller reads: API JSON, the editor's JSON, or a page."""
    if request.path.startswith("/api/"):
        from .api.errors import error_response

        return error_response(status, message)
    if request.is_json or request.accept_mimetypes.best == "application/json":
        body = {"ok": False, "error": "bad_request" if status == 400 else "too_large", "message": message,
                "problems": []}
        return jsonify(body), status
    return web.friendly_error(message, status, title="请求被拒绝")


def _too_large(_exc):
    limit = request.max_content_length or DEFAULT_MAX_REQUEST_BYTES
    return refusal(413, f"提交的内容过大（上限 {limit // 1024} KB）")


def _headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if os.environ.get("LIYUAN_SECURE_COOKIES") == "1":
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response
