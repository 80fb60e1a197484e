"""month_seals: the month report's figures as the 公司经理 signed them (issue 15)

Once the 公司经理 has reviewed the month-end analysis, the month's figures are kept as signed; the report
shows them and any difference a later change of data makes, rather than silently recomputing the month.

Revision ID: 0047
Revises: 0021
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0047"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "month_seals",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("instance_id", sa.String(64), nullable=False),
        sa.Column("signed_by", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("month_seals")
