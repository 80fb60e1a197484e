"""Tables. One row per instance holds the serialized workflow; everything a list, inbox or report reads
lives in projection tables rewritten in the same transaction (tasks, timers, sla_clocks, requests).

Times are stored in UTC (``DateTime(timezone=True)``; SQLite hands them back naive, see ``clock.as_utc``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

Timestamp = DateTime(timezone=True)
# Autoincrement ids that are BIGINT on PostgreSQL but stay INTEGER PRIMARY KEY (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    # The *proven* mobile number (a code sent to it came back, or a 物业助理 confirmed the person): the only
    # number hotline calls are linked to an account by (engine.identity.phones). Unique per proven owner.
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    # A number the person says is theirs but has not proven yet: links nothing; several accounts may claim it.
    pending_phone: Mapped[str | None] = mapped_column(String(32), index=True)
    # Sent to the prove-your-number page before their requests (new sign-ups, accounts from before proof).
    must_prove_phone: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    # Sign-in generation: every session cookie and API token carries the value it was issued under and is
    # refused once it differs. Signing out, a password change and deactivation add one (engine.identity).
    auth_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    roles: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def role_codes(self) -> set[str]:
        return {r.role for r in self.roles}


class UserRole(Base):
    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class PasswordResetCode(Base):
    """A one-time code that lets its user set a new password (engine.identity.reset): only a hash of the
    code is kept, it expires, and a few wrong guesses use it up."""

    __tablename__ = "password_reset_codes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class UserDepartment(Base):
    """The department a staff member belongs to (at most one). Kept beside ``users`` rather than as a column
    of it: a department is an organisational fact, not part of the account (sign-in never reads it)."""

    __tablename__ = "user_departments"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    department: Mapped[str] = mapped_column(String(32), index=True)


class DutyShift(Base):
    """One line of the duty roster: ``username`` holds ``role`` for ``department`` from ``starts_at`` until
    ``ends_at`` (UTC, end exclusive). "The duty lead" is whoever holds the role now."""

    __tablename__ = "duty_shifts"
    __table_args__ = (Index("ix_duty_shifts_role_time", "role", "starts_at", "ends_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32))
    username: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    ends_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class Blob(Base):
    """Content-addressed file bytes (BPMN and forms). A version pins files by sha256."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Deployment(Base):
    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class ProcessVersion(Base):
    """An immutable, numbered version of one process id, pinning the exact bytes it runs on."""

    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("process_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    bpmn_file: Mapped[str] = mapped_column(String(255))
    bpmn_sha256: Mapped[str] = mapped_column(String(64))
    # {file name: sha256} of every BPMN file the version needs (its own + called processes, transitively)
    files: Mapped[dict] = mapped_column(JSON)
    # {form file name: sha256} of every form its user tasks (and called processes' tasks) name
    forms: Mapped[dict] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class Instance(Base):
    __tablename__ = "instances"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | completed | cancelled | incident
    # Optimistic locking: every UPDATE carries "WHERE revision = <the revision we read>" and bumps it.
    revision: Mapped[int] = mapped_column(Integer)
    __mapper_args__ = {"version_id_col": revision}
    # The serialized workflow without specs, as text while the instance runs. A finished one (completed or
    # cancelled) is read far more than written and never changes again: its state moves to ``state_packed``
    # (zlib) and ``state`` is left empty (engine.runtime.store; migration 0065). Read it with store.state_of.
    state: Mapped[str] = mapped_column(Text)
    state_packed: Mapped[bytes | None] = mapped_column(LargeBinary)
    state_fingerprint: Mapped[str] = mapped_column(String(64))
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    completed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    incident: Mapped[str | None] = mapped_column(Text)


NO_DEADLINE = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)  # ``tasks.queue_at`` of a task without a deadline


