"""sla_clocks indexed for the month report at scale (issue 15)

(status, armed_at, instance_id): the month's breached clocks — counted, listed, and counted per department
of their request — read as one index range instead of every breached clock ever. (instance_id, armed_at,
sla_key, status): a department's month reaches its clocks from its requests, each request's clocks of the
year read from the index alone.

Revision ID: 0061
Revises: 0040
Create Date: 2026-12-01
"""
from alembic import op

revision = "0061"
down_revision = "0040"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_sla_clocks_status_armed", ["status", "armed_at", "instance_id"]),
    ("ix_sla_clocks_instance_armed", ["instance_id", "armed_at", "sla_key", "status"]),
)


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(name, "sla_clocks", columns)


def downgrade() -> None:
    for name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name="sla_clocks")
