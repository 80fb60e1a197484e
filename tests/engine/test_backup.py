"""`liyuan db backup`: a consistent, verified copy of the embedded SQLite database, taken while it runs."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from engine.audit import backup, history
from engine.core import db
from engine.core.tables import Instance
from tests.engine.helpers import complete, start
from webapp.cli import main

# The embedded database is SQLite; PostgreSQL is backed up with pg_dump (the command says so, tested below).
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _count(path) -> int:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(Instance))
    finally:
        engine.dispose()


def test_a_backup_taken_while_requests_come_in_is_consistent_verified_and_one_file(deployed, db_url, tmp_path,
                                                                                   capsys):
    for _ in range(3):
        complete(start(), "record", {"category": "b", "summary": "厨房漏水"})
    stop = threading.Event()

    def keep_writing():
        while not stop.is_set():
            start()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        assert main(["db", "backup", str(tmp_path / "nightly" / "liyuan.db")]) == 0
    finally:
        stop.set()
        writer.join()
    out = capsys.readouterr().out
    assert "ok: integrity check passed, every audit chain verified" in out
    copy = tmp_path / "nightly" / "liyuan.db"
    assert [p.name for p in copy.parent.iterdir()] == ["liyuan.db"]  # no -wal, no leftover temp file
    assert _count(copy) >= 3
    engine = create_engine(f"sqlite:///{copy}")
    try:
        with Session(engine) as session:
            rows, breaks = history.verify(session)
    finally:
        engine.dispose()
    assert rows > 0 and breaks == []
    assert f"{_count(copy)} instance(s)" in out


def test_an_existing_file_is_not_overwritten_without_force_and_postgresql_is_pointed_to_pg_dump(
        deployed, db_url, tmp_path, capsys, monkeypatch):
    start()
    target = tmp_path / "b.db"
    target.write_bytes(b"yesterday's backup")
    assert main(["db", "backup", str(target)]) == 2
    assert "目标文件已存在" in capsys.readouterr().err and target.read_bytes() == b"yesterday's backup"
    assert main(["db", "backup", str(target), "--force"]) == 0
    assert _count(target) == 1
    monkeypatch.setenv("LIYUAN_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert main(["db", "backup", str(tmp_path / "pg.db")]) == 2
    assert "pg_dump" in capsys.readouterr().err and not (tmp_path / "pg.db").exists()


def test_a_tampered_audit_log_is_still_backed_up_as_evidence_but_reported(deployed, db_url, tmp_path, capsys):
    iid = start()
    complete(iid, "record", {"category": "g", "summary": "借用梯子"})
    with db.get_engine(db_url).begin() as conn:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET payload = replace(payload, '借用梯子', '借用电钻')"))
    assert main(["db", "backup", str(tmp_path / "evidence.db")]) == 1
    captured = capsys.readouterr()
    assert "BROKEN" in captured.out and "audit log was altered" in captured.err
    assert _count(tmp_path / "evidence.db") == 1


def test_a_copy_that_fails_the_integrity_check_is_never_left_behind(deployed, db_url, tmp_path, monkeypatch):
    start()

    def corrupt(_source, tmp):
        with open(tmp, "wb") as f:
            f.write(b"SQLite format 3\x00" + b"\x00" * 200)  # a header and nothing sound behind it

    monkeypatch.setattr(backup, "_copy", corrupt)
    with pytest.raises(backup.BackupError, match="备份文件"):
        backup.backup_sqlite(tmp_path / "backups" / "bad.db")
    assert list((tmp_path / "backups").iterdir()) == []  # neither the target nor the temporary copy
