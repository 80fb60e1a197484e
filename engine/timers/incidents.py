"""Incidents: timers that failed too often, listed for the admin and retried once the cause is fixed."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.audit import history
from engine.core import clock, errors
from engine.core.tables import Incident, Instance, Timer
from engine.runtime import timer_rows
from engine.timers.monitoring import MAX_ATTEMPTS


def list_incidents(session: Session, *, open_only: bool = True) -> list[Incident]:
    query = select(Incident).order_by(Incident.created_at.desc(), Incident.id.desc())
    if open_only:
        query = query.where(Incident.resolved_at.is_(None))
    return list(session.scalars(query))


def retry_incident(session: Session, incident_id: int, actor: str) -> Incident:
    """Resolve the incident and re-arm its timer for the next poll (the admin fixed the cause)."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise errors.NotFound("找不到该异常记录", incident_id=incident_id)
    if incident.resolved_at is not None:
        raise errors.Conflict("该异常已处理", incident_id=incident_id)
    now = clock.now()
    incident.resolved_at, incident.resolved_by = now, actor
    if incident.timer_id is not None:
        session.execute(update(Timer).where(Timer.id == incident.timer_id)
                        .values(attempts=0, next_attempt_at=None, last_error=None, lease_owner=None,
                                lease_expires_at=None, fire_at=Timer.due_at))
    if incident.instance_id is not None:
        instance = session.get(Instance, incident.instance_id)
        if instance is not None and instance.status == "incident":
            instance.status, instance.incident = "running", None
            # the instance's other timers were held with it: claimable again, each at its own time
            session.execute(update(Timer).where(Timer.instance_id == instance.id, Timer.attempts < MAX_ATTEMPTS,
                                                Timer.lease_owner.is_(None))
                            .values(fire_at=timer_rows.FREE_AT))
            history.append(session, instance.id, actor, "incident_retried", element_id=incident.element_id,
                           payload={"incident_id": incident.id, "timer_id": incident.timer_id},
                           state_fingerprint=instance.state_fingerprint, at=now)
    session.flush()
    return incident


def raise_incident(session: Session, row: Timer, error: str, element_id: str, now) -> Incident:
    """The timer stops firing (the caller has used up its attempts) and its instance is flagged until an
    admin retries."""
    row.next_attempt_at = row.fire_at = None
    incident = Incident(instance_id=row.instance_id, timer_id=row.id, element_id=element_id, error=error,
                        created_at=now)
    session.add(incident)
    session.flush()
    if row.instance_id is not None:
        instance = session.get(Instance, row.instance_id)
        instance.status, instance.incident = "incident", error
        # no timer of a held instance fires until an admin retries (the poller's index skips them)
        session.execute(update(Timer).where(Timer.instance_id == instance.id, Timer.id != row.id)
                        .values(fire_at=None))
        history.append(session, instance.id, "scheduler", "incident_raised", element_id=element_id,
                       payload={"incident_id": incident.id, "timer_id": row.id, "attempts": row.attempts,
                                "error": error}, state_fingerprint=instance.state_fingerprint, at=now)
    return incident
