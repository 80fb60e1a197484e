"""Read-only queries the web pages need over the projections (no Flask, no writes, no blob loading).

Kept apart from ``tasks``/``runtime`` because these shape *lists for people* (filters, joins for display)
rather than change anything; the JSON API can use them too.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from engine import identity, tasks
from engine.core import clock
from engine.core.tables import AuditEvent, Instance, ProcessVersion, SlaClock, TaskRow, User, UserRole
from engine.helpdesk import sla, text_search
from engine.helpdesk.tables import HelpRequest


def requests_by_instance(session: Session, instance_ids: Iterable[str]) -> dict[str, HelpRequest]:
    ids = list(set(instance_ids))
    if not ids:
        return {}
    return {r.instance_id: r for r in session.scalars(select(HelpRequest).where(HelpRequest.instance_id.in_(ids)))}


def linked_requests(session: Session, instance_id: str) -> tuple[HelpRequest | None, list[HelpRequest]]:
    """The request this one follows up (or None) and the follow-up requests opened from it, oldest first."""
    own = session.get(HelpRequest, instance_id)
    earlier = session.get(HelpRequest, own.follows_up) if own is not None and own.follows_up else None
    later = list(session.scalars(select(HelpRequest).where(HelpRequest.follows_up == instance_id)
                                 .order_by(HelpRequest.created_at, HelpRequest.instance_id)))
    return earlier, later


def clocks_for_tasks(session: Session, rows: Iterable[TaskRow]) -> dict[str, list[SlaClock]]:
    """SLA clocks guarding each task (armed, or breached while the task is still open), earliest due first;
    with them the armed clocks of the whole request (those that guard no single task, such as the response
    time counted from receipt)."""
    rows = list(rows)
    ids = list({r.id for r in rows})
    out: dict[str, list[SlaClock]] = {i: [] for i in ids}
    if not ids:
        return out
    # ``status || ''``: the status must not be looked up through an index. With most clocks guarding no single
    # task (NULL) and tens of thousands breached long ago, SQLite's sampled statistics priced the status
    # index as the cheaper way in and read every armed and breached clock (70 ms of the inbox at 100,000
    # requests); the guarded-task index finds the page's few clocks (tests/web/test_query_plans.py).
    query = (select(SlaClock).where(SlaClock.guarded_task_id.in_(ids),
                                    SlaClock.status.concat("").in_(("armed", "breached")))
             .order_by(SlaClock.due_at))
    for clk in session.scalars(query):
        out[clk.guarded_task_id].append(clk)
    tasks_of: dict[str, list[str]] = {}
    for row in rows:
        tasks_of.setdefault(row.instance_id, []).append(row.id)
    whole = select(SlaClock).where(SlaClock.instance_id.in_(list(tasks_of)), SlaClock.status == "armed",
                                   SlaClock.guarded_task_id.is_(None), SlaClock.guarded_element_id.is_not(None))
    for clk in session.scalars(whole) if tasks_of else ():
        for task_id in tasks_of[clk.instance_id]:
            out[task_id].append(clk)
    for clocks in out.values():
        clocks.sort(key=lambda c: clock.as_utc(c.due_at))
    return out


def clocks_for_instance(session: Session, instance_id: str) -> list[SlaClock]:
    """Every SLA clock of an instance, in the order they were armed."""
    return sla.for_instance(session, instance_id)


def breached_clocks(session: Session, since: dt.datetime, limit: int = 200) -> list[SlaClock]:
    return list(session.scalars(select(SlaClock).where(SlaClock.status == "breached", SlaClock.breached_at >= since)
                                .order_by(SlaClock.breached_at.desc()).limit(limit)))


def breach_arrivals(after: Iterable, limit: int = 200) -> Select:
    """A SELECT of the instance id of the newest ``limit`` :func:`breached_clocks` breached after every bound
    in ``after`` (datetimes or SQL expressions): for counting in a larger statement, not showing."""
    return (select(SlaClock.instance_id)
            .where(SlaClock.status == "breached", *(SlaClock.breached_at > bound for bound in after))
            .order_by(SlaClock.breached_at.desc()).limit(limit))


def open_tasks(session: Session, instance_id: str) -> list[TaskRow]:
    return list(session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id)
                                .order_by(TaskRow.ready_at)))


def tasks_assigned_to(session: Session, username: str) -> list[TaskRow]:
    """Tasks named for one person (the ``assignee`` property, e.g. a resident's confirmation)."""
    return list(session.scalars(select(TaskRow).where(TaskRow.assignee == username).order_by(TaskRow.ready_at)))


def buildings(session: Session) -> list[str]:
    rows = session.scalars(select(HelpRequest.building).where(HelpRequest.building.is_not(None)).distinct())
    return sorted(rows)


def users_with_role(session: Session, role_code: str) -> list[User]:
    query = (select(User).join(UserRole, UserRole.user_id == User.id)
             .where(UserRole.role == role_code, User.is_active.is_(True)).order_by(User.username))
    return list(session.scalars(query))


def customer_by_phone(session: Session, phone: str) -> User | None:
    """The registered resident who has *proven* this phone, so a hotline call shows up in their portal too.
    ``User.phone`` holds proven numbers only; a number merely typed at sign-up (``pending_phone``) links nothing
    (engine.identity.phones)."""
    user = session.scalar(select(User).where(User.phone == phone))
    return user if user is not None and "customer" in user.role_codes and user.is_active else None


def display_names(session: Session, usernames: Iterable[str]) -> dict[str, str]:
    names = list(set(usernames))
    if not names:
        return {}
    return dict(session.execute(select(User.username, User.display_name).where(User.username.in_(names))).all())


def _filtered_requests(query, *, customer: str | None, q: str | None, status: str | None,
                       category: str | None, building: str | None, visible=None):
    if visible is not None:  # the reader's need-to-know condition (webapp.policy.visible_requests)
        query = query.where(visible)
    if customer is not None:
        query = query.where(HelpRequest.customer_username == customer)
    if status:
        query = query.where(HelpRequest.status == status)
    if category:
        query = query.where(HelpRequest.category == category)
    if building:
        query = query.where(HelpRequest.building == building)
    if q:
        query = query.where(text_search.condition(q))
    return query


def list_requests(session: Session, *, customer: str | None = None, q: str | None = None,
                  status: str | None = None, category: str | None = None, building: str | None = None,
                  limit: int = 100, offset: int = 0, visible=None) -> list[HelpRequest]:
    """Newest first; ``offset`` pages through them (ties on the creation time broken by instance id, so a
    request never shows on two pages or on none)."""
    query = _filtered_requests(select(HelpRequest), customer=customer, q=q, status=status, category=category,
                               building=building, visible=visible)
    query = query.order_by(HelpRequest.created_at.desc(), HelpRequest.instance_id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def count_requests(session: Session, *, customer: str | None = None, q: str | None = None,
                   status: str | None = None, category: str | None = None, building: str | None = None,
                   visible=None) -> int:
    """How many requests :func:`list_requests` pages through with the same filters."""
    query = _filtered_requests(select(func.count()).select_from(HelpRequest), customer=customer, q=q,
                               status=status, category=category, building=building, visible=visible)
    return session.scalar(query) or 0


def instance_version(session: Session, instance_id: str) -> tuple[Instance, ProcessVersion] | None:
    instance = session.get(Instance, instance_id)
    if instance is None:
        return None
    return instance, session.get(ProcessVersion, instance.version_id)


def last_event(session: Session, chain: str, kind: str, actor: str | None = None) -> AuditEvent | None:
    query = select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.kind == kind)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    return session.scalar(query.order_by(AuditEvent.seq.desc()).limit(1))


def recent_events(session: Session, kinds: Iterable[str], since: dt.datetime, *,
                  chains: Iterable[str] | None = None, limit: int = 500) -> list[tuple[AuditEvent, dict]]:
    """Recent audit events of some kinds, newest first, each with its payload decoded."""
    query = select(AuditEvent).where(AuditEvent.kind.in_(list(kinds)), AuditEvent.at >= since)
    if chains is not None:
        chains = list(chains)
        if not chains:
            return []
        query = query.where(AuditEvent.chain.in_(chains))
    rows = session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit))
    return [(r, json.loads(r.payload)) for r in rows]


