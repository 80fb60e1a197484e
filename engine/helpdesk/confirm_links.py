"""The link in the 待确认 SMS: the resident confirms solved / not solved without signing in.

The token names one confirmation task (确认解决情况并评价) of one request and when the link stops working,
signed with the installation's secret (HMAC-SHA256 over the payload, :func:`engine.core.config.secret_key`),
so it cannot be made up or altered. It is single-use without any table: it names the *task*, and a task is
completed once — after the resident has answered (here or in the portal) the task is gone and the link is
refused; if "not solved" reopens the work, the next confirmation is a new task with a new SMS and link.

The page that opens the link (``webapp.confirm_link``) completes the task through the same code as the
portal's form (``webapp.taskform``), as the resident the task is assigned to.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from engine.core import clock, config

VALID = dt.timedelta(days=7)  # longer than the confirmation's own deadline (b_confirm): the task ends first
_CONTEXT = b"liyuan-confirm-link|"


INVALID = "链接无效：请使用短信中的完整链接，或登录“我的求助”确认"


class LinkError(ValueError):
    """The link cannot be used (message in Chinese, for the resident); ``expired``: it was genuine."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class Link:
    instance_id: str
    task_id: str
    expires_at: dt.datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str) -> str:
    return _b64(hmac.new(config.secret_key().encode(), _CONTEXT + payload.encode(), hashlib.sha256).digest())


def make(instance_id: str, task_id: str) -> str:
    """A token for the confirmation task ``task_id`` of ``instance_id``, valid for :data:`VALID`."""
    expires = int((clock.now() + VALID).timestamp())
    payload = _b64(f"{instance_id}|{task_id}|{expires}".encode())
    return f"{payload}.{_signature(payload)}"


def read(token: str) -> Link:
    """The task a token names, or :class:`LinkError` when it was altered, made up or has expired (whether
    the task is still waiting is the caller's question: it may have been answered already)."""
    payload, _, signature = (token or "").partition(".")
    if not payload or not signature or not hmac.compare_digest(signature, _signature(payload)):
        raise LinkError(INVALID)
    try:
        instance_id, task_id, expires = _unb64(payload).decode().split("|")
        expires_at = dt.datetime.fromtimestamp(int(expires), dt.UTC)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LinkError(INVALID) from exc
    if clock.now() >= expires_at:
        raise LinkError("链接已过期，请登录“我的求助”确认处理结果", expired=True)
    return Link(instance_id, task_id, expires_at)
