"""sla_clocks and requests indexed for the month report at scale (issue 15)

(status, armed_at, instance_id): the month's breached clocks — counted, listed, and counted per department
of their request — read as one index range instead of every breached clock ever. (instance_id, armed_at,
sla_key, status) and requests (department, instance_id), replacing (department): a department's month
reaches its clocks of the year from its requests, both read from the indexes alone.

Revision ID: 0061
Revises: 0053
Create Date: 2026-12-01
"""
from alembic import op

revision = "0061"
down_revision = "0053"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_sla_clocks_status_armed", ["status", "armed_at", "instance_id"]),
    ("ix_sla_clocks_instance_armed", ["instance_id", "armed_at", "sla_key", "status"]),
)


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(name, "sla_clocks", columns)
    op.create_index("ix_requests_department_instance", "requests", ["department", "instance_id"])
    op.drop_index("ix_requests_department", table_name="requests")


def downgrade() -> None:
    op.create_index("ix_requests_department", "requests", ["department"])
    op.drop_index("ix_requests_department_instance", table_name="requests")
    for name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name="sla_clocks")
