"""requests.updated_at indexed: the month report's cache key (issue 15)

The month page caches its figures by month and a data watermark (engine.helpdesk.month_figures.watermark),
which reads the latest ``requests.updated_at``: with this index a look-up, not a scan of every request.

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-01
"""
from alembic import op

revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_requests_updated_at", "requests", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_updated_at", table_name="requests")
