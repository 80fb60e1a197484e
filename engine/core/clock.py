"""The one source of "now" for the engine, SpiffWorkflow's timers included.

SpiffWorkflow 3.2 calls ``datetime.now(timezone.utc)`` directly inside its timer module, so tests,
replay and the benchmark could not move time without patching it. We patch it once, here, so that
every comparison of a timer's due time with "now" goes through :func:`now`. Tests then *move* the
clock (``clock.advance(minutes=31)``) instead of sleeping, and the audit replay sets the clock to the
recorded time of each event so that computed due times come out identical.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer

UTC = _dt.UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")

_lock = threading.Lock()
_offset = _dt.timedelta(0)
_frozen: _dt.datetime | None = None
_local = threading.local()  # per-thread pinned time, used by replay


def now() -> _dt.datetime:
    """Aware UTC datetime: the pinned time of this thread, else frozen time, else wall clock + offset."""
    pinned = getattr(_local, "pinned", None)
    if pinned is not None:
        return pinned
    if _frozen is not None:
        return _frozen
    return _dt.datetime.now(UTC) + _offset


def advance(**delta: float) -> _dt.datetime:
    """Move the clock forward (tests): ``advance(minutes=16)``. Works whether frozen or not."""
    global _offset, _frozen
    step = _dt.timedelta(**delta)
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + step
        else:
            _offset += step
    return now()


def freeze(at: _dt.datetime | None = None) -> _dt.datetime:
    """Stop the clock at ``at`` (default: now) until :func:`reset`."""
    global _frozen
    value = at or now()
    if value.tzinfo is None:
        raise ValueError("clock.freeze needs an aware datetime")
    with _lock:
        _frozen = value.astimezone(UTC)
    return _frozen


def reset() -> None:
    """Back to the wall clock."""
    global _offset, _frozen
    with _lock:
        _offset = _dt.timedelta(0)
        _frozen = None


@contextmanager
def pinned(at: _dt.datetime) -> Iterator[None]:
    """Within the block, this thread's "now" is ``at`` (other threads are unaffected)."""
    previous = getattr(_local, "pinned", None)
    _local.pinned = at.astimezone(UTC)
    try:
        yield
    finally:
        _local.pinned = previous


def to_local(value: _dt.datetime | None) -> _dt.datetime | None:
    """Stored UTC → Asia/Shanghai for display."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI)


def as_utc(value: _dt.datetime | None) -> _dt.datetime | None:
    """Databases hand back naive datetimes (SQLite) or aware ones (PostgreSQL); we always mean UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class _ClockDatetime(_dt.datetime):
    """Stand-in for ``datetime`` inside SpiffWorkflow's timer module."""

    @classmethod
    def now(cls, tz=None):  # noqa: D401 - mirrors datetime.now
        current = now()
        return current.astimezone(tz) if tz is not None else current.astimezone().replace(tzinfo=None)


_spiff_timer.datetime = _ClockDatetime