class TaskRow(Base):
    """A READY user task (the inbox). Rewritten with the instance on every change."""

    __tablename__ = "tasks"
    # The inbox's ways to a task (offered to a role's lane or to a department, named for someone, claimed by
    # someone) each read an index already in queue order (engine.tasks.inbox), so a page of 50 reads 50 rows.
    __table_args__ = (Index("ix_tasks_queue", "queue_at", "ready_at", "id"),
                      Index("ix_tasks_lane_queue", "lane", "assignee", "queue_at", "ready_at", "id"),
                      Index("ix_tasks_department_queue", "lane", "assignee", "department", "queue_at", "ready_at", "id"),
                      Index("ix_tasks_assignee_queue", "assignee", "queue_at", "ready_at", "id"),
                      Index("ix_tasks_claimed_queue", "claimed_by", "queue_at", "ready_at", "id"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task uuid
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[str] = mapped_column(String(100))  # the (sub)process the task belongs to
    element_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(64), index=True)
    form: Mapped[str | None] = mapped_column(String(255))
    ui_form: Mapped[str | None] = mapped_column(String(255))
    clause: Mapped[str | None] = mapped_column(String(255))
    instructions: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    ready_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    due_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, index=True)
    # The inbox's sort key: ``due_at``, or NO_DEADLINE for a task without one (after every deadline). A column
    # rather than an expression so that one plain index serves "nearest deadline first" on both databases.
    queue_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    sla_key: Mapped[str | None] = mapped_column(String(32))
    # The department (code) a task in a department lane (责任部门 / 部门主管) is routed to; see engine.identity.
    department: Mapped[str | None] = mapped_column(String(32), index=True)
    # Usernames (a JSON list) this task is never offered to: the people who already worked on the request,
    # when the diagram says so (``exclude_actors``) — the 回访 call must not be made by the handler.
    excluded: Mapped[str | None] = mapped_column(Text)


