"""Database engine and the one way to open a transaction.

SQLite is the embedded default and PostgreSQL the production database. On SQLite we turn on WAL (readers
never block the writer), set ``busy_timeout`` (a second writer waits instead of failing at once) and open
every write transaction with ``BEGIN IMMEDIATE``: the write lock is taken before we read the instance, so
two writers serialise on the lock instead of both reading the same revision and one failing late with
"database is locked" in the middle of a commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from engine.core import config

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


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not pysqlite, decide when transactions start (see _begin below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            mode = conn.info.pop("begin_mode", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(url: str | None = None, *, write: bool = True, connection: Connection | None = None) -> Iterator[Session]:
    """Open one transaction. Write transactions take SQLite's write lock up front (BEGIN IMMEDIATE).

    ``connection``: run it on a connection the caller holds across many short transactions (the timer
    poller: no pool checkout, and no PostgreSQL pre-ping, per firing); it is left open.
    """
    engine = get_engine(url) if connection is None else connection.engine
    conn = engine.connect() if connection is None else connection
    try:
        if write and is_sqlite(engine):
            conn.info["begin_mode"] = "IMMEDIATE"
        trans = conn.begin()
        with Session(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only") as session:
            try:
                yield session
                session.flush()
                for hook in _before_commit:
                    hook(session)
                trans.commit()
                for hook in _after_commit:
                    hook(session)
            except BaseException:
                if trans.is_active:  # the session may already have rolled it back (failed flush)
                    trans.rollback()
                raise
    finally:
        conn.info.pop("begin_mode", None)
        if connection is None:
            conn.close()


def read_session(url: str | None = None) -> Session:
    """A plain session for reads (lists, reports). Caller closes it (use as a context manager)."""
    return _session_factory(get_engine(url))()
