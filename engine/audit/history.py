"""The append-only audit log and its per-chain hash chain.

Each row's ``hash = sha256(prev_hash + canonical row)``, where the canonical row is a fixed JSON rendering
of every column but the hash. Changing, inserting or deleting any row breaks the chain from that row on,
and :func:`verify` names the first broken row. Rows are only ever inserted (the migration also installs
triggers that refuse UPDATE and DELETE); the chain is what catches someone who drops the triggers.

The payload keeps the *input* that caused the event (form data, start data, fire time) so that an instance
can be re-run from its pinned version and compared, event by event, with the recorded state fingerprints.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, event, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from engine.core import clock
from engine.core.tables import AuditEvent

GENESIS = "0" * 64


# One encoder, built once: ``json.dumps`` with options builds a new one per call, a visible cost when replay
# fingerprints every task's data after every step. Same output as ``json.dumps`` with these options.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def _at(value: dt.datetime) -> str:
    return clock.as_utc(value).isoformat(timespec="microseconds")


_HASHED = ("chain", "seq", "at", "actor", "kind", "element_id", "payload", "state_fingerprint")


def canonical_row(row: AuditEvent | dict) -> str:
    """Every column but ``id``, ``prev_hash`` and ``hash``, in a fixed JSON rendering."""
    values = {k: (row[k] if isinstance(row, dict) else getattr(row, k)) for k in _HASHED}
    values["at"] = _at(values["at"])
    return canonical_json(values)


def row_hash(prev_hash: str, row: AuditEvent | dict) -> str:
    return hashlib.sha256((prev_hash + canonical_row(row)).encode()).hexdigest()


def append(session: Session, chain: str, actor: str, kind: str, *, element_id: str | None = None,
           payload: dict | None = None, state_fingerprint: str | None = None,
           at: dt.datetime | None = None) -> dict:
    """Append one event to ``chain`` inside the caller's transaction.

    The caller already holds the instance's write (revision check) for instance chains, so reading the
    chain's head here cannot race; the unique (chain, seq) constraint is the backstop. The head is
    remembered in ``session.info`` for the rest of the transaction (cleared on commit and rollback).
    """
    return append_all(session, chain, [dict(actor=actor, kind=kind, element_id=element_id, payload=payload)],
                      state_fingerprint=state_fingerprint, at=at)[0]


# How often an appender without the instance's write tries again after losing the chain's next position.
ATTEMPTS = 5


def append_once(session: Session, chain: str, actor: str, kind: str, **fields) -> dict:
    """Append one event for a change that holds no write of the chain's instance (claim, release, 派单,
    催单): such a change reads the chain's head unguarded, so a concurrent append (a task completed, a
    timer fired, a phone number's calls linked) can take the next position first, and the unique key or
    the in-order trigger refuses this event. It then runs again from the new head in its own savepoint,
    so it is written once, whole, and the person sees their change done instead of a 500."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with session.begin_nested():
                return append(session, chain, actor, kind, **fields)
        except DBAPIError as exc:
            if attempt == ATTEMPTS or not lost_chain_race(exc):
                raise
            session.info.get("audit_heads", {}).pop(chain, None)  # read again, after the winner's commit
    raise AssertionError("unreachable")


# Who hears every appended event in the appender's transaction (as Camunda's history event handlers do): the
# help desk's notices write the outbox messages an event causes, so a change and its messages commit or
# roll back together, whichever room appended the event (the runtime, the inbox's 派单, the portal's 催单).
_listeners: list = []


def add_listener(listener) -> None:
    """``listener(session, chain, rows)`` is called after each append with the rows just written (dicts:
    actor, kind, element_id, payload as canonical JSON …). Idempotent."""
    if listener not in _listeners:
        _listeners.append(listener)


_HEAD = (select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.chain == bindparam("chain"))
         .order_by(AuditEvent.seq.desc()).limit(1))
# RETURNING the new rows' ids, so that the Merkle seal as the transaction commits need not read them back
# (engine.audit.tree.seal): one statement less per change. Several rows go in one multi-row INSERT; the rows
# it returns may come in any order, so each carries its seq.
_INSERT = insert(AuditEvent.__table__).returning(AuditEvent.__table__.c.seq, AuditEvent.__table__.c.id)


def known_head(session: Session, chain: str, head: tuple[int, str] | None) -> None:
    """Tell this transaction where ``chain`` ends (seq, hash; None: empty), read by the caller under its
    write (see :func:`engine.runtime.store.write`), so the next append need not SELECT it. An append earlier in
    the transaction wins."""
    session.info.setdefault("audit_heads", {}).setdefault(chain, head or (0, GENESIS))


