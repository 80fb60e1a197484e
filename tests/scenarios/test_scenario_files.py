"""Every scenario file beside the diagrams (``bpmn/scenarios/*.yaml``) passes against the real procedure, on
SQLite and on PostgreSQL, and leaves an audit log that verifies and replays: ``make test`` runs the
procedure's own tests exactly as ``liyuan simulate`` does (same runner, same request-start path)."""

from __future__ import annotations

import pytest

from engine.audit import history
from engine.core import config, db
from engine.helpdesk import projections_check, scenarios
from engine.runtime import replay

FILES = scenarios.scenario_files([config.bpmn_dir() / "scenarios"])


def test_there_are_scenarios_for_every_type_a_to_g():
    names = {f.name for f in FILES}
    assert {f"{t}_untouched_24h_escalated.yaml" for t in "abcdefg"} <= names


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_scenario_file_passes(procedure, path):
    outcome = scenarios.run(scenarios.load(path), procedure)
    assert outcome.ok, outcome.describe()
    with db.read_session(procedure) as session:
        checked, breaks = history.verify(session, outcome.instance_id)
        assert breaks == [] and checked > 1
        result = replay.replay(session, outcome.instance_id)
        assert result.ok, (result.error, result.first_mismatch)
        # what reports and inboxes read, recomputed from the log: an untouched walk has no difference
        assert projections_check.verify(session) == []


def test_a_deadline_withdrawn_by_reclassification_is_not_reported_as_tampering(procedure):
    """The runtime removes the 24-hour clock when the problem is found complex (``sla_withdraw``);
    ``verify --projections`` recomputes the same, so an untouched history of that walk has no difference."""
    from sqlalchemy import select

    from engine.core.tables import SlaClock

    path = next(f for f in FILES if f.name == "t2_3_reclassified_complex.yaml")
    outcome = scenarios.run(scenarios.load(path), procedure)
    assert outcome.ok, outcome.describe()
    with db.read_session(procedure) as session:
        keys = set(session.scalars(select(SlaClock.sla_key).where(SlaClock.instance_id == outcome.instance_id)))
        assert "response" in keys and "resolve_ordinary" not in keys  # withdrawn: neither met nor breached
        assert projections_check.verify(session) == []


def test_a_field_the_request_kept_from_an_earlier_step_is_not_reported_as_tampering(procedure, tmp_path):
    """The request row keeps a field (its type, a rating) once the workflow set it, whatever a later step's data
    holds (``intake.sync`` writes only what the projection says). Here the repair waits in the 工程部 while its
    24-hour clock escalates: the tasks then live have no ``category``, yet the request is still of type b.
    ``verify --projections`` must follow the row step by step as the runtime wrote it, not from the last state."""
    source = next(f for f in FILES if f.name == "o3_2_department_not_taken.yaml")
    path = tmp_path / source.name
    path.write_text(source.read_text(encoding="utf-8") + "  - {advance: PT24H}\n"
                    "  - {expect: {clocks: {resolve_ordinary: breached}}}\n", encoding="utf-8")
    outcome = scenarios.run(scenarios.load(path), procedure)
    assert outcome.ok, outcome.describe()
    with db.read_session(procedure) as session:
        assert projections_check.verify(session) == []
