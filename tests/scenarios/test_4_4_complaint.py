"""4.4 投诉求助的处理 (the company's 《投诉处理工作规程》 as modelled): register, the supervisor judges validity,
investigates and rectifies, the assistant replies and revisits; an unhappy complainant goes to 公司经理 and
round again; an invalid complaint is explained."""

from __future__ import annotations

from tests.scenarios import driver as d


def start_complaint(channel: str = "hotline") -> str:
    iid = d.start_request(channel, "c", process="complaint", description="投诉夜间装修噪音无人处理")
    d.do(iid, "register", "assistant", complaint_type="quality", complaint_content="连续三晚22点后仍有装修噪音")
    assert d.ready(iid) == {"validate": "客服部主管"}
    return iid


def test_4_4_valid_complaint_investigated_rectified_replied_and_revisited(procedure):
    iid = start_complaint()
    d.do(iid, "validate", "cs_supervisor", complaint_valid=True, validity_reason="违反装修管理规定")
    d.do(iid, "investigate", "cs_supervisor")
    d.do(iid, "rectify", "cs_supervisor", rectified=True)
    assert d.ready(iid) == {"reply": "物业助理"}
    d.do(iid, "reply", "assistant")
    d.do(iid, "revisit", "assistant", complainant_satisfied=True)
    final = d.assert_finished(iid)
    assert final["complaint_valid"] is True and final["complainant_satisfied"] is True
    assert not any(el == "escalate" for _, el, _ in d.audit_kinds(iid))


def test_4_4_invalid_complaint_explained_to_the_complainant(procedure):
    iid = start_complaint()
    d.do(iid, "validate", "cs_supervisor", complaint_valid=False, validity_reason="装修时间在规定范围内")
    assert d.ready(iid) == {"explain": "物业助理"}
    d.do(iid, "explain", "assistant")
    final = d.assert_finished(iid)
    assert final["complaint_valid"] is False and "rectified" not in final


def test_4_4_complainant_unhappy_twice_manager_takes_it_up_each_time_until_satisfied(procedure):
    iid = start_complaint("online")
    d.do(iid, "validate", "cs_supervisor", complaint_valid=True)
    d.do(iid, "investigate", "cs_supervisor")
    for _ in range(2):
        d.do(iid, "rectify", "cs_supervisor")
        d.do(iid, "reply", "assistant")
        d.do(iid, "revisit", "assistant", complainant_satisfied=False)
        assert d.inbox_elements("manager", iid) == ["escalate"]
        d.do(iid, "escalate", "manager")
    d.do(iid, "rectify", "cs_supervisor")
    d.do(iid, "reply", "assistant")
    d.do(iid, "revisit", "assistant", complainant_satisfied=True)
    d.assert_finished(iid)
    completed = [el for kind, el, _ in d.audit_kinds(iid) if kind == "task_completed"]
    assert completed.count("escalate") == 2 and completed.count("rectify") == 3
