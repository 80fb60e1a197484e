"""``ix_sla_clocks_guarded_task`` holds only the clocks that guard a task (issue 16)

Most clocks guard no single task (the response time counted from receipt, a whole request's deadline):
``guarded_task_id`` is NULL in about two thirds of the rows. Indexed whole, SQLite's statistics averaged those
NULLs into the index's selectivity, so once ``ANALYZE`` ran the planner judged a page's ``guarded_task_id IN
(50 ids)`` to match thousands of rows and read the whole table instead (the inbox and the hand-over list). A
partial index ``WHERE guarded_task_id IS NOT NULL`` holds, and counts, only the ids a query can ask for; an
``IN`` or ``=`` on the column implies the condition, so both databases use it for every query that used the old
one.

Revision ID: 0066
Revises: 0065
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0066"
down_revision = "0065"
branch_labels = None
depends_on = None

NAME = "ix_sla_clocks_guarded_task"
PARTIAL = sa.text("guarded_task_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index(NAME, table_name="sla_clocks")
    op.create_index(NAME, "sla_clocks", ["guarded_task_id"], sqlite_where=PARTIAL, postgresql_where=PARTIAL)


def downgrade() -> None:
    op.drop_index(NAME, table_name="sla_clocks")
    op.create_index(NAME, "sla_clocks", ["guarded_task_id"])
