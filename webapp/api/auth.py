"""Bearer tokens for the API: ``POST /auth/token`` issues one, every other route checks it.

Tokens are rows (:mod:`webapp.api.tokens`): they expire (12 h by default), an admin can revoke them, and
signing out, a password change or deactivation end them all at once. Token issue is rate limited per client
address (:mod:`webapp.ratelimit`) on top of the sign-in page's failed-attempt lockout, which it shares
(:mod:`webapp.login_throttle`); a username that does not exist costs the same argon2 check as a wrong
password (``identity.authenticate``).
"""

from __future__ import annotations

from flask import g, has_request_context, request

from engine import identity
from engine.core import db
from engine.core.tables import User
from webapp import policy, ratelimit

from . import bp, tokens
from .errors import ApiError, error_response

DEFAULT_MAX_AGE = tokens.DEFAULT_MAX_AGE


def issue_token(user: User) -> str:
    return tokens.issue(user, request.remote_addr if has_request_context() else "")


def user_for_token(token: str) -> User:
    """The active user a token names; :class:`ApiError` 401 with the reason otherwise."""
    try:
        return tokens.user_for(token)
    except tokens.TokenRefused as exc:
        raise ApiError(401, exc.message, code=exc.code) from exc


@bp.before_request
def _authenticate() -> None:
    """Set ``g.api_user`` from the bearer token; a bad token is refused here, a missing one by the route."""
    header = request.headers.get("Authorization", "")
    if not header:
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "请使用 Authorization: Bearer <令牌>", code="token_invalid")
    g.api_user = user_for_token(token.strip())


def limiter():
    """The sign-in page's throttle: the API is no side door around its lockout."""
    from webapp.auth import limiter as page_limiter

    return page_limiter()


@bp.post("/auth/token")
@policy.public
@ratelimit.limit("TOKEN")
def token():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) \
            or not isinstance(body.get("password"), str):
        given = body if isinstance(body, dict) else {}  # a list, a number or no JSON at all: nothing given
        raise ApiError(422, "请填写用户名和密码", fields={
            k: "请填写此项" for k in ("username", "password") if not isinstance(given.get(k), str)})
    username = body["username"].strip()
    key = (username.lower(), request.remote_addr or "")  # the same key as the sign-in page
    if limiter().locked(key):
        return error_response(429, "登录尝试次数过多，请稍后再试")
    with db.read_session() as session:
        user = identity.authenticate(session, username, body["password"])
    if user is None:
        limiter().fail(key)
        raise ApiError(401, "用户名或密码错误", code="invalid_credentials")
    limiter().clear(key)
    return {"token": issue_token(user), "token_type": "Bearer", "expires_in": tokens.max_age()}
