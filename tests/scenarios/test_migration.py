"""Instance migration (issue 14, item 7) on the real procedure: a waiting help request moves from v1 to a
v2 with a shorter response deadline and a renamed task, keeps its promised due time (or recounts it when
asked), continues to completion on v2, and its replay and the audit log stay clean."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from engine import repository, runtime
from engine.audit import history
from engine.core import clock, config, db
from engine.core.tables import AuditEvent, Instance, SlaClock, TaskRow, Timer
from engine.helpdesk.scenarios import runner
from engine.repository import editing
from webapp.cli import main

SCENARIO = config.bpmn_dir() / "scenarios" / "d_consultation_oral_relayed.yaml"
NEW_NAME = "初步评估定级（第2版）"


def _v2_xml() -> bytes:
    text = (config.bpmn_dir() / "help_request.bpmn").read_text(encoding="utf-8")
    changed = text.replace('name="初步评估与定级"', f'name="{NEW_NAME}"', 1)
    marker = '<bpmn:boundaryEvent id="b_resp"'
    head, tail = changed.split(marker, 1)
    tail = tail.replace('"PT30M"', '"PT20M"', 1)
    changed = head + marker + tail
    assert changed.count('"PT20M"') == text.count('"PT20M"') + 1 and NEW_NAME in changed
    return changed.encode("utf-8")


def _publish_v2() -> int:
    with db.transaction() as session:
        return editing.publish(session, "help_request", _v2_xml(), "process_owner", "响应时限改为20分钟；评估任务改名").version


def _start(url: str, version: int | None = None) -> str:
    scenario = runner.load(SCENARIO)
    if version is None:
        return runner._start(scenario.start, url)
    with db.transaction() as session:
        return runtime.start(session, "help_request", {"channel": "hotline", **runner.CALLER, "category": "d",
                                                       "recorded_by": "assistant", "customer_username": None},
                             "assistant", version=version).id


def _state(iid: str) -> tuple:
    with db.read_session() as session:
        inst = session.get(Instance, iid)
        timers = sorted((t.element_id, clock.as_utc(t.due_at)) for t in session.scalars(
            select(Timer).where(Timer.instance_id == iid)))
        events = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.chain == iid))
        return inst.version_id, inst.revision, timers, events


def _response_due(iid: str) -> dt.datetime:
    with db.read_session() as session:
        clk = session.scalar(select(SlaClock).where(SlaClock.instance_id == iid, SlaClock.sla_key == "response"))
        timer = session.scalar(select(Timer).where(Timer.instance_id == iid, Timer.element_id == "b_resp"))
        assert clock.as_utc(clk.due_at) == clock.as_utc(timer.due_at)
        return clock.as_utc(timer.due_at)


def test_dry_run_previews_and_changes_nothing_then_migration_continues_on_v2(procedure, capsys):
    iid = _start(procedure)
    promised = _response_due(iid)
    assert promised == clock.now() + dt.timedelta(minutes=30)
    assert _publish_v2() == 2
    before = _state(iid)

    assert main(["migrate", "help_request", "--from", "1", "--to", "2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "可以迁移（试运行，未修改）" in out and "b_resp" in out and '"PT30M" → "PT20M"' in out
    assert "保持已承诺的到期时间" in out and "（试运行，未作任何修改）" in out
    assert _state(iid) == before  # same version, revision, timers, audit events

    assert main(["migrate", "help_request", "--from", "v1", "--to", "v2", "--instance", iid]) == 0
    assert "已迁移" in capsys.readouterr().out
    with db.read_session() as session:
        inst = session.get(Instance, iid)
        assert repository.session_version(session, inst) == 2
        event = session.scalar(select(AuditEvent).where(AuditEvent.chain == iid, AuditEvent.kind == "migrated"))
        payload = history.payload_of(event)
        assert (payload["from_version"], payload["to_version"], payload["recompute_deadlines"]) == (1, 2, False)
    assert _response_due(iid) == promised  # the promise made under v1 holds
    from webapp import timeline

    with db.read_session() as session:
        told = [line.what for line in timeline.lines(session, iid, runtime.load(session, iid).version)]
    assert "流程由第1版迁移到第2版（已承诺的时限不变）" in told

    # new requests start on v2; this one continues on v2: the renamed task reaches the inbox by its new name
    other = _start(procedure)
    with db.read_session() as session:
        assert repository.session_version(session, session.get(Instance, other)) == 2
    scenario = runner.load(SCENARIO)
    runner._STEPS["do"](iid, scenario.steps[0].spec, procedure)  # record_hotline
    with db.read_session() as session:
        names = set(session.scalars(select(TaskRow.name).where(TaskRow.instance_id == iid)))
    assert NEW_NAME in names
    for step in scenario.steps[1:]:
        runner._STEPS[step.kind](iid, step.spec, procedure)
    with db.read_session() as session:
        assert session.get(Instance, iid).status == "completed"
        replayed = runtime.replay.replay(session, iid)
    assert replayed.ok, (replayed.error, replayed.first_mismatch)
    assert [s.kind for s in replayed.steps][:3] == ["started", "migrated", "task_completed"]
    assert main(["audit", "verify"]) == 0


def test_recompute_deadlines_counts_the_new_duration_from_when_the_timer_was_armed(procedure, capsys):
    _publish_v2()
    iid = _start(procedure, version=1)
    armed = clock.now()
    clock.advance(seconds=5 * 60)
    assert _response_due(iid) == armed + dt.timedelta(minutes=30)
    assert main(["migrate", "help_request", "--from", "1", "--to", "2", "--recompute-deadlines"]) == 0
    assert _response_due(iid) == armed + dt.timedelta(minutes=20)  # not now + 20 min
    with db.read_session() as session:
        assert runtime.replay.replay(session, iid).ok


def test_an_instance_whose_active_task_is_gone_is_refused_with_the_reason(procedure, capsys):
    iid = _start(procedure)
    text = (config.bpmn_dir() / "help_request.bpmn").read_text(encoding="utf-8")
    with db.transaction() as session:
        editing.publish(session, "help_request", text.replace("record_hotline", "record_call").encode("utf-8"),
                        "process_owner", "热线记录任务改了 id")
    before = _state(iid)
    assert main(["migrate", "help_request", "--from", "1", "--to", "2"]) == 1
    out = capsys.readouterr().out
    assert "不能迁移" in out and "record_hotline" in out and "在新版本中不存在" in out
    assert _state(iid) == before


def test_a_migrated_instances_bundle_carries_both_versions_and_replays_across_the_migration(procedure, tmp_path,
                                                                                          capsys):
    import json

    from engine.audit import signing, verify_bundle

    iid = _start(procedure)
    assert _publish_v2() == 2
    assert main(["migrate", "help_request", "--from", "1", "--to", "2", "--instance", iid]) == 0
    scenario = runner.load(SCENARIO)
    for step in scenario.steps:  # on to the end under v2
        runner._STEPS[step.kind](iid, step.spec, procedure)
    path = tmp_path / "bundle.json"
    assert main(["audit", "export", iid, str(path)]) == 0
    bundle = json.loads(path.read_text(encoding="utf-8"))
    versions = bundle["instance"]["versions"]
    assert [v["version"] for v in versions] == [1, 2] and versions[0]["bpmn_sha256"] != versions[1]["bpmn_sha256"]
    for v in versions:  # each version's own diagram and forms travel in the bundle
        carried = {f["sha256"] for f in bundle["files"] if f["version"] == v["version"]}
        assert v["bpmn_sha256"] in carried and any(f["kind"] == "form" and f["version"] == v["version"]
                                                   for f in bundle["files"])
    public = signing.public_b64(signing.private_key().public_key())
    capsys.readouterr()
    assert verify_bundle.main([str(path), "--public-key", public]) == 0, capsys.readouterr().out
    assert main(["audit", "replay", "--bundle", str(path)]) == 0
    out = capsys.readouterr().out
    assert "migrated" in out and "MISMATCH" not in out and "replay reproduces the recorded history" in out

    # without the version it started on, the verifier names what is missing and the replay cannot start
    stripped = tmp_path / "stripped.json"
    stripped.write_text(json.dumps(dict(bundle, files=[f for f in bundle["files"] if f["version"] != 1])))
    assert verify_bundle.main([str(stripped), "--public-key", public]) == 1
    assert "所用的第 1 版流程图未随审计包提供" in capsys.readouterr().out
    assert main(["audit", "replay", "--bundle", str(stripped)]) == 1
    assert "第 1 版的流程图与表单未随审计包提供" in capsys.readouterr().out

    # v2's files passed off as v1 (their sha256 recomputed, so the files check holds): the replay from the
    # start on the wrong diagram departs from the record at once
    swapped = tmp_path / "swapped.json"
    v2_files = [dict(f, version=1) for f in bundle["files"] if f["version"] == 2]
    v1 = dict(versions[0], bpmn_sha256=versions[1]["bpmn_sha256"], bpmn_file=versions[1]["bpmn_file"])
    swapped.write_text(json.dumps(dict(bundle, files=v2_files + [f for f in bundle["files"] if f["version"] == 2],
                                       instance=dict(bundle["instance"], versions=[v1, versions[1]]))))
    assert main(["audit", "replay", "--bundle", str(swapped)]) == 1
    out = capsys.readouterr().out
    assert "#1    " in out and "MISMATCH" in out.splitlines()[1]


def test_a_data_object_the_new_version_declares_is_readable_in_a_migrated_instance(procedure, capsys):
    """An instance started before a version declared a data object has no slot for it; reading it after
    the migration (set_complex reads 方案制定中 on every re-classification) must not fail."""
    text = (config.bpmn_dir() / "help_request.bpmn").read_text(encoding="utf-8")
    renamed = text.replace("plan_open", "plan_in_hand")
    assert renamed.count("plan_in_hand") >= 6 and 'dataObject id="plan_in_hand"' in renamed
    scenario = runner.load(config.bpmn_dir() / "scenarios" / "t2_3_reclassified_by_qc_and_department.yaml")
    iid = runner._start(scenario.start, procedure)
    with db.transaction() as session:
        editing.publish(session, "help_request", renamed.encode("utf-8"), "process_owner", "数据对象改名")
    assert main(["migrate", "help_request", "--from", "1", "--to", "2", "--instance", iid]) == 0
    assert "已迁移" in capsys.readouterr().out
    for step in scenario.steps:  # through QC re-classifying (set_complex) to the end
        runner._STEPS[step.kind](iid, step.spec, procedure)
    with db.read_session() as session:
        assert session.get(Instance, iid).status == "completed"
        assert runtime.replay.replay(session, iid).ok
