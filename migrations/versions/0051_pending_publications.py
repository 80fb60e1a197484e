"""pending publications: a process owner's publish waiting for the 公司经理 when a second approver is required

Revision ID: 0051
Revises: 0040
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0051'
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pending_publications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('process_id', sa.String(length=100), nullable=False),
        sa.Column('base_version', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('revert_to', sa.Integer(), nullable=True),
        sa.Column('xml', sa.Text(), nullable=False),
        sa.Column('forms', sa.Text(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_pending_publications_status', 'pending_publications', ['status', 'process_id'])


def downgrade() -> None:
    op.drop_index('ix_pending_publications_status', table_name='pending_publications')
    op.drop_table('pending_publications')
