"""How a one-time code reaches its person: the one seam between issuing a code and sending it.

For now the demo sender: the code is written to the server log (``liyuan serve``'s output), where whoever
runs the demo reads it. The notifications outbox (SMS / WeChat, retried, recorded) replaces the body of
:func:`deliver_code` and nothing else.
"""

from __future__ import annotations

import logging

from engine.core.tables import User

log = logging.getLogger("liyuan.codes")


def deliver_code(user: User, code: str, *, purpose: str = "password_reset") -> None:
    where = user.phone or user.username
    log.warning("一次性验证码（%s）发送给 %s（%s）：%s，15分钟内有效", purpose, user.display_name, where, code)
