"""sessions and tokens: a sign-in generation per user, API tokens an admin can revoke, password reset
codes, the rate limiter's shared counters, and failed sign-ins counted per address

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01

Existing session cookies carry no generation yet, so everybody signs in once more after the upgrade; tokens
issued before it (signed user ids, no row) are refused.
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = "0010"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('auth_epoch', sa.Integer(), server_default='0', nullable=False))
    op.create_table('password_reset_codes',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('salt', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_password_reset_codes_user_id', 'password_reset_codes', ['user_id'], unique=False)
    op.create_table('web_api_tokens',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_web_api_tokens_user_id', 'web_api_tokens', ['user_id'], unique=False)
    op.create_index('ix_web_api_tokens_expires_at', 'web_api_tokens', ['expires_at'], unique=False)
    op.create_table('web_rate_limits',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index('ix_web_login_failures_address', 'web_login_failures', ['address', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_web_login_failures_address', table_name='web_login_failures')
    op.drop_table('web_rate_limits')
    op.drop_index('ix_web_api_tokens_expires_at', table_name='web_api_tokens')
    op.drop_index('ix_web_api_tokens_user_id', table_name='web_api_tokens')
    op.drop_table('web_api_tokens')
    op.drop_index('ix_password_reset_codes_user_id', table_name='password_reset_codes')
    op.drop_table('password_reset_codes')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('auth_epoch')
