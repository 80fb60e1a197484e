"""Failed sign-ins, counted three ways, each within ten minutes:

- five for one (username, client address) pair lock that pair — a person mistyping is not shut out
  from other places, an attacker at one address is stopped on that account;
- ten for one username from any addresses lock the account's password sign-in — an attacker who spreads
  guesses over many addresses (a botnet, a proxy pool) gets no more than ten per ten minutes, about 1 400
  a day, far below what guessing a 12-character password needs;
- twenty from one address, whatever the usernames, lock that address — password spraying (one common
  password tried on every account) is slowed as much as guessing at one.

The first three answers are a lockout message, never a hint of which rule fired. Shared by the sign-in page
and the JSON API's token endpoint, so neither is a side door around the other's lockout. The price of the
per-account rule is that an attacker can keep one account's password sign-in locked; its holder can still
reset the password by code, and an admin sees the failures.

The failures are rows in ``web_login_failures`` (see :class:`webapp.tables.LoginFailure`), not process
memory: several ``liyuan serve`` workers count together, and a restart does not hand an attacker a fresh
allowance. Rows older than the window are pruned when a sign-in fails.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select

from engine.core import clock, db
from webapp.tables import LoginFailure

MAX_FAILURES = 5
MAX_ACCOUNT_FAILURES = 10
MAX_ADDRESS_FAILURES = 20
WINDOW = dt.timedelta(minutes=10)


class LoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window: dt.timedelta = WINDOW, *,
                 max_account_failures: int = MAX_ACCOUNT_FAILURES,
                 max_address_failures: int = MAX_ADDRESS_FAILURES):
        self.max_failures, self.window = max_failures, window
        self.max_account_failures, self.max_address_failures = max_account_failures, max_address_failures

    @staticmethod
    def _parts(key: tuple[str, str]) -> tuple[str, str]:
        username, address = key
        return username.lower()[:64], (address or "")[:64]

    def locked(self, key: tuple[str, str]) -> bool:
        username, address = self._parts(key)
        recent = LoginFailure.at > clock.now() - self.window

        def count(*where) -> int:
            return session.scalar(select(func.count()).select_from(LoginFailure).where(*where, recent))

        with db.read_session() as session:
            return (count(LoginFailure.username == username, LoginFailure.address == address) >= self.max_failures
                    or count(LoginFailure.username == username) >= self.max_account_failures
                    or count(LoginFailure.address == address) >= self.max_address_failures)

    def fail(self, key: tuple[str, str]) -> None:
        username, address = self._parts(key)
        now = clock.now()
        with db.transaction() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.at <= now - self.window))
            session.add(LoginFailure(username=username, address=address, at=now))

    def clear(self, key: tuple[str, str]) -> None:
        """A right password clears that pair's count; the account's and the address's totals keep the
        other pairs' failures (an attacker's own sign-in must not wipe the evidence of their spraying)."""
        username, address = self._parts(key)
        with db.transaction() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.username == username,
                                                       LoginFailure.address == address))
