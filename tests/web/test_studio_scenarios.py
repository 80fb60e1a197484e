"""Writing a scenario in the studio (issue 14, item 6): the runner's own format check (a broken step is
refused, named in Chinese), saving it beside the process in the database, the next 试运行 running it with
the repository's files, and a failing saved scenario blocking publishing. The real procedure; the
repository's scenario folder is empty here, so only the saved scenarios run. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from engine import repository
from engine.core import config, db
from engine.helpdesk.tables import StudioScenario
from tests.web.test_studio import procedure_studio

SOURCE = (config.PROJECT_ROOT / "bpmn" / "help_request.bpmn").read_text(encoding="utf-8")
GOOD = (config.bpmn_dir() / "scenarios" / "t2_1_response_late.yaml").read_text(encoding="utf-8")
BROKEN = """name: 第二步写错了
start: {channel: hotline, category: d}
steps:
  - {do: record_hotline, as: assistant}
  - {do: assess, expect: {ended: false}}
"""
FAILING = """name: 登记后应等待一个不存在的任务（故意失败）
start: {channel: hotline, category: d, caller: {description: 咨询停车收费标准}}
steps:
  - {do: record_hotline, as: assistant}
  - {expect: {ready: [no_such_task]}}
"""


@pytest.fixture
def owner(db_url, password_hash, monkeypatch, tmp_path):
    (tmp_path / "scenarios").mkdir()
    return procedure_studio(password_hash, monkeypatch, tmp_path / "scenarios")


URL = "/modeler/help_request/scenarios/write"


def test_a_broken_scenario_is_refused_naming_its_step(owner):
    res = owner.post(URL, data={"name": "second_step_wrong", "content": BROKEN, "action": "save"})
    page = res.get_data(as_text=True)
    assert res.status_code == 422 and "second_step_wrong.yaml：第2步应有且只有 do、advance、expect 之一" in page
    assert owner.post(URL, data={"name": "Bad Name", "content": GOOD, "action": "check"}).status_code == 422
    res = owner.post(URL, data={"name": "my_t2_1", "content": GOOD, "action": "check"})
    assert res.status_code == 200 and "格式正确" in res.get_data(as_text=True)
    with db.read_session() as session:
        assert session.get(StudioScenario, ("help_request", "second_step_wrong")) is None


def test_a_saved_scenario_runs_in_the_next_try_and_a_failing_one_blocks_publishing(owner):
    res = owner.post(URL, data={"name": "my_t2_1", "content": GOOD, "action": "save"}, follow_redirects=True)
    assert "已保存场景 my_t2_1" in res.get_data(as_text=True) and 'data-testid="saved-my_t2_1"' in res.get_data(as_text=True)

    body = owner.post("/modeler/help_request/scenarios", json={"xml": SOURCE}).get_json()
    assert [(r["file"], r["ok"]) for r in body["results"]] == [("my_t2_1.yaml", True)], body

    # the page's 试运行: the draft with the saved ones, against the published diagrams (not saved by trying)
    page = owner.post(URL, data={"name": "deliberate_failure", "content": FAILING, "action": "try"}).get_data(as_text=True)
    assert "试运行 2 个场景：1 个通过，1 个失败" in page and "deliberate_failure.yaml" in page
    with db.read_session() as session:
        assert session.get(StudioScenario, ("help_request", "deliberate_failure")) is None

    assert owner.post(URL, data={"name": "deliberate_failure", "content": FAILING, "action": "save"}).status_code == 302
    res = owner.post("/modeler/help_request/deploy", json={"xml": SOURCE.replace('name="初步评估与定级"', 'name="初步评估定级"', 1),
                                                           "note": "任务改名"})
    body = res.get_json()
    assert res.status_code == 422 and body["message"].startswith("场景未全部通过，未发布")
    failed = {r["file"]: r for r in body["results"] if not r["ok"]}
    assert list(failed) == ["deliberate_failure.yaml"] and failed["deliberate_failure.yaml"]["step"]
    with db.read_session() as session:
        assert repository.latest_version(session, "help_request").version == 1
