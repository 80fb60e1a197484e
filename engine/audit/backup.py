"""A consistent copy of the embedded SQLite database, taken while the server runs, and proven sound.

The embedded deployment keeps everything in one file (``var/liyuan.db``); copying that file with ``cp``
while the server writes can catch a half-written page or miss the WAL. SQLite's online backup API copies
a consistent snapshot instead. The copy is written to a temporary file beside the target and renamed
into place only after it passed ``PRAGMA integrity_check``, so a backup file that exists is a backup that
opens. Its audit hash chains are verified too; a broken chain is reported, but the copy is kept — it is
the evidence an auditor needs. PostgreSQL has its own tools (``pg_dump``).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from engine.audit import history
from engine.core import config
from engine.core.tables import Instance


class BackupError(Exception):
    """Why no backup was written (in Chinese: an admin reads it)."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    revision: str | None
    instances: int
    audit_rows: int
    breaks: tuple = ()  # history.Break of each broken audit chain in the copy


def backup_sqlite(target: Path, *, url: str | None = None, overwrite: bool = False) -> BackupResult:
    parsed = make_url(url or config.database_url())
    if parsed.get_backend_name() != "sqlite":
        raise BackupError("当前数据库是 PostgreSQL，请用 pg_dump 备份（例如 pg_dump -Fc 数据库名 > 备份文件）")
    source = parsed.database
    if not source or source == ":memory:" or not Path(source).exists():
        raise BackupError(f"找不到数据库文件：{source}")
    target = Path(target)
    if target.exists() and not overwrite:
        raise BackupError(f"目标文件已存在：{target}（如需覆盖请加 --force）")
    if target.resolve() == Path(source).resolve():
        raise BackupError("备份文件不能是数据库文件本身")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        _copy(source, tmp)
        result = _check(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return BackupResult(target, target.stat().st_size, result.revision, result.instances, result.audit_rows,
                        result.breaks)


def _copy(source: str, tmp: str) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(tmp)
    try:
        with dst:
            src.backup(dst)  # a consistent snapshot, even while the server writes
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()


def _check(copy: Path) -> BackupResult:
    conn = sqlite3.connect(copy)
    try:
        status = conn.execute("PRAGMA integrity_check").fetchone()[0]
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"备份文件无法读取：{exc}") from exc
    finally:
        conn.close()
    if status != "ok":
        raise BackupError(f"备份文件完整性检查失败：{status}")
    engine = create_engine(f"sqlite:///{copy}")
    try:
        with Session(engine) as session:
            rows, breaks = history.verify(session)
            instances = session.scalar(select(func.count()).select_from(Instance)) or 0
    finally:
        engine.dispose()
    return BackupResult(copy, copy.stat().st_size, revision[0] if revision else None, instances, rows,
                        tuple(breaks))
