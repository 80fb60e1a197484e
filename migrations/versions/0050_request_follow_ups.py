"""follow-up requests: a new problem found while handling a request opens a request linked to it (6 反馈与跟踪)

Revision ID: 0050
Revises: 0021
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0050'
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requests') as batch:
        batch.add_column(sa.Column('follows_up', sa.String(length=36), nullable=True))
    # partial: almost every request follows up none, and "= ?" must read the index (see engine/helpdesk/tables.py)
    op.create_index('ix_requests_follows_up', 'requests', ['follows_up'],
                    sqlite_where=sa.text("follows_up IS NOT NULL"), postgresql_where=sa.text("follows_up IS NOT NULL"))


def downgrade() -> None:
    op.drop_index('ix_requests_follows_up', table_name='requests')
    with op.batch_alter_table('requests') as batch:
        batch.drop_column('follows_up')
