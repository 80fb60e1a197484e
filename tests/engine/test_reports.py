"""The monthly report's satisfaction figures: average, 满意率 and the per-dimension averages."""

from __future__ import annotations

from engine.core import clock, db
from engine.helpdesk import reports
from tests.engine.helpers import complete, start


def _rated(confirm: dict) -> None:
    iid = start()
    complete(iid, "record", {"category": "b", "summary": "厨房漏水"})
    complete(iid, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")
    complete(iid, "confirm", confirm)


def test_satisfaction_rate_counts_three_or_more_and_sub_ratings_average_only_those_given(deployed):
    clock.freeze()
    _rated({"satisfaction": 4, "speed": 5, "quality": 2, "attitude": 4})
    _rated({"satisfaction": 2, "speed": 2})
    _rated({"satisfaction": 3})
    start()  # not rated yet
    month = reports.parse_month(None)
    with db.read_session() as session:
        report = reports.month_report(session, month)
    assert (report.total, report.rated, report.satisfied) == (4, 3, 2)
    assert report.satisfaction == 3.0 and report.satisfaction_rate == 66.7
    assert report.ratings == [("speed", "响应速度", 3.5, 2), ("quality", "处理质量", 2.0, 1),
                              ("attitude", "服务态度", 4.0, 1)]
    with db.read_session() as session:
        empty = reports.month_report(session, reports.shift_month(month, -1))
    assert (empty.rated, empty.satisfaction_rate) == (0, None)
    assert [r[2:] for r in empty.ratings] == [(None, 0)] * 3


def test_the_statistics_form_is_prefilled_with_the_months_figures(deployed):
    clock.freeze()
    _rated({"satisfaction": 4})
    _rated({"satisfaction": 1})
    start()
    month = reports.parse_month(None)
    with db.read_session() as session:
        prefill = reports.statistics_prefill(session, month)
        nothing = reports.statistics_prefill(session, reports.shift_month(month, 1))
    # the two finished requests met their response clock (the third is still armed, so not counted);
    # the fixture has no online or 24-hour clocks, so those figures are left for the form to ask
    assert prefill == {"total_requests": 3, "closed_requests": 2, "satisfaction_rate": 50.0, "response_rate": 100.0}
    assert nothing == {"total_requests": 0, "closed_requests": 0}
