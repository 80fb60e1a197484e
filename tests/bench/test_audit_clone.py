"""The benchmarks' cloner (``bench/audit_clone.py``): clones of a real walk must verify, replay and be found
exactly like real data, or every figure measured on them (issue 13's 10,000 histories, issue 16's staff pages
at scale) is measured on something the product never writes. Run here on a small database, so a schema change
that breaks the cloner fails ``make test`` instead of the next benchmark run (the search index's key table,
filled by a trigger on SQLite, once made every clone batch fail)."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from bench.audit_clone import clone
from engine import identity
from engine.core import config, db
from engine.core.tables import Instance
from engine.helpdesk import intake, text_search
from engine.helpdesk.scenarios import runner
from engine.helpdesk.tables import HelpRequest
from tests.conftest import deploy_procedure
from webapp.cli import main


def test_clones_of_a_real_walk_verify_replay_and_are_found_by_search(db_url, capsys):
    deploy_procedure()
    with db.transaction() as session:
        identity.ensure_demo_users(session, secrets.token_urlsafe(12))
        intake.ensure_default_fees(session)
    walk = runner.load(config.bpmn_dir() / "scenarios" / "g_help_online_direct.yaml")
    assert runner.run(walk, db_url).ok

    assert clone(db_url, 4) == 3
    db.dispose_all()

    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 4
        found = session.scalars(select(HelpRequest.instance_id)
                                .where(text_search.condition("借用梯子"))).all()
        assert len(set(found)) == 4  # every clone is in the search index, none twice
    assert main(["audit", "verify", "--projections"]) == 0
    assert main(["audit", "replay", "--all"]) == 0
    out = capsys.readouterr().out
    assert "4 个实例重放与记录一致，0 个不一致" in out