def all_open_tasks(session: Session, limit: int = 500, after: str | None = None, *, visible=None) -> list[TaskRow]:
    """Every ready task, nearest deadline first: the supervisors' overview (督办) and 派单 list; ``limit``
    of them after the cursor ``after`` (engine.tasks.cursor_of); ``visible``: the reader's need-to-know
    condition on ``tasks`` (webapp.policy.listable_tasks)."""
    query = select(TaskRow) if visible is None else select(TaskRow).where(visible)
    return list(session.scalars(tasks.queue_page(query, after, limit)))


def awaiting_department(session: Session, limit: int = 500, *, visible=None) -> list[TaskRow]:
    """Jobs handed over to a department and not yet taken (信息传递：跟进部门接收情况): the open tasks of the
    department lane, the longest waiting first (``visible``: the reader's need-to-know condition on
    ``TaskRow.instance_id``, from ``webapp.policy.readable_clause``)."""
    query = select(TaskRow).where(TaskRow.lane == identity.departments.DEPARTMENT_LANE)
    if visible is not None:
        query = query.where(visible)
    query = query.order_by(TaskRow.ready_at).limit(limit)
    return list(session.scalars(query))


def completion_of(session: Session, task_id: str, instance_id: str | None = None) -> AuditEvent | None:
    """The audit event that completed a task (who and when), found by the task id in its payload."""
    try:
        task_id = str(uuid.UUID(str(task_id)))
    except ValueError:
        return None
    query = select(AuditEvent).where(AuditEvent.kind == "task_completed",
                                     AuditEvent.payload.like(f'%"task_id":"{task_id}"%'))
    if instance_id:
        query = query.where(AuditEvent.chain == instance_id)
    return session.scalar(query.order_by(AuditEvent.id.desc()).limit(1))


