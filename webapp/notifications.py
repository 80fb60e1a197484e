"""站内通知: the in-app messages of the outbox addressed to me or to my roles (tasks handed to me,
escalations, residents' urges; for residents 受理/派单/答复/待确认/回访), and for supervisors the deadlines
breached, read from the SLA clocks.

Messages are written by the help desk's notices in the transaction of the change that causes them (see
``engine/helpdesk/notices.py``), so whichever process caused one — a supervisor in the browser, the
scheduler firing a timer — needs no hook here, and this page reads rows, never the audit log. Only a
per-user "read up to" time is stored here (``web_read_markers``). The window is the last 30 days.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from flask import Blueprint, redirect, render_template, url_for
from sqlalchemy import bindparam, func, or_, select, union_all

from engine import notify, repository
from engine.core import clock, db
from engine.core.tables import Timestamp
from engine.helpdesk import queries
from webapp.tables import ReadMarker

from . import policy, sla_view, timeline
from .policy import SUPERVISORS, current_user, requires
from .web import read_db

bp = Blueprint("notifications", __name__)

WINDOW = dt.timedelta(days=30)


@dataclass(frozen=True)
class Note:
    at: dt.datetime
    kind: str  # the outbox event (assigned | escalated | urged | received | dispatched …) or breached
    text: str
    instance_id: str | None


def collect(session, user, limit: int = 100) -> list[Note]:
    since = clock.now() - WINDOW
    codes = set(user.role_codes)
    notes = [Note(clock.as_utc(m.created_at), m.event, m.body, m.instance_id)
             for m in notify.outbox.for_person(session, user.username, codes - {"customer"}, since, limit)]
    if codes & SUPERVISORS:
        breached = queries.breached_clocks(session, since)
        names = _names(session, {c.instance_id for c in breached})
        for clk in breached:
            label = names.get(clk.instance_id, {}).get(clk.guarded_element_id or "", clk.guarded_element_id or "")
            notes.append(Note(clock.as_utc(clk.breached_at), "breached",
                              f"已超时：「{label}」{sla_view.label(clk.sla_key)}", clk.instance_id))
    readable = policy.readable_instances(session, user, {n.instance_id for n in notes})
    notes = [n for n in notes if n.instance_id is None or n.instance_id in readable]  # need-to-know
    notes.sort(key=lambda n: n.at, reverse=True)
    return notes[:limit]


def _names(session, instance_ids) -> dict[str, dict[str, str]]:
    """Element names per instance, worked out once per process version (every staff page counts these
    notes for its badge: hundreds of breached clocks share a handful of versions)."""
    out, by_version = {}, {}
    for iid, version in queries.versions_of(session, instance_ids).items():
        if version.id not in by_version:
            by_version[version.id] = timeline.element_names(repository.load(session, version))
        out[iid] = by_version[version.id]
    return out


def read_at(session, username: str) -> dt.datetime:
    marker = session.get(ReadMarker, username)
    return clock.as_utc(marker.read_at) if marker else dt.datetime.min.replace(tzinfo=dt.UTC)


def unread_count(session, user, limit: int = 100) -> int:
    """How many of :func:`collect`'s notes came after the reader's marker, up to ``limit``: the badge of every
    staff page.

    One statement (issue 16: the badge is on every page): the newest ``limit`` arrivals of each source after
    the marker — the outbox's by the reader's name and by their roles, for supervisors the breached clocks —
    each read through its own index in time order, counted (up to ``limit``) where need-to-know lets the
    reader see them. The marker is read in the statement itself and nothing is cached but the statement's
    shape, so a new note, or 全部标为已读, shows on the very next page."""
    codes = set(user.role_codes)
    roles = tuple(sorted(codes - {"customer"}))
    arrivals = _arrivals(roles, bool(codes & SUPERVISORS), limit)
    iid = arrivals.c.instance_id
    readable = or_(iid.is_(None), policy.readable_clause(session, user, iid))  # need-to-know
    counted = select(iid).select_from(arrivals).where(readable).limit(limit).subquery()
    return session.scalar(select(func.count()).select_from(counted),
                          {"reader": user.username, "window": clock.now() - WINDOW})


@functools.lru_cache(maxsize=64)
def _arrivals(roles: tuple[str, ...], supervisor: bool, limit: int):
    """The instance ids of what :func:`unread_count` counts, as a subquery with the reader's name and the
    window's start as bind parameters: built once per process and shape (their construction cost more than
    running them)."""
    window = bindparam("window", type_=Timestamp)
    marker = select(ReadMarker.read_at).where(ReadMarker.username == bindparam("reader")).scalar_subquery()
    after = (window, func.coalesce(marker, window))  # after max(marker, window), as collect's page lists them
    parts = notify.outbox.arrivals_for_person(bindparam("reader"), roles, after, limit)
    if supervisor:
        parts.append(queries.breach_arrivals(after))
    arrivals = union_all(*(select(part.subquery().c.instance_id) for part in parts)).subquery("arrivals")
    arrivals.c.instance_id  # noqa: B018 - its columns built now, not on a first use that threads may share
    return arrivals


@bp.get("/notifications")
@requires("notifications")
def index():
    user = current_user()
    session = read_db()
    return render_template("notifications/index.html", notes=collect(session, user),
                           since=read_at(session, user.username),
                           resident="customer" in user.role_codes and not policy.allowed(user, "requests"))


@bp.post("/notifications/read")
@requires("notifications")
def mark_read():
    user = current_user()
    with db.transaction() as session:
        marker = session.get(ReadMarker, user.username)
        if marker is None:
            session.add(ReadMarker(username=user.username, read_at=clock.now()))
        else:
            marker.read_at = clock.now()
    return redirect(url_for("notifications.index"))


@bp.get("/notifications/count.json")
@requires("notifications")
def count():
    return {"unread": unread_count(read_db(), current_user())}
