"""4.6 盗窃、打架斗殴、抢劫、凶杀、中毒、交通意外 (安全管理 as modelled): register, then at once and in
parallel the manager is told, police/ambulance called and guards dispatched; on-site handling, cooperation
with the police, report, record."""

from __future__ import annotations

import pytest

from tests.scenarios import driver as d


@pytest.mark.parametrize(("incident", "services"), [("fight", ["110"]), ("traffic", ["122", "120"]),
                                                    ("poisoning", ["120", "110"])])
def test_4_6_incident_reported_manager_informed_services_called_guards_dispatched(procedure, incident, services):
    iid = d.start_request("hotline", "e", process="security_incident", description="小区内发生事件")
    d.do(iid, "register", "assistant", incident_type=incident, casualties=incident != "fight",
         incident_location="5栋北侧道路")
    assert d.ready(iid) == {"manager_report": "公司经理", "call_services": "物业助理", "dispatch": "护管部值班负责人"}
    d.do(iid, "dispatch", "security_lead", guards=["guard2", "guard1"])
    # the first guard chosen leads on site: the task is theirs, not every guard's
    assert d.inbox_elements("guard1", iid) == [] and d.inbox_elements("guard2", iid) == ["onsite"]
    d.do(iid, "onsite", "guard2", scene_protected=True)
    assert d.ready(iid) == {"manager_report": "公司经理", "call_services": "物业助理"}  # waits for all three
    d.do(iid, "call_services", "assistant", services_called=services)
    d.do(iid, "manager_report", "manager")
    d.do(iid, "cooperate", "guard2")
    d.do(iid, "report", "security_lead")
    d.do(iid, "record", "assistant", customer_informed=True)
    final = d.assert_finished(iid)
    assert final["incident_type"] == incident and final["services_called"] == services


def test_4_6_dispatch_needs_at_least_two_guards(procedure):
    iid = d.start_request("hotline", "e", process="security_incident")
    d.do(iid, "register", "assistant", incident_type="robbery", casualties=False)
    assert d.attempt(iid, "dispatch", "security_lead", guards=["guard1"]) == {"guards": "至少需要2项"}
    # guards are chosen from the accounts holding the role, not typed
    assert d.attempt(iid, "dispatch", "security_lead", guards=["guard1", "陈护管"]) == {"guards.1": "第2项：请从选项中选择"}


@pytest.mark.parametrize("register_first", [False, True], ids=["dispatched-first", "registered-first"])
def test_4_6_fast_path_onsite_goes_to_the_guard_the_duty_lead_chose(procedure, register_first):
    """The fast path's dispatch (main process) chooses the guards; the 4.6 sub-process, started at the call,
    waits for that choice, so its on-site tasks go to the guard chosen and to no other holder of the role,
    whichever of dispatch and 接报登记 comes first. The duty lead still has the dispatch at once."""
    iid = d.start_request("hotline", "e", description="车库电动车被盗")
    assert d.inbox_elements("security_lead", iid) == ["dispatch"]
    if register_first:
        d.do(iid, "register", "assistant", process="security_incident", incident_type="theft", casualties=False)
        # no on-site task before anyone is sent
        assert "onsite" not in d.ready(iid) and d.inbox_elements("guard1", iid) == d.inbox_elements("guard2", iid) == []
    d.do(iid, "dispatch", "security_lead", process="help_request", guards=["guard2"], dispatch_note="一人先到车库",
         eta_minutes=5)
    if not register_first:
        d.do(iid, "register", "assistant", process="security_incident", incident_type="theft", casualties=False)
    assert d.task_row(iid, "onsite").assignee == "guard2"
    assert d.inbox_elements("guard2", iid) == ["onsite"] and d.inbox_elements("guard1", iid) == []
    d.do(iid, "onsite", "guard2")
    d.do(iid, "call_services", "assistant", services_called=["110"])
    d.do(iid, "manager_report", "manager")
    assert d.task_row(iid, "cooperate").assignee == "guard2" and d.inbox_elements("guard1", iid) == []