def version_ids_of(session: Session, instance_ids: Iterable[str]) -> dict[str, int]:
    """Each instance's version id, without the version rows (whose JSON columns a list never needs)."""
    ids = list(set(instance_ids))
    if not ids:
        return {}
    return dict(session.execute(select(Instance.id, Instance.version_id).where(Instance.id.in_(ids))).all())


def versions_of(session: Session, instance_ids: Iterable[str]) -> dict[str, ProcessVersion]:
    ids = list(set(instance_ids))
    if not ids:
        return {}
    # the version ids first, then each version once: hundreds of instances share a handful of versions,
    # and a joined row would decode the version's JSON columns again for every instance
    version_ids = dict(session.execute(select(Instance.id, Instance.version_id).where(Instance.id.in_(ids))).all())
    versions = {v.id: v for v in session.scalars(select(ProcessVersion)
                                                 .where(ProcessVersion.id.in_(set(version_ids.values()))))}
    return {iid: versions[vid] for iid, vid in version_ids.items()}


def search_instances(session: Session, q: str | None = None, *, process_id: str | None = None,
                     limit: int = 100, visible=None) -> list[tuple[Instance, ProcessVersion, HelpRequest | None]]:
    """Newest first; ``q`` matches an instance id prefix, process id, or the request's caller/phone/address/text."""
    query = (select(Instance, ProcessVersion, HelpRequest)
             .join(ProcessVersion, ProcessVersion.id == Instance.version_id)
             .outerjoin(HelpRequest, HelpRequest.instance_id == Instance.id))
    if process_id:
        query = query.where(Instance.process_id == process_id)
    if visible is not None:  # instances that are no request stay; requests by the reader's need-to-know
        query = query.where(or_(HelpRequest.instance_id.is_(None), visible))
    if q:
        like = f"%{q}%"
        query = query.where(or_(Instance.id.like(f"{q}%"), Instance.process_id.like(like), text_search.condition(q)))
    rows = session.execute(query.order_by(Instance.started_at.desc(), Instance.id).limit(limit)).all()
    return [(i, v, r) for i, v, r in rows]
