"""A page of the inbox costs the same number of queries whether it shows 2 cards or 39 (issue 16): each
card's deadline labels (its request's process version) and the need-to-know check of a task the reader
may not do are asked once per page, never once per card. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import event, insert

from engine.core import clock, db
from engine.core.tables import Instance, TaskRow
from engine.helpdesk.tables import HelpRequest

from .conftest import record_call, task_ids


def _seed(template_id: str, count: int) -> None:
    """``count`` ordinary requests, each with an open task in the 物业助理 lane (not the supervisor's)."""
    with db.transaction() as session:
        tpl = session.get(Instance, template_id)
        now = clock.now()
        instances, requests, tasks = [], [], []
        for n in range(count):
            iid, at = str(uuid.uuid4()), now - dt.timedelta(minutes=n + 1)
            instances.append({"id": iid, "process_id": tpl.process_id, "version_id": tpl.version_id,
                              "status": "running", "revision": 1, "state": tpl.state,
                              "state_fingerprint": tpl.state_fingerprint, "started_by": "assistant",
                              "started_at": at, "updated_at": at, "completed_at": None})
            requests.append({"instance_id": iid, "channel": "hotline", "caller_name": f"住户{n}",
                             "phone": f"139{n:08d}", "address": f"{n % 30 + 1}栋", "building": None,
                             "description": "水管漏水", "category": "b", "priority": "P3", "status": "open",
                             "created_at": at, "updated_at": at, "closed_at": None, "confidential": False,
                             "complained_staff": None})
            tasks.append({"id": str(uuid.uuid4()), "instance_id": iid, "process_id": tpl.process_id,
                          "element_id": "record", "name": "登记", "lane": "物业助理", "department": None,
                          "ready_at": at, "due_at": None, "queue_at": at})
        conn = session.connection()
        for table, rows in ((Instance, instances), (HelpRequest, requests), (TaskRow, tasks)):
            conn.execute(insert(table.__table__), rows)


def _selects(client, url: str, db_url: str) -> tuple[int, int]:
    """(SELECTs sent while serving ``url``, cards on the page), after one warm-up request."""
    assert client.get(url).status_code == 200
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = db.get_engine(db_url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        res = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert res.status_code == 200
    return len(seen), len(task_ids(res.get_data(as_text=True)))


def test_an_inbox_page_sends_as_many_queries_for_forty_cards_as_for_two(db_url, client_for):
    assistant, supervisor = client_for("assistant"), client_for("cs_supervisor")
    real = record_call(assistant)
    _seed(real, 2)
    few = {"mine": _selects(assistant, "/inbox", db_url), "all": _selects(supervisor, "/inbox?scope=all", db_url)}
    _seed(real, 37)
    many = {"mine": _selects(assistant, "/inbox", db_url), "all": _selects(supervisor, "/inbox?scope=all", db_url)}
    for scope in ("mine", "all"):
        (few_selects, few_cards), (many_selects, many_cards) = few[scope], many[scope]
        assert few_cards >= 2 and many_cards == few_cards + 37, (scope, few_cards, many_cards)
        assert many_selects == few_selects, (scope, few_selects, many_selects)
