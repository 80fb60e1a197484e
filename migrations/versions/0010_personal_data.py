"""personal data beside the audit log: values committed to events by salted hashes, erasable (PIPL)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Events written before this revision keep their values in the payload (the versions they ran on marked no
field personal); see engine/audit/personal.py.
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('personal_data',
    sa.Column('ref', sa.String(length=36), nullable=False),
    sa.Column('chain', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('ref')
    )
    op.create_index(op.f('ix_personal_data_chain'), 'personal_data', ['chain'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_personal_data_chain'), table_name='personal_data')
    op.drop_table('personal_data')
