"""The back office in the browser's place: the 审计员 verifies, replays and exports; the 管理员 manages
accounts and the fee schedule; the report readers see the month's figures. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import text

from engine import audit
from engine.audit import history
from engine.core import db
from engine.helpdesk import intake
from tests.web.conftest import PASSWORD, RESIDENT_PHONE, record_call, task_ids


def _repaired_and_rated(client_for) -> str:
    """A repair call: recorded, repaired by the engineer, rated by the resident; returns the instance id."""
    iid = record_call(client_for("assistant"))
    engineer = client_for("engineer")
    [tid] = task_ids(engineer.get("/inbox").get_data(as_text=True))
    res = engineer.post(f"/tasks/{tid}", data={"result": "更换角阀", "minutes": "20", "fixed": "true",
                                               "action": "submit"})
    assert res.status_code == 302
    resident = client_for(RESIDENT_PHONE)
    with db.read_session() as session:
        from engine.helpdesk import queries

        [task] = queries.open_tasks(session, iid)
    res = resident.post(f"/tasks/{task.id}", data={"resolved": "true", "speed": "5", "quality": "4",
                                                  "attitude": "5", "action": "submit"})
    assert res.status_code == 302, res.get_data(as_text=True)
    return iid


def _tamper(db_url: str, row_id: int) -> None:
    """A DBA who gets past the append-only trigger edits a submitted form value."""
    engine = db.get_engine(db_url)
    postgres = engine.dialect.name == "postgresql"
    try:
        with engine.begin() as conn:
            if postgres:
                conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update"))
            else:
                conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("UPDATE audit_events SET payload = replace(payload, '更换角阀', '更换水管') "
                              "WHERE id = :id"), {"id": row_id})
    finally:
        if postgres:  # the PostgreSQL test database is shared by the session's tests
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update"))


# --- 审计员 ---------------------------------------------------------------------------------------------------


def test_auditor_finds_verifies_replays_and_downloads_a_bundle_that_checks_out(client_for):
    iid = _repaired_and_rated(client_for)
    auditor = client_for("auditor")

    listing = auditor.get("/audit?q=3栋2单元").get_data(as_text=True)
    assert f"/audit/{iid}" in listing and "陈先生" in listing
    assert "没有符合条件" in auditor.get("/audit?q=不存在的地址").get_data(as_text=True)

    verified = auditor.post("/audit/verify").get_data(as_text=True)
    assert "✓ 校验通过" in verified and 'data-testid="broken-row"' not in verified

    page = auditor.get(f"/audit/{iid}").get_data(as_text=True)
    assert "✓ 哈希链完整" in page
    assert "流程启动" in page and "完成任务" in page and "维修处理" in page  # kinds in Chinese, element names
    assert "更换角阀" in page  # the payload data
    with db.read_session() as session:
        events = history.events(session, iid)
    assert all(e.hash in page and e.prev_hash in page for e in events)
    assert "sha256(prev_hash + canonical_row)" in page

    replayed = auditor.post(f"/audit/{iid}/replay").get_data(as_text=True)
    assert "✓ 全部" in replayed and "与记录一致" in replayed
    steps = replayed.count('data-testid="replay-step"')
    assert steps == 3 and replayed.count('class="step ok"') == 3  # started, repair, rating
    assert "+ 维修处理" in replayed and "− 维修处理" in replayed  # ready tasks that came and went
    assert "<th>result</th>" in replayed and "&#34;更换角阀&#34;" in replayed  # the input that changed

    res = auditor.get(f"/audit/{iid}/bundle.json")
    assert res.status_code == 200 and "attachment" in res.headers["Content-Disposition"]
    bundle = json.loads(res.get_data(as_text=True))
    assert bundle["instance"]["id"] == iid and bundle["instance"]["process_id"] == "web_help_request"
    assert [e["seq"] for e in bundle["events"]] == list(range(1, len(events) + 1))
    assert audit.check_bundle(bundle) == []
    assert {f["name"] for f in bundle["files"]} >= {"web_help_request.bpmn", "web_repair.schema.json"}
    # the outsider's own check, spelled out as on the page, with the standard library only
    import base64
    import hashlib

    prev = bundle["genesis"]
    for e in bundle["events"]:
        row = json.dumps({k: e[k] for k in bundle["canonical_fields"]}, sort_keys=True, ensure_ascii=False,
                         separators=(",", ":"))
        assert e["prev_hash"] == prev and e["hash"] == hashlib.sha256((prev + row).encode()).hexdigest()
        prev = e["hash"]
    for f in bundle["files"]:
        assert hashlib.sha256(base64.b64decode(f["content_base64"])).hexdigest() == f["sha256"]
    # a changed byte in the bundle is caught by the same check
    bundle["events"][1]["actor"] = "someone-else"
    assert audit.check_bundle(bundle) == ["seq 2: hash does not match the row"]


def test_a_tampered_row_shows_as_broken_on_the_audit_pages(client_for, db_url):
    iid = _repaired_and_rated(client_for)
    with db.read_session() as session:
        victim = next(e for e in history.events(session, iid) if "更换角阀" in e.payload)
    _tamper(db_url, victim.id)
    auditor = client_for("auditor")

    verified = auditor.post("/audit/verify").get_data(as_text=True)
    assert "✗ 发现 1 条哈希链断裂" in verified
    assert verified.count('data-testid="broken-row"') == 1
    assert f"#{victim.id}" in verified and "该记录被修改过" in verified

    page = auditor.get(f"/audit/{iid}").get_data(as_text=True)
    assert f"✗ 哈希链在第 {victim.seq} 条（记录 #{victim.id}）断裂" in page
    assert 'class="event broken"' in page and "更换水管" in page

    replayed = auditor.post(f"/audit/{iid}/replay").get_data(as_text=True)
    assert "✗ 不一致" in replayed and "哈希链已断裂" in replayed
    bundle = json.loads(auditor.get(f"/audit/{iid}/bundle.json").get_data(as_text=True))
    assert bundle["chain_ok_at_export"] is False
    assert audit.check_bundle(bundle) == [f"seq {victim.seq}: hash does not match the row"]


def test_audit_pages_are_for_the_auditor_only(client_for):
    iid = record_call(client_for("assistant"))
    for who in ("assistant", "admin", "cs_supervisor", "process_owner"):
        client = client_for(who)
        assert client.get("/audit").status_code == 403
        assert client.get(f"/audit/{iid}/bundle.json").status_code == 403
    assert client_for("auditor").get("/audit/00000000-0000-0000-0000-000000000000").status_code == 404


# --- 管理员 ---------------------------------------------------------------------------------------------------


def test_admin_adds_a_user_who_can_sign_in_and_deactivates_them(client_for, app):
    admin = client_for("admin")
    res = admin.post("/admin/users", data={"username": "guard3", "display_name": "唐护管", "password": PASSWORD,
                                           "roles": ["guard"]})
    assert res.status_code == 302
    assert "已添加用户 唐护管（guard3）" in admin.get("/admin/users").get_data(as_text=True)
    guard = client_for("guard3")
    assert guard.get("/inbox").status_code == 200

    # errors in Chinese, beside the fields, input kept
    res = admin.post("/admin/users", data={"username": "guard3", "display_name": "重复", "password": PASSWORD,
                                           "roles": ["guard"]})
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "用户名 guard3 已存在" in html and 'value="重复"' in html
    html = admin.post("/admin/users", data={"username": "x1", "display_name": "", "password": "short"}).get_data(
        as_text=True)
    assert "请填写姓名" in html and "密码至少12位" in html and "请至少选择一个角色" in html

    assert admin.post("/admin/users/guard3/active", data={"active": "0"}).status_code == 302
    assert "已停用账号 唐护管" in admin.get("/admin/users").get_data(as_text=True)
    res = app.test_client().post("/login", data={"username": "guard3", "password": PASSWORD})
    assert res.status_code != 302  # a deactivated account cannot sign in
    admin.post("/admin/users/admin/active", data={"active": "0"})
    assert "不能停用自己的账号" in admin.get("/admin/users").get_data(as_text=True)


def test_admin_changes_a_fee_and_the_next_quote_uses_it(client_for):
    admin = client_for("admin")
    html = admin.get("/admin/fees").get_data(as_text=True)
    assert "开锁服务" in html and 'value="50.00"' in html

    res = admin.post("/admin/fees/lock_open", data={"price": "65.5", "name": "开锁服务", "unit": "次"})
    assert res.status_code == 302
    assert "已更新收费项目：开锁服务 65.50 元/次" in admin.get("/admin/fees").get_data(as_text=True)
    with db.read_session() as session:
        quote = {f["code"]: f for f in intake.fee_schedule(session)}
    assert quote["lock_open"]["price"] == 65.5

    for bad, message in (("abc", "价格必须是数字"), ("-1", "价格不能为负数"), ("1.234", "价格最多保留两位小数"),
                         ("", "请填写价格")):
        res = admin.post("/admin/fees/lock_open", data={"price": bad})
        assert res.status_code == 422 and message in res.get_data(as_text=True), bad

    res = admin.post("/admin/fees", data={"code": "window_clean", "name": "擦窗", "unit": "次", "price": "80"})
    assert res.status_code == 302
    res = admin.post("/admin/fees", data={"code": "Bad Code", "name": "", "unit": "次", "price": "1.001"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and "编码须以小写字母开头" in html and "请填写项目名称" in html
    assert "价格最多保留两位小数" in html

    assert admin.post("/admin/fees/pipe_unblock", data={"active": "0"}).status_code == 302
    with db.read_session() as session:
        quote = {f["code"]: f for f in intake.fee_schedule(session)}
    assert "pipe_unblock" not in quote and quote["window_clean"]["price"] == 80.0
    with db.read_session() as session:  # who changed a price, and when, is on the record
        kinds = [(e.kind, e.element_id) for e in history.events(session, "management")]
    assert ("fee_changed", "lock_open") in kinds and ("fee_added", "window_clean") in kinds


def test_admin_sees_and_retries_an_incident(client_for):
    import datetime as dt

    from engine.core import clock
    from engine.core.tables import Incident, Instance

    iid = record_call(client_for("assistant"))
    with db.transaction() as session:
        instance = session.get(Instance, iid)
        instance.status, instance.incident = "incident", "ScriptFailure: boom"
        session.add(Incident(instance_id=iid, element_id="repair_late", error="ScriptFailure: boom",
                             created_at=clock.now() - dt.timedelta(minutes=3)))
    admin = client_for("admin")
    html = admin.get("/admin/incidents").get_data(as_text=True)
    assert "ScriptFailure: boom" in html and "待处理" in html
    incident_id = int(html.split('data-testid="incident-')[1].split('"')[0])
    assert admin.post(f"/admin/incidents/{incident_id}/retry").status_code == 302
    html = admin.get("/admin/incidents").get_data(as_text=True)
    assert "已标记处理" in html and "没有待处理的异常" in html
    with db.read_session() as session:
        assert session.get(Instance, iid).status == "running"
    assert admin.post("/admin/incidents/999999/retry").status_code == 404


# --- 报表 ---------------------------------------------------------------------------------------------------


def _at(month: int, day: int, hour: int, minute: int = 0):
    import datetime as dt

    from engine.core import clock

    return clock.freeze(dt.datetime(2026, month, day, hour, minute, tzinfo=clock.SHANGHAI))


def test_reports_count_a_months_requests_by_type_channel_satisfaction_and_deadlines(client_for):
    from engine import runtime
    from tests.scenarios import driver as d

    _at(10, 31, 23, 30)  # October, in Shanghai as in UTC
    record_call(client_for("assistant"), category="d", description="十月的咨询")
    _at(11, 1, 7, 30)  # 23:30 UTC on 31 October, but November in Shanghai: counted in November
    with db.transaction() as session:
        runtime.start(session, "web_help_request", {"channel": "online", "caller_name": "陈先生",
                                                    "phone": RESIDENT_PHONE, "address": "3栋2单元1201",
                                                    "description": "想问问停车", "category": "g",
                                                    "customer_username": RESIDENT_PHONE}, RESIDENT_PHONE)
    _at(11, 10, 10)
    rated = _repaired_and_rated(client_for)  # met its 30-minute response clock; rated 5/4/5 -> satisfaction 5
    record_call(client_for("assistant"), category="d", description="物业费怎么交")
    late = record_call(client_for("assistant"), description="阳台漏水")
    assert d.advance(minutes=31) == 1  # the engineer did not respond in time: breached

    supervisor = client_for("cs_supervisor")
    html = supervisor.get("/reports?month=2026-11").get_data(as_text=True)
    assert 'data-testid="month">2026年11月' in html
    assert 'data-testid="total">4<' in html and 'data-testid="closed">1<' in html
    assert 'data-testid="satisfaction">5.00<' in html and "1 条评价" in html
    assert 'data-testid="satisfaction-rate">100.0%<' in html
    assert 'data-testid="rating-speed">5.00<' in html and 'data-testid="rating-quality">4.00<' in html
    assert 'data-testid="rating-attitude">5.00<' in html and "处理质量（5分制，1 条评价）" in html
    page = supervisor.get(f"/requests/{rated}").get_data(as_text=True)
    assert "<dt>处理质量</dt><dd data-testid=\"sub-rating\">4 分</dd>" in page
    mine = client_for(RESIDENT_PHONE).get(f"/portal/requests/{rated}").get_data(as_text=True)
    assert "<dt>响应速度</dt><dd data-testid=\"sub-rating\">5 分</dd>" in mine

    def row(testid: str) -> str:
        return html.split(f'data-testid="{testid}"')[1].split("</tr>")[0]

    assert '<td class="num">2</td>' in row("cat-b") and '<td class="num">1</td>' in row("cat-d")
    assert '<td class="num">1</td>' in row("cat-g") and '<td class="num">0</td>' in row("cat-a")
    assert '<td class="num">3</td>' in row("channel-hotline") and '<td class="num">1</td>' in row("channel-online")
    cells = [c.split(">")[1].split("<")[0] for c in row("sla-response").split('<td class="num')[1:]]
    assert cells == ["2", "1", "1", "0", "50.0%"]  # armed, met, breached, open, compliance
    assert html.count('data-testid="breached"') == 1 and f"/requests/{late}" in html

    october = supervisor.get("/reports?month=2026-10").get_data(as_text=True)
    assert 'data-testid="total">1<' in october and "本月没有超时" in october
    assert 'data-testid="satisfaction-rate">—<' in october
    assert 'data-testid="rating-quality">—<' in october and "处理质量（5分制，0 条评价）" in october
    assert 'data-testid="month">' in supervisor.get("/reports?month=garbage").get_data(as_text=True)
    for reader in ("manager", "leader"):
        assert client_for(reader).get("/reports").status_code == 200
    for other in ("assistant", "engineer", "auditor", "admin", RESIDENT_PHONE):
        assert client_for(other).get("/reports").status_code == 403


def test_reports_list_the_monthly_statistics_instances_with_what_was_recorded(client_for):
    from engine import repository
    from engine.core import config
    from engine.repository import bundle
    from tests.scenarios import driver as d

    with db.transaction() as session:
        repository.deploy(session, bundle.read_paths([config.PROJECT_ROOT / "bpmn" / "monthly_statistics.bpmn"]),
                          actor="tester")
    _at(11, 30, 23, 59)
    assert d.fire_due() == 0
    assert d.advance(minutes=1, seconds=1) == 1
    [run] = d.instances_of("monthly_statistics")
    d.do(run.id, "compile", "assistant", total_requests=42, closed_requests=40, satisfaction_rate=93,
         common_issues="下水道堵塞、门禁卡失效")
    d.do(run.id, "review", "cs_supervisor", report_to_manager=False,
         action_1={"what": "夜间热线增加一名接听人员", "owner": "cs_supervisor", "due": "2026-12-10"},
         action_2={"what": "门禁卡批量检测", "owner": "eng_head", "due": "2026-12-05"})
    html = client_for("manager").get("/reports?month=2026-11").get_data(as_text=True)
    assert html.count('data-testid="statistics-run"') == 1
    assert "2026-11 月度统计" in html and "处理中" in html  # the actions are still being followed
    assert "<dt>求助总数</dt><dd class=\"pre\">42</dd>" in html and "下水道堵塞、门禁卡失效" in html
    assert "1. 夜间热线增加一名接听人员（cs_supervisor，2026-12-10前）；2. 门禁卡批量检测（eng_head，2026-12-05前）" in html
    d.do(run.id, "act", "cs_supervisor", result="已排班")
    d.do(run.id, "act", "eng_head", result="已检测")
    html = client_for("manager").get("/reports?month=2026-11").get_data(as_text=True)
    assert "已办结" in html


def test_reports_show_the_open_backlog_by_age_oldest_first(client_for):
    from engine.core import clock

    clock.freeze()
    done = _repaired_and_rated(client_for)  # closed: not in the backlog
    assistant = client_for("assistant")
    old = record_call(assistant, caller_name="老王", description="三天前的漏水")
    clock.advance(days=2)
    middle = record_call(assistant, caller_name="小李", description="前天的门禁")
    clock.advance(hours=20)
    fresh = record_call(assistant, caller_name="小张", description="刚报的灯")
    clock.advance(hours=6)  # ages: 74 h, 26 h, 6 h

    html = client_for("cs_supervisor").get("/reports").get_data(as_text=True)
    counts = [html.split(f'data-testid="backlog-{i}">')[1].split("<")[0] for i in range(1, 5)]
    assert counts == ["1", "1", "1", "0"]  # < 24 h, 24–48 h, 48 h–7 d, > 7 d
    assert "共 3 件" in html
    rows = html.split('data-testid="backlog-row"')[1:]
    assert [old in rows[0], middle in rows[1], fresh in rows[2]] == [True, True, True]
    assert "3天2小时" in rows[0] and "6小时0分" in rows[2]
    assert done not in "".join(rows)


def test_reports_show_each_staff_members_month_for_the_appraisal(client_for):
    from tests.scenarios import driver as d

    _at(11, 10, 10)
    _repaired_and_rated(client_for)  # engineer: on time, rated 5
    late = record_call(client_for("assistant"), description="阳台漏水")
    assert d.advance(minutes=31) == 1  # the response deadline on the repair fires
    engineer2 = client_for("engineer2")
    [tid] = task_ids(engineer2.get("/inbox").get_data(as_text=True))
    res = engineer2.post(f"/tasks/{tid}", data={"result": "补胶", "minutes": "40", "fixed": "true", "action": "submit"})
    assert res.status_code == 302
    _at(12, 2, 9)  # December: November's figures stay November's

    html = client_for("manager").get("/reports?month=2026-11").get_data(as_text=True)

    def cells(username: str) -> list[str]:
        row = html.split(f'data-testid="staff-{username}"')[1].split("</tr>")[0]
        return [c.split(">", 1)[1].split("<")[0] for c in row.split("<td")[1:]]

    # completed, requests, late, rated, average, 住户评价, 电话回访, last month, change, score (5.00 × 20)
    assert cells("engineer")[1:] == ["1", "1", "0", "1", "5.00", "1 条，5.00", "—", "—", "—", "100.0"]
    assert cells("engineer2")[1:] == ["1", "1", "1", "0", "—", "—", "—", "—", "—", "不计分"]
    assert "× 20 − 超时完成任务数 × 2" in html  # the rule the scores follow, on the page
    assert f"staff-{RESIDENT_PHONE}" not in html  # residents rate; they are not appraised
    with db.read_session() as session:  # engineer2's one task was the late request's repair
        from sqlalchemy import select

        from engine.core.tables import AuditEvent

        assert session.scalars(select(AuditEvent.chain).where(AuditEvent.actor == "engineer2",
                                                              AuditEvent.kind == "task_completed")).all() == [late]
    december = client_for("manager").get("/reports?month=2026-12").get_data(as_text=True)
    assert "本月没有员工完成任务" in december


def test_the_monthly_report_exports_as_csv_that_excel_opens_and_cannot_run(client_for, monkeypatch):
    import csv
    import io

    from tests.scenarios import driver as d
    from webapp import reports_views

    monkeypatch.setattr(reports_views, "BREACHES_SHOWN", 1)
    _at(11, 10, 10)
    _repaired_and_rated(client_for)
    late = record_call(client_for("assistant"), caller_name="=HYPERLINK(\"http://x\")", address="-3栋")
    other = record_call(client_for("assistant"), caller_name="周女士", description="门铃坏了")
    assert d.advance(minutes=31) == 2
    page = client_for("cs_supervisor").get("/reports?month=2026-11").get_data(as_text=True)
    assert 'data-testid="breached-count">2<' in page and page.count('data-testid="breached"') == 1
    assert "以上为最近的 1 条，共 2 条" in page and "/reports/export.csv?month=2026-11" in page
    res = client_for("cs_supervisor").get("/reports/export.csv?month=2026-11")
    assert res.status_code == 200 and res.mimetype == "text/csv"
    assert res.headers["Content-Disposition"] == "attachment; filename=liyuan-report-2026-11.csv"
    text = res.get_data(as_text=True)
    assert text.startswith("\ufeff")  # Excel reads the Chinese as UTF-8
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["荔园物业 月度报表 2026-11"]
    assert ["求助总数", "3"] in rows and ["满意率（%）", "100.0"] in rows and ["处理质量（5分制）", "4.0"] in rows
    assert ["b. 报修求助", "3"] in rows and ["24小时热线", "3"] in rows and ["超时次数", "2"] in rows
    assert ["响应（30分钟）", "3", "1", "2", "0", "33.3"] in rows
    assert sorted(r[-1] for r in rows if r and r[-1] in (late, other)) == sorted([late, other])  # all, not 1
    assert ["郑工程师", "engineer", "1", "1", "0", "1", "0", "0", "5.0"]  # 住户评价 0, 电话回访 0: this fixture records no source in rows
    [breach] = [r for r in rows if r and r[-1] == late]
    assert breach[4:6] == ["'=HYPERLINK(\"http://x\")", "'-3栋"]  # typed text stays text
    assert client_for("engineer").get("/reports/export.csv").status_code == 403


def test_auditor_downloads_the_published_checkpoints_and_the_key_that_signed_them(client_for, audit_signing):
    from engine.audit import signing

    _repaired_and_rated(client_for)
    auditor = client_for("auditor")
    page = auditor.get("/audit").get_data(as_text=True)
    published = [json.loads(line) for line in audit_signing.read_text().splitlines()]
    assert f"树大小 <strong>{published[-1]['tree_size']}</strong>" in page and published[-1]["root"] in page
    res = auditor.get("/audit/checkpoints.jsonl")
    assert res.status_code == 200 and res.get_data() == audit_signing.read_bytes()
    public = signing.load_public(auditor.get("/audit/public-key").get_data(as_text=True).strip())
    last = published[-1]
    assert signing.signature_ok(public, last["tree_size"], last["root"], last["at"], last["signature"])
    verified = auditor.post("/audit/verify").get_data(as_text=True)
    assert "默克尔树与" in verified and "✓ 校验通过" in verified
    from engine.audit import verify_bundle

    script = auditor.get("/audit/verify_bundle.py")
    assert script.status_code == 200 and script.get_data() == open(verify_bundle.__file__, "rb").read()
