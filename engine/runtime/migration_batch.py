"""Moving many instances at once, with progress (issue 14, item 7).

A batch is a :class:`~engine.core.tables.MigrationJob` row: created with the instances to move, then
:func:`run` migrates them one by one — each in its own transaction with its own audit event, exactly as
``migration.migrate`` does for one — and after each instance commits the count and that instance's outcome to
the job row. So the studio's page, reading the row while the batch runs in a worker thread, shows how far
it has got and which instances failed and why; a failure stops nothing but that instance.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy.orm import Session

from engine.core import clock, db
from engine.core.errors import EngineError, NotFound
from engine.core.tables import MigrationJob
from engine.runtime import migration


def create(session: Session, process_id: str, from_version: int, to_version: int, instance_ids: list[str],
           actor: str, *, recompute: bool = False) -> MigrationJob:
    job = MigrationJob(process_id=process_id, from_version=from_version, to_version=to_version,
                       recompute=recompute, actor=actor, status="running", total=len(instance_ids), done=0,
                       failed=0, results=json.dumps([{"instance_id": i, "ok": None, "message": "等待迁移"}
                                                     for i in instance_ids], ensure_ascii=False),
                       started_at=clock.now())
    session.add(job)
    session.flush()
    return job


def results(job: MigrationJob) -> list[dict]:
    return json.loads(job.results or "[]")


def run(job_id: int, url: str | None = None, on_each: Callable[[dict], None] | None = None) -> MigrationJob:
    """Migrate the job's instances, committing each and the job's progress; returns the finished job."""
    with db.read_session(url) as session:
        job = session.get(MigrationJob, job_id)
        if job is None:
            raise NotFound(f"没有迁移任务 {job_id}")
        pending = [r["instance_id"] for r in results(job) if r["ok"] is None]
        to_version, actor, recompute = job.to_version, job.actor, job.recompute
    for instance_id in pending:
        try:
            with db.transaction(url) as session:
                migration.migrate(session, instance_id, to_version, actor, recompute=recompute)
            outcome = {"instance_id": instance_id, "ok": True, "message": f"已迁移到第{to_version}版"}
        except EngineError as exc:
            outcome = {"instance_id": instance_id, "ok": False, "message": f"未迁移：{exc.message}"}
        except Exception as exc:  # noqa: BLE001 - one instance's unexpected failure must not stop the batch
            outcome = {"instance_id": instance_id, "ok": False, "message": f"未迁移：{type(exc).__name__}: {exc}"}
        _record(job_id, outcome, url)
        if on_each is not None:
            on_each(outcome)
    with db.transaction(url) as session:
        job = session.get(MigrationJob, job_id)
        job.status, job.finished_at = "finished", clock.now()
        session.flush()
        session.expunge(job)
    return job


def _record(job_id: int, outcome: dict, url: str | None) -> None:
    with db.transaction(url) as session:
        job = session.get(MigrationJob, job_id, with_for_update=True)
        rows = results(job)
        for row in rows:
            if row["instance_id"] == outcome["instance_id"] and row["ok"] is None:
                row.update(outcome)
                break
        job.results = json.dumps(rows, ensure_ascii=False)
        job.done += 1
        job.failed += 0 if outcome["ok"] else 1
