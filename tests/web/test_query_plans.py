"""Every query of the staff pages is served by an index: none reads a growing table from end to end.

The pages are fetched with the test client over a database seeded with a few thousand requests (about a
tenth open) and planner statistics gathered, while a ``before_cursor_execute`` hook records each SELECT
they send — so the check follows the code as it is, not a copied list of SQL. Each recorded statement is
then explained with its own parameters:

- SQLite (``EXPLAIN QUERY PLAN``): a ``SCAN`` of a growing table without an index fails; a ``SCAN … USING
  INDEX`` (reading an index in order) passes only when the statement has a ``LIMIT`` (a page, a capped
  count), which stops it after its rows.
- either: a ``LIKE '%…%'`` (a search for words anywhere in a text) fails unless the plan finds its rows
  through a trigram index — SQLite's FTS5 ``requests_fts`` read by ``MATCH``, PostgreSQL's ``pg_trgm`` GIN
  indexes read with a condition (engine.helpdesk.text_search) — as no ordinary index serves it; on SQLite
  such a statement may not read a growing table in index order either (not even under a LIMIT), and an FTS5
  table read without ``MATCH`` is a full read like any other.
- PostgreSQL (``EXPLAIN`` with sequential scans priced out, ``enable_seqscan = off``, so a ``Seq Scan``
  left in the plan means no index can serve it): any ``Seq Scan`` on a growing table fails, and so does an
  index read with no condition in a plan without a ``Limit``.

A failure names the page, the table and the statement, so the index or the query to change is plain.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import uuid

from sqlalchemy import event, insert, text

from engine.audit import history
from engine.core import clock, db
from engine.core.tables import AuditEvent, Instance, SlaClock, StepTiming, TaskRow
from engine.helpdesk import text_search
from engine.helpdesk.tables import HelpRequest
from engine.notify.tables import OutboxMessage

from .conftest import PASSWORD, RESIDENT_PHONE, record_call

GROWING = ("tasks", "requests", "audit_events", "sla_clocks", "instances", "outbox", "step_timings")
SEEDED = 2500  # requests added beside the real ones: enough for the planner to prefer indexes
OPEN_SHARE = 10  # one in ten is still open, with a task in an inbox


def _seed(url: str, template_id: str) -> None:
    """SEEDED requests shaped like the real ``template_id``: instance, request, two clocks, three audit
    events (a valid hash chain), an in-app message; the open ones with a ready task in a lane."""
    rnd = random.Random(16)
    with db.transaction(url) as session:
        tpl = session.get(Instance, template_id)
        # (lane, department): the 物业助理's and the supervisor's queues, and the engineering department's
        lanes = [("物业助理", None), ("物业助理", None), ("客服部主管", None), ("责任部门", "engineering")]
        base = clock.now() - dt.timedelta(days=700)
        instances, requests, clocks, events, outbox, tasks, steps = [], [], [], [], [], [], []
        for n in range(SEEDED):
            iid = str(uuid.uuid4())
            at = base + dt.timedelta(minutes=400 * n + rnd.randrange(300))
            still_open = n % OPEN_SHARE == 0
            closed = None if still_open else at + dt.timedelta(hours=rnd.randrange(1, 72))
            instances.append({"id": iid, "process_id": tpl.process_id, "version_id": tpl.version_id,
                              "status": "running" if still_open else "completed", "revision": 1, "state": tpl.state,
                              "state_fingerprint": tpl.state_fingerprint, "started_by": "assistant",
                              "started_at": at, "updated_at": closed or at, "completed_at": closed})
            requests.append({"instance_id": iid, "channel": "hotline", "caller_name": f"住户{n}",
                             "phone": f"139{n:08d}", "address": f"{n % 30 + 1}栋{n % 7 + 1}单元{n % 900 + 101}",
                             "building": f"{n % 30 + 1}栋", "description": f"第{n}号求助：水管漏水", "category": "abdeg"[n % 5],
                             "priority": "P3", "status": "open" if still_open else "closed", "created_at": at,
                             "updated_at": closed or at, "closed_at": closed, "satisfaction": None if still_open else 5,
                             "confidential": False})
            for key in ("response", "repair"):
                due = at + dt.timedelta(hours=2)
                status = "armed" if still_open else rnd.choice(("met", "met", "breached"))
                clocks.append({"instance_id": iid, "timer_task_id": str(uuid.uuid4()), "sla_key": key,
                               "element_id": f"t_{key}", "guarded_task_id": None, "guarded_element_id": "record",
                               "status": status, "armed_at": at, "due_at": due,
                               "met_at": at + dt.timedelta(hours=1) if status == "met" else None,
                               "breached_at": due if status == "breached" else None})
            prev = history.GENESIS
            for seq, kind in enumerate(("instance_started", "task_completed", "instance_completed"), 1):
                row = {"chain": iid, "seq": seq, "at": at + dt.timedelta(minutes=seq), "actor": "assistant",
                       "kind": kind, "element_id": "record", "payload": json.dumps({"n": n}),
                       "state_fingerprint": None, "prev_hash": prev}
                row["hash"] = prev = history.row_hash(prev, row)
                events.append(row)
            outbox.append({"event": "received", "channel": "inapp", "to_user": None, "to_role": "assistant",
                           "instance_id": iid, "body": "新求助", "status": "sent", "attempts": 0, "created_at": at})
            steps.append({"id": str(uuid.uuid4()), "instance_id": iid, "process_id": "help_request",
                          "element_id": "record", "name": "登记", "lane": "物业助理", "ready_at": at,
                          "completed_at": at + dt.timedelta(minutes=1), "seconds": 60.0, "completed_by": "assistant"})
            if still_open:
                lane, department = lanes[n // OPEN_SHARE % len(lanes)]
                tasks.append({"id": str(uuid.uuid4()), "instance_id": iid, "process_id": tpl.process_id,
                              "element_id": "record", "name": "登记", "lane": lane, "department": department,
                              "ready_at": at, "due_at": at + dt.timedelta(hours=2) if n % 3 else None})
        conn = session.connection()
        for table, rows in ((Instance, instances), (HelpRequest, requests), (SlaClock, clocks),
                            (AuditEvent, events), (OutboxMessage, outbox), (TaskRow, tasks), (StepTiming, steps)):
            conn.execute(insert(table.__table__), rows)
    with db.get_engine(url).begin() as conn:
        conn.execute(text("ANALYZE"))


def _problems(conn, sqlite: bool, statement: str, params) -> list[str]:
    """The full reads of growing tables in one statement's plan."""
    limited = re.search(r"\bLIMIT\b", statement, re.I) is not None
    found = []
    values = params.values() if isinstance(params, dict) else params or ()
    like = any(isinstance(v, str) and len(v) > 2 and v.startswith("%") for v in values)
    unindexed_like = "a LIKE '%…%' search that no trigram index serves reads every row it might match"
    if sqlite:
        cursor = conn.connection.dbapi_connection.cursor()
        trigram = False
        for _id, _parent, _unused, detail in cursor.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall():
            fts = re.match(rf"SCAN {text_search.FTS_TABLE} VIRTUAL TABLE INDEX \d+:(\S*)", detail)
            if fts:
                trigram = trigram or "M" in fts.group(1)
                if "M" not in fts.group(1):
                    found.append(detail)
                continue
            match = re.match(r"SCAN (\w+)( USING (COVERING )?INDEX \w+)?", detail)
            # a search's rows come from the trigram index: reading a growing table in order, even under a
            # LIMIT, would test the LIKE on every row down to the page's last match
            if match and match.group(1) in GROWING and not (match.group(2) and limited and not like):
                found.append(detail)
        return found + ([unindexed_like] if like and not trigram else [])
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
    plan = cursor.fetchone()[0][0]["Plan"]
    limited = limited or _any(plan, lambda node: node["Node Type"] == "Limit")

    def walk(node):
        table = node.get("Relation Name")
        if table in GROWING:
            kind = node["Node Type"]
            if kind == "Seq Scan" or (kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node
                                      and not limited):
                found.append(f"{kind} on {table} ({node.get('Index Name', 'no index')})")
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan)
    trigram = _any(plan, lambda node: node.get("Index Name") in text_search.TRGM_INDEXES and "Index Cond" in node)
    return found + ([unindexed_like] if like and not trigram else [])


