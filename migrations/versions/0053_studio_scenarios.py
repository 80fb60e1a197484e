"""studio scenarios: scenario files a process owner wrote in the studio, stored beside the process

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0053'
down_revision = "0052"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'studio_scenarios',
        sa.Column('process_id', sa.String(length=100), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('saved_by', sa.String(length=64), nullable=False),
        sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('process_id', 'name'),
    )


def downgrade() -> None:
    op.drop_table('studio_scenarios')
