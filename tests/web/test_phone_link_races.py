"""A number proven at the very moment its earlier request changes (issue 12): the proof page never answers 500,
the request is linked exactly once, and its audit chain verifies.

The collision is forced, not hoped for: the link's instance write (``engine.runtime.store.write``) is wrapped
so that, the first time the proof reaches it, another change of the same request starts in a second thread
and is held at the very point where it would collide —

- a task completion (it locks the instance row as it writes): on PostgreSQL it waits on the link's row lock,
  on SQLite on the write lock; it then loses the revision check and is computed again after the link;
- a claim (it appends to the chain without the instance lock): on PostgreSQL it commits the chain's next
  ``seq`` before the link appends, so the link's own append hits the unique (chain, seq) key and runs again
  from the new head; on SQLite it waits for the write lock (the collision cannot happen there, the test
  shows the outcome is the same).
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from engine.audit import history
from engine.core import db
from engine.core.tables import TaskRow
from engine.helpdesk import phone_links
from engine.helpdesk.tables import HelpRequest
from engine.runtime import store
from tests.web.conftest import record_call
from tests.web.test_proven_phones import _latest_code, _signup

NUMBER = "13600000101"


def _engineer_task(iid: str) -> str:
    with db.read_session() as session:
        return session.scalars(select(TaskRow.id).where(TaskRow.instance_id == iid)).one()


def _collide_once(monkeypatch, competitor, *, wait_for_it: bool):
    """Wrap ``store.write``: the first write on the test's own thread (the link's) starts ``competitor`` in a
    thread and returns only once it is at the collision point. Returns the thread box for the test to join."""
    real = store.write
    started = threading.Event()   # the competitor is about to write (task completion) or has appended (claim)
    box: dict = {}

    def run():
        try:
            box["response"] = competitor()
        except BaseException as exc:  # surfaced by the test's assertions
            box["error"] = exc

    def write(session, instance):
        if threading.current_thread() is not threading.main_thread():
            started.set()  # the competitor's own instance write: it now waits on the link's lock
            return real(session, instance)
        head = real(session, instance)
        if "thread" not in box:
            box["thread"] = thread = threading.Thread(target=run)
            thread.start()
            if wait_for_it:
                assert started.wait(20), "the competing change never reached its write"
                threading.Event().wait(0.3)  # let it block on the lock, not just reach the call
            elif db.is_sqlite(db.get_engine()):
                thread.join(0.5)  # it waits for SQLite's write lock, which the proof holds
            else:
                thread.join()     # PostgreSQL: it commits the chain's next seq before the link appends
        return head

    monkeypatch.setattr(store, "write", write)
    return box


def _finish(box):
    box["thread"].join(60)
    assert not box["thread"].is_alive()
    assert "error" not in box, box.get("error")
    return box["response"]


def _assert_linked_once_and_sound(iid: str, *kinds: str) -> list[str]:
    with db.read_session() as session:
        events = history.events(session, iid)
        assert [e.kind for e in events].count(phone_links.LINKED) == 1
        checked, breaks = history.verify(session, iid)
        assert checked == len(events) and breaks == []
        assert session.scalar(select(HelpRequest.customer_username).where(HelpRequest.instance_id == iid)) == NUMBER
        kinds_seen = [e.kind for e in events]
    for kind in kinds:
        assert kind in kinds_seen
    return kinds_seen


def test_a_task_completed_while_the_number_is_proven_costs_neither_the_link_nor_the_completion(
        app, client_for, monkeypatch):
    engineer = client_for("engineer")
    iid = record_call(client_for("assistant"), caller_name="冯阿姨", phone=NUMBER, description="卫生间漏水")
    tid = _engineer_task(iid)
    resident = _signup(app, NUMBER, "冯阿姨")
    resident.post("/account/phone/send", data={"phone": NUMBER})
    code = _latest_code(NUMBER)

    box = _collide_once(monkeypatch, lambda: engineer.post(
        f"/tasks/{tid}", data={"result": "更换密封圈", "fixed": "true", "action": "submit"}), wait_for_it=True)
    res = resident.post("/account/phone/verify", data={"code": code})
    assert res.status_code == 302, res.get_data(as_text=True)
    done = _finish(box)
    assert done.status_code == 302, done.get_data(as_text=True)

    kinds = _assert_linked_once_and_sound(iid, "task_completed")
    # the completion lost the revision check to the link and was computed again after it
    assert kinds.index(phone_links.LINKED) < kinds.index("task_completed")
    assert resident.get(f"/portal/requests/{iid}").status_code == 200


@pytest.mark.parametrize("proof", ["code", "staff"])
def test_a_claim_appended_to_the_chain_meanwhile_makes_the_link_run_again_not_fail(
        app, client_for, monkeypatch, proof):
    engineer, assistant = client_for("engineer"), client_for("assistant")
    iid = record_call(assistant, caller_name="蒋先生", phone=NUMBER, description="楼道灯不亮")
    tid = _engineer_task(iid)
    resident = _signup(app, NUMBER, "蒋先生")
    if proof == "code":
        resident.post("/account/phone/send", data={"phone": NUMBER})
        code = _latest_code(NUMBER)

    box = _collide_once(monkeypatch, lambda: engineer.post(f"/tasks/{tid}/claim"), wait_for_it=False)
    if proof == "code":
        res = resident.post("/account/phone/verify", data={"code": code})
    else:
        res = assistant.post(f"/phones/{NUMBER}/confirm", data={"checked": "yes"})
    assert res.status_code == 302, res.get_data(as_text=True)
    assert _finish(box).status_code == 302

    _assert_linked_once_and_sound(iid, "task_claimed")
    with db.read_session() as session:
        assert session.get(TaskRow, tid).claimed_by == "engineer"
        proofs = [history.payload_of(e) for e in history.events(session, "management") if e.kind == "phone_proven"]
    assert proofs[-1]["linked"] == [iid]
