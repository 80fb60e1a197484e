"""indexes shaped like the staff pages' queries (issue 16)

The inbox (offered to a lane, named for or claimed by a person, nearest deadline first: read in the order
of ``tasks.queue_at``, added here), the request list by status and age, the SLA clocks of a task or of an
open request, the breached clocks of the notifications, and the audit events read by kind and time.
tests/web/test_query_plans.py fails when a staff page's query reads a growing table from end to end.

Revision ID: 0040
Revises: 0048
Create Date: 2026-12-01
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0048"
branch_labels = None
depends_on = None

NO_DEADLINE = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)  # engine.core.tables.NO_DEADLINE, as of this revision
NAMED = {"sqlite_where": sa.text("complained_staff IS NOT NULL"),
         "postgresql_where": sa.text("complained_staff IS NOT NULL")}
QUEUE = ["queue_at", "ready_at", "id"]
INDEXES = (
    # the inbox, in queue order: every open task; a role's lane; a department's lane; named for / claimed by
    ("ix_tasks_queue", "tasks", QUEUE),
    ("ix_tasks_lane_queue", "tasks", ["lane", "assignee", *QUEUE]),
    ("ix_tasks_department_queue", "tasks", ["lane", "assignee", "department", *QUEUE]),
    ("ix_tasks_assignee_queue", "tasks", ["assignee", *QUEUE]),
    ("ix_tasks_claimed_queue", "tasks", ["claimed_by", *QUEUE]),
    # the request list: 处理中 / 已办结, newest first; a resident's own requests, newest first
    ("ix_requests_status_created", "requests", ["status", "created_at"]),
    ("ix_requests_customer_created", "requests", ["customer_username", "created_at"]),
    # the clocks guarding one task; the armed clocks of a request; the breached clocks, newest first
    ("ix_sla_clocks_guarded_task", "sla_clocks", ["guarded_task_id"]),
    ("ix_sla_clocks_instance_status", "sla_clocks", ["instance_id", "status"]),
    ("ix_sla_clocks_breached", "sla_clocks", ["status", "breached_at"]),
    # audit events of one kind in a time window (urges, completions)
    ("ix_audit_events_kind_at", "audit_events", ["kind", "at"]),
)


def upgrade() -> None:
    # tasks.queue_at: the inbox's sort key (the deadline, or after every deadline), filled for open tasks
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("queue_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text("UPDATE tasks SET queue_at = COALESCE(due_at, :far)")
               .bindparams(sa.bindparam("far", NO_DEADLINE, type_=sa.DateTime(timezone=True))))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    # complained_staff is NULL on almost every request: a full index's statistics make "= ?" look like a table
    # scan to SQLite's planner; a partial one counts only the complaints that name someone (the inbox badge).
    op.drop_index("ix_requests_complained_staff", table_name="requests")
    op.create_index("ix_requests_complained_staff", "requests", ["complained_staff"], **NAMED)


def downgrade() -> None:
    op.drop_index("ix_requests_complained_staff", table_name="requests")
    op.create_index("ix_requests_complained_staff", "requests", ["complained_staff"])
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("queue_at")