class StepTiming(Base):
    """One user task done: when it became ready and when it was completed, by whom (the slowest steps of the
    procedure, issue 15). Written with the change that completed the task, from its inbox row (which the
    same change deletes); recomputed from the log by ``liyuan audit verify --projections``
    (:mod:`engine.helpdesk.projections_check`). ``seconds`` is ``completed_at - ready_at``, stored so the
    month's percentiles are read from one index on both databases."""

    __tablename__ = "step_timings"
    # (completed_at, process_id, element_id, seconds): a month's steps grouped and ranked from the index
    # alone; (process_id, element_id, completed_at, instance_id): the requests behind one step of a month.
    __table_args__ = (Index("ix_step_timings_month", "completed_at", "process_id", "element_id", "seconds"),
                      Index("ix_step_timings_step", "process_id", "element_id", "completed_at", "instance_id"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the completed task's SpiffWorkflow uuid
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[str] = mapped_column(String(100))
    element_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(32))
    clause: Mapped[str | None] = mapped_column(String(255))
    ready_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    completed_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    seconds: Mapped[float] = mapped_column(Float)
    completed_by: Mapped[str] = mapped_column(String(64))


def _due_at_of_insert(context):
    """A timer row inserted without ``fire_at`` is claimable at its due time."""
    return context.get_current_parameters().get("due_at")


class Timer(Base):
    """A waiting BPMN timer (or a timer start event), armed in the transaction that reached it."""

    __tablename__ = "timers"
    # (fire_at, id): the poller's next_due is its first entry and a claim is one range of it, oldest first;
    # neither reads instances (migration 0064). (due_at): the admin's list of upcoming timers.
    __table_args__ = (
        UniqueConstraint("instance_id", "task_id"),
        Index("ix_timers_due", "due_at"),
        Index("ix_timers_fire_at", "fire_at", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    process_id: Mapped[str] = mapped_column(String(100))
    element_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # boundary | intermediate | start
    guarded_task_id: Mapped[str | None] = mapped_column(String(36))
    sla_key: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    # When a poller may next claim the row: its due time, its retry time, or while leased its lease's end;
    # NULL while it may not (its instance waits on an incident). Kept by every writer of the row in the
    # same transaction (see engine.runtime.timer_rows), so due work is found without joining instances.
    fire_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, default=_due_at_of_insert)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class SlaClock(Base):
    __tablename__ = "sla_clocks"
    # (armed_at, sla_key, status): the month report counts a period's clocks per deadline from the index alone
    # (guarded_task_id): the inbox's badges; (instance_id, status): a request's armed clocks;
    # (status, breached_at): the supervisors' notifications of breached deadlines, newest first
    __table_args__ = (UniqueConstraint("instance_id", "timer_task_id"),
                      Index("ix_sla_clocks_armed_at", "armed_at", "sla_key", "status"),
                      # partial: two thirds of the clocks guard no task, and NULLs skewed its statistics (0066)
                      Index("ix_sla_clocks_guarded_task", "guarded_task_id",
                            sqlite_where=text("guarded_task_id IS NOT NULL"),
                            postgresql_where=text("guarded_task_id IS NOT NULL")),
                      Index("ix_sla_clocks_instance_status", "instance_id", "status"),
                      # the month report (issue 15): breaches armed in a month, counted and listed per
                      # department; a department's clocks by month from its requests (migration 0061)
                      Index("ix_sla_clocks_status_armed", "status", "armed_at", "instance_id"),
                      Index("ix_sla_clocks_instance_armed", "instance_id", "armed_at", "sla_key", "status"),
                      Index("ix_sla_clocks_breached", "status", "breached_at"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # no index of its own: UNIQUE (instance_id, timer_task_id) and the composites below start with it
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    timer_task_id: Mapped[str] = mapped_column(String(36))
    sla_key: Mapped[str] = mapped_column(String(32))
    element_id: Mapped[str] = mapped_column(String(100))
    guarded_task_id: Mapped[str | None] = mapped_column(String(36))
    guarded_element_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # armed | met | breached (indexed by the composites)
    armed_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    due_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    met_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    breached_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class AuditEvent(Base):
    """Append-only, hash-chained per instance (``chain`` = instance id, or "repository" for deployments)."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("chain", "seq"), Index("ix_audit_events_kind_at", "kind", "at"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(64))  # indexed by UNIQUE (chain, seq)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(Timestamp)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    element_id: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON of the input that caused the event
    state_fingerprint: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class PersonalData(Base):
    """A personal value (a name, phone, address, medical detail) kept *beside* the audit log.

    The event that brought it in holds ``{"$personal": ref, "h": sha256(salt || value)}`` instead of the value,
    so chains, Merkle leaves and signed checkpoints commit to the value without containing it; erasing a
    person deletes these rows and every chain stays valid (see :mod:`engine.audit.personal`).
    """

    __tablename__ = "personal_data"
    ref: Mapped[str] = mapped_column(String(36), primary_key=True)
    chain: Mapped[str] = mapped_column(String(64), index=True)
    field: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)  # canonical JSON of the value: the bytes the commitment hashes
    salt: Mapped[str] = mapped_column(String(64))  # 32 random bytes, hex


class AuditLeaf(Base):
    """An audit event's place in the one global Merkle tree (leaf 0, 1, 2 … in commit order, no gaps).

    Kept beside ``audit_events`` rather than as a column of it because the place is assigned as the
    transaction commits, under the tree's lock (see :mod:`engine.audit.tree`), and events are never updated.
    """

    __tablename__ = "audit_leaves"
    leaf: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(BigInteger, unique=True)


class AuditTreeHead(Base):
    """The tree's current size and right edge (one row, id 1): lets a commit extend the tree without reading
    it all. Its row lock is the single lock that orders leaves on PostgreSQL. Verification never trusts it."""

    __tablename__ = "audit_tree_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[str] = mapped_column(Text)  # JSON list of [height, hex hash], left to right


class AuditCheckpoint(Base):
    """A signed tree head: size, root and time, signed with Ed25519 by a key kept outside the database."""

    __tablename__ = "audit_checkpoints"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))  # the signed text of the time, kept verbatim
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    timer_id: Mapped[int | None] = mapped_column(BigId)
    element_id: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    resolved_by: Mapped[str | None] = mapped_column(String(64))


class MigrationJob(Base):
    """A batch of instances moved to another version (engine.runtime.migration_batch): updated after each
    instance, so a page can show the progress and, per instance, what failed and why."""

    __tablename__ = "migration_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    from_version: Mapped[int] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer)
    recompute: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # running | finished
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # JSON list of {"instance_id", "ok", "message"}, in the order the instances were taken
    results: Mapped[str] = mapped_column(Text, default="[]")
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)
