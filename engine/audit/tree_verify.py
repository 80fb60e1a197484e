"""Checking the Merkle tree against its signed checkpoints — what catches a forger who rewrote the chains.

A forger with write access can recompute every chain hash, delete the last events of an instance or an
instance with all its events, and append events with the right sequence and hashes. None of that survives
this check: every event must be a leaf, the leaves must be numbered 0, 1, 2 … without a gap, every signed
checkpoint (in the database *and* in the file outside it) must carry a valid signature by our key and
match the root recomputed from the leaves at its size — which is also the consistency of each checkpoint
with every earlier one — and no leaf may lie beyond the last signed checkpoint.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit import history, keys, merkle, signing, tree
from engine.core.tables import AuditCheckpoint, AuditEvent, AuditLeaf, Instance


@dataclass(frozen=True)
class Problem:
    """One finding; ``chain``/``seq`` name the first event affected when it is known."""

    message: str
    chain: str | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = f"（首个受影响的事件：{self.chain} 第 {self.seq} 条）" if self.chain is not None else ""
        return self.message + where


@dataclass
class TreeReport:
    leaves: int
    checkpoints: int
    signed_up_to: int
    problems: list[Problem]
    superseded: int = 0  # published checkpoints of a history a lawful restore discarded


def _records(session: Session, file_rows: list[dict]) -> list[tuple[int, dict]]:
    """Rotation and restore records with their place in the published file; one only the database holds
    (its file line was lost) counts as published last."""
    records = [(i, r) for i, r in enumerate(file_rows) if r.get("record")]
    seen = {r.get("signature") or r.get("new_signature") for _i, r in records}
    for event in session.scalars(select(AuditEvent).where(AuditEvent.chain == keys.CHAIN).order_by(AuditEvent.seq)):
        r = dict(history.payload_of(event), source=f"审计链 {keys.CHAIN} 第 {event.seq} 条")
        if r.get("record") and (r.get("signature") or r.get("new_signature")) not in seen:
            records.append((len(file_rows), r))
    return records


def _checkpoints(session: Session, anchor, file_rows: list[dict], problems: list[Problem]) -> tuple[dict[int, str], int]:
    """Signed roots by tree size, from the database and the published file, each signature checked against
    the keys in force (the anchor and its signed rotations). A published checkpoint for a larger tree than a
    later lawful restore kept belongs to the discarded history: counted, not compared."""
    trust = keys.trust(signing.public_b64(anchor), _records(session, file_rows))
    problems += [Problem(p) for p in trust.problems]
    roots: dict[int, tuple[str, str]] = {}
    db_rows = [dict(c._mapping, source="数据库") for c in session.execute(  # plain rows: one per committed change
        select(AuditCheckpoint.tree_size, AuditCheckpoint.root, AuditCheckpoint.at, AuditCheckpoint.key_id,
               AuditCheckpoint.signature).order_by(AuditCheckpoint.tree_size))]
    in_db = {r["tree_size"] for r in db_rows}
    superseded = 0
    checked = _signatures_ok(trust.keys, file_rows + db_rows)
    for position, row in list(enumerate(file_rows)) + [(None, r) for r in db_rows]:
        if "unreadable" in row:
            problems.append(Problem(f"检查点文件 {row['source']} 无法解析：文件被改动过"))
            continue
        if row.get("record"):
            continue
        size, root = int(row["tree_size"]), row["root"]
        if not checked[_signed(row)]:
            problems.append(Problem(f"检查点（树大小 {size}，来源 {row['source']}）的签名无效或不是本系统密钥所签"))
            continue
        if position is not None and any(p > position and size > int(r["tree_size"]) for p, r in trust.restores):
            superseded += 1
            continue
        if size in roots and roots[size][0] != root:
            problems.append(Problem(f"树大小 {size} 有两个不同的已签名根（{roots[size][1]} 与 {row['source']}）："
                                    "日志被分叉改写"))
        roots.setdefault(size, (root, row["source"]))
        if row["source"] != "数据库" and size not in in_db:
            problems.append(Problem(f"已发布的检查点（树大小 {size}）在数据库中不见了：检查点表被删改"))
    return {size: root for size, (root, _src) in roots.items()}, superseded


def _signed(row: dict) -> tuple:
    return row.get("key_id"), int(row["tree_size"]), row["root"], row["at"], row["signature"]


def _signatures_ok(keys_in_force: dict[str, str], rows: list[dict]) -> dict[tuple, bool]:
    """Whether each checkpoint's signature is valid under the key it names, each distinct signature checked
    once (the file repeats the database's checkpoints). There is one checkpoint per committed change, so
    at scale this is most of the tree check: the checks run on every core (OpenSSL releases the GIL)."""
    todo = {_signed(r) for r in rows if "unreadable" not in r and not r.get("record")}
    publics = {kid: signing.load_public(text) for kid, text in keys_in_force.items()}

    def check(part: list[tuple]) -> list[bool]:
        return [(public := publics.get(s[0])) is not None and signing.signature_ok(public, *s[1:]) for s in part]

    todo = sorted(todo, key=lambda s: s[1])
    workers = max(1, min(os.cpu_count() or 1, 4))
    parts = [todo[i::workers] for i in range(workers)]  # one slice per thread: no per-signature hand-off
    out: dict[tuple, bool] = {}
    with ThreadPoolExecutor(workers) as pool:
        for part, results in zip(parts, pool.map(check, parts), strict=True):
            out.update(zip(part, results, strict=True))
    return out


def _instance_heads(session: Session) -> list[Problem]:
    """Each instance's stored state must be the one its chain's last event says it left: deleting the last
    events of an instance (or rewriting its state) shows here, naming the instance."""
    # the last event that recorded a state (claims, urges and incidents leave the state and record none)
    last = (select(AuditEvent.chain, func.max(AuditEvent.seq).label("seq"))
            .where(AuditEvent.state_fingerprint.is_not(None)).group_by(AuditEvent.chain).subquery())
    rows = session.execute(
        select(Instance.id, Instance.state_fingerprint, AuditEvent.seq, AuditEvent.state_fingerprint)
        .outerjoin(last, last.c.chain == Instance.id)
        .outerjoin(AuditEvent, (AuditEvent.chain == last.c.chain) & (AuditEvent.seq == last.c.seq))
        .order_by(Instance.started_at, Instance.id))
    out = []
    for iid, stored, seq, logged in rows:
        if seq is None:
            out.append(Problem(f"实例 {iid} 在审计日志中没有任何事件：其日志被删除，或实例是伪造的"))
        elif stored != logged:
            out.append(Problem(f"实例 {iid} 保存的状态与其日志最后一条（第 {seq} 条）记录的状态不符："
                               "末尾的事件被删除，或保存的状态被改写", iid, seq))
    return out


def verify(session: Session, public=None, file_rows: list[dict] | None = None) -> TreeReport:
    """Walk every leaf in order, recomputing the root at each signed size. ``public``: the key checkpoints
    must be signed with (default: the configured key's); ``file_rows``: the published checkpoints."""
    problems: list[Problem] = []
    if public is None:
        key = signing.private_key()
        public = key.public_key() if key is not None else None
    file_rows = tree.published() if file_rows is None else file_rows
    roots, superseded = _checkpoints(session, public, file_rows, problems) if public is not None else ({}, 0)
    sizes = sorted(roots)
    rows = session.execute(select(AuditLeaf.leaf, AuditLeaf.event_id, AuditEvent.chain, AuditEvent.seq, AuditEvent.hash)
                           .outerjoin(AuditEvent, AuditEvent.id == AuditLeaf.event_id).order_by(AuditLeaf.leaf)
                           .execution_options(yield_per=5000))
    frontier: list = []
    count, next_size, last_good = 0, 0, 0
    first_in_range: tuple[str, int] | None = None
    broken_at = None
    for leaf, event_id, chain, seq, event_hash in rows:
        if leaf != count:
            problems.append(Problem(f"第 {count} 至 {leaf - 1} 号叶子缺失：事件及其叶子被删除"))
            break
        if event_hash is None:
            problems.append(Problem(f"第 {leaf} 号叶子所指的事件 #{event_id} 已不存在：事件被删除"))
            break
        if first_in_range is None:
            first_in_range = (chain, seq)
        merkle.push(frontier, merkle.event_leaf(event_hash))
        count += 1
        while next_size < len(sizes) and sizes[next_size] == count:
            if merkle.root(frontier).hex() != roots[count] and broken_at is None:
                broken_at = count
                problems.append(Problem(
                    f"树大小 {count} 处重算的根与已签名检查点不符：第 {last_good} 至 {count - 1} 号叶子中的事件被改写",
                    *first_in_range))
            elif broken_at is None:
                last_good, first_in_range = count, None
            next_size += 1
    if sizes and sizes[-1] > count and not any("缺失" in p.message or "不存在" in p.message for p in problems):
        problems.append(Problem(f"已签名检查点覆盖 {sizes[-1]} 个事件，数据库中只剩 {count} 个：末尾的事件被删除"))
    orphans = session.execute(select(AuditEvent.chain, AuditEvent.seq).outerjoin(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
                              .where(AuditLeaf.leaf.is_(None)).order_by(AuditEvent.id).limit(1)).first()
    if orphans is not None:
        problems.append(Problem("有事件不在默克尔树中：它绕过系统直接写入数据库", *orphans))
    problems += _instance_heads(session)
    signed_up_to = sizes[-1] if sizes else 0
    if public is not None and count > signed_up_to and not problems:
        extra = session.execute(select(AuditEvent.chain, AuditEvent.seq).join(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
                                .where(AuditLeaf.leaf == signed_up_to)).first()
        problems.append(Problem(f"第 {signed_up_to} 号起的 {count - signed_up_to} 个事件没有任何已签名检查点覆盖："
                                "它们不是由持有签名密钥的系统写入的", *(extra or (None, None))))
    return TreeReport(count, len(sizes), signed_up_to, problems, superseded)
