"""The notification badge of every staff page (issue 16) is one statement, however many notes it counts: the
arrivals after the reader's marker (the outbox by name and by role, for supervisors the breached clocks),
the marker itself and need-to-know, all in the database. It stays exact: a complaint naming the reader is
not counted, 全部标为已读 clears it on the very next request, and it stops at 100. Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import insert, select

from engine import notify
from engine.core import clock, db
from engine.core.tables import SlaClock, TaskRow

from .conftest import insert_open_requests, record_call, selects_sent

BADGE_TABLES = ("outbox", "sla_clocks", "web_read_markers")


def _badge(client, db_url: str) -> tuple[int, int, int]:
    """(the badge's count, SELECTs sent for ``/notifications/count.json``, those reading the badge's tables)."""
    with selects_sent(db_url) as seen:
        res = client.get("/notifications/count.json")
    assert res.status_code == 200
    return res.get_json()["unread"], len(seen), sum(any(t in s for t in BADGE_TABLES) for s in seen)


def _requests(real: str, count: int, **columns) -> list[str]:
    """Instance ids of ``count`` open requests copied from ``real`` (``columns``: their request columns)."""
    tasks = insert_open_requests(real, count, request=lambda _n: columns)
    with db.read_session() as session:
        return list(session.scalars(select(TaskRow.instance_id).where(TaskRow.id.in_(tasks))))


def _notes(instance_ids, *, role: str = "cs_supervisor", breaches: bool = True) -> None:
    """One in-app message to ``role`` per request, and (``breaches``) one breached deadline."""
    now = clock.now()
    with db.transaction() as session:
        for iid in instance_ids:
            notify.outbox.in_app(session, "received", "新求助", instance_id=iid, roles=[role])
        if breaches:
            session.connection().execute(insert(SlaClock.__table__), [
                {"instance_id": iid, "timer_task_id": str(uuid.uuid4()), "sla_key": "response", "element_id": "t",
                 "guarded_task_id": None, "guarded_element_id": "record", "status": "breached",
                 "armed_at": now - dt.timedelta(hours=1), "due_at": now, "met_at": None, "breached_at": now}
                for iid in instance_ids])


def test_the_badge_is_one_statement_however_many_notes_it_counts(db_url, client_for):
    assistant, supervisor = client_for("assistant"), client_for("cs_supervisor")
    real = record_call(assistant)
    _badge(supervisor, db_url)  # warm-up
    before, few_selects, few_badge = _badge(supervisor, db_url)

    _notes(_requests(real, 5))  # five notes and five breaches the supervisor may see
    _notes(_requests(real, 4, category="c", complained_staff="cs_supervisor"))  # about them: never counted
    after, many_selects, many_badge = _badge(supervisor, db_url)
    assert after == min(100, before + 10)
    assert few_badge == many_badge == 1, "the badge reads its tables in one statement"
    assert many_selects == few_selects, (few_selects, many_selects)

    assert supervisor.post("/notifications/read").status_code == 302
    assert _badge(supervisor, db_url)[0] == 0  # cleared at once: nothing is cached
    clock.advance(seconds=1)
    _notes(_requests(real, 1), breaches=False)
    assert _badge(supervisor, db_url)[0] == 1

    _notes(_requests(real, 120), breaches=False)
    assert _badge(supervisor, db_url)[:2] == (100, few_selects)  # capped, still one statement


def test_the_badge_of_a_reader_without_a_supervisors_breaches(db_url, client_for):
    """The 物业助理's badge: their role's notes, no breached clocks; the same single statement."""
    assistant = client_for("assistant")
    real = record_call(assistant)
    assert assistant.post("/notifications/read").status_code == 302
    clock.advance(seconds=1)
    few = _badge(assistant, db_url)
    assert few[0] == 0
    _notes(_requests(real, 3), role="assistant")  # their breaches are a supervisor's notes, not theirs
    assert _badge(assistant, db_url) == (3, few[1], 1)
