"""Who carries an SMS out of the building: a provider adapter chosen by the environment.

- ``LIYUAN_SMS_PROVIDER=log`` (the default, for the demo): the message is written to the server log
  (logger ``engine.notify.sms``) and counts as sent;
- ``LIYUAN_SMS_PROVIDER=http``: ``POST`` JSON ``{"to": phone, "text": body}`` to ``LIYUAN_SMS_URL`` with
  ``Authorization: Bearer $LIYUAN_SMS_KEY`` (when set) and a ``LIYUAN_SMS_TIMEOUT`` (seconds, default 10).
  Any 2xx is a delivery; anything else, or no answer, is a :class:`SendError` the outbox retries.

Most SMS gateways in China take such a JSON call behind a small relay; one adapter per provider belongs
here, each a class with ``name`` and ``send(phone, text) -> detail``.

In-app messages need no sender: their row *is* the delivery (see :mod:`engine.notify.outbox`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from typing import Protocol

log = logging.getLogger("engine.notify.sms")

# A mainland mobile number (with or without +86 / 86): the only numbers an SMS reaches. Landlines
# ("0755-8888 6666"), short hotlines and foreign numbers are skipped with a reason.
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
_SEPARATORS = re.compile(r"[\s\-()（）]")


class SendError(Exception):
    """The provider did not take the message (the text is recorded as the attempt's error)."""


class SmsSender(Protocol):
    name: str

    def send(self, phone: str, text: str) -> str: ...


def mobile_number(phone: str | None) -> str | None:
    """The 11-digit mobile number in ``phone``, or None when an SMS cannot reach it."""
    if not phone:
        return None
    match = _MOBILE.fullmatch(_SEPARATORS.sub("", phone))
    return match.group(1) if match else None


class LogSender:
    """The demo provider: the server log is the handset."""

    name = "log"

    def send(self, phone: str, text: str) -> str:
        log.info("短信 → %s：%s", phone, text)
        return "已写入服务器日志"


class HttpSender:
    """A provider reached by one JSON POST per message."""

    name = "http"

    def __init__(self, url: str, key: str | None = None, timeout: float = 10.0):
        self.url, self.key, self.timeout = url, key, timeout

    def send(self, phone: str, text: str) -> str:
        body = json.dumps({"to": phone, "text": text}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                return f"HTTP {resp.status} {resp.read(300).decode('utf-8', 'replace')}".strip()
        except urllib.error.HTTPError as exc:
            raise SendError(f"短信服务返回 HTTP {exc.code}：{exc.read(300).decode('utf-8', 'replace')}".strip()) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SendError(f"无法连接短信服务：{getattr(exc, 'reason', exc)}") from exc


class ConfigError(ValueError):
    """The SMS settings in the environment do not make a provider (message in Chinese)."""


def from_env() -> SmsSender:
    """The provider the environment names (read at call time, so a test or a restart can change it)."""
    provider = os.environ.get("LIYUAN_SMS_PROVIDER", "log").strip().lower() or "log"
    if provider == "log":
        return LogSender()
    if provider == "http":
        url = os.environ.get("LIYUAN_SMS_URL", "").strip()
        if not url.startswith(("http://", "https://")):
            raise ConfigError("LIYUAN_SMS_PROVIDER=http 需要设置 LIYUAN_SMS_URL（http:// 或 https:// 地址）")
        try:
            timeout = float(os.environ.get("LIYUAN_SMS_TIMEOUT", "10"))
        except ValueError as exc:
            raise ConfigError("LIYUAN_SMS_TIMEOUT 必须是秒数") from exc
        return HttpSender(url, os.environ.get("LIYUAN_SMS_KEY") or None, timeout)
    raise ConfigError(f"LIYUAN_SMS_PROVIDER 只能是 log 或 http，当前为 {provider!r}")
