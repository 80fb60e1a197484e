"""step_timings: each user task's ready → completed time, for the slowest steps of a month (issue 15)

The runtime writes a row with the change that completes a task. Tasks completed before this migration have
none: their times are in the audit log only, and rebuilding them means replaying every instance, which a
migration should not do. So the migration notes, in ``desk_settings`` (key ``step_timings_since``), the last
audit event's time when the database already holds instances; ``liyuan audit verify --projections`` does not
ask for rows of completions up to that instant, and ``liyuan audit fill-step-timings`` replays those instances,
writes their rows and removes the note (from then on every row is checked). A new, empty database gets no
note: every completion must have its row.

Revision ID: 0062
Revises: 0061
Create Date: 2026-12-01
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0062"
down_revision = "0061"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "step_timings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("instance_id", sa.String(36), sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
        sa.Column("process_id", sa.String(100), nullable=False),
        sa.Column("element_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("lane", sa.String(64)),
        sa.Column("department", sa.String(32)),
        sa.Column("clause", sa.String(255)),
        sa.Column("ready_at", Timestamp, nullable=False),
        sa.Column("completed_at", Timestamp, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("completed_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_step_timings_instance_id", "step_timings", ["instance_id"])
    op.create_index("ix_step_timings_month", "step_timings", ["completed_at", "process_id", "element_id", "seconds"])
    op.create_index("ix_step_timings_step", "step_timings",
                    ["process_id", "element_id", "completed_at", "instance_id"])
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM instances LIMIT 1")).first() is None:
        return
    latest = bind.execute(sa.text("SELECT max(at) FROM audit_events")).scalar()
    if latest is None:
        return
    since = latest if isinstance(latest, str) else latest.isoformat()
    settings = sa.table("desk_settings", sa.column("key", sa.String), sa.column("value", sa.Text),
                        sa.column("updated_at", Timestamp), sa.column("updated_by", sa.String))
    op.bulk_insert(settings, [{"key": "step_timings_since", "value": since,
                               "updated_at": dt.datetime.now(dt.UTC), "updated_by": "migration 0062"}])


def downgrade() -> None:
    op.execute("DELETE FROM desk_settings WHERE key = 'step_timings_since'")
    op.drop_index("ix_step_timings_step", table_name="step_timings")
    op.drop_index("ix_step_timings_month", table_name="step_timings")
    op.drop_index("ix_step_timings_instance_id", table_name="step_timings")
    op.drop_table("step_timings")
