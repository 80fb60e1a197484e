"""Witnesses: copies of the signed checkpoints kept by someone the database's writer does not control.

Two ways out, both optional. **Push**: with ``LIYUAN_AUDIT_WITNESS_URL`` set, every checkpoint committed is
POSTed there as JSON by one background thread (:func:`send`). The commit never waits for it and never fails
because of it: a witness that is down or refuses is logged, and everything it has not acknowledged is sent
again, in order, with the next checkpoint. **Pull**: the web app serves the checkpoints as JSON lines and RFC
9162 consistency proofs between two tree sizes (:func:`consistency`); ``liyuan audit witness --url`` keeps
a local copy and :func:`check` compares a server's answer with it — a checkpoint the copy holds must still be
served with the same root, and the newest tree must be proven to extend the newest one the copy holds. A
tree rewritten and re-signed by someone holding the key therefore still shows.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import merkle, signing
from engine.core.tables import AuditCheckpoint, AuditEvent, AuditLeaf

log = logging.getLogger(__name__)
URL_ENV = "LIYUAN_AUDIT_WITNESS_URL"
TIMEOUT = 5.0  # seconds per POST, on the sender thread only
RESTORE_CHAIN = "audit"  # the chain :mod:`engine.audit.keys` writes restore records to
MAX_PENDING = 10_000  # beyond this the oldest unsent are dropped (a witness can still pull them)


# --- push --------------------------------------------------------------------------------------------------

class _Sender:
    """One daemon thread POSTing queued checkpoints in order; what fails stays queued for the next round."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._busy = False
        self._stalled = False  # the last round failed: nothing is tried until the next checkpoint
        self._thread: threading.Thread | None = None

    def submit(self, url: str, row: dict) -> None:
        with self._lock:
            # a changed witness URL: what the old one never acknowledged is not sent to the new one
            self._pending = [(u, r) for u, r in self._pending if u == url]
            self._pending.append((url, row))
            self._stalled = False
            if len(self._pending) > MAX_PENDING:
                dropped = len(self._pending) - MAX_PENDING
                del self._pending[:dropped]
                log.warning("audit witness %s: %d unsent checkpoint(s) dropped from the queue", url, dropped)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-witness", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._wake.wait()
                batch = list(self._pending)
                self._busy = True
            sent = 0
            for url, row in batch:
                try:
                    _post(url, row)
                except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, a bad URL
                    log.warning("audit witness %s refused or unreachable (checkpoint %s, %d waiting): %s",
                                url, row.get("tree_size"), len(batch) - sent, exc)
                    break
                sent += 1
            with self._lock:
                del self._pending[:sent]
                self._busy = False
                self._wake.notify_all()
                if sent < len(batch):  # wait for the next checkpoint to try again
                    self._stalled = True
                    self._wake.notify_all()
                    while self._stalled:
                        self._wake.wait()

    def idle(self, timeout: float) -> bool:
        """Wait until one round has run and nothing new is being sent (tests; shutdown)."""
        with self._lock:
            return self._wake.wait_for(lambda: not self._busy and (not self._pending or self._stalled), timeout)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)


_sender = _Sender()


def _post(url: str, row: dict) -> None:
    import urllib.request  # here, not at import: only a configured witness pays for it at start-up

    body = json.dumps(row, sort_keys=True).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - the configured witness
        if not 200 <= response.status < 300:
            raise ValueError(f"HTTP {response.status}")


def send(row: dict) -> None:
    """Queue a committed checkpoint for the configured witness (no-op without ``LIYUAN_AUDIT_WITNESS_URL``)."""
    url = os.environ.get(URL_ENV)
    if url:
        _sender.submit(url, row)


def wait_sent(timeout: float = 10.0) -> int:
    """Let the sender finish its round; returns how many checkpoints are still unsent."""
    _sender.idle(timeout)
    return _sender.pending()


# --- pull: what the server answers -------------------------------------------------------------------------

def checkpoint_rows(session: Session, since: int = 0) -> list[dict]:
    """The signed checkpoints with a tree larger than ``since``, smallest first, as a witness stores them,
    then every signed restore record (:func:`engine.audit.keys.restored`, always all of them: they are few)
    with who recorded it — so a witness can tell a lawful restore from a rollback."""
    rows = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size > since)
                           .order_by(AuditCheckpoint.tree_size))
    out = [{"tree_size": c.tree_size, "root": c.root, "at": c.at, "key_id": c.key_id, "signature": c.signature}
           for c in rows]
    restores = session.scalars(select(AuditEvent).where(AuditEvent.chain == RESTORE_CHAIN,
                                                        AuditEvent.kind == "restored").order_by(AuditEvent.seq))
    out += [dict(json.loads(e.payload), actor=e.actor) for e in restores]
    return out


