"""Database engine and the one way to open a transaction.

SQLite is the embedded default and PostgreSQL the production database. On SQLite we turn on WAL (readers
never block the writer), set ``busy_timeout`` (a second writer waits instead of failing at once) and open
every write transaction with ``BEGIN IMMEDIATE``: two writers serialise on the lock instead of both
reading the same revision and one failing late with "database is locked" in the middle of a commit.

The transaction begins at the session's first statement, not when the block is entered: the runtime runs
SpiffWorkflow (untrusted scripts) on a copy read through :func:`reading` and only then writes, so the
write lock is held for the write alone (a change that lost the race meanwhile is a revision conflict).

``synchronous=FULL``: a commit reported to a person survives a power cut too (NORMAL in WAL mode may lose
the last commits); its measured cost is in the README (``bench/sqlite_synchronous.py``). The database file
is created readable by its owner only (0600): it holds residents' names, addresses and phone numbers.
A full disk is reported as :class:`~engine.core.errors.StorageFull` (nothing of that change is written).
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.core import config
from engine.core.errors import StorageFull

_engines: dict[str, Engine] = {}
_lock = threading.Lock()

# Rooms above core that must act as a write transaction ends (the audit log seals the events appended in it
# into its Merkle tree and signs a checkpoint before the commit, then publishes it outside the database after).
_before_commit: list[Callable[[Session], None]] = []
_after_commit: list[Callable[[Session], None]] = []


def on_commit(before: Callable[[Session], None] | None = None, after: Callable[[Session], None] | None = None) -> None:
    """Register hooks run inside every write transaction just before it commits, and after it committed."""
    for hooks, fn in ((_before_commit, before), (_after_commit, after)):
        if fn is not None and fn not in hooks:
            hooks.append(fn)


def get_engine(url: str | None = None) -> Engine:
    """One Engine per URL per process (connection pools are per process)."""
    url = url or config.database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _make_engine(url)
            _engines[url] = engine
        return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_private_file(path: str | os.PathLike) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite then opens it as a new database, and
    its ``-wal``/``-shm`` files take the same mode)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            create_private_file(database)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sync = synchronous()  # fixed per engine (a benchmark compares two engines in one process)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not pysqlite, decide when transactions start (see _begin below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            mode = conn.info.get("begin_mode", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    event.listen(engine, "checkout", _refuse_dead_connection)
    return engine


def _refuse_dead_connection(dbapi_conn, _record, _proxy) -> None:
    """A pooled PostgreSQL connection the server has ended is replaced at checkout, without a round trip.

    ``pool_pre_ping`` sent ``SELECT 1`` on every checkout: one round trip per transaction (about 9 % of an
    API call). An idle connection has nothing to read, so when its socket is readable the server has sent
    something unasked — the FATAL of ``pg_terminate_backend``, a restart's goodbye, or the EOF of a closed
    socket — and the connection is given up: ``DisconnectionError`` makes the pool discard it and check out
    another (a new one if need be). A connection that dies silently (the network, not the server) fails its
    first statement instead; SQLAlchemy then invalidates the whole pool, so the next request reconnects.
    A rare unasked message that is harmless (a configuration reload's ParameterStatus) costs one reconnect.
    """
    if dbapi_conn.closed or dbapi_conn.info.transaction_status.name == "UNKNOWN":
        raise DisconnectionError("connection closed")
    try:
        readable, _, _ = select.select([dbapi_conn.fileno()], [], [], 0)
    except (OSError, ValueError) as exc:
        raise DisconnectionError("connection socket gone") from exc
    if readable:
        raise DisconnectionError("server ended the connection")


def refresh_statistics(url: str | None = None) -> None:
    """Keep the query planner's statistics current: SQLite never gathers them by itself, and without them
    it picks the wrong index as tables grow (at 100k requests each timer firing read every armed clock).
    A sampled ``ANALYZE`` (``analysis_limit``) takes milliseconds even on a large file; run at start-up of
    ``serve`` and ``scheduler``, hourly by the scheduler, and after migrations. PostgreSQL's autovacuum
    analyzes by itself."""
    engine = get_engine(url)
    if not is_sqlite(engine):
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("PRAGMA optimize")
        # The connection began a transaction (our engine BEGINs on first use): without this COMMIT the
        # statistics were rolled back when the connection closed, and the planner never saw them.
        conn.commit()


def synchronous() -> str:
    """SQLite's ``synchronous`` setting: FULL unless ``LIYUAN_SQLITE_SYNCHRONOUS`` says NORMAL (benchmarks)."""
    value = os.environ.get("LIYUAN_SQLITE_SYNCHRONOUS", "FULL").upper()
    if value not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError(f"LIYUAN_SQLITE_SYNCHRONOUS 只能是 FULL、NORMAL 或 EXTRA，当前为 {value!r}")
    return value


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(url: str | None = None, *, write: bool = True, connection: Connection | None = None) -> Iterator[Session]:
    """Open one transaction, committed when the block ends. It begins at the session's first statement;
    a write transaction then takes SQLite's write lock at once (BEGIN IMMEDIATE).

    ``connection``: run it on a connection the caller holds across many short transactions (the timer
    poller: no pool checkout per firing); it is left open.
    """
    engine = get_engine(url) if connection is None else connection.engine
    conn = engine.connect() if connection is None else connection
    try:
        if write and is_sqlite(engine):
            conn.info["begin_mode"] = "IMMEDIATE"
        with Session(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only") as session:
            try:
                yield session
                session.flush()
                for hook in _before_commit:
                    hook(session)
                session.commit()
                for hook in _after_commit:
                    hook(session)
            except OperationalError as exc:
                session.rollback()
                if _disk_full(exc):
                    raise StorageFull() from exc
                raise
            except BaseException:
                session.rollback()
                raise
    finally:
        conn.info.pop("begin_mode", None)
        if connection is None:
            conn.close()


def _disk_full(exc: OperationalError) -> bool:
    """SQLite's SQLITE_FULL (disk, quota or ``max_page_count``), PostgreSQL's disk_full (53100)."""
    if getattr(exc.orig, "sqlstate", None) == "53100":
        return True
    text = str(exc.orig).lower()
    return "database or disk is full" in text or "no space left on device" in text


def began(session: Session) -> bool:
    """Whether the session's transaction has started on the database (on SQLite: holds the write lock)."""
    bind = session.get_bind()
    return not isinstance(bind, Connection) or bind.in_transaction()


@contextmanager
def reading(session: Session) -> Iterator[Session]:
    """Where to read what a change is computed from: a snapshot on another connection while ``session``
    has not begun (so its write lock is not taken for reading and running scripts), else ``session``
    itself (it already holds the lock, and may hold rows a snapshot could not see)."""
    if began(session):
        yield session
        return
    bind = session.get_bind()
    with Session(bind=bind.engine, expire_on_commit=False) as snapshot:
        yield snapshot


def read_session(url: str | None = None) -> Session:
    """A plain session for reads (lists, reports). Caller closes it (use as a context manager)."""
    return _session_factory(get_engine(url))()
