"""need-to-know: the request's department, the complained-about staff member, the confidential flag

Revision ID: 0019
Revises: 0015
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requests') as batch:
        batch.add_column(sa.Column('department', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('complained_staff', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('confidential', sa.Boolean(), server_default='0', nullable=False))
        batch.create_index('ix_requests_department', ['department'], unique=False)
        batch.create_index('ix_requests_complained_staff', ['complained_staff'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('requests') as batch:
        batch.drop_index('ix_requests_complained_staff')
        batch.drop_index('ix_requests_department')
        batch.drop_column('confidential')
        batch.drop_column('complained_staff')
        batch.drop_column('department')
