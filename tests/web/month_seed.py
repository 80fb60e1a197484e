"""A month with known answers (November 2026, Asia/Shanghai), written straight into the projections: the
month report reads only ``requests`` and ``sla_clocks``, so the figures below can be worked out by hand
from these rows (see ``test_month_report.py``, which states each answer and why).

Times are Shanghai wall-clock times. ``NOW`` is after the month, so the backlog is counted at its end.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import json
import re
import uuid

from sqlalchemy import select

from engine.core import clock
from engine.core.tables import Instance, ProcessVersion, SlaClock
from engine.helpdesk.tables import HelpRequest

UNIT = "3栋2单元1201"
CALLER = "13800000009"
NOW = dt.datetime(2026, 12, 5, 10, 0, tzinfo=clock.SHANGHAI)


def _sh(month, day, hour, minute=0, year=2026):
    return dt.datetime(year, month, day, hour, minute, tzinfo=clock.SHANGHAI).astimezone(dt.UTC)


def add_request(session, created, category, channel, *, closed_after=None, satisfaction=None, source=None,
                paid_cents=None, address=None, phone=None, description="求助", version_id=None,
                department=None) -> str:
    """One request; unless given, its unit and phone are its own (no accidental repeats)."""
    iid = str(uuid.uuid4())
    address = address or f"9栋{iid[:8]}"
    phone = phone or f"137{int(iid[:8], 16) % 10**8:08d}"
    version_id = version_id or session.scalar(select(ProcessVersion.id).limit(1))
    closed = created + closed_after if closed_after is not None else None
    session.add(Instance(id=iid, process_id="web_help_request", version_id=version_id,
                         status="completed" if closed else "running", revision=1, state="{}", state_fingerprint="-",
                         started_by="tester", started_at=created, updated_at=closed or created, completed_at=closed))
    session.flush()
    session.add(HelpRequest(instance_id=iid, channel=channel, caller_name="住户", phone=phone, address=address,
                            building=address.split("栋")[0] + "栋", description=description, category=category,
                            status="closed" if closed else "open", created_at=created, updated_at=closed or created,
                            closed_at=closed, satisfaction=satisfaction, rating_source=source, paid_cents=paid_cents,
                            department=department))
    session.flush()
    return iid


def add_clock(session, iid, key, armed, minutes, status, *, after=None):
    """A deadline clock of ``minutes``; met ``after`` arming, or breached when it fell due."""
    due = armed + dt.timedelta(minutes=minutes)
    session.add(SlaClock(instance_id=iid, timer_task_id=str(uuid.uuid4()), sla_key=key, element_id=f"t_{key}",
                         guarded_task_id=None, guarded_element_id="repair", status=status, armed_at=armed,
                         due_at=due, met_at=armed + after if status == "met" else None,
                         breached_at=due if status == "breached" else None))


def seed_month(session) -> dict[str, str]:
    """The requests of the known month; returns their ids by name (R0 … R6)."""
    h = dt.timedelta(hours=1)
    m = dt.timedelta(minutes=1)
    ids = {}
    ids["S"] = add_request(session, _sh(9, 15, 9), "b", "hotline", closed_after=h)  # September: one repair
    ids["R0"] = add_request(session, _sh(10, 31, 23, 30), "d", "hotline", closed_after=h)  # still October
    # 07:30 on 1 November in Shanghai is 23:30 UTC on 31 October: November's
    ids["R1"] = add_request(session, _sh(11, 1, 7, 30), "g", "online", closed_after=2 * h, satisfaction=5,
                            source="resident", description="想问问停车位怎么租")
    ids["R2"] = add_request(session, _sh(11, 10, 10), "b", "hotline", closed_after=10 * h, satisfaction=2,
                            source="callback", address=UNIT, phone=CALLER, description="厨房水管漏水",
                            department="engineering")
    add_clock(session, ids["R2"], "response", _sh(11, 10, 10), 30, "met", after=10 * m)
    ids["R3"] = add_request(session, _sh(11, 10, 15), "b", "hotline", address=UNIT, phone=CALLER,
                            description="厨房水管又漏水", department="engineering")
    add_clock(session, ids["R3"], "response", _sh(11, 10, 15), 30, "breached")
    ids["R4"] = add_request(session, _sh(11, 20, 9), "c", "online", closed_after=30 * h, satisfaction=4,
                            source="resident", paid_cents=8000, description="投诉楼道噪音")
    add_clock(session, ids["R4"], "ack_online", _sh(11, 20, 9), 15, "met", after=5 * m)
    add_clock(session, ids["R4"], "response", _sh(11, 20, 9), 30, "met", after=20 * m)
    ids["R5"] = add_request(session, _sh(11, 30, 23, 50), "b", "hotline", address=UNIT, description="卫生间水管漏水")
    add_clock(session, ids["R5"], "response", _sh(11, 30, 23, 50), 30, "armed")
    ids["R6"] = add_request(session, _sh(12, 1, 0, 10), "b", "hotline")  # December in Shanghai
    return ids


# --- reading the month page back (the tests of the month report share these) ---------------------------------

def charts(page: str) -> dict:
    """The page's charts by id, from its JSON data block."""
    block = re.search(r'<script type="application/json" id="month-charts">(.*?)</script>', page, re.S).group(1)
    return {c["id"]: c for c in json.loads(block)}


def series(chart: dict, name: str) -> dict:
    return next(s for s in chart["series"] if s["name"] == name)


def listed(client, href: str) -> set[str]:
    """The ids of the requests the list page at ``href`` (a link of the report) shows."""
    page = client.get(htmllib.unescape(href)).get_data(as_text=True)
    return set(re.findall(r'data-testid="request-row">\s*<td><a href="/requests/([0-9a-f-]+)"', page))