def append_all(session: Session, chain: str, events: list[dict], *, state_fingerprint: str | None = None,
               at: dt.datetime | None = None) -> list[dict]:
    """Append several events (each: actor, kind, element_id, payload) to ``chain`` with one INSERT."""
    heads = session.info.setdefault("audit_heads", {})
    head = heads.get(chain)
    if head is None:
        head = session.connection().execute(_HEAD, {"chain": chain}).first()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS)
    moment = (at or clock.now()).astimezone(dt.UTC)
    rows = []
    for e in events:
        seq += 1
        row = {"chain": chain, "seq": seq, "at": moment, "actor": e["actor"], "kind": e["kind"],
               "element_id": e.get("element_id"), "payload": canonical_json(e.get("payload") or {}),
               "state_fingerprint": state_fingerprint, "prev_hash": prev}
        row["hash"] = prev = row_hash(prev, row)
        rows.append(row)
    # A Core INSERT, not ORM objects: events are write-once, and this is on every change's hot path.
    ids = dict(session.connection().execute(_INSERT, rows).all())  # seq -> id
    # Later appends in this transaction continue from here without re-reading the chain's head.
    heads[chain] = (seq, prev)
    # Sealed into the Merkle tree as the transaction commits (engine.audit.tree.seal): (event id, hash) in
    # append order. A savepoint rolled back takes its entries with it (_forget_rolled_back).
    session.info.setdefault("audit_pending", []).extend((ids[r["seq"]], r["hash"]) for r in rows)
    for listener in _listeners:
        listener(session, chain, rows)
    return rows


# The migrations' in-order trigger (0009) refuses an event that is not its chain's next; its message:
_ORDER_REFUSED = "not the next event of its chain"


def lost_chain_race(exc: DBAPIError) -> bool:
    """Whether a failed append lost the chain's next position to another transaction: the unique
    (chain, seq) key (the other append was not yet committed when this one read the head) or the in-order
    trigger (it was). Either way the append can run again from the chain's new head; anything else cannot."""
    text = str(exc.orig)
    if _ORDER_REFUSED in text:
        return True
    return isinstance(exc, IntegrityError) and "audit_events" in text


@event.listens_for(Session, "after_transaction_end")
def _forget_heads(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop("audit_heads", None)
        session.info.pop("audit_pending", None)
        session.info.pop("audit_savepoints", None)


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session, transaction) -> None:
    """Remember how many events were pending when a savepoint began (see :func:`_forget_rolled_back`)."""
    if transaction.nested:
        marks = session.info.setdefault("audit_savepoints", {})
        marks[id(transaction)] = len(session.info.get("audit_pending", ()))


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction) -> None:
    """A savepoint rolled back removed its events: they must not become leaves of the tree."""
    if previous_transaction.nested:
        mark = session.info.get("audit_savepoints", {}).pop(id(previous_transaction), None)
        pending = session.info.get("audit_pending")
        if mark is not None and pending is not None:
            del pending[mark:]


def events(session: Session, chain: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)))


@dataclass(frozen=True)
class Break:
    chain: str
    seq: int
    row_id: int
    reason: str

    def __str__(self) -> str:
        return f"chain {self.chain} row #{self.row_id} (seq {self.seq}): {self.reason}"


def _walk(rows: Iterator[AuditEvent]) -> Iterator[Break]:
    expected: dict[str, tuple[int, str]] = {}
    for row in rows:
        seq, prev = expected.get(row.chain, (1, GENESIS))
        if row.seq != seq:
            yield Break(row.chain, row.seq, row.id, f"expected seq {seq}: a row is missing or was inserted")
        elif row.prev_hash != prev:
            yield Break(row.chain, row.seq, row.id, "prev_hash does not match the previous row's hash")
        elif row.hash != row_hash(prev, row):
            yield Break(row.chain, row.seq, row.id, "hash does not match the row's content: the row was altered")
        expected[row.chain] = (row.seq + 1, row.hash)


def check_chain(rows: list[AuditEvent]) -> Iterator[Break]:
    """The breaks in one chain's rows, already read in ``seq`` order (a caller that reads many chains'
    events in one query checks each here instead of reading it again)."""
    return _walk(iter(rows))


def verify(session: Session, chain: str | None = None) -> tuple[int, list[Break]]:
    """Recompute every chain (or one). Returns (rows checked, first break of each broken chain)."""
    # plain rows, not ORM objects: this reads every event of the log
    query = select(*AuditEvent.__table__.c).order_by(AuditEvent.chain, AuditEvent.seq)
    if chain is not None:
        query = query.where(AuditEvent.chain == chain)
    count = 0
    broken: dict[str, Break] = {}

    def counted():
        nonlocal count
        for row in session.execute(query.execution_options(yield_per=5000)):
            count += 1
            yield row

    for brk in _walk(counted()):
        broken.setdefault(brk.chain, brk)
    return count, sorted(broken.values(), key=lambda b: b.row_id)


def payload_of(row: AuditEvent) -> dict:
    return json.loads(row.payload)
