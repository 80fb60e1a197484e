"""notify: the outbox (messages, attempts), the admin's message templates and one-time phone codes

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-01

In-app notifications used to be derived from the audit log on every page view; from here on they are
rows of the outbox, written with the change that causes them. Nothing is backfilled: the outbox starts
empty (the old notifications were a 30-day window of derived text).
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = "0011"
branch_labels = None
depends_on = None

_big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', _big, autoincrement=True, nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('to_user', sa.String(length=64), nullable=True),
    sa.Column('to_role', sa.String(length=32), nullable=True),
    sa.Column('to_phone', sa.String(length=32), nullable=True),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', _ts, nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_expires_at', _ts, nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', _ts, nullable=False),
    sa.Column('sent_at', _ts, nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_outbox_due', 'outbox', ['status', 'next_attempt_at'])
    op.create_index('ix_outbox_user', 'outbox', ['to_user', 'created_at'])
    op.create_index('ix_outbox_role', 'outbox', ['to_role', 'created_at'])
    op.create_index(op.f('ix_outbox_instance_id'), 'outbox', ['instance_id'])
    op.create_table('outbox_attempts',
    sa.Column('id', _big, autoincrement=True, nullable=False),
    sa.Column('message_id', _big, nullable=False),
    sa.Column('at', _ts, nullable=False),
    sa.Column('sender', sa.String(length=32), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['outbox.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_outbox_attempts_message_id'), 'outbox_attempts', ['message_id'])
    op.create_table('message_templates',
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('updated_at', _ts, nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('event')
    )
    op.create_table('phone_codes',
    sa.Column('id', _big, autoincrement=True, nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', _ts, nullable=False),
    sa.Column('expires_at', _ts, nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('used_at', _ts, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_phone_codes_phone'), 'phone_codes', ['phone'])


def downgrade() -> None:
    op.drop_index(op.f('ix_phone_codes_phone'), table_name='phone_codes')
    op.drop_table('phone_codes')
    op.drop_table('message_templates')
    op.drop_index(op.f('ix_outbox_attempts_message_id'), table_name='outbox_attempts')
    op.drop_table('outbox_attempts')
    op.drop_index(op.f('ix_outbox_instance_id'), table_name='outbox')
    op.drop_index('ix_outbox_role', table_name='outbox')
    op.drop_index('ix_outbox_user', table_name='outbox')
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.drop_table('outbox')
