"""confirmation and 回访: where a rating came from, and the people a task is never offered to

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # requests.rating_source came with 0016 (the month report); this revision adds the task side only.
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('excluded', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('excluded')
