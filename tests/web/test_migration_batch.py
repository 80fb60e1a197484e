"""Moving many running requests at once (issue 14, item 7): the studio's 迁移 starts a batch whose job row
is updated per instance; its page (reloading itself while the batch runs) and JSON show the progress up to
the total and list each instance that failed with its reason; each moved instance has its audit event.
``liyuan migrate`` shows a progress bar. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from engine.core import db
from engine.core.tables import AuditEvent, Instance
from tests.web.conftest import record_call
from tests.web.test_studio import WITH_CLAUSE
from webapp import studio_views
from webapp.cli import main

PID = "web_help_request"
V2 = WITH_CLAUSE  # the repair timer now names its clause T2.1: a small, valid change


@pytest.fixture
def three_on_v1(studio_for):
    """Three requests running on v1, then v2 published; returns (process owner's client, instance ids)."""
    owner = studio_for("process_owner")
    ids = [record_call(studio_for("assistant"), description=f"第{n}个求助") for n in range(3)]
    res = owner.post(f"/modeler/{PID}/deploy", json={"xml": V2, "note": "标注条款"})
    assert res.get_json()["version"] == 2
    return owner, ids


def test_the_command_line_shows_a_progress_bar(three_on_v1, capsys):
    _owner, ids = three_on_v1
    assert main(["migrate", PID, "--from", "1", "--to", "2", "--dry-run", "--progress"]) == 0
    out, err = capsys.readouterr()
    assert "3/3" in err and "试迁移" in err  # the bar reached the total
    assert out.count("可以迁移（试运行，未修改）") == 3 and "共 3 个实例：可迁移 3 个" in out


def test_a_batch_reports_progress_to_the_total_and_lists_each_failure(three_on_v1):
    owner, ids = three_on_v1
    with db.transaction() as session:  # one request runs into an incident between the preview and the batch
        session.execute(update(Instance).where(Instance.id == ids[1]).values(status="incident"))
    res = owner.post(f"/modeler/{PID}/migrate", data={"from": "1", "action": "migrate", "instance": ids})
    assert res.status_code == 302 and "/migrate/jobs/" in res.headers["Location"]
    job_url = res.headers["Location"]
    worker = studio_views._WORKERS.get(int(job_url.rsplit("/", 1)[1]))
    if worker is not None:
        worker.join(timeout=120)

    job = owner.get(job_url + ".json").get_json()
    assert (job["status"], job["done"], job["total"], job["failed"]) == ("finished", 3, 3, 1)
    outcome = {r["instance_id"]: (r["ok"], r["message"]) for r in job["results"]}
    assert outcome[ids[0]] == outcome[ids[2]] == (True, "已迁移到第2版")
    assert outcome[ids[1]][0] is False and "实例有未处理的异常" in outcome[ids[1]][1]

    page = owner.get(job_url).get_data(as_text=True)
    assert "3 / 3" in page and "已完成：迁移 2 个，失败 1 个" in page and 'http-equiv="refresh"' not in page
    assert f"{ids[1]}</span>：未迁移" in page
    with db.read_session() as session:
        migrated = set(session.scalars(select(AuditEvent.chain).where(AuditEvent.kind == "migrated")))
    assert migrated == {ids[0], ids[2]}
    assert owner.get(f"/modeler/{PID}/migrate/jobs/999999").status_code == 404


def test_a_batch_cut_off_by_a_restart_is_finished_from_the_command_line(three_on_v1, capsys):
    """The worker thread dies with the server: the job stays "running" with instances waiting. Its page says
    so and names the command; ``liyuan resume-migration`` migrates the rest, each with its audit event."""
    from engine.runtime import migration_batch

    owner, ids = three_on_v1
    with db.transaction() as session:  # as the studio creates it; the restart comes before its worker runs
        job_id = migration_batch.create(session, PID, 1, 2, ids, "process_owner").id
    page = owner.get(f"/modeler/{PID}/migrate/jobs/{job_id}").get_data(as_text=True)
    assert 'data-testid="job-orphaned"' in page and f"liyuan resume-migration {job_id}" in page

    assert main(["resume-migration", str(job_id), "--progress"]) == 0
    out, err = capsys.readouterr()
    assert "3/3" in err and f"迁移任务 {job_id}：共 3 个，已迁移 3 个，失败 0 个" in out
    job = owner.get(f"/modeler/{PID}/migrate/jobs/{job_id}.json").get_json()
    assert (job["status"], job["done"], job["failed"]) == ("finished", 3, 0)
    with db.read_session() as session:
        migrated = set(session.scalars(select(AuditEvent.chain).where(AuditEvent.kind == "migrated")))
    assert migrated == set(ids)
    assert main(["resume-migration", str(job_id)]) == 0  # a finished job: nothing to do, said so
    assert "已结束：迁移 3 个，失败 0 个" in capsys.readouterr().out
