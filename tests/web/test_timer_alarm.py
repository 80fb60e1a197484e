"""The missed-timer alarm on the pages of those who rely on escalations, and the health check."""

from __future__ import annotations

from engine.core import clock
from engine.timers.firing import Poller
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


def test_the_admin_timer_page_shows_overdue_lateness_and_what_comes_next(client_for, seeded):
    clock.freeze()
    first = record_call(client_for("assistant"))
    clock.advance(minutes=5)
    record_call(client_for("assistant"))
    admin = client_for("admin")
    html = admin.get("/admin/timers").get_data(as_text=True)
    assert 'data-testid="overdue">0<' in html and "漏触发：无" in html
    assert html.count('data-testid="upcoming"') == 2 and "25分" in html and first[:8] in html
    assert 'data-testid="lateness-1">—<' in html

    clock.advance(minutes=27)  # the first came due 2 minutes ago, the second is still ahead
    html = admin.get("/admin/timers").get_data(as_text=True)
    assert 'data-testid="overdue">1<' in html and "已过 2分" in html and "3分" in html

    poller = Poller(seeded, owner="test")
    try:
        assert poller.run_due().fired == 1
    finally:
        poller.release()
    html = admin.get("/admin/timers").get_data(as_text=True)
    assert 'data-testid="overdue">0<' in html and 'data-testid="fired">1<' in html
    assert 'data-testid="lateness-1">120.000秒<' in html
    counts = [html.split(f'data-testid="bucket-{i}">')[1].split('<td class="num">')[1].split("<")[0] for i in range(1, 6)]
    assert counts == ["0", "0", "0", "0", "1"]  # two minutes late: the "more than a minute" bucket
    assert client_for("cs_supervisor").get("/admin/timers").status_code == 403
