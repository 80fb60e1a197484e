"""Full-text search on requests (issue 16): words anywhere in the caller name, phone, address or description
found through an index instead of four leading-wildcard LIKEs over the whole table.

SQLite: an FTS5 table ``requests_fts`` with the ``trigram`` tokenizer, external content (the index only, keyed
by ``requests.rowid``, no second copy of the text), kept in step by triggers on ``requests`` and filled from
the existing rows by FTS5's ``rebuild``. PostgreSQL: the ``pg_trgm`` extension and a GIN trigram index on each
of the four columns (built from the existing rows as they are created). ``pg_trgm`` ships with PostgreSQL's
contrib modules and is a trusted extension (PostgreSQL 13+): the database's owner may create it, no superuser
needed. See engine.helpdesk.text_search.

Revision ID: 0063
Revises: 0061
Create Date: 2026-12-01
"""
from alembic import op

revision = "0063"
down_revision = "0061"
branch_labels = None
depends_on = None

FTS = "requests_fts"
COLUMNS = ("caller_name", "phone", "address", "description")
TRIGGERS = {"requests_fts_insert", "requests_fts_delete", "requests_fts_update"}


def _values(prefix: str) -> str:
    return ", ".join(f"{prefix}.{c}" for c in COLUMNS)


def upgrade() -> None:
    cols = ", ".join(COLUMNS)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE VIRTUAL TABLE {FTS} USING fts5({cols}, content='requests', content_rowid='rowid', "
                   "tokenize='trigram')")
        insert = f"INSERT INTO {FTS}(rowid, {cols}) VALUES (new.rowid, {_values('new')});"
        delete = f"INSERT INTO {FTS}({FTS}, rowid, {cols}) VALUES ('delete', old.rowid, {_values('old')});"
        op.execute(f"CREATE TRIGGER requests_fts_insert AFTER INSERT ON requests BEGIN {insert} END")
        op.execute(f"CREATE TRIGGER requests_fts_delete AFTER DELETE ON requests BEGIN {delete} END")
        op.execute(f"CREATE TRIGGER requests_fts_update AFTER UPDATE OF {cols} ON requests BEGIN {delete} {insert} END")
        op.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")  # every request already there
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name in COLUMNS:
        op.execute(f"CREATE INDEX ix_requests_{name}_trgm ON requests USING gin ({name} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in sorted(TRIGGERS):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
        return
    for name in COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS ix_requests_{name}_trgm")  # the extension may serve others: kept
