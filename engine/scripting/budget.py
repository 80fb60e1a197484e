"""Time and memory budgets for untrusted scripts, gateway conditions and timer expressions.

A deployed ``while True: pass`` must fail its own request, not stop the deployment. Every evaluation runs
under :func:`enforced`, which bounds it three ways:

- **time**: a trace function (``sys.settrace``, per thread) is attached to the script's own frames only
  (code compiled as ``<script>``: the script, its lambdas and comprehensions); on every line it compares
  the elapsed time with the budget. Library code the script calls is not traced, so a short script costs
  next to nothing.
- **memory**: every :data:`_MEMORY_CHECK_EVERY` traced lines the process's resident size is compared with
  its size when the script started; growing by more than the budget stops the script. This bounds memory
  built up line by line (a list appended to in a loop).
- **single operations** that would allocate or compute without ever reaching a next line are refused
  before they run: ``*`` of sequences, ``**``, ``<<`` and ``pow`` on huge integers, and the padding
  methods of ``str`` (``ljust`` …) with a huge width (see :mod:`engine.scripting.sandbox` for the guards).

Exceeding a budget raises :class:`BudgetExceeded`, a ``BaseException``: a script's ``except Exception``
cannot swallow it (bare ``except:`` and ``BaseException`` are refused at compile time). The script
engine turns it into an ordinary workflow error naming the element, so the change fails and nothing is
saved.

Limits come from the environment at call time: ``LIYUAN_SCRIPT_TIME_LIMIT`` (seconds, default 2) and
``LIYUAN_SCRIPT_MEMORY_LIMIT_MB`` (default 256).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psutil

SCRIPT_FILENAME = "<script>"
DEFAULT_SECONDS = 2.0
DEFAULT_MEMORY_MB = 256
# Integers beyond this many bits are refused (no business figure needs them; computing one can take seconds
# inside a single C call that no line check can interrupt).
MAX_INT_BITS = 100_000
_MEMORY_CHECK_EVERY = 2048
# A script that keeps running yields the GIL this often: a CPU-bound traced loop would otherwise hold it for
# the whole switch interval each time, and every other request thread (each database call gives the GIL up)
# would wait that long again and again — a runaway script would slow everyone for its whole budget.
_YIELD_EVERY = 256

_process: psutil.Process | None = None
_statm: tuple[int, int] | None = None  # (pid, fd of /proc/self/statm opened by that process)
_PAGE = os.sysconf("SC_PAGE_SIZE") if sys.platform.startswith("linux") else 0


class BudgetExceeded(BaseException):  # noqa: N818 - a BaseException so ``except Exception`` cannot catch it
    """A script ran out of its time or memory budget (``message`` is Chinese)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Limits:
    seconds: float
    memory_bytes: int


def _positive(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"环境变量 {name} 必须是正数，当前为 {raw!r}") from None
    if not value > 0:
        raise ValueError(f"环境变量 {name} 必须是正数，当前为 {raw!r}")
    return value


def limits() -> Limits:
    """The configured budget (read per call, so tests and operators can change it without a restart)."""
    return Limits(_positive("LIYUAN_SCRIPT_TIME_LIMIT", DEFAULT_SECONDS),
                  int(_positive("LIYUAN_SCRIPT_MEMORY_LIMIT_MB", DEFAULT_MEMORY_MB) * 1024 * 1024))


def _rss() -> int:
    """The process's resident size, read at the start of every evaluation (so a script's growth is measured
    from there). On Linux it is the second field of ``/proc/self/statm`` (what psutil reads too), read from a
    file kept open — a replay of thousands of histories evaluates hundreds of thousands of conditions, and
    psutil's open-read-close per call was a tenth of the evaluation's cost."""
    global _process, _statm
    pid = os.getpid()
    if _PAGE:
        if _statm is None or _statm[0] != pid:  # a forked child measures itself: "self" is bound at open
            try:
                _statm = (pid, os.open("/proc/self/statm", os.O_RDONLY))
            except OSError:
                _statm = (pid, -1)
        if _statm[1] >= 0:
            return int(os.pread(_statm[1], 128, 0).split()[1]) * _PAGE
    if _process is None or _process.pid != pid:
        _process = psutil.Process()
    return _process.memory_info().rss


def too_big(what: str) -> BudgetExceeded:
    mb = limits().memory_bytes // (1024 * 1024)
    return BudgetExceeded(f"脚本{what}超出内存限制（{mb} MB），已中止")


@contextlib.contextmanager
def enforced(budget: Limits | None = None) -> Iterator[None]:
    """Run the block with the script's frames traced against ``budget`` (the configured one by default)."""
    budget = budget or limits()
    deadline = time.monotonic() + budget.seconds
    start_rss = _rss()
    lines = 0

    def local(frame, event, arg):
        nonlocal lines
        if event == "line":
            lines += 1
            if time.monotonic() > deadline:
                raise BudgetExceeded(f"脚本运行超过时间限制（{budget.seconds:g} 秒），已中止")
            if lines % _YIELD_EVERY == 0:
                time.sleep(0)  # releases the GIL: a waiting request thread runs now
            if lines % _MEMORY_CHECK_EVERY == 0 and _rss() - start_rss > budget.memory_bytes:
                raise BudgetExceeded(
                    f"脚本占用内存超出限制（{budget.memory_bytes // (1024 * 1024)} MB），已中止")
        return local

    def on_call(frame, event, arg):
        return local if frame.f_code.co_filename == SCRIPT_FILENAME else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous)
