"""Replaying every instance (``liyuan audit replay --all``): the whole database, on several cores.

Instances are checked in chunks of ids (:mod:`engine.core.parallel`); a chunk reads its instances, all
their events and their personal values with three queries, then replays each instance from those rows
(:func:`replay.replay_loaded`), so a chunk costs the same few round trips whatever its size. The parent
parses every version in use before forking, so the workers share the parsed specs. Only the findings
travel back to the parent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import repository
from engine.audit import personal
from engine.core import db, parallel
from engine.core.tables import AuditEvent, Instance, ProcessVersion
from engine.runtime import replay


@dataclass(frozen=True)
class Outcome:
    """One instance's replay: ``problem`` is None when it reproduces its recorded history."""

    instance_id: str
    steps: int
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

def instance_ids(session: Session) -> list[str]:
    """Every instance, oldest first (the order the findings are printed in)."""
    return list(session.scalars(select(Instance.id).order_by(Instance.started_at, Instance.id)))

def events_by_chain(session: Session, ids: list[str]) -> dict[str, list]:
    """The events of these instances' chains, each chain in ``seq`` order, read with one query — as plain
    rows (the same attribute names as :class:`AuditEvent`), not ORM objects: a replay only reads them, and
    building and tracking an ORM object per event was a tenth of reading a chunk."""
    out: dict[str, list] = {iid: [] for iid in ids}
    for event in session.execute(select(*AuditEvent.__table__.c).where(AuditEvent.chain.in_(ids))
                                 .order_by(AuditEvent.chain, AuditEvent.seq)):
        out[event.chain].append(event)
    return out


def preload_versions(url: str | None) -> None:
    """Parse every process version an instance runs on (or started on) into this process's cache, before the
    workers are forked: each then inherits the parsed specs instead of parsing them again."""
    with db.read_session(url) as session:
        for row in session.scalars(select(ProcessVersion).where(
                ProcessVersion.id.in_(select(Instance.version_id).distinct()))):
            repository.load(session, row)

def describe(result: replay.Replay) -> str | None:
    """What an auditor needs to find the problem: the first differing step, else the error or the chain."""
    step = result.first_mismatch
    if step is not None:
        return (f"第 {step.seq} 条事件（{step.kind} {step.element_id or ''}，{step.at}）重放后的状态与记录不符"
                .replace(" ，", "，"))
    if not result.chain_ok:
        return "哈希链断裂：日志被改动过"
    if result.error:
        return f"无法重放：{result.error}"
    return None

def check_chunk(url: str | None, ids: list[str]) -> list[Outcome]:
    """Replay each instance of ``ids`` (a worker's unit of work)."""
    out = []
    with db.read_session(url) as session:
        instances = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(ids)))}
        events = events_by_chain(session, ids)
        known = personal.values_by_chain(session, ids)
        for iid in ids:
            instance = instances.get(iid)
            if instance is None:
                out.append(Outcome(iid, 0, "实例在检查期间被删除"))
                continue
            result = replay.replay_loaded(session, instance, events[iid], known=known.get(iid, {}))
            out.append(Outcome(iid, len(result.steps), describe(result)))
    return out

def replay_all(url: str | None = None, *, jobs: int = 1, chunk: int = 50,
               progress: parallel.Progress | None = None) -> list[Outcome]:
    """Every instance's outcome, in instance order."""
    with db.read_session(url) as session:
        ids = instance_ids(session)
    if jobs > 1:
        preload_versions(url)
    found = {o.instance_id: o for o in parallel.map_chunks(check_chunk, url, ids, jobs=jobs, chunk=chunk,
                                                            progress=progress)}
    return [found[iid] for iid in ids]
