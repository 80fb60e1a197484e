"""PostgreSQL ends a pooled connection (a restart, a failover, an admin's ``pg_terminate_backend``): the next
request is served on a new connection, not answered with a 500. The pool checks a connection's socket at
checkout (engine.core.db) instead of sending ``SELECT 1`` before every transaction."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from engine.core import db
from tests import postgres_status

from .conftest import ready_task


def _end_every_other_connection(url: str) -> int:
    """Terminate every server process of the test database but this one; wait until they are gone."""
    name = make_url(url).database
    with psycopg.connect(postgres_status.URL, autocommit=True) as conn:
        ended = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
        for _ in range(100):
            left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                (name,)).fetchone()[0]
            if left == 0:
                break
            time.sleep(0.02)
    return ended


def test_requests_after_the_server_ended_the_pooled_connections_succeed(db_url, client, hotline):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pooled connections")
    task = ready_task(client, hotline)
    assert db.get_engine().pool.checkedin() > 0  # the requests above left connections in the pool

    assert _end_every_other_connection(db_url) > 0

    status, body = client.get(f"/tasks/{task['id']}", "assistant")
    assert status == 200, body
    assert body["id"] == task["id"]
    status, body = client.post(f"/tasks/{task['id']}/claim", "assistant")  # a write, on a new connection too
    assert status == 200, body
    assert body["claimed_by"] == "assistant"
