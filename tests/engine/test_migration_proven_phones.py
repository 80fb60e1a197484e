"""Migration 0018: residents who signed up before numbers were proven keep their number only as a claim
(linking no hotline call) and are asked to prove it at their next sign-in; staff accounts keep theirs."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import text

from engine.core import db, migrate


def test_existing_residents_numbers_become_claims_to_prove(db_url):
    db.dispose_all()
    cfg = migrate.alembic_config(db_url)
    try:
        command.downgrade(cfg, "0015")
        with db.get_engine(db_url).begin() as conn:
            for uid, name, phone, role in ((901, "13700009001", "13700009001", "customer"),
                                           (902, "guard9", "13700009002", "guard")):
                conn.execute(text("INSERT INTO users (id, username, display_name, password_hash, phone, is_active, "
                                  "created_at, auth_epoch) VALUES (:i, :u, :u, 'x', :p, :t, :c, 0)"),
                             {"i": uid, "u": name, "p": phone, "t": True, "c": dt.datetime.now(dt.UTC)})
                conn.execute(text("INSERT INTO user_roles (user_id, role) VALUES (:i, :r)"), {"i": uid, "r": role})
    finally:
        command.upgrade(cfg, "head")
    with db.get_engine(db_url).connect() as conn:
        rows = dict((r[0], tuple(r[1:])) for r in conn.execute(
            text("SELECT id, phone, pending_phone, must_prove_phone FROM users WHERE id IN (901, 902)")))
    assert rows[901] == (None, "13700009001", True)
    assert rows[902] == ("13700009002", None, False)
