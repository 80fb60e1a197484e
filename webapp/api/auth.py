"""Bearer tokens for the API.

A token is the user id signed with the app's ``SECRET_KEY`` (itsdangerous, a salt of its own so a session
cookie can never pass for a token) and stamped with its issue time; it is good for
``API_TOKEN_MAX_AGE`` seconds (12 h by default). It is checked on every request and the user reloaded, so
deactivating an account cuts its tokens off at once. Sign-in attempts are rate limited per username + IP.
"""

from __future__ import annotations

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from engine import identity
from engine.core import db
from engine.core.tables import User
from webapp import policy

from . import bp
from .errors import ApiError, error_response

SALT = "liyuan-api-token-v1"
DEFAULT_MAX_AGE = 12 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def issue_token(user: User) -> str:
    return _serializer().dumps({"uid": user.id})


def user_for_token(token: str) -> User:
    """The active user a token names; :class:`ApiError` 401 with the reason otherwise."""
    max_age = int(current_app.config.get("API_TOKEN_MAX_AGE", DEFAULT_MAX_AGE))
    try:
        claims = _serializer().loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise ApiError(401, "访问令牌已过期，请重新登录", code="token_expired") from exc
    except BadSignature as exc:
        raise ApiError(401, "访问令牌无效，请重新登录", code="token_invalid") from exc
    uid = claims.get("uid") if isinstance(claims, dict) else None
    with db.read_session() as session:
        user = session.get(User, uid) if isinstance(uid, int) else None
        if user is not None:
            user.role_codes  # noqa: B018 - load the roles before the session closes
    if user is None or not user.is_active:
        raise ApiError(401, "账号不存在或已停用", code="token_invalid")
    return user


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


_dummy_hash: list[str] = []


def _spend_like_a_check(password: str) -> None:
    if not _dummy_hash:
        _dummy_hash.append(identity.hash_password("not-a-real-password"))
    identity.verify_password(User(password_hash=_dummy_hash[0]), password)


@bp.post("/auth/token")
@policy.public
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
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            _spend_like_a_check(body["password"])  # same cost as a real check: no username probing by timing
        ok = user is not None and user.is_active and identity.verify_password(user, body["password"])
    if not ok:
        limiter().fail(key)
        raise ApiError(401, "用户名或密码错误", code="invalid_credentials")
    limiter().clear(key)
    max_age = int(current_app.config.get("API_TOKEN_MAX_AGE", DEFAULT_MAX_AGE))
    return {"token": issue_token(user), "token_type": "Bearer", "expires_in": max_age}
