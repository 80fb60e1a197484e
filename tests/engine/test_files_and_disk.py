"""Files and durability (issue 12, item 9): private files, synchronous=FULL, and a full disk that loses
nothing committed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text

from engine.audit import backup, history
from engine.core import config, db, errors
from engine.core.tables import Instance
from tests.engine.helpers import start


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_embedded_database_and_its_wal_are_readable_by_their_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("LIYUAN_DATABASE_URL", raising=False)
    monkeypatch.setenv("LIYUAN_VAR_DIR", str(tmp_path / "var"))
    old = os.umask(0o022)  # the usual umask, under which SQLite would create 0644 files
    try:
        url = config.database_url()
        with db.transaction(url) as session:
            session.execute(text("CREATE TABLE residents (name TEXT)"))
            session.execute(text("INSERT INTO residents VALUES ('张三')"))
        files = sorted((tmp_path / "var").iterdir())
        assert {f.name for f in files} >= {"liyuan.db", "liyuan.db-wal", "liyuan.db-shm"}
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert _mode(tmp_path / "var") == 0o700
    finally:
        os.umask(old)
        engine = db._engines.pop(url, None)
        if engine is not None:
            engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_backups_are_readable_by_their_owner_only(deployed, db_url, tmp_path):
    start()
    old = os.umask(0o022)
    try:
        result = backup.backup_sqlite(tmp_path / "backups" / "liyuan-backup.db", url=db_url)
    finally:
        os.umask(old)
    assert result.instances == 1
    assert _mode(result.path) == 0o600


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_commits_with_synchronous_full(db_url):
    with db.read_session() as session:
        assert session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_full_disk_is_a_clear_error_and_loses_nothing_committed(deployed, db_url):
    engine = db.get_engine(db_url)
    with engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar()

    def small_disk(dbapi_conn, _record):  # the file may not grow beyond a few more pages
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + 12}")

    engine.dispose()
    event.listen(engine, "connect", small_disk)
    committed, refusal = [], None
    try:
        for _ in range(200):
            try:
                committed.append(start())
            except errors.StorageFull as exc:
                refusal = exc
                break
    finally:
        event.remove(engine, "connect", small_disk)
        engine.dispose()

    assert refusal is not None and committed, "the disk should have filled up after some requests"
    assert refusal.status == 507 and "存储空间已满" in refusal.message and "未保存" in refusal.message
    with db.read_session() as session:
        assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert set(session.scalars(select(Instance.id))) == set(committed)  # every commit kept, no half write
        rows, breaks = history.verify(session)
        assert rows > 0 and breaks == []
    committed.append(start())  # room again: the server carries on
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == len(committed)
