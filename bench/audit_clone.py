"""Cloning real help_request histories with fresh ids, so 10,000 of them verify exactly like real data.

Running 10,000 full walks through the engine takes a long time (every step is a transaction, a workflow
run and a signed checkpoint), and the verifier cannot tell a walk run a thousand times from a thousand
walks: what it costs is the number of events, leaves, checkpoints, steps and rows. So the benchmark runs a
few hundred real walks through the engine (:mod:`bench.audit_scale`), then repeats them here under fresh
instance ids, as the engine itself would have written them:

- the instance row, its request row, SLA clocks (and any other row keyed by ``instance_id``) are copied
  with the new id (the templates hold no instance id in their state or payloads: checked, else refused);
- every audit event is re-appended to the new chain with its hash chain recomputed (``prev_hash``, ``hash``),
  through the same INSERT guards (triggers) as the engine's appends;
- the events become the next Merkle leaves, in the same commit groups as the template's (one signed
  checkpoint per group, as the engine signs one per committed change), with the root recomputed from the
  frontier and the checkpoint signed with the database's key and appended to the published file.

Times are kept (each clone replays at the same instants as its template). The result passes
``liyuan audit verify --projections`` and ``replay --all`` like real data; the benchmark checks it.
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections import defaultdict

from sqlalchemy import MetaData, func, insert, select, update
from sqlalchemy.orm import Session

from engine.audit import history, merkle, signing, tree
from engine.core import clock, db
from engine.core.tables import AuditCheckpoint, AuditEvent, AuditLeaf, AuditTreeHead, Instance, PersonalData
from engine.helpdesk import text_search
from engine.runtime import store

_EVENT_COLUMNS = ("at", "actor", "kind", "element_id", "payload", "state_fingerprint")


def _templates(session: Session) -> tuple[list[Instance], dict[str, list[list[AuditEvent]]]]:
    """The completed help_request instances, and each one's events split into its commit groups (the
    events each signed checkpoint added)."""
    instances = list(session.scalars(select(Instance).where(Instance.process_id == "help_request",
                                                            Instance.status == "completed").order_by(Instance.id)))
    ids = [i.id for i in instances]
    sizes = sorted(session.scalars(select(AuditCheckpoint.tree_size)))
    leaf_of = dict(session.execute(select(AuditLeaf.event_id, AuditLeaf.leaf)).all())
    groups: dict[str, dict[int, list[AuditEvent]]] = {iid: defaultdict(list) for iid in ids}
    for event in session.scalars(select(AuditEvent).where(AuditEvent.chain.in_(ids))
                                 .order_by(AuditEvent.chain, AuditEvent.seq)):
        if event.chain in event.payload:
            raise ValueError(f"template {event.chain} names its own id in a payload: cannot be cloned by id")
        groups[event.chain][bisect.bisect_right(sizes, leaf_of[event.id])].append(event)
    for instance in instances:
        if instance.id in store.state_of(instance):
            raise ValueError(f"template {instance.id} names its own id in its state: cannot be cloned by id")
    return instances, {iid: [g[k] for k in sorted(g)] for iid, g in groups.items()}


# Tables the database fills itself from another table's rows (SQLite triggers): copying them too would add
# each row twice. ``requests_fts_keys`` is the search index's key, written by the trigger on ``requests``.
_DERIVED = {text_search.KEYS_TABLE}


def _keyed_tables(session: Session) -> list:
    """Every table with an ``instance_id`` column (requests, SLA clocks, tasks, timers, incidents, and any
    later one), as the database has them, less those its triggers fill (:data:`_DERIVED`)."""
    meta = MetaData()
    meta.reflect(session.get_bind())
    return [t for t in meta.sorted_tables if "instance_id" in t.c and t.name not in _DERIVED]


def clone(url: str, total: int, *, batch: int = 250) -> int:
    """Add clones of the database's completed help_request instances until it holds ``total`` instances.
    Returns how many were added. Needs the signing key configured (``LIYUAN_AUDIT_KEY_FILE``)."""
    key = signing.private_key()
    if key is None:
        raise ValueError("cloning signs checkpoints: configure the signing key first")
    key_id = signing.key_id(key.public_key())
    with db.read_session(url) as session:
        have = session.scalar(select(func.count()).select_from(Instance))
        instances, groups = _templates(session)
        tables = _keyed_tables(session)
        rows = {t.name: defaultdict(list) for t in tables}
        personal: dict[str, list[dict]] = defaultdict(list)
        for t in tables:
            for row in session.execute(select(t).where(t.c.instance_id.in_([i.id for i in instances]))).mappings():
                rows[t.name][row["instance_id"]].append(dict(row))
        # Personal values sit beside the log, keyed by chain and referenced from the events by ``ref``: a clone
        # gets its own rows (fresh refs, the same salts and values, so the events' commitments still hold).
        personal_cols = [c.key for c in PersonalData.__table__.c]
        for p in session.scalars(select(PersonalData).where(PersonalData.chain.in_([i.id for i in instances]))):
            personal[p.chain].append({c: getattr(p, c) for c in personal_cols})
        instance_cols = [c.key for c in Instance.__table__.c]
        templates = [{c: getattr(i, c) for c in instance_cols} for i in instances]
    if not templates:
        raise ValueError("no completed help_request instance to clone")
    added = 0
    while have + added < total:
        n = min(batch, total - have - added)
        with db.transaction(url) as session:
            published = _clone_batch(session, [templates[(added + k) % len(templates)] for k in range(n)],
                                     groups, rows, tables, key, key_id, personal)
        for row in published:  # the file outside the database, as tree.publish appends after each commit
            tree.append_published(row)
        added += n
    return added


def _clone_batch(session: Session, picks, groups, rows, tables, key, key_id, personal) -> list[dict]:
    conn = session.connection()
    size, frontier_text = conn.execute(select(AuditTreeHead.size, AuditTreeHead.frontier)
                                       .where(AuditTreeHead.id == 1)).one()
    frontier = [(h, bytes.fromhex(x)) for h, x in json.loads(frontier_text)]
    next_id = (conn.execute(select(func.max(AuditEvent.id))).scalar() or 0) + 1
    new_instances, events, leaves, checkpoints, published = [], [], [], [], []
    keyed = defaultdict(list)
    personal_rows: list[dict] = []
    for template in picks:
        iid = str(uuid.uuid4())
        new_instances.append(dict(template, id=iid))
        for t in tables:
            for row in rows[t.name].get(template["id"], ()):
                copy = dict(row, instance_id=iid)
                pk = list(t.primary_key.columns)
                if len(pk) == 1 and pk[0].name != "instance_id":
                    if pk[0].autoincrement is True or str(pk[0].type).upper().startswith(("INT", "BIGINT")):
                        copy.pop(pk[0].name)
                    else:
                        copy[pk[0].name] = str(uuid.uuid4())  # a task row's id is its task's uuid
                keyed[t.name].append(copy)
        refs = {}
        for p in personal.get(template["id"], ()):
            refs[p["ref"]] = str(uuid.uuid4())
            personal_rows.append(dict(p, ref=refs[p["ref"]], chain=iid))
        prev = history.GENESIS
        for group in groups[template["id"]]:
            for event in group:
                row = {"id": next_id, "chain": iid, "seq": event.seq, "prev_hash": prev,
                       **{c: getattr(event, c) for c in _EVENT_COLUMNS}}
                for old_ref, new_ref in refs.items():
                    if old_ref in row["payload"]:
                        row["payload"] = row["payload"].replace(old_ref, new_ref)
                row["hash"] = prev = history.row_hash(prev, row)
                events.append(row)
                leaves.append({"leaf": size, "event_id": next_id})
                merkle.push(frontier, merkle.event_leaf(row["hash"]))
                next_id += 1
                size += 1
            root = merkle.root(frontier).hex()
            at = clock.as_utc(group[-1].at).isoformat(timespec="seconds")
            cp = {"tree_size": size, "root": root, "at": at, "key_id": key_id,
                  "signature": signing.sign(key, size, root, at)}
            checkpoints.append(cp)
            published.append(dict(cp, public_key=signing.public_b64(key.public_key())))
    conn.execute(insert(Instance.__table__), new_instances)
    for t in tables:
        if keyed[t.name]:
            conn.execute(insert(t), keyed[t.name])
    if personal_rows:
        conn.execute(insert(PersonalData.__table__), personal_rows)
    conn.execute(insert(AuditEvent.__table__), events)
    conn.execute(insert(AuditLeaf.__table__), leaves)
    conn.execute(insert(AuditCheckpoint.__table__), checkpoints)
    conn.execute(update(AuditTreeHead).where(AuditTreeHead.id == 1)
                 .values(size=size, frontier=json.dumps([[h, x.hex()] for h, x in frontier])))
    return published
