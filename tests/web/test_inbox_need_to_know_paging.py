"""The inbox of a 被投诉人 with many hidden tasks (issue 16): need-to-know is filtered in the query, so a
page still shows 50 tasks they may see, the next page the rest, and the count — on the page and in
``/inbox/count.json`` — is of what they may see, capped at 1000, however many complaint tasks about them
stand ahead in the queue. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from engine.core import clock, db
from engine.core.tables import TaskRow

from .conftest import PASSWORD, insert_open_requests, record_call, task_ids

HIDDEN = 600  # complaints naming the 物业助理 "assistant", each with a task in the 物业助理 lane


def _seed(template_id: str, visible: int) -> tuple[set[str], set[str]]:
    """HIDDEN complaint tasks about "assistant", due first, then ``visible`` ordinary ones; their task ids."""
    now = clock.now()

    def complaint(n: int) -> dict:
        return {"description": "投诉：服务态度", "category": "c", "complained_staff": "assistant"} if n < HIDDEN else {}

    def due(n: int) -> dict:  # the complaints come first in queue order
        return {"due_at": now + dt.timedelta(minutes=n), "queue_at": now + dt.timedelta(minutes=n)}

    ids = insert_open_requests(template_id, HIDDEN + visible, request=complaint, task=due)
    return set(ids[:HIDDEN]), set(ids[HIDDEN:])


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
