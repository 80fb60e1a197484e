"""The auditor's desk (issue 13, item 8): finding histories by customer, building, type, staff member,
date and breach; one history's timeline with the administrators' acts marked; the diagram and the data
difference as of any step. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from engine import repository
from engine.audit import keys
from engine.core import clock, db
from engine.helpdesk import audit_desk, queries
from engine.repository.bundle import Bundle, SourceFile
from tests.scenarios import driver as d
from tests.web.conftest import OTHER_PHONE, RESIDENT_PHONE, record_call, task_ids, web_bundle

ROW = re.compile(r'data-testid="desk-row" data-instance="([0-9a-f-]{36})"')


def _at(day: int, hour: int, minute: int = 0) -> None:
    clock.freeze(dt.datetime(2026, 11, day, hour, minute, tzinfo=clock.SHANGHAI))


def _repair_and_rate(client_for, iid: str) -> None:
    engineer = client_for("engineer")
    [tid] = task_ids(engineer.get("/inbox").get_data(as_text=True))
    assert engineer.post(f"/tasks/{tid}", data={"result": "更换角阀", "minutes": "20", "fixed": "true",
                                                "action": "submit"}).status_code == 302
    with db.read_session() as session:
        [task] = queries.open_tasks(session, iid)
    res = client_for(RESIDENT_PHONE).post(f"/tasks/{task.id}", data={"resolved": "true", "speed": "5", "quality": "4",
                                                                     "attitude": "5", "action": "submit"})
    assert res.status_code == 302, res.get_data(as_text=True)


@pytest.fixture
def histories(client_for) -> dict[str, str]:
    """Three requests on different days, buildings, types and people; the last one misses its deadline."""
    assistant = client_for("assistant")
    _at(10, 10)
    repaired = record_call(assistant)  # 陈先生, 3栋2单元1201, b
    _repair_and_rate(client_for, repaired)  # engineer on time; the resident rates
    _at(12, 10)
    consult = record_call(assistant, caller_name="黄女士", phone=OTHER_PHONE, address="5栋1单元302",
                          description="物业费怎么交", category="d")
    _at(13, 7, 30)  # 23:30 UTC on 12 November: the 13th in Shanghai
    late = record_call(assistant, caller_name="老王", phone="13700000003", address="3栋1单元101",
                       description="阳台漏水")
    assert d.advance(minutes=31) == 1  # nobody responded within 30 minutes: breached
    return {"repaired": repaired, "consult": consult, "late": late}


def _found(client, **params) -> list[str]:
    res = client.get("/audit", query_string=params)
    assert res.status_code == 200
    return ROW.findall(res.get_data(as_text=True))


def test_each_filter_narrows_the_histories_to_the_ones_that_match(client_for, histories):
    h = histories
    auditor = client_for("auditor")
    assert sorted(_found(auditor)) == sorted(h.values())
    assert _found(auditor, customer="黄女士") == [h["consult"]]
    assert _found(auditor, customer=RESIDENT_PHONE) == [h["repaired"]]  # by phone
    assert _found(auditor, customer="13700") == [h["late"]]  # part of a phone
    assert sorted(_found(auditor, building="3栋")) == sorted([h["repaired"], h["late"]])
    assert _found(auditor, building="3栋2单元") == [h["repaired"]]  # building and unit
    assert _found(auditor, category="d") == [h["consult"]]
    assert sorted(_found(auditor, category="b")) == sorted([h["repaired"], h["late"]])
    assert _found(auditor, staff="engineer") == [h["repaired"]]  # the engineer acted on one request only
    assert _found(auditor, staff=RESIDENT_PHONE) == [h["repaired"]]  # the resident rated it
    assert sorted(_found(auditor, staff="assistant")) == sorted(h.values())  # recorded all three
    assert _found(auditor, staff="engineer2") == []
    # dates are Shanghai days: the late call came at 23:30 UTC on the 12th, which is the 13th here
    assert _found(auditor, date_from="2026-11-13") == [h["late"]]
    assert _found(auditor, date_from="2026-11-11", date_to="2026-11-12") == [h["consult"]]
    assert _found(auditor, date_to="2026-11-10") == [h["repaired"]]
    assert _found(auditor, breached="1") == [h["late"]]
    assert _found(auditor, category="b", breached="1", building="3栋") == [h["late"]]  # filters combine
    assert _found(auditor, category="d", breached="1") == []
    html = auditor.get("/audit", query_string={"date_from": "13/11/2026", "category": "z"}).get_data(as_text=True)
    assert "不是有效日期" in html and "没有求助类型" in html  # bad input: said, ignored, no 500
    assert len(ROW.findall(html)) == 3


def test_results_are_paged_with_the_filters_kept(client_for, histories, monkeypatch):
    from webapp import audit_views

    monkeypatch.setattr(audit_views, "PAGE_SIZE", 2)
    auditor = client_for("auditor")
    first = auditor.get("/audit?building=3栋&page=1").get_data(as_text=True)
    assert "共 2 条（第 1/1 页）" in first and len(ROW.findall(first)) == 2
    page1 = auditor.get("/audit").get_data(as_text=True)
    page2 = auditor.get("/audit?page=2").get_data(as_text=True)
    assert "共 3 条（第 1/2 页）" in page1 and "第 2/2 页" in page2
    rows = ROW.findall(page1) + ROW.findall(page2)
    assert sorted(rows) == sorted(histories.values())  # each on exactly one page, newest first
    assert rows[0] == histories["late"]
    filtered = auditor.get("/audit?staff=assistant").get_data(as_text=True)
    assert "page=2" in filtered and "staff=assistant" in filtered.split('rel="next"')[1].split(">")[0]
    assert ROW.findall(auditor.get("/audit?page=99").get_data(as_text=True)) == ROW.findall(page2)


def _step(html: str) -> str:
    return html.split('data-testid="desk-step"')[1]


def _diff(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="diff-row" data-key="([^"]+)" data-how="([^"]+)"', _step(html)))


def test_a_step_shows_the_diagram_as_of_then_and_the_data_it_changed(client_for, histories):
    iid = histories["repaired"]
    auditor = client_for("auditor")
    with db.read_session() as session:
        events = {e.kind + ":" + (e.element_id or ""): e.seq for e in audit_desk.history.events(session, iid)}
    repair, rate = events["task_completed:repair"], events["task_completed:rate"]

    html = auditor.get(f"/audit/{iid}?step={repair}").get_data(as_text=True)
    assert f'data-testid="desk-step" data-seq="{repair}"' in html
    marks = json.loads(_step(html).split('id="diagram-marks">')[1].split("</script>")[0])
    assert "repair" in marks["finished"] and "rate" in marks["active"] and marks["current"] == ["repair"]
    assert "rate" not in marks["finished"]
    diff = _diff(html)
    assert diff["result"] == "added" and diff["fixed"] == "added" and "caller_name" not in diff
    assert "&#34;更换角阀&#34;" in _step(html)
    assert 'src="/audit/' + iid + '/diagram.bpmn"' in html.replace("data-src", "src")
    assert auditor.get(f"/audit/{iid}/diagram.bpmn").get_data().startswith(b"<?xml")

    html = auditor.get(f"/audit/{iid}?step={rate}").get_data(as_text=True)
    marks = json.loads(_step(html).split('id="diagram-marks">')[1].split("</script>")[0])
    assert {"repair", "rate"} <= set(marks["finished"]) and marks["active"] == []
    diff = _diff(html)
    assert diff == {"attitude": "added", "quality": "added", "resolved": "added", "satisfaction": "added",
                    "speed": "added"}, diff  # the input and what the script computed from it, nothing else

    started = auditor.get(f"/audit/{iid}?step=1").get_data(as_text=True)
    marks = json.loads(_step(started).split('id="diagram-marks">')[1].split("</script>")[0])
    assert "repair" in marks["active"] and "repair" not in marks["finished"] and "rate" not in marks["active"]
    assert _diff(started)["caller_name"] == "added"
    claimed = [s for k, s in events.items() if k.startswith("task_reached")]
    page = auditor.get(f"/audit/{iid}?step={claimed[0]}").get_data(as_text=True)
    assert 'data-testid="desk-no-change"' in page  # a bookkeeping event changes no data
    assert 'data-testid="desk-step"' in auditor.get(f"/audit/{iid}?step=oops").get_data(as_text=True)


def test_the_diff_names_added_changed_and_removed_keys_with_old_and_new_values():
    changes = audit_desk.diff({"a": 1, "b": "旧", "c": [1]}, {"a": 1, "b": "新", "d": None})
    assert [(c.key, c.how, c.old, c.new) for c in changes] == [
        ("b", "changed", "旧", "新"), ("c", "removed", [1], None), ("d", "added", None, None)]


def test_admin_actions_are_marked_in_the_timeline(client_for, db_url):
    from engine.core.tables import Incident, Instance

    _at(20, 9)
    iid = record_call(client_for("assistant"))
    other = record_call(client_for("assistant"), category="d")
    _at(20, 9, 5)
    with db.transaction() as session:  # an admin publishes a new version of the diagram meanwhile
        source = web_bundle()
        bpmn = next(iter(source.bpmn.values()))
        edited = Bundle({bpmn.name: SourceFile(bpmn.name, bpmn.path, bpmn.content.replace("维修处理".encode(),
                                                                                           "维修处理（新）".encode()))},
                        source.forms)
        repository.deploy(session, edited, actor="process_owner")
    _at(20, 9, 10)
    with db.transaction() as session:  # the repair's timer failed for good: an incident, retried by the admin
        instance = session.get(Instance, iid)
        instance.status, instance.incident = "incident", "ScriptFailure: boom"
        session.add(Incident(instance_id=iid, element_id="repair_late", error="ScriptFailure: boom",
                             created_at=clock.now()))
    admin = client_for("admin")
    incident_id = int(admin.get("/admin/incidents").get_data(as_text=True).split('data-testid="incident-')[1]
                      .split('"')[0])
    assert admin.post(f"/admin/incidents/{incident_id}/retry").status_code == 302
    _at(20, 9, 15)
    with db.transaction() as session:  # a backup was restored: the signed record is an admin act too
        keys.restored(session, "admin")

    html = client_for("auditor").get(f"/audit/{iid}").get_data(as_text=True)
    entries = re.findall(r'data-testid="desk-entry" data-kind="([a-z_]+)" data-admin="(true|false)"', html)
    kinds = [k for k, _ in entries]
    admin_kinds = {k for k, a in entries if a == "true"}
    assert admin_kinds == {"deployed", "incident_retried", "restored"}, entries
    assert kinds.index("started") < kinds.index("deployed") < kinds.index("incident_retried") < kinds.index("restored")
    assert html.count('data-testid="admin-mark"') == 3 and "［流程仓库］" in html and "［审计密钥与恢复］" in html
    assert {k for k, a in entries if a == "false"} >= {"started", "task_reached"}
    # the other request shares the period and sees the deployment, but nobody retried anything on it
    other_html = client_for("auditor").get(f"/audit/{other}").get_data(as_text=True)
    other_admin = re.findall(r'data-kind="([a-z_]+)" data-admin="true"', other_html)
    assert other_admin == ["deployed", "restored"]


def test_the_desk_is_for_the_auditor_only(client_for, histories):
    iid = histories["repaired"]
    for who in ("engineer", "cs_supervisor", "assistant", "admin", "manager", RESIDENT_PHONE):
        client = client_for(who)
        for url in ("/audit?customer=陈先生", f"/audit/{iid}?step=2", f"/audit/{iid}/diagram.bpmn"):
            assert client.get(url).status_code == 403, (who, url)
    auditor = client_for("auditor")
    assert auditor.get("/audit/00000000-0000-0000-0000-000000000000?step=1").status_code == 404
    assert auditor.get("/audit/00000000-0000-0000-0000-000000000000/diagram.bpmn").status_code == 404
