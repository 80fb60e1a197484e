"""Checking many instances on several cores: chunks of instance ids handed to worker processes.

An auditor's full check (replaying every instance, recomputing every projection) is CPU-bound pure Python,
so threads would share one core; processes do not. Each worker opens its own read session on the same
database (SQLite in WAL mode lets any number of readers run beside each other and beside the writer; on
PostgreSQL each worker has its own connection), checks one chunk of ids with a few batched queries, and
sends back only the findings. The parent reports progress chunk by chunk.

Workers are forked (Linux), so they inherit what the entry point registered at start-up (the help desk's
projections and script helpers) and the parsed specs already cached; the parent disposes of its database
engines first, so no connection is shared across the fork.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from engine.core import db

Progress = Callable[[int, int, float], None]


def default_jobs() -> int:
    """min(cores, 4): past that the workers mostly wait on each other's reads."""
    return max(1, min(os.cpu_count() or 1, 4))


def chunks(ids: Sequence[str], size: int) -> list[list[str]]:
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]


def map_chunks(check: Callable[[str | None, list[str]], list[Any]], url: str | None, ids: Sequence[str], *,
               jobs: int = 1, chunk: int = 100, progress: Progress | None = None) -> Iterator[Any]:
    """Yield every finding of ``check(url, chunk_of_ids)`` over all ``ids``; ``check`` must be a module-level
    function (it is sent to the workers by name). With ``jobs`` 1 everything runs here, in order."""
    parts = chunks(ids, chunk)
    total, done, started = len(ids), 0, time.monotonic()
    if progress is not None:
        progress(0, total, started)
    if jobs <= 1 or len(parts) <= 1:
        for part in parts:
            yield from check(url, part)
            done += len(part)
            if progress is not None:
                progress(done, total, started)
        return
    db.dispose_all()  # no pooled connection may be copied into a worker
    context = multiprocessing.get_context("fork")
    with context.Pool(min(jobs, len(parts))) as pool:
        for size, findings in pool.imap_unordered(_Sized(check, url), parts):
            yield from findings
            done += size
            if progress is not None:
                progress(done, total, started)


class _Sized:
    """``check`` bound to its url, returning how many ids it covered beside its findings (picklable)."""

    def __init__(self, check, url) -> None:
        self.check, self.url = check, url

    def __call__(self, part: list[str]) -> tuple[int, list[Any]]:
        return len(part), list(self.check(self.url, part))
