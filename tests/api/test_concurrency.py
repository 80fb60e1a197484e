"""Two people completing the same task at the same moment: one succeeds, the other gets a clear 409."""

from __future__ import annotations

import threading

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
