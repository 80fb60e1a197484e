"""API bearer tokens as rows an admin can see and revoke (``web_api_tokens``).

What the client holds is the row's id signed with the app's ``SECRET_KEY`` (itsdangerous, a salt of its own
so a session cookie can never pass for a token): it cannot be forged or guessed, and rotating the secret key
ends every token. Each request checks the row: not expired (``API_TOKEN_MAX_AGE`` seconds after issue,
12 h by default, or ``LIYUAN_API_TOKEN_MAX_AGE``), not revoked, its user active and still in the sign-in
generation the token was issued under (signing out, a password change or deactivation move the user on).
All of it is read from the database, so a revocation holds in every server process from the next request.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from engine.audit import history
from engine.core import clock, db
from engine.core.tables import User, UserRole
from webapp.tables import ApiToken

SALT = "liyuan-api-token-v2"
DEFAULT_MAX_AGE = 12 * 3600


class TokenRefused(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message, self.code = message, code


def max_age() -> int:
    configured = current_app.config.get("API_TOKEN_MAX_AGE") or os.environ.get("LIYUAN_API_TOKEN_MAX_AGE")
    return int(configured or DEFAULT_MAX_AGE)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def issue(user: User, address: str = "") -> str:
    """A new token for ``user`` under their current sign-in generation."""
    now = clock.now()
    with db.transaction() as session:
        epoch = session.scalar(select(User.auth_epoch).where(User.id == user.id))
        row = ApiToken(user_id=user.id, epoch=epoch or 0, address=(address or "")[:64], created_at=now,
                       expires_at=now + dt.timedelta(seconds=max_age()))
        session.add(row)
        session.flush()
        token_id = row.id
    return _serializer().dumps({"tid": token_id})


def user_for(token: str) -> User:
    """The user a token stands for, roles loaded; :class:`TokenRefused` with the reason in Chinese."""
    try:
        claims = _serializer().loads(token)
    except BadSignature as exc:
        raise TokenRefused("访问令牌无效，请重新登录", "token_invalid") from exc
    token_id = claims.get("tid") if isinstance(claims, dict) else None
    if not isinstance(token_id, int):
        raise TokenRefused("访问令牌无效，请重新登录", "token_invalid")
    with db.get_engine().connect() as conn:
        found = conn.execute(_RESOLVE, {"tid": token_id}).all()
    if not found:
        raise TokenRefused("访问令牌无效，请重新登录", "token_invalid")
    row = found[0]._mapping
    if row["revoked_at"] is not None:
        raise TokenRefused("访问令牌已被撤销，请重新登录", "token_revoked")
    if clock.as_utc(row["expires_at"]) <= clock.now():
        raise TokenRefused("访问令牌已过期，请重新登录", "token_expired")
    if row["id"] is None or not row["is_active"]:
        raise TokenRefused("账号不存在或已停用", "token_invalid")
    if row["auth_epoch"] != row["epoch"]:
        raise TokenRefused("您已退出登录或修改了密码，请重新登录", "token_revoked")
    return _detached_user(row, [r.role for r in found if r.role is not None])


# One statement per request: the token row, its user and the user's roles (one result row per role), read on
# a plain connection. It used to take an ORM session of its own and three queries (token, user, roles) before
# the route opened its session; every check is still made on the rows as they are now, so a revocation, a
# sign-out or a deactivation holds from the next request in every process.
_T, _U, _R = ApiToken.__table__, User.__table__, UserRole.__table__
_RESOLVE = (select(_T.c.revoked_at, _T.c.expires_at, _T.c.epoch, *_U.c, _R.c.role)
            .select_from(_T.outerjoin(_U, _U.c.id == _T.c.user_id).outerjoin(_R, _R.c.user_id == _U.c.id))
            .where(_T.c.id == bindparam("tid")))


def _detached_user(row, roles: list[str]) -> User:
    """A ``User`` as a query would have loaded it (roles included), detached from any session, as the one
    ``session.expunge`` used to hand out: routes read it, none writes it back."""
    user = User(**{c.name: row[c.name] for c in _U.c})
    role_rows = [UserRole(user_id=user.id, role=role) for role in dict.fromkeys(roles)]
    for r in role_rows:
        make_transient_to_detached(r)
    set_committed_value(user, "roles", role_rows)
    make_transient_to_detached(user)
    return user


# --- the admin's view ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    display_name: str
    address: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_by: str | None
    status: str  # "valid" | "expired" | "revoked" | "ended"

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]


STATUS_NAMES = {"valid": "有效", "expired": "已过期", "revoked": "已撤销",
                "ended": "已失效（用户已退出登录、修改密码或被停用）"}


def listing(session: Session, *, include_inactive: bool = False, limit: int = 200) -> list[TokenInfo]:
    """Tokens, newest first: the valid ones, or all of the most recent ``limit``."""
    now = clock.now()
    rows = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                           .order_by(ApiToken.id.desc()).limit(limit)).all()
    found = []
    for token, user in rows:
        if token.revoked_at is not None:
            status = "revoked"
        elif clock.as_utc(token.expires_at) <= now:
            status = "expired"
        elif not user.is_active or user.auth_epoch != token.epoch:
            status = "ended"
        else:
            status = "valid"
        if include_inactive or status == "valid":
            found.append(TokenInfo(token.id, user.username, user.display_name, token.address, token.created_at,
                                   token.expires_at, token.revoked_at, token.revoked_by, status))
    return found


def revoke(session: Session, token_id: int, *, actor: str) -> bool:
    """Revoke one token; False when there is no such token or it was already revoked. Audited."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=clock.now(), revoked_by=actor))
    username = session.scalar(select(User.username).where(User.id == row.user_id))
    history.append(session, "management", actor, "api_token_revoked", element_id=username,
                   payload={"username": username, "token_id": token_id})
    return True
