"""4.7 火灾、水浸等灾害事故 (突发事件处理 / 火警火灾处理 as modelled): the manager activates the emergency plan
while the type's own response runs (fire: guards fight and evacuate; flooding: engineers shut off and
protect; typhoon: reinforce and patrol), then cleaning, damage assessment, summary and notice."""

from __future__ import annotations

import pytest

from tests.scenarios import driver as d

RESPONSE = {
    "fire": [("fire_response", "guard1", "护管员"), ("evacuate", "guard2", "护管员")],
    "flooding": [("flood_response", "engineer", "工程部"), ("flood_protect", "engineer", "工程部")],
    "typhoon": [("reinforce", "engineer", "工程部"), ("patrol", "guard1", "护管员")],
}


@pytest.mark.parametrize("kind", ["typhoon", "flooding", "fire"])
def test_4_7_disaster_emergency_plan_and_response_then_recovery(procedure, kind):
    iid = d.start_request("hotline", "f", process="disaster", description="灾害事故报告")
    d.do(iid, "register", "assistant", disaster_type=kind, disaster_location="地下车库")
    (first, _, lane), second = RESPONSE[kind]
    assert d.ready(iid) == {"command": "公司经理", first: lane}
    for element, username, _ in RESPONSE[kind]:
        d.do(iid, element, username)
    assert d.ready(iid) == {"command": "公司经理"}  # recovery waits for the plan to be activated
    d.do(iid, "command", "manager", plan_activated=True)
    assert d.ready(iid) == {"cleanup": "保洁部"}
    d.do(iid, "cleanup", "cleaner")
    d.do(iid, "assess_damage", "engineer")
    d.do(iid, "summary", "manager")
    d.do(iid, "notify", "assistant", recorded=True)
    final = d.assert_finished(iid)
    assert final["disaster_type"] == kind
    other = {"fire": "flood_response", "flooding": "reinforce", "typhoon": "fire_response"}[kind]
    assert not any(el == other for _, el, _ in d.audit_kinds(iid))
