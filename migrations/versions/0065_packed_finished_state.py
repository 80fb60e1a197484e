"""Finished instances keep their state compressed; single-column indexes no query needs are dropped (issue 16)

``instances.state_packed``: a completed or cancelled instance's serialized workflow, zlib-compressed, with
``state`` left empty (engine.runtime.store packs it at the write that finishes the instance). On the 1k
scale build a finished help_request's 57 KB of state becomes 7 KB. The upgrade packs the instances that
finished before, in batches of 200 so that a 100k database is never held in memory at once.

Dropped, because an index with the same leading column already serves every query that could use them:
``ix_audit_events_chain`` (UNIQUE (chain, seq) starts with chain), ``ix_sla_clocks_instance_id``
(UNIQUE (instance_id, timer_task_id), ``ix_sla_clocks_instance_status``, ``ix_sla_clocks_instance_armed``),
``ix_sla_clocks_status`` (``ix_sla_clocks_breached``, ``ix_sla_clocks_status_armed``).

Revision ID: 0065
Revises: 0064
Create Date: 2026-12-01
"""
import zlib

import sqlalchemy as sa
from alembic import op

revision = "0065"
down_revision = "0064"
branch_labels = None
depends_on = None

LEVEL = 6  # engine.runtime.store.LEVEL when this was written (a migration does not import the engine)
BATCH = 200
FINISHED = ("completed", "cancelled")

instances = sa.table("instances", sa.column("id", sa.String), sa.column("status", sa.String),
                     sa.column("state", sa.Text), sa.column("state_packed", sa.LargeBinary))

DROPPED = (
    ("ix_audit_events_chain", "audit_events", ["chain"]),
    ("ix_sla_clocks_instance_id", "sla_clocks", ["instance_id"]),
    ("ix_sla_clocks_status", "sla_clocks", ["status"]),
)


def _batches(conn, where):
    """Ids of the rows to convert, in batches; each batch is read again by id, so memory stays bounded."""
    after = ""
    while True:
        ids = conn.execute(sa.select(instances.c.id).where(where, instances.c.id > after)
                           .order_by(instances.c.id).limit(BATCH)).scalars().all()
        if not ids:
            return
        yield ids
        after = ids[-1]


def upgrade() -> None:
    op.add_column("instances", sa.Column("state_packed", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    where = sa.and_(instances.c.status.in_(FINISHED), instances.c.state_packed.is_(None))
    update = (instances.update().where(instances.c.id == sa.bindparam("b_id"))
              .values(state="", state_packed=sa.bindparam("b_packed")))
    for ids in _batches(conn, where):
        rows = conn.execute(sa.select(instances.c.id, instances.c.state).where(instances.c.id.in_(ids))).all()
        conn.execute(update, [{"b_id": iid, "b_packed": zlib.compress(state.encode(), LEVEL)} for iid, state in rows])
    for name, table, _columns in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in reversed(DROPPED):
        op.create_index(name, table, columns)
    conn = op.get_bind()
    update = (instances.update().where(instances.c.id == sa.bindparam("b_id"))
              .values(state=sa.bindparam("b_state"), state_packed=None))
    for ids in _batches(conn, instances.c.state_packed.is_not(None)):
        rows = conn.execute(sa.select(instances.c.id, instances.c.state_packed).where(instances.c.id.in_(ids))).all()
        conn.execute(update, [{"b_id": iid, "b_state": zlib.decompress(packed).decode()} for iid, packed in rows])
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("state_packed")
