"""timers.fire_at: when a poller may next claim a row, so finding due work reads one index (issue 16)

The poller's ``next_due`` and its claim joined every timer row with its instance on every tick, to skip
instances held by an incident and rows leased or waiting for a retry. ``fire_at`` carries that answer on the
row itself — the due time, the retry time, or while leased the lease's end; NULL while the instance waits on
an incident or the attempts are used up — kept by every writer of the row in the same transaction.
``next_due`` is then the first entry of ``ix_timers_fire_at`` and a claim one range of it.

Revision ID: 0064
Revises: 0063
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0064"
down_revision = "0063"
branch_labels = None
depends_on = None

MAX_ATTEMPTS = 5  # engine.timers.MAX_ATTEMPTS, as of this revision


def upgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("fire_at", sa.DateTime(timezone=True), nullable=True))
    # A leased row is claimable when its lease ends (it was leased once due); otherwise at its retry or due time.
    op.execute(sa.text(
        "UPDATE timers SET fire_at = COALESCE(lease_expires_at, next_attempt_at, due_at) "
        "WHERE attempts < :max AND (instance_id IS NULL OR instance_id IN "
        "(SELECT id FROM instances WHERE status = 'running'))").bindparams(max=MAX_ATTEMPTS))
    op.create_index("ix_timers_fire_at", "timers", ["fire_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_timers_fire_at", table_name="timers")
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("fire_at")
