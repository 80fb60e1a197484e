"""The inbox and task forms: validation beside the fields, drafts, claim/派单, and the friendly conflict."""

from __future__ import annotations

from tests.web.conftest import record_call, task_ids


def _engineer_task(client_for):
    record_call(client_for("assistant"))
    engineer = client_for("engineer")
    ids = task_ids(engineer.get("/inbox").get_data(as_text=True))
    assert len(ids) == 1
    return engineer, ids[0]


def test_repair_call_reaches_engineering_inbox_with_a_green_countdown(client_for):
    engineer, _ = _engineer_task(client_for)
    html = engineer.get("/inbox").get_data(as_text=True)
    assert "维修处理" in html and "3栋2单元1201" in html
    assert "badge--green" in html and "响应（30分钟）" in html
    # the 10-second refresh gets the same list as a fragment
    fragment = engineer.get("/inbox/list").get_data(as_text=True)
    assert "维修处理" in fragment and "<html" not in fragment


def test_invalid_post_shows_chinese_messages_beside_fields_and_keeps_input(client_for):
    engineer, tid = _engineer_task(client_for)
    res = engineer.post(f"/tasks/{tid}", data={"result": "", "minutes": "abc", "action": "submit"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert 'id="field-result-error">请填写此项' in html
    assert 'id="field-minutes-error"' in html
    assert 'value="abc"' in html  # what was typed survives
    res = engineer.post(f"/tasks/{tid}", data={"result": "更换阀门", "minutes": "20", "fixed": "true", "action": "submit"})
    assert res.status_code == 302


def test_two_people_completing_the_same_task_one_succeeds_one_gets_a_friendly_conflict(client_for):
    first, tid = _engineer_task(client_for)
    second = client_for("engineer2")
    assert first.get(f"/tasks/{tid}").status_code == 200
    assert second.get(f"/tasks/{tid}").status_code == 200
    done = {"result": "更换阀门", "fixed": "true", "action": "submit"}
    assert first.post(f"/tasks/{tid}", data=done).status_code == 302
    res = second.post(f"/tasks/{tid}", data=done)
    html = res.get_data(as_text=True)
    assert res.status_code == 409
    assert "这项任务已经有人处理了" in html and "郑工程师" in html and "返回待办" in html
    assert "Traceback" not in html


def test_draft_is_saved_and_resumed_per_user(client_for):
    engineer, tid = _engineer_task(client_for)
    res = engineer.post(f"/tasks/{tid}", data={"result": "先关总阀，明天换件", "action": "draft"})
    assert res.status_code == 302
    html = engineer.get(f"/tasks/{tid}").get_data(as_text=True)
    assert "先关总阀，明天换件" in html and "草稿" in html
    other = client_for("engineer2").get(f"/tasks/{tid}").get_data(as_text=True)
    assert "先关总阀，明天换件" not in other


def test_claim_hides_the_task_from_colleagues_and_release_gives_it_back(client_for):
    engineer, tid = _engineer_task(client_for)
    colleague = client_for("engineer2")
    assert engineer.post(f"/tasks/{tid}/claim").status_code == 302
    assert tid not in task_ids(colleague.get("/inbox").get_data(as_text=True))
    assert colleague.get(f"/tasks/{tid}").status_code == 403
    assert engineer.post(f"/tasks/{tid}/release").status_code == 302
    assert tid in task_ids(colleague.get("/inbox").get_data(as_text=True))


def test_supervisor_dispatches_to_a_named_engineer_who_is_notified(client_for):
    _, tid = _engineer_task(client_for)
    supervisor = client_for("cs_supervisor")
    overview = supervisor.get("/inbox?scope=all").get_data(as_text=True)
    assert tid in overview and "冯工程师" in overview  # candidates of the lane's role
    assert supervisor.post(f"/tasks/{tid}/assign", data={"username": "engineer2"}).status_code == 302
    engineer2 = client_for("engineer2")
    assert tid in task_ids(engineer2.get("/inbox").get_data(as_text=True))
    assert tid not in task_ids(client_for("engineer").get("/inbox").get_data(as_text=True))
    notes = engineer2.get("/notifications").get_data(as_text=True)
    assert "王主管 把「维修处理」派给了您" in notes
    assert 'data-testid="unread">1<' in notes
    engineer2.post("/notifications/read")
    assert 'data-testid="unread"' not in engineer2.get("/notifications").get_data(as_text=True)


def test_non_supervisor_cannot_dispatch(client_for):
    engineer, tid = _engineer_task(client_for)
    assert engineer.post(f"/tasks/{tid}/assign", data={"username": "engineer2"}).status_code == 403


def test_other_roles_cannot_open_the_task(client_for):
    _, tid = _engineer_task(client_for)
    assert client_for("guard1").get(f"/tasks/{tid}").status_code == 403
    assert client_for("13900000002").get(f"/tasks/{tid}").status_code == 403


def test_inbox_filters_by_deadline_type_and_building(client_for):
    engineer, tid = _engineer_task(client_for)
    assert tid in task_ids(engineer.get("/inbox?category=b&building=3栋").get_data(as_text=True))
    assert tid not in task_ids(engineer.get("/inbox?category=c").get_data(as_text=True))
    assert tid not in task_ids(engineer.get("/inbox?building=9栋").get_data(as_text=True))
    assert tid not in task_ids(engineer.get("/inbox?due=late").get_data(as_text=True))
    assert tid not in task_ids(engineer.get("/inbox?due=soon").get_data(as_text=True))
