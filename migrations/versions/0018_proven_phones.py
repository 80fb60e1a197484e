"""proven phone numbers: a pending (unproven) number beside the proven one, and the prove-at-sign-in flag

Residents who signed up before numbers were proven took their number by typing it: it moves to
``pending_phone`` (linking nothing) and they prove it at their next sign-in. Staff accounts keep theirs.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('pending_phone', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('must_prove_phone', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index('ix_users_pending_phone', ['pending_phone'], unique=False)
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('phone', sa.String),
                     sa.column('pending_phone', sa.String), sa.column('must_prove_phone', sa.Boolean))
    roles = sa.table('user_roles', sa.column('user_id', sa.Integer), sa.column('role', sa.String))
    residents = sa.select(roles.c.user_id).where(roles.c.role == 'customer')
    op.execute(users.update().where(users.c.id.in_(residents), users.c.phone.is_not(None))
               .values(pending_phone=users.c.phone, phone=None, must_prove_phone=sa.true()))


def downgrade() -> None:
    # Unproven numbers are dropped, not put back: several accounts may claim one, and the old column is unique.
    with op.batch_alter_table('users') as batch:
        batch.drop_index('ix_users_pending_phone')
        batch.drop_column('must_prove_phone')
        batch.drop_column('pending_phone')
