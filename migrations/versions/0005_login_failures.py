"""web: failed sign-ins in the database, so every server process counts the same lockout

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_login_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_web_login_failures_key', 'web_login_failures', ['username', 'address', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_web_login_failures_key', table_name='web_login_failures')
    op.drop_table('web_login_failures')
