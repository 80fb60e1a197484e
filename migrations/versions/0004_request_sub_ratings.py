"""requests: the resident's three sub-ratings (response speed, quality, attitude) beside the overall score

Requests rated before this revision get their sub-ratings from the audit log: the latest completed task
whose recorded form data gave them (the log holds every input, so nothing has to be guessed).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must not change when the application's code does.
KEYS = ("speed", "quality", "attitude")


def upgrade() -> None:
    for key in KEYS:
        op.add_column('requests', sa.Column(f'rating_{key}', sa.Integer(), nullable=True))
    _backfill(op.get_bind())


def _backfill(conn) -> None:
    requests = sa.table('requests', sa.column('instance_id', sa.String),
                        *(sa.column(f'rating_{key}', sa.Integer) for key in KEYS))
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
        for key in KEYS:
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
                found.setdefault(chain, {})[f'rating_{key}'] = value
    for chain, values in found.items():
        conn.execute(requests.update().where(requests.c.instance_id == chain).values(**values))


def downgrade() -> None:
    with op.batch_alter_table('requests') as batch:
        for key in reversed(KEYS):
            batch.drop_column(f'rating_{key}')
