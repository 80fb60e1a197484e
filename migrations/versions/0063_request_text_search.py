"""Full-text search on requests (issue 16): words anywhere in the caller name, phone, address or description
found through an index instead of four leading-wildcard LIKEs over the whole table.

SQLite: an FTS5 table ``requests_fts`` with the ``trigram`` tokenizer, contentless (``content=''``: the trigram
index only, no second copy of the text), keyed by ``requests_fts_keys.id`` — an INTEGER PRIMARY KEY, which
``VACUUM`` never renumbers, unlike the implicit rowid of ``requests`` — beside the request's ``instance_id``;
triggers on ``requests`` keep both in step, and the requests already there are indexed here. PostgreSQL: the
``pg_trgm`` extension and a GIN trigram index on each of the four columns (built from the existing rows as they
are created). ``pg_trgm`` ships with PostgreSQL's contrib modules and is a trusted extension (PostgreSQL 13+):
the database's owner may create it, no superuser needed. See engine.helpdesk.text_search.

Revision ID: 0063
Revises: 0062
Create Date: 2026-12-01
"""
from alembic import op

revision = "0063"
down_revision = "0062"
branch_labels = None
depends_on = None

FTS = "requests_fts"
KEYS = "requests_fts_keys"
COLUMNS = ("caller_name", "phone", "address", "description")
TRIGGERS = {"requests_fts_insert", "requests_fts_delete", "requests_fts_update"}


def _values(prefix: str) -> str:
    return ", ".join(f"{prefix}.{c}" for c in COLUMNS)


def _key(prefix: str) -> str:
    return f"(SELECT id FROM {KEYS} WHERE instance_id = {prefix}.instance_id)"


def upgrade() -> None:
    cols = ", ".join(COLUMNS)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE TABLE {KEYS} (id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL UNIQUE)")
        op.execute(f"CREATE VIRTUAL TABLE {FTS} USING fts5({cols}, content='', tokenize='trigram')")
        op.execute(f"INSERT INTO {KEYS}(instance_id) SELECT instance_id FROM requests ORDER BY rowid")
        op.execute(f"INSERT INTO {FTS}(rowid, {cols}) SELECT k.id, {_values('r')} FROM requests r "
                   f"JOIN {KEYS} k ON k.instance_id = r.instance_id")  # every request already there
        # a contentless table forgets a row by being told the very values it indexed: the old ones
        forget = f"INSERT INTO {FTS}({FTS}, rowid, {cols}) VALUES ('delete', {_key('old')}, {_values('old')});"
        index = f"INSERT INTO {FTS}(rowid, {cols}) VALUES ({_key('new')}, {_values('new')});"
        op.execute(f"CREATE TRIGGER requests_fts_insert AFTER INSERT ON requests BEGIN "
                   f"INSERT INTO {KEYS}(instance_id) VALUES (new.instance_id); {index} END")
        op.execute(f"CREATE TRIGGER requests_fts_delete AFTER DELETE ON requests BEGIN {forget} "
                   f"DELETE FROM {KEYS} WHERE instance_id = old.instance_id; END")
        op.execute(f"CREATE TRIGGER requests_fts_update AFTER UPDATE OF instance_id, {cols} ON requests BEGIN "
                   f"{forget} UPDATE {KEYS} SET instance_id = new.instance_id WHERE instance_id = old.instance_id; "
                   f"{index} END")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name in COLUMNS:
        op.execute(f"CREATE INDEX ix_requests_{name}_trgm ON requests USING gin ({name} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in sorted(TRIGGERS):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
        op.execute(f"DROP TABLE IF EXISTS {KEYS}")
        return
    for name in COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS ix_requests_{name}_trgm")  # the extension may serve others: kept