def _any(node, test) -> bool:
    return test(node) or any(_any(child, test) for child in node.get("Plans", ()))


def _full_reads(app, client_for, db_url, pages: dict[str, list[str]], *, api: bool) -> list[str]:
    """Seed, fetch ``pages`` (username → URLs; ``{real}`` is a real request's id) and each one's 下一页,
    and the task API's first two pages; the full reads found in the plans of what they sent."""
    assistant = client_for("assistant")
    real = [record_call(assistant, caller_name=f"陈先生{i}") for i in range(3)]
    _seed(db_url, real[0])
    sqlite = db_url.startswith("sqlite")
    captured: list[tuple[str, str, object]] = []
    where = {"page": ""}

    def record(_conn, _cursor, statement, parameters, _context, executemany):
        if not executemany and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((where["page"], statement, parameters))

    engine = db.get_engine(db_url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        for username, urls in pages.items():
            client = client_for(username)
            for url in (u.format(real=real[0]) for u in urls):
                where["page"] = f"{username} {url}"
                res = client.get(url)
                assert res.status_code == 200, (url, res.status_code)
                nxt = re.search(r'rel="next" href="([^"]+)"', res.get_data(as_text=True))
                if nxt:  # the second page too: the keyset condition must keep the index
                    where["page"] = f"{username} {url} (下一页)"
                    assert client.get(nxt.group(1).replace("&amp;", "&")).status_code == 200
        if api:
            token = app.test_client().post("/api/v1/auth/token", json={"username": "assistant", "password": PASSWORD})
            bearer = {"Authorization": f"Bearer {token.get_json()['token']}"}
            where["page"] = "api /api/v1/tasks"
            first = app.test_client().get("/api/v1/tasks?limit=20", headers=bearer)
            assert first.status_code == 200 and len(first.get_json()["tasks"]) == 20
            where["page"] = "api /api/v1/tasks (next)"
            assert app.test_client().get(f"/api/v1/tasks?limit=20&after={first.get_json()['next']}",
                                         headers=bearer).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert len(captured) > 10
    failures = []
    with engine.connect() as conn:
        if not sqlite:
            conn.execute(text("SET enable_seqscan = off"))
        seen = set()
        for page, statement, params in captured:
            if statement in seen:
                continue
            seen.add(statement)
            for problem in _problems(conn, sqlite, statement, params):
                failures.append(f"{page}: {problem}\n    {' '.join(statement.split())[:400]}")
    return failures


STAFF_PAGES = {
    "assistant": ["/inbox", "/inbox/list", "/inbox/count.json", "/requests", "/requests?status=open",
                  "/requests?category=b", "/requests/{real}", "/notifications", "/notifications/count.json"],
    "cs_supervisor": ["/inbox?scope=all", "/requests", "/requests?status=closed", "/requests/{real}",
                      "/notifications", "/handovers", "/requests?step=help_request:record",
                      "/requests?month=2026-11&step=help_request:record"],
    "engineer": ["/inbox", "/requests"],
    RESIDENT_PHONE: ["/portal"],
}


def test_the_staff_pages_read_no_growing_table_from_end_to_end(app, client_for, db_url):
    failures = _full_reads(app, client_for, db_url, STAFF_PAGES, api=True)
    assert not failures, "full reads of growing tables:\n" + "\n".join(failures)


def test_searching_the_requests_reads_no_growing_table_from_end_to_end(app, client_for, db_url):
    # words a few requests contain: a phone, a description's words, a unit with a status. (Words nearly every
    # request contains, such as 水管漏水 here, PostgreSQL rightly reads newest first through created_at's
    # index instead, stopping after the page: the plan then names no trigram index.)
    searches = ["/requests?q=13900000042", "/requests?q=第42号求助", "/requests?q=12栋3单元&status=closed"]
    failures = _full_reads(app, client_for, db_url, {"assistant": searches}, api=False)
    assert not failures, "full reads of growing tables:\n" + "\n".join(failures)
