"""One append-only Merkle tree over every audit event, and its signed checkpoints.

Each write transaction's events become the next leaves as it commits (:func:`seal`, registered as a
before-commit hook of :func:`engine.core.db.transaction`), in one global order: on PostgreSQL the order is
assigned under a single lock, the row lock on ``audit_tree_head`` (``SELECT … FOR UPDATE``), taken last in
the transaction so it is held only while the commit seals; on SQLite ``BEGIN IMMEDIATE`` already serialises
every writer. A trigger refuses a leaf that is not the next one. With a signing key configured, the same
transaction stores a checkpoint (tree size, root, time, Ed25519 signature) and, once committed, appends it to
the checkpoint file outside the database (:func:`publish`) — so there is one checkpoint per committed change.
"""

from __future__ import annotations

import json
import logging
import os

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.audit import merkle, signing, witness
from engine.core import clock, db
from engine.core.tables import AuditCheckpoint, AuditEvent, AuditLeaf, AuditTreeHead

log = logging.getLogger(__name__)


def _frontier_load(text: str) -> list[tuple[int, bytes]]:
    return [(h, bytes.fromhex(x)) for h, x in json.loads(text)]


def _frontier_dump(frontier: list[tuple[int, bytes]]) -> str:
    return json.dumps([[h, x.hex()] for h, x in frontier])


# Built once (SQLAlchemy caches their compiled form): this runs as every write transaction commits.
_HEAD = select(AuditTreeHead.size, AuditTreeHead.frontier).where(AuditTreeHead.id == 1).with_for_update()
_LEAVES = insert(AuditLeaf)
_MOVE_HEAD = (update(AuditTreeHead).where(AuditTreeHead.id == 1)
              .values(size=bindparam("size"), frontier=bindparam("frontier")))


def _lock_head(session: Session):
    """The tree head row, locked: the one lock that orders leaves on PostgreSQL (FOR UPDATE is not
    rendered on SQLite, whose write transaction already excludes every other writer)."""
    conn = session.connection()
    head = conn.execute(_HEAD).first()
    if head is None:  # a fresh (or truncated) database: create the empty head, once, whoever comes first
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(AuditTreeHead).values(id=1, size=0, frontier="[]").on_conflict_do_nothing())
        head = conn.execute(_HEAD).first()
    return head


def seal(session: Session) -> None:
    """Make this transaction's events the next leaves, and sign the new tree head if a key is configured.

    The events are the (id, hash) pairs :func:`engine.audit.history.append_all` got back from its INSERT
    (``RETURNING id``), in append order: nothing is read back here but the tree head."""
    events = session.info.pop("audit_pending", None)
    if not events:
        return
    conn = session.connection()
    size, frontier_text = _lock_head(session)
    frontier = _frontier_load(frontier_text)
    for _event_id, event_hash in events:
        merkle.push(frontier, merkle.event_leaf(event_hash))
    conn.execute(_LEAVES, [{"leaf": size + i, "event_id": e[0]} for i, e in enumerate(events)])
    size += len(events)
    conn.execute(_MOVE_HEAD, {"size": size, "frontier": _frontier_dump(frontier)})
    key = signing.private_key()
    if key is None:
        return
    root = merkle.root(frontier).hex()
    at = clock.now().astimezone(clock.UTC).isoformat(timespec="seconds")
    row = {"tree_size": size, "root": root, "at": at, "key_id": signing.key_id(key.public_key()),
           "signature": signing.sign(key, size, root, at)}
    conn.execute(insert(AuditCheckpoint), [row])
    session.info["audit_checkpoint"] = dict(row, public_key=signing.public_b64(key.public_key()))


def publish(session: Session) -> None:
    """Append the committed checkpoint to the file outside the database (opened O_APPEND, one JSON line).
    A failure here loses no evidence the database does not hold; it is logged, and the next commit's
    checkpoint covers every earlier leaf."""
    row = session.info.pop("audit_checkpoint", None)
    if row is None:
        return
    try:
        append_published(row)
    except OSError as exc:
        log.warning("could not append checkpoint %s to %s: %s", row["tree_size"], signing.checkpoint_file(), exc)
    witness.send(row)  # queued for the HTTP witness, if one is configured; never blocks the commit


def append_published(row: dict) -> None:
    """One JSON line appended to the published file (O_APPEND: a line is never rewritten in place)."""
    path = signing.checkpoint_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")


db.on_commit(before=seal, after=publish)


def published(path=None) -> list[dict]:
    """Checkpoints in the file outside the database (a line that is not JSON is reported by verify)."""
    path = path or signing.checkpoint_file()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for number, line in enumerate(lines, start=1):
        try:
            out.append(dict(json.loads(line), source=f"{path.name}:{number}"))
        except ValueError:
            out.append({"source": f"{path.name}:{number}", "unreadable": line[:80]})
    return out


def current_root(session: Session) -> tuple[int, str]:
    """(size, root hex) of the tree as the database's leaves make it, recomputed: never the head row's word."""
    frontier: list = []
    for event_hash in session.scalars(select(AuditEvent.hash).join(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
                                      .order_by(AuditLeaf.leaf).execution_options(yield_per=5000)):
        merkle.push(frontier, merkle.event_leaf(event_hash))
    return sum(1 << h for h, _x in frontier), merkle.root(frontier).hex()


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)).first()


def inclusion(session: Session, event_ids: list[int]) -> tuple[dict | None, dict[int, tuple[int, list[str]]]]:
    """The latest signed checkpoint covering every one of ``event_ids``, and for each event its leaf
    number and RFC 9162 inclusion proof (hex, leaf side first) in the tree of that checkpoint's size.

    Building the proofs reads the first ``tree_size`` leaf hashes once: an export, not a hot path.
    """
    leaves = dict(session.execute(select(AuditLeaf.event_id, AuditLeaf.leaf).where(AuditLeaf.event_id.in_(event_ids))).all())
    checkpoint = latest_checkpoint(session)
    if checkpoint is None or not leaves or len(leaves) < len(event_ids) or max(leaves.values()) >= checkpoint.tree_size:
        return None, {}
    key = signing.private_key()
    hashes = [merkle.event_leaf(h) for h in session.scalars(
        select(AuditEvent.hash).join(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
        .where(AuditLeaf.leaf < checkpoint.tree_size).order_by(AuditLeaf.leaf))]
    levels = merkle.levels(hashes)
    proofs = {eid: (leaf, [p.hex() for p in merkle.inclusion_proof(levels, leaf)]) for eid, leaf in leaves.items()}
    published = {"tree_size": checkpoint.tree_size, "root": checkpoint.root, "at": checkpoint.at,
                 "key_id": checkpoint.key_id, "signature": checkpoint.signature,
                 "signed_text": signing.checkpoint_text(checkpoint.tree_size, checkpoint.root, checkpoint.at).decode(),
                 "public_key": signing.public_b64(key.public_key())
                 if key is not None and signing.key_id(key.public_key()) == checkpoint.key_id else None}
    return published, proofs
