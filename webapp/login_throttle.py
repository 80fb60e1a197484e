"""Failed sign-ins: five within ten minutes lock that (username, client address) pair for the rest of the
window. Shared by the sign-in page and the JSON API's token endpoint, so neither is a side door around
the other's lockout.

The failures are rows in ``web_login_failures`` (see :class:`webapp.tables.LoginFailure`), not
process memory: several ``liyuan serve`` workers behind one address count together, and a restart does
not hand an attacker a fresh allowance. Old rows of a key are pruned whenever that key fails again or
signs in.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select

from engine.core import clock, db
from webapp.tables import LoginFailure

MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=10)


class LoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window: dt.timedelta = WINDOW):
        self.max_failures, self.window = max_failures, window

    @staticmethod
    def _key(key: tuple[str, str]):
        username, address = key
        return LoginFailure.username == username.lower()[:64], LoginFailure.address == (address or "")[:64]

    def locked(self, key: tuple[str, str]) -> bool:
        with db.read_session() as session:
            recent = session.scalar(select(func.count()).select_from(LoginFailure)
                                    .where(*self._key(key), LoginFailure.at > clock.now() - self.window))
        return recent >= self.max_failures

    def fail(self, key: tuple[str, str]) -> None:
        username, address = key
        now = clock.now()
        with db.transaction() as session:
            session.execute(delete(LoginFailure).where(*self._key(key), LoginFailure.at <= now - self.window))
            session.add(LoginFailure(username=username.lower()[:64], address=(address or "")[:64], at=now))

    def clear(self, key: tuple[str, str]) -> None:
        with db.transaction() as session:
            session.execute(delete(LoginFailure).where(*self._key(key)))
