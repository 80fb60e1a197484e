"""The missed-timer alarm on the pages of those who rely on escalations, and the health check."""

from __future__ import annotations

from engine import clock
from engine.timers import Poller
from tests.web.conftest import record_call


def test_supervisors_and_admins_see_the_alarm_and_the_health_check_fails_while_timers_are_missed(
        app, client_for, seeded):
    clock.freeze()
    record_call(client_for("assistant"))  # arms the 30-minute response timer
    anonymous = app.test_client()
    res = anonymous.get("/healthz")
    assert res.status_code == 200 and res.json == {"status": "ok", "database": "ok", "timers_overdue": 0,
                                                   "oldest_overdue_due_at": None}
    supervisor, admin, engineer = client_for("cs_supervisor"), client_for("admin"), client_for("engineer")
    assert 'data-testid="timer-alarm"' not in supervisor.get("/inbox").get_data(as_text=True)

    clock.advance(minutes=32)  # no scheduler ran: the deadline passed two minutes ago, unfired
    for client, page in ((supervisor, "/inbox"), (admin, "/admin/incidents")):
        html = client.get(page).get_data(as_text=True)
        assert 'data-testid="timer-alarm"' in html and "定时器未按时触发：1 个定时器已到期超过 1 分钟仍未处理" in html
    assert 'data-testid="timer-alarm"' not in engineer.get("/inbox").get_data(as_text=True)
    res = anonymous.get("/healthz")
    assert res.status_code == 503 and res.json["status"] == "degraded" and res.json["timers_overdue"] == 1

    poller = Poller(seeded, owner="test")
    try:
        assert poller.run_due().fired == 1
    finally:
        poller.release()
    assert 'data-testid="timer-alarm"' not in supervisor.get("/inbox").get_data(as_text=True)
    assert anonymous.get("/healthz").status_code == 200
