"""The inbox of a 被投诉人 with many hidden tasks (issue 16): need-to-know is filtered in the query, so a
page still shows 50 tasks they may see, the next page the rest, and the count — on the page and in
``/inbox/count.json`` — is of what they may see, capped at 1000, however many complaint tasks about them
stand ahead in the queue. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import insert, select

from engine.core import clock, db
from engine.core.tables import Instance, TaskRow
from engine.helpdesk.tables import HelpRequest

from .conftest import PASSWORD, record_call, task_ids

HIDDEN = 600  # complaints naming the 物业助理 "assistant", each with a task in the 物业助理 lane


def _seed(template_id: str, visible: int) -> tuple[set[str], set[str]]:
    """HIDDEN complaint tasks about "assistant", due first, then ``visible`` ordinary ones; their task ids."""
    hidden_ids, visible_ids = set(), set()
    with db.transaction() as session:
        tpl = session.get(Instance, template_id)
        now = clock.now()
        instances, requests, tasks = [], [], []
        for n in range(HIDDEN + visible):
            about_me = n < HIDDEN
            iid, tid, at = str(uuid.uuid4()), str(uuid.uuid4()), now - dt.timedelta(minutes=n)
            due = now + dt.timedelta(minutes=n)  # the complaints come first in queue order
            instances.append({"id": iid, "process_id": tpl.process_id, "version_id": tpl.version_id,
                              "status": "running", "revision": 1, "state": tpl.state,
                              "state_fingerprint": tpl.state_fingerprint, "started_by": "assistant",
                              "started_at": at, "updated_at": at, "completed_at": None})
            requests.append({"instance_id": iid, "channel": "hotline", "caller_name": f"住户{n}",
                             "phone": f"139{n:08d}", "address": f"{n % 30 + 1}栋", "building": None,
                             "description": "投诉：服务态度" if about_me else "水管漏水",
                             "category": "c" if about_me else "b", "priority": "P3", "status": "open",
                             "created_at": at, "updated_at": at, "closed_at": None, "confidential": False,
                             "complained_staff": "assistant" if about_me else None})
            tasks.append({"id": tid, "instance_id": iid, "process_id": tpl.process_id, "element_id": "record",
                          "name": "登记", "lane": "物业助理", "department": None, "ready_at": at,
                          "due_at": due, "queue_at": due})
            (hidden_ids if about_me else visible_ids).add(tid)
        conn = session.connection()
        for table, rows in ((Instance, instances), (HelpRequest, requests), (TaskRow, tasks)):
            conn.execute(insert(table.__table__), rows)
    return hidden_ids, visible_ids


def _next(html: str) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_a_page_of_a_complained_about_assistants_inbox_shows_fifty_tasks_they_may_see(app, client_for):
    assistant = client_for("assistant")
    real = record_call(assistant)
    hidden, visible = _seed(real, visible=60)
    first = assistant.get("/inbox").get_data(as_text=True)
    shown = task_ids(first)
    assert len(shown) == 50 and set(shown) <= visible | _open_tasks(real) and not set(shown) & hidden
    total = len(visible | _open_tasks(real))
    assert f"待办共 {total} 项" in first
    second = assistant.get(_next(first)).get_data(as_text=True)
    rest = task_ids(second)
    assert set(shown) | set(rest) == visible | _open_tasks(real) and not set(rest) & hidden
    assert assistant.get("/inbox/count.json").get_json() == {"count": total, "more": False}
    token = app.test_client().post("/api/v1/auth/token", json={"username": "assistant", "password": PASSWORD})
    api = app.test_client().get("/api/v1/tasks?limit=50",
                                headers={"Authorization": f"Bearer {token.get_json()['token']}"}).get_json()
    assert len(api["tasks"]) == 50 and not {t["id"] for t in api["tasks"]} & hidden
    # the supervisor, named in none of them, sees the complaints first in 全部待办
    supervisor = client_for("cs_supervisor").get("/inbox?scope=all").get_data(as_text=True)
    assert len(task_ids(supervisor)) == 50 and len(set(task_ids(supervisor)) & hidden) >= 50 - len(_open_tasks(real, None))


def test_the_count_of_a_complained_about_assistants_inbox_is_of_what_they_may_see_capped(client_for):
    assistant = client_for("assistant")
    _seed(record_call(assistant), visible=1100)
    assert assistant.get("/inbox/count.json").get_json() == {"count": 1000, "more": True}
    page = assistant.get("/inbox").get_data(as_text=True)
    assert len(task_ids(page)) == 50 and "待办共 1000+ 项" in page


def _open_tasks(instance_id: str, lane: str | None = "物业助理") -> set[str]:
    """The real call's own open tasks (in the assistant's lane, or in any)."""
    with db.read_session() as session:
        query = select(TaskRow.id).where(TaskRow.instance_id == instance_id)
        return set(session.scalars(query.where(TaskRow.lane == lane) if lane else query))
