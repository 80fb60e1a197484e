"""What went wrong when a timer did not fire, and what the poller does about it.

Three kinds of trouble, three answers:

- **a race** (a person changed the instance first; PostgreSQL's serialization failure or deadlock): try
  the row again in a moment, nothing is wrong;
- **the timer itself** (its script raised, ran out of budget, stored a value JSON cannot hold): retry with
  back-off, or raise an incident at once when running it again cannot help (:func:`hopeless`) — either way
  the rest of the batch fires;
- **the database** (disk full, I/O error, connection refused …): no timer can fire, so the whole poller
  backs off (:class:`DatabaseBackoff`, doubling to a minute) and logs an error. It does not push the rows'
  retry times forward, so the missed-timer alarm (:func:`engine.timers.monitoring.overdue`) counts them
  once they are a minute late, whoever looks.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.exc import DBAPIError

from engine.core import clock, errors

log = logging.getLogger(__name__)

# PostgreSQL SQLSTATEs that mean "lost a race, try again": serialization failure, deadlock, lock not available.
_RACES = {"40001", "40P01", "55P03"}


def is_race(exc: BaseException) -> bool:
    if isinstance(exc, errors.Conflict):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _RACES


def is_database_trouble(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError | errors.StorageFull) and not is_race(exc)


def hopeless(exc: BaseException) -> bool:
    """Running the timer again would fail the same way: a permanent script failure, or an error nobody
    anticipated (a bug must not be retried into a loop; the incident shows it to an admin)."""
    if isinstance(exc, errors.ScriptFailure):
        return bool(exc.details.get("permanent"))
    return not isinstance(exc, errors.EngineError)


def error_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    if not isinstance(exc, errors.EngineError):
        message = f"定时器触发时出现意外错误：{exc.__class__.__name__}: {exc}"
    detail = ((getattr(exc, "details", None) or {}).get("error") or "").strip()
    return f"{message}\n{detail}" if detail and detail not in message else message


def failed_element(exc: BaseException) -> str | None:
    """The BPMN element that raised: named by the runtime, or by SpiffWorkflow's task exception."""
    named = (getattr(exc, "details", None) or {}).get("element_id")
    task = getattr(exc.__cause__, "task", None)
    return named or (task.task_spec.bpmn_id if task is not None else None)


class DatabaseBackoff:
    """The poller's pause after a database error: 1 s, doubling to ``cap``, reset by a clean pass."""

    def __init__(self, first: float = 1.0, cap: float = 60.0):
        self.first, self.cap = first, cap
        self.failures = 0
        self.until: dt.datetime | None = None
        self.last_error: str | None = None

    def paused(self) -> bool:
        return self.until is not None and clock.now() < self.until

    def note(self, exc: BaseException) -> dt.timedelta:
        self.failures += 1
        delay = dt.timedelta(seconds=min(self.first * 2 ** (self.failures - 1), self.cap))
        self.until = clock.now() + delay
        self.last_error = f"{exc.__class__.__name__}: {exc}".splitlines()[0]
        log.error("timer poller: database error (%s in a row), pausing %ss; due timers wait and the "
                  "missed-timer alarm reports them after a minute: %s", self.failures, delay.total_seconds(),
                  self.last_error)
        return delay

    def clear(self) -> None:
        if self.failures:
            log.warning("timer poller: database reachable again after %s errors", self.failures)
        self.failures, self.until, self.last_error = 0, None, None
