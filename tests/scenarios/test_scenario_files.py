"""Every scenario file beside the diagrams (``bpmn/scenarios/*.yaml``) passes against the real procedure, on
SQLite and on PostgreSQL, and leaves an audit log that verifies and replays: ``make test`` runs the
procedure's own tests exactly as ``liyuan simulate`` does (same runner, same request-start path)."""

from __future__ import annotations

import pytest

from engine.audit import history
from engine.core import config, db
from engine.helpdesk import scenarios
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


def test_a_deadline_withdrawn_by_reclassification_is_not_reported_as_tampering(procedure):
    """The runtime removes the 24-hour clock when the problem is found complex (``sla_withdraw``);
    ``verify --projections`` recomputes the same, so an untouched history of that walk has no difference."""
    from sqlalchemy import select

    from engine.core.tables import SlaClock
    from engine.helpdesk import projections_check

    path = next(f for f in FILES if f.name == "t2_3_reclassified_complex.yaml")
    outcome = scenarios.run(scenarios.load(path), procedure)
    assert outcome.ok, outcome.describe()
    with db.read_session(procedure) as session:
        keys = set(session.scalars(select(SlaClock.sla_key).where(SlaClock.instance_id == outcome.instance_id)))
        assert "response" in keys and "resolve_ordinary" not in keys  # withdrawn: neither met nor breached
        assert projections_check.verify(session) == []
