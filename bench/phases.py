"""Named phases timed by wrapping functions, and the SQL sent, for the diagnostics of bench/*.py.

:class:`Phases` wraps module functions (``owner.name``) with ``time.perf_counter`` and ``time.process_time``
and keeps, per label, the calls, the inclusive time and the *self* time (the phase's own time, minus the
phases and statements running inside it). Self times add up: the outermost phase's self time is whatever no
inner phase claims, so a breakdown by self time is a sum of measured parts. With :meth:`Phases.sql` every
statement sent to an engine is a phase of its own (``before``/``after_cursor_execute``: driver plus database,
a network round trip on PostgreSQL), counted per kind and table; the driver's COMMIT and ROLLBACK (which no
cursor event sees) are wrapped at the dialect.

The wrappers cost a few microseconds per call (bench/engine.py prints the instrumented step beside the plain
one, measured in the same run). :meth:`restore` puts every original back.
"""

from __future__ import annotations

import collections
import functools
import re
import time

from sqlalchemy import event

_TABLE = re.compile(r"^\s*(?:SELECT\b.*?\bFROM|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I | re.S)


def statement_kind(statement: str) -> str:
    """``INSERT tasks``, ``SELECT instances``, ``BEGIN`` …: the verb and the first table a statement names."""
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
    found = _TABLE.match(statement)
    return f"{verb} {found.group(1)}" if found else verb


class Phases:
    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()
        self.wall: collections.Counter = collections.Counter()  # inclusive
        self.cpu: collections.Counter = collections.Counter()
        self.self_wall: collections.Counter = collections.Counter()  # minus the phases inside
        self.self_cpu: collections.Counter = collections.Counter()
        self.counting = True  # whether statements are counted now (a caller may count only some transactions)
        self.statements: collections.Counter = collections.Counter()  # statement kind -> count
        self.executemany: collections.Counter = collections.Counter()  # statement kind -> executemany calls
        self._stack: list[list[float]] = []  # per open phase: [child wall, child cpu]
        self._undo: list = []
        self._sql_open: list = []

    # --- timing --------------------------------------------------------------------------------------------

    def _enter(self) -> tuple[float, float]:
        self._stack.append([0.0, 0.0])
        return time.perf_counter(), time.process_time()

    def _exit(self, label: str, started: tuple[float, float]) -> None:
        wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
        child_wall, child_cpu = self._stack.pop()
        self.calls[label] += 1
        self.wall[label] += wall
        self.cpu[label] += cpu
        self.self_wall[label] += wall - child_wall
        self.self_cpu[label] += cpu - child_cpu
        if self._stack:
            self._stack[-1][0] += wall
            self._stack[-1][1] += cpu

    def timed(self, fn, label: str):
        """``fn`` wrapped as the phase ``label``."""
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            started = self._enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._exit(label, started)
        return wrapper

    def wrap(self, owner, name: str, label: str) -> None:
        """Time every call of ``owner.name`` (looked up at call time by its callers) as ``label``."""
        original = getattr(owner, name)
        self._undo.append(lambda: setattr(owner, name, original))
        setattr(owner, name, self.timed(original, label))

    def wrap_in_list(self, hooks: list, fn, label: str) -> None:
        """Time a function registered in a list of hooks (e.g. ``engine.core.db``'s before-commit hooks)."""
        i = hooks.index(fn)
        hooks[i] = self.timed(fn, label)
        self._undo.append(lambda: hooks.__setitem__(i, fn))

    def sql(self, engine, label: str = "SQL statements (execute)") -> None:
        """Time every statement ``engine`` sends as the phase ``label``, and the driver's COMMIT/ROLLBACK."""
        def before(_conn, _cursor, statement, _params, _context, many):
            if self.counting:
                kind = statement_kind(statement)
                self.statements[kind] += 1
                if many:
                    self.executemany[kind] += 1
            self._sql_open.append(self._enter())

        def after(*_args):
            self._exit(label, self._sql_open.pop())

        def failed(_context):  # a statement that raised never reaches after_cursor_execute
            if self._sql_open:
                self._exit(label, self._sql_open.pop())

        for name, fn in (("before_cursor_execute", before), ("after_cursor_execute", after),
                         ("handle_error", failed)):
            event.listen(engine, name, fn)
            self._undo.append(functools.partial(event.remove, engine, name, fn))
        self.wrap(engine.dialect, "do_commit", "COMMIT (driver)")
        self.wrap(engine.dialect, "do_rollback", "ROLLBACK (driver)")

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()

    def __enter__(self) -> Phases:
        return self

    def __exit__(self, *_exc) -> None:
        self.restore()
