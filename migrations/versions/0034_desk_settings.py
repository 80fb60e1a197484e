"""desk settings: values the admin sets for the whole desk (the 24 h hotline number residents see)

Revision ID: 0034
Revises: 0021
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0034'
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'desk_settings',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('desk_settings')
