"""Two people completing the same task at the same moment: one succeeds, the other gets a clear 409."""

from __future__ import annotations

import threading

import pytest

from engine import runtime
from engine.core import db

from .conftest import ready_task


def test_two_clients_complete_the_same_task_at_once(client, hotline):
    task_id = ready_task(client, hotline)["id"]
    with db.read_session() as session:
        before = runtime.get_instance(session, hotline).revision
    barrier = threading.Barrier(2)
    results: dict[str, tuple] = {}

    def complete(username: str) -> None:
        web = client.app.test_client()  # one client (one connection) per person
        barrier.wait()
        results[username] = client.post(f"/tasks/{task_id}/complete", username,
                                         {"data": {"category": "g", "summary": f"{username} 记录"}}, client=web)

    for name in ("assistant", "assistant2"):
        client.token(name)  # mint tokens up front so both threads start together
    threads = [threading.Thread(target=complete, args=(name,)) for name in ("assistant", "assistant2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(status for status, _ in results.values())
    assert statuses == [200, 409], results
    loser = next(body for status, body in results.values() if status == 409)
    assert loser["error"] == "conflict" and loser["message"]
    with db.read_session() as session:
        assert runtime.get_instance(session, hotline).revision == before + 1
    winner = next(name for name, (status, _) in results.items() if status == 200)
    status, body = client.get(f"/instances/{hotline}/events", "auditor")
    completed = [e for e in body["events"] if e["kind"] == "task_completed"]
    assert len(completed) == 1 and completed[0]["actor"] == winner


def _another_change_takes_the_next_position(monkeypatch, chain: str) -> list[str]:
    """Make the next append to ``chain`` lose its position the way a real race does: this transaction has
    read the chain's head, then another transaction appends to the same chain and commits first."""
    from engine.audit import history

    real = history.append_all
    raced: list[str] = []

    def racing(session, on_chain, events, **kw):
        if on_chain == chain and not raced:
            history.known_head(session, on_chain, session.connection().execute(
                history._HEAD, {"chain": on_chain}).first())  # the head as this change reads it
            with db.transaction() as other:  # meanwhile, another change of the same request commits
                real(other, on_chain, [dict(actor="timer", kind="note", payload={"raced": True})])
            raced.append(on_chain)
        return real(session, on_chain, events, **kw)

    monkeypatch.setattr(history, "append_all", racing)
    return raced


def _chain_intact(instance_id: str) -> list[str]:
    from engine.audit import history

    with db.read_session() as session:
        checked, breaks = history.verify(session, instance_id)
        kinds = [e.kind for e in history.events(session, instance_id)]
    assert checked and not breaks, breaks
    return kinds


def test_a_claim_that_loses_the_chain_position_to_another_change_is_written_once(client, hotline, db_url,
                                                                                 monkeypatch):
    """Claim, release and 派单 write an event without holding the request's write: when another change
    appends first, the claim still succeeds (no 500), its event is written once, the chain verifies."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer at a time: the other change waits, the positions cannot cross")
    task_id = ready_task(client, hotline)["id"]
    raced = _another_change_takes_the_next_position(monkeypatch, hotline)
    status, body = client.post(f"/tasks/{task_id}/claim", "assistant")
    assert status == 200, body
    assert raced == [hotline]  # the race really happened
    assert _chain_intact(hotline).count("task_claimed") == 1

    raced.clear()
    status, body = client.post(f"/tasks/{task_id}/release", "assistant")
    assert status == 200, body
    assert raced == [hotline]
    assert _chain_intact(hotline).count("task_released") == 1
