"""The instance row on the commit path: Core statements, compiled once, into and out of a plain object.

Every change loads one instance row and writes it back, so this is the hottest SQL in the engine. The
ORM mapping (:class:`~engine.core.tables.Instance`) stays for every other reader; here we use module-level
Core statements (SQLAlchemy caches their compiled form) and a plain :class:`InstanceRow`:

- load: one SELECT of the instance joined to its process version's identity (id, process id, number,
  fingerprint); ``FOR UPDATE`` of the instance row on PostgreSQL when the caller asks for the lock.
- write: ``UPDATE … SET revision = :rev + 1 … WHERE id = :id AND revision = :rev RETURNING <audit head>``.
  No row back means somebody else committed first: the caller raises ``Conflict`` (optimistic locking, as
  before). The same statement returns the instance's audit chain head (last seq and hash), read right
  after the revision check exactly as the separate SELECT in :func:`engine.audit.history.append_all` would, so
  the change's events need no extra round trip. It is only a starting point: the unique (chain, seq)
  constraint stays the backstop and :func:`engine.audit.history.verify` never trusts anything but the rows.
- a finished instance (completed or cancelled) keeps its state compressed: the row carries
  ``state = ''`` and ``state_packed = zlib(state)`` (:func:`pack`), a seventh to an eighth of the text. Its
  state never changes again (only a lawful erasure rewrites it, through :func:`write` like any change),
  so the one compression costs ~1 ms once and every later read ~0.3 ms to inflate (:func:`unpack`). The
  plain :class:`InstanceRow` always holds the text, so nothing above this module sees the difference;
  readers of the ORM row use :func:`state_of`.
- process versions are immutable, so their rows are cached per engine, keyed by everything the join
  returns (id, process id, number, fingerprint): a database recreated at the same URL cannot hit a stale
  entry unless it holds the very same version.
"""

from __future__ import annotations

import datetime as dt
import threading
import zlib
from dataclasses import dataclass, fields

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.core.tables import AuditEvent, Instance, ProcessVersion

_I = Instance.__table__
_PV = ProcessVersion.__table__
_A = AuditEvent.__table__


@dataclass
class InstanceRow:
    """The columns of one ``instances`` row, detached from any session."""

    id: str
    process_id: str
    version_id: int
    status: str
    revision: int
    state: str
    state_fingerprint: str
    started_by: str
    started_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None = None
    incident: str | None = None


FINISHED = frozenset({"completed", "cancelled"})
# zlib level 6: on the 1k scale build a finished help_request's 57 KB of state packs to 7.0 KB in 1.3 ms
# (level 1: 8.5 KB, level 9: 6.9 KB in 2.3 ms); inflating takes ~0.3 ms at any level.
LEVEL = 6

_COLUMNS = [f.name for f in fields(InstanceRow)]
_STORED = [*_COLUMNS, "state_packed"]
_WRITTEN = ("status", "state", "state_packed", "state_fingerprint", "updated_at", "completed_at",
            "version_id")  # version: migration

_LOAD = (select(*(_I.c[name] for name in _STORED), _PV.c.process_id.label("pv_process_id"),
                _PV.c.version.label("pv_version"), _PV.c.fingerprint.label("pv_fingerprint"))
         .join_from(_I, _PV, _I.c.version_id == _PV.c.id)
         .where(_I.c.id == bindparam("iid")))
_LOAD_LOCKED = _LOAD.with_for_update(of=_I)
_WRITE = (update(_I).where(_I.c.id == bindparam("b_id"), _I.c.revision == bindparam("b_rev"))
          .values(revision=bindparam("b_new_rev"), **{name: bindparam(f"b_{name}") for name in _WRITTEN})
          .returning(*(select(_A.c[name]).where(_A.c.chain == bindparam("b_id")).order_by(_A.c.seq.desc())
                       .limit(1).scalar_subquery().label(f"head_{name}") for name in ("seq", "hash"))))
_INSERT = insert(_I)
_VERSION = select(_PV).where(_PV.c.id == bindparam("vid"))

_versions: dict[tuple, ProcessVersion] = {}
_versions_lock = threading.Lock()


def pack(status: str, state: str) -> tuple[str, bytes | None]:
    """The (``state``, ``state_packed``) columns that store ``state`` for an instance in ``status``."""
    if status in FINISHED:
        return "", zlib.compress(state.encode(), LEVEL)
    return state, None


def unpack(state: str, packed: bytes | None) -> str:
    """The serialized workflow held by the (``state``, ``state_packed``) columns."""
    return zlib.decompress(packed).decode() if packed is not None else state


def state_of(instance: Instance) -> str:
    """The serialized workflow of an ORM ``Instance`` row, packed or not."""
    return unpack(instance.state, instance.state_packed)


def _stored(instance: InstanceRow) -> dict:
    """The row's columns as stored (the state packed when the instance is finished)."""
    values = {name: getattr(instance, name) for name in _COLUMNS}
    values["state"], values["state_packed"] = pack(instance.status, instance.state)
    return values


def connection(session: Session) -> Connection:
    """The session's connection, after flushing pending ORM changes (Core statements do not autoflush)."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()


def load(session: Session, instance_id: str, *, lock: bool = False) -> tuple[InstanceRow, ProcessVersion] | None:
    conn = connection(session)
    locked = lock and conn.dialect.name != "sqlite"  # SQLite: BEGIN IMMEDIATE already holds the write lock
    row = conn.execute(_LOAD_LOCKED if locked else _LOAD, {"iid": instance_id}).first()
    if row is None:
        return None
    m = row._mapping
    instance = InstanceRow(**{name: m[name] for name in _COLUMNS})
    instance.state = unpack(m["state"], m["state_packed"])
    return instance, _version(conn, (instance.version_id, m["pv_process_id"], m["pv_version"], m["pv_fingerprint"]))


def _version(conn: Connection, ident: tuple) -> ProcessVersion:
    key = (id(conn.engine), *ident)
    with _versions_lock:
        hit = _versions.get(key)
    if hit is not None:
        return hit
    values = dict(conn.execute(_VERSION, {"vid": ident[0]}).one()._mapping)
    version = ProcessVersion(**values)  # transient: never attached, never expired
    with _versions_lock:
        if len(_versions) > 1024:
            _versions.clear()
        _versions[key] = version
    return version


def insert_new(session: Session, instance: InstanceRow) -> None:
    connection(session).execute(_INSERT, [_stored(instance)])


def write(session: Session, instance: InstanceRow) -> tuple[int, str] | None | bool:
    """Write the changed columns with ``revision + 1`` if nobody else did first.

    Returns False on a lost race; otherwise the chain head (seq, hash), or None when the chain is empty.
    """
    stored = _stored(instance)
    params = {f"b_{name}": stored[name] for name in _WRITTEN}
    params.update(b_id=instance.id, b_rev=instance.revision, b_new_rev=instance.revision + 1)
    row = connection(session).execute(_WRITE, params).first()
    if row is None:
        return False
    instance.revision += 1
    _refresh_mapped(session, instance, stored)
    return None if row.head_seq is None else (row.head_seq, row.head_hash)


def _refresh_mapped(session: Session, instance: InstanceRow, stored: dict) -> None:
    """Keep an ORM ``Instance`` of the same row that this session already holds in step with the write
    (its next ORM flush must carry the new revision; its columns hold what the row holds)."""
    mapped = session.identity_map.get(session.identity_key(Instance, (instance.id,)))
    if mapped is None:
        return
    set_committed_value(mapped, "revision", instance.revision)
    for name in _WRITTEN:
        set_committed_value(mapped, name, stored[name])