def consistency(session: Session, first: int, second: int) -> list[str]:
    """RFC 9162 consistency proof (hex) that the tree of ``second`` leaves extends that of ``first``, from the
    leaves in the database. Reads ``second`` leaf hashes: an occasional witness request, not a hot path."""
    if not 0 < first <= second:
        raise ValueError("需要 0 < first ≤ second")
    hashes = [merkle.event_leaf(h) for h in session.scalars(
        select(AuditEvent.hash).join(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
        .where(AuditLeaf.leaf < second).order_by(AuditLeaf.leaf))]
    if len(hashes) < second:
        raise ValueError(f"树中只有 {len(hashes)} 个叶子，少于 {second}")
    return [p.hex() for p in merkle.consistency_proof(hashes, first)]


# --- pull: what the witness checks -------------------------------------------------------------------------

def _restore_ok(public, row: dict) -> bool:
    try:
        public.verify(base64.b64decode(row["signature"]),
                      signing.restore_text(int(row["tree_size"]), row["root"], row["at"]))
    except (InvalidSignature, KeyError, ValueError):
        return False
    return True


def _restore_text(row: dict) -> str:
    return f"{row.get('at', '?')}，由 {row.get('actor', '?')} 签署，恢复到检查点（树大小 {row['tree_size']}，根 {row['root'][:16]}…）"


@dataclass
class Check:
    """What :func:`check` found: ``problems`` (an inconsistency: the copy is kept as evidence), ``new`` (lines
    to append to the copy: checkpoints, and restore records once accepted) and ``restores`` (each lawful
    restore seen for the first time, and the checkpoints of the history it discarded, said in Chinese)."""

    problems: list[str]
    new: list[dict]
    restores: list[str]


def _effective(local: list[dict]) -> dict[int, dict]:
    """The copy's checkpoints by tree size, read in order: a restore record kept in the copy drops those of
    larger trees before it (the history that restore discarded), so the new history may reuse their sizes."""
    kept: dict[int, dict] = {}
    for row in local:
        if row.get("record") == "restore":
            kept = {s: r for s, r in kept.items() if s <= int(row["tree_size"])}
        elif "record" not in row:
            kept[int(row["tree_size"])] = row
    return kept


def check(local: list[dict], remote: list[dict], proof_of: Callable[[int, int], list[str]],
          public_b64: str | None) -> Check:
    """Problems with a server's checkpoints against the witness's copy, and the new lines to append.

    ``proof_of(first, second)`` fetches a consistency proof from the server. Every checkpoint must be
    signed by the pinned key; every size the copy holds must still be served with its root; the newest
    served tree must extend the newest tree in the copy. A tree that went back to a smaller size is a
    rollback — unless the server serves a restore record, signed by the pinned key, "restored to checkpoint
    N" whose root is the copy's at N: the checkpoints beyond N are then the history that lawful restore
    discarded, reported with who signed it and when, and the newest tree must extend N.
    """
    problems: list[str] = []
    public = signing.load_public(public_b64) if public_b64 else None
    served: dict[int, dict] = {}
    seen_restores = {r.get("signature") for r in local if r.get("record") == "restore"}
    restores: list[dict] = []
    for row in remote:
        if row.get("record") == "restore":
            if row.get("signature") in seen_restores:
                continue
            if public is None:
                problems.append(f"服务器提供了恢复记录（{_restore_text(row)}），但未给出公钥，无法核对其签名")
            elif not _restore_ok(public, row):
                problems.append(f"服务器提供的恢复记录（树大小 {row.get('tree_size')}）签名无效：伪造的恢复")
            else:
                restores.append(row)
            continue
        if "record" in row:
            continue  # a record this witness does not know: nothing to compare
        size = int(row["tree_size"])
        if public is not None and not signing.signature_ok(public, size, row["root"], row["at"], row["signature"]):
            problems.append(f"服务器提供的检查点（树大小 {size}）签名无效：不是公布的公钥所签")
            continue
        served[size] = row
    kept = _effective(local)
    told: list[str] = []
    accepted: list[dict] = []
    for row in sorted(restores, key=lambda r: r["at"]):
        size = int(row["tree_size"])
        if size in kept and kept[size]["root"] != row["root"]:
            problems.append(f"恢复记录（{_restore_text(row)}）的根与本地副本中树大小 {size} 的不同：不是恢复到已签名的状态")
            continue
        dropped = sorted(s for s in kept if s > size)
        told.append(f"合法恢复：{_restore_text(row)}"
                    + (f"；本地副本中树大小 {dropped[0]}–{dropped[-1]} 的 {len(dropped)} 个检查点属于被此次恢复舍弃的历史"
                       if dropped else ""))
        kept = {s: r for s, r in kept.items() if s <= size}
        accepted.append(row)
    for size, row in sorted(kept.items()):
        now = served.get(size)
        if now is None:
            problems.append(f"服务器不再提供本地副本中树大小 {size} 的检查点：检查点被删除，日志可能被改写")
        elif now["root"] != row["root"]:
            problems.append(f"树大小 {size} 的根与本地副本不同（本地 {row['root'][:16]}…，服务器 {now['root'][:16]}…）："
                            "日志被改写后重新签名")
    new = [served[s] for s in sorted(served) if s not in kept]
    if kept and new:
        old_size = max(kept)
        newest = new[-1]
        if int(newest["tree_size"]) < old_size:
            problems.append(f"服务器最新的树（大小 {newest['tree_size']}）比本地副本中的（{old_size}）还小：日志被回退")
        else:
            try:
                proof = [bytes.fromhex(p) for p in proof_of(old_size, int(newest["tree_size"]))]
            except (OSError, ValueError, KeyError) as exc:
                problems.append(f"无法取得树大小 {old_size} 到 {newest['tree_size']} 的一致性证明：{exc}")
            else:
                if not merkle.verify_consistency(old_size, int(newest["tree_size"]),
                                                 bytes.fromhex(kept[old_size]["root"]),
                                                 bytes.fromhex(newest["root"]), proof):
                    problems.append(f"树大小 {newest['tree_size']} 的树不是本地副本中树大小 {old_size} 的延续"
                                    "（一致性证明不成立）：此前的日志被改写")
    return Check(problems, accepted + new, told)
