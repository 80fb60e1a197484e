"""4.10 客服部在每月底对客户求助事务及时进行统计、分析和总结 (with O7.2 and T4): the timer start event opens the
month's statistics at 00:00 Asia/Shanghai on the 1st for the month just ended; the 物业助理 compiles, the
客服部主管 analyses and records improvements and performance notes, optionally for 公司经理 to review."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core import clock
from tests.scenarios import driver as d


def month_opens() -> str:
    """Run the poller before and just after midnight on 1 December; returns the one new instance."""
    clock.freeze(dt.datetime(2026, 11, 30, 23, 59, tzinfo=clock.SHANGHAI))
    assert d.fire_due() == 0 and d.instances_of("monthly_statistics") == []
    assert d.advance(minutes=1, seconds=1) == 1
    [instance] = d.instances_of("monthly_statistics")
    assert instance.started_by == "scheduler"
    return instance.id


@pytest.mark.parametrize("to_manager", [True, False])
def test_4_10_month_end_statistics_compiled_analysed_and_improvements_recorded(procedure, to_manager):
    iid = month_opens()
    assert d.ready(iid) == {"compile": "物业助理"}
    assert d.data(iid)["period"] == "2026-11"
    d.do(iid, "compile", "assistant", total_requests=42, closed_requests=40, satisfaction_rate=0.93,
         common_issues="下水道堵塞、门禁卡失效")
    assert d.inbox_elements("cs_supervisor", iid) == ["review"]
    d.do(iid, "review", "cs_supervisor", report_to_manager=to_manager,
         action_1={"what": "夜间热线增加一名接听人员", "owner": "cs_supervisor", "due": "2026-12-10"},
         action_2={"what": "门禁卡批量检测", "owner": "eng_head", "due": "2026-12-05"})
    # each action is a task of its owner, with its own deadline (the end of its due day, Shanghai time)
    assert d.inbox_elements("eng_head", iid) == ["act"]
    if to_manager:
        assert d.ready(iid) == {"manager_review": "公司经理", "act": "客服部主管"}
        d.do(iid, "manager_review", "manager")
    d.do(iid, "act", "cs_supervisor", result="已排班，夜间两人接听")
    d.do(iid, "act", "eng_head", result="已检测全部门禁卡")
    final = d.assert_finished(iid)
    assert [(a["no"], a["what"], a["owner"]) for a in final["improvements"]] == [
        (1, "夜间热线增加一名接听人员", "cs_supervisor"), (2, "门禁卡批量检测", "eng_head")]
    assert ("manager_review" in {el for _, el, _ in d.audit_kinds(iid)}) is to_manager
    # one instance per month: the rest of December opens nothing more
    assert d.advance(days=20) == 0 and len(d.instances_of("monthly_statistics")) == 1
