"""requests: what a paid service (有偿服务) charged, and where the satisfaction score came from; indexes for
the month report's figures

The month report counts 有偿服务 and their revenue and shows each rating's source (the resident's own
评价 or the 客服部's 电话回访) with SQL over this projection, never by reading the workflow blobs. Requests
projected before this revision get both from the audit log, which records every form input.

Revision ID: 0016
Revises: 0009
Create Date: 2026-12-01
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('requests', sa.Column('paid_cents', sa.Integer(), nullable=True))
    op.add_column('requests', sa.Column('rating_source', sa.String(16), nullable=True))
    _backfill(op.get_bind())
    # the month report counts a period's clocks per deadline (engine.helpdesk.month_figures)
    op.create_index('ix_sla_clocks_armed_at', 'sla_clocks', ['armed_at', 'sla_key', 'status'])
    op.create_index('ix_requests_month_figures', 'requests', ['created_at', 'category', 'satisfaction'])
    op.create_index('ix_requests_closed_at', 'requests', ['closed_at', 'created_at'])


def _backfill(conn) -> None:
    """Frozen rules (a migration must not change when the code does): ``amount_charged`` (yuan) of the
    收取费用 form is the charge; a ``satisfaction`` given on a form with a ``callback_note`` is a 回访's."""
    requests = sa.table('requests', sa.column('instance_id', sa.String), sa.column('paid_cents', sa.Integer),
                        sa.column('rating_source', sa.String))
    events = sa.table('audit_events', sa.column('chain', sa.String), sa.column('seq', sa.Integer),
                      sa.column('kind', sa.String), sa.column('payload', sa.Text))
    rows = conn.execute(sa.select(events.c.chain, events.c.payload)
                        .where(events.c.kind == 'task_completed',
                               events.c.chain.in_(sa.select(requests.c.instance_id)))
                        .order_by(events.c.chain, events.c.seq))
    found: dict[str, dict] = {}
    for chain, payload in rows:
        data = json.loads(payload).get('data')
        if not isinstance(data, dict):
            continue
        amount = data.get('amount_charged')
        if isinstance(amount, (int, float)) and not isinstance(amount, bool) and amount >= 0:
            found.setdefault(chain, {})['paid_cents'] = round(amount * 100)
        if isinstance(data.get('satisfaction'), int):
            found.setdefault(chain, {})['rating_source'] = 'callback' if 'callback_note' in data else 'resident'
    for chain, values in found.items():
        conn.execute(requests.update().where(requests.c.instance_id == chain).values(**values))


def downgrade() -> None:
    op.drop_index('ix_requests_closed_at', table_name='requests')
    op.drop_index('ix_requests_month_figures', table_name='requests')
    op.drop_index('ix_sla_clocks_armed_at', table_name='sla_clocks')
    with op.batch_alter_table('requests') as batch:
        batch.drop_column('rating_source')
        batch.drop_column('paid_cents')
