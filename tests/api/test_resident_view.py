"""Issue 11, done-when 1: for each type a–g and both channels, what the resident sees of their request —
``GET /api/v1/my/requests/<id>``, the portal's 求助进度 — shows plain statuses (never a task name), who is
coming with the expected time, and every answer exactly once.

Each case is the procedure's own scenario file for that type and channel (``bpmn/scenarios/``), walked here
through the HTTP API as staff and the resident work it: the request is recorded with ``POST /requests``
(the 物业助理 for a call from the resident's proven phone, the resident for an online request), every task
is taken from the named person's ``GET /tasks`` and submitted with ``POST /tasks/<id>/complete``, time moves
by the engine clock and the timer poller. At every ``expect: resident:`` of the file the resident's own API
view is checked, and on top of the file's own expectations: the status is one of the plain words and no
task's name, and no answer is shown twice. (`liyuan simulate` runs the same files through the engine.)
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.core import clock, config, db
from engine.core.tables import TaskRow, User
from engine.forms import sample
from engine.helpdesk import scenarios
from engine.helpdesk.scenarios import runner
from engine.timers import firing
from tests.scenarios.conftest import procedure  # noqa: F401 - the real procedure, deployed once per backend

from .conftest import Api, make_app

# type -> (hotline scenario, online scenario)
CASES = {
    "a": ("a_call_120_hotline", "a_nursing_online"),
    "b": ("b_repair_hotline_rework", "b_repair_online_paid"),
    "c": ("c_complaint_invalid", "c_complaint_escalated"),
    "d": ("d_consultation_oral_relayed", "d_consultation_confidential"),
    "e": ("e_theft_hotline", "e_theft_online"),
    "f": ("f_fire_hotline", "f_fire_online"),
    "g": ("g_help_supervisor_paid", "g_help_online_direct"),
}
PLAIN = {"已受理", "已派单", "处理中", "待您处理", "待您确认", "回访中", "已完成", "已关闭"}
RESIDENT = "customer"


def _users() -> dict[str, User]:
    with db.read_session() as session:
        found = {u.username: u for u in session.scalars(select(User))}
        for u in found.values():
            u.role_codes  # noqa: B018 - load roles while the session is open
    return found


class Walk:
    """One scenario file, worked through the API."""

    def __init__(self, api: Api, url: str, scenario: scenarios.Scenario):
        self.api, self.url, self.scenario = api, url, scenario
        self.iid: str | None = None
        self.views: list[dict] = []

    def start(self) -> None:
        spec = self.scenario.start
        body = {**runner.CALLER, **(spec.get("caller") or {}), "channel": spec["channel"]}
        if spec.get("category"):
            body["category"] = spec["category"]
        if spec["channel"] == "hotline":
            assert spec.get("resident") == RESIDENT, "a hotline case must be the resident's own call"
            with db.transaction() as session:  # the resident has proven this phone: the call is theirs
                session.scalars(select(User).where(User.username == RESIDENT)).one().phone = body["phone"]
        status, out = self.api.post("/requests", spec.get("as", runner.CHANNEL_ACTORS[spec["channel"]]), body)
        assert status == 201, out
        self.iid = out["instance_id"]

    def do(self, spec: dict) -> None:
        target, who, process = str(spec["do"]), spec["as"], spec.get("process")
        status, out = self.api.get("/tasks", who)
        assert status == 200, out
        mine = [t for t in out["tasks"] if t["instance_id"] == self.iid and target in (t["element_id"], t["name"])
                and (process is None or t["process_id"] == process)]
        assert len(mine) == 1, f"{target} for {who}: {[t['element_id'] for t in out['tasks']]}"
        status, task = self.api.get(f"/tasks/{mine[0]['id']}", who)
        assert status == 200, task
        given = {} if spec.get("data", "auto") == "auto" else spec["data"]
        status, out = self.api.post(f"/tasks/{task['id']}/complete", who,
                                    {"data": sample.answer(task["schema"], given), "revision": task["revision"]})
        assert status == 200, out

    def advance(self, spec: dict) -> None:
        clock.advance(seconds=runner.duration(spec["advance"]).total_seconds())
        poller = firing.Poller(self.url, owner="api-test")
        try:
            poller.run_due()
        finally:
            poller.release()

    def expect(self, spec: dict) -> None:
        want = spec["expect"].get("resident")
        if want is None:
            return  # the file's other expectations are the engine's (liyuan simulate checks them)
        status, seen = self.api.get(f"/my/requests/{self.iid}", RESIDENT)
        assert status == 200, seen
        self.views.append(seen)
        with db.read_session() as session:
            task_names = set(session.scalars(select(TaskRow.name).where(TaskRow.instance_id == self.iid)))
        assert seen["status"] in PLAIN and seen["status"] not in task_names
        if "status" in want:
            assert seen["status"] == want["status"]
        if "coming" in want:
            assert seen["coming"] is not None and want["coming"] in seen["coming"]["text"], seen["coming"]
        texts = [a["text"] for a in seen["answers"]]
        assert len(texts) == len(set(texts)), f"an answer shown twice: {texts}"
        if "answers" in want:
            assert len(texts) == len(want["answers"]), texts
            assert all(w in t for w, t in zip(want["answers"], texts, strict=True)), texts
        assert all(a["at"] for a in seen["answers"])  # each with its time

    def run(self) -> None:
        self.start()
        for step in self.scenario.steps:
            getattr(self, step.kind)(step.spec)


@pytest.mark.parametrize("channel", ["hotline", "online"])
@pytest.mark.parametrize("category", sorted(CASES))
def test_the_resident_sees_plain_statuses_the_expected_time_and_every_answer_once(procedure, category, channel):  # noqa: F811
    path = config.bpmn_dir() / "scenarios" / f"{CASES[category][channel == 'online']}.yaml"
    scenario = scenarios.load(path)
    assert scenario.start["channel"] == channel
    assert scenario.start.get("category") in (category, None)
    clock.freeze(scenario.at)
    walk = Walk(Api(make_app(HELP_REQUEST_PROCESS="help_request"), _users()), procedure, scenario)
    walk.run()
    # the file looked at the resident's view while the work went on and at its end
    assert len(walk.views) >= 2
    statuses = [v["status"] for v in walk.views]
    assert statuses[-1] == "已关闭" and any(s in ("已派单", "处理中") for s in statuses[:-1]), statuses
    # the expected time as the department (or the duty lead) gave it: "…负责，预计 11月27日 09:20 前处理"
    assert any("预计 " in (v["coming"] or {}).get("text", "") for v in walk.views)
    # the request is the resident's: it is in their list, with the same plain status
    status, mine = walk.api.get("/my/requests", RESIDENT)
    assert status == 200 and [r["status"] for r in mine["requests"] if r["instance_id"] == walk.iid] == ["已关闭"]
    # and only theirs: another signed-in resident does not learn it exists
    assert walk.api.get(f"/my/requests/{walk.iid}", "assistant")[0] == 403
