"""departments and duty: users' departments, the duty roster, and the department a task is routed to

Revision ID: 0015
Revises: 0009
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_departments',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_index('ix_user_departments_department', 'user_departments', ['department'], unique=False)
    op.create_table('duty_shifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_duty_shifts_role_time', 'duty_shifts', ['role', 'starts_at', 'ends_at'], unique=False)
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('department', sa.String(length=32), nullable=True))
        batch.create_index('ix_tasks_department', ['department'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.drop_index('ix_tasks_department')
        batch.drop_column('department')
    op.drop_index('ix_duty_shifts_role_time', table_name='duty_shifts')
    op.drop_table('duty_shifts')
    op.drop_index('ix_user_departments_department', table_name='user_departments')
    op.drop_table('user_departments')
