"""audit: one Merkle tree over every event, signed checkpoints, and an event accepted only in order

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-01

Events that already exist become the first leaves, in the order they were written (their id). Triggers
refuse an event that is not the next of its chain or not chained to its head, a leaf that is not the next
of the tree, and any UPDATE or DELETE of leaves and checkpoints.
"""
import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0005'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
ORDER_MESSAGE = "audit event refused: not the next event of its chain, or not chained to its head"
LEAF_MESSAGE = "audit leaf refused: not the next leaf of the tree, or no such event"
GUARD_MESSAGE = "audit tree is append-only"


def upgrade() -> None:
    op.create_table('audit_leaves',
    sa.Column('leaf', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('leaf'),
    sa.UniqueConstraint('event_id')
    )
    op.create_table('audit_tree_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('frontier', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_checkpoints',
    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root', sa.String(length=64), nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('tree_size')
    )
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _push(frontier: list, leaf: bytes) -> None:
    """RFC 9162 leaf appended to the right edge (as engine.audit.merkle.push; copied so this revision never
    changes with the code)."""
    frontier.append((0, leaf))
    while len(frontier) > 1 and frontier[-1][0] == frontier[-2][0]:
        (height, right), (_, left) = frontier.pop(), frontier.pop()
        frontier.append((height + 1, hashlib.sha256(b"\x01" + left + right).digest()))


def _backfill() -> None:
    conn = op.get_bind()
    frontier: list = []
    rows = []
    for leaf, (event_id, event_hash) in enumerate(conn.execute(sa.text("SELECT id, hash FROM audit_events ORDER BY id"))):
        _push(frontier, hashlib.sha256(b"\x00" + event_hash.encode("ascii")).digest())
        rows.append({"leaf": leaf, "event_id": event_id})
    if rows:
        conn.execute(sa.text("INSERT INTO audit_leaves (leaf, event_id) VALUES (:leaf, :event_id)"), rows)
    conn.execute(sa.text("INSERT INTO audit_tree_head (id, size, frontier) VALUES (1, :size, :frontier)"),
                 {"size": len(rows), "frontier": json.dumps([[h, x.hex()] for h, x in frontier])})


def _sqlite_triggers() -> None:
    op.execute(f"""
        CREATE TRIGGER audit_events_in_order BEFORE INSERT ON audit_events
        WHEN NEW.seq <> coalesce((SELECT max(seq) FROM audit_events WHERE chain = NEW.chain), 0) + 1
          OR NEW.prev_hash <> coalesce((SELECT hash FROM audit_events WHERE chain = NEW.chain AND seq = NEW.seq - 1),
                                       '{GENESIS}')
        BEGIN SELECT RAISE(ABORT, '{ORDER_MESSAGE}'); END""")
    op.execute(f"""
        CREATE TRIGGER audit_leaves_in_order BEFORE INSERT ON audit_leaves
        WHEN NEW.leaf <> coalesce((SELECT max(leaf) FROM audit_leaves), -1) + 1
          OR NOT EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.event_id)
        BEGIN SELECT RAISE(ABORT, '{LEAF_MESSAGE}'); END""")
    for table in ("audit_leaves", "audit_checkpoints"):
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{GUARD_MESSAGE}'); END")


def _postgres_triggers() -> None:
    op.execute(f"""
        CREATE FUNCTION audit_events_in_order() RETURNS trigger AS $$
        BEGIN
            IF NEW.seq <> coalesce((SELECT max(seq) FROM audit_events WHERE chain = NEW.chain), 0) + 1
               OR NEW.prev_hash <> coalesce((SELECT hash FROM audit_events
                                             WHERE chain = NEW.chain AND seq = NEW.seq - 1), '{GENESIS}') THEN
                RAISE EXCEPTION '{ORDER_MESSAGE}';
            END IF;
            RETURN NEW;
        END; $$ LANGUAGE plpgsql""")
    op.execute("CREATE TRIGGER audit_events_in_order BEFORE INSERT ON audit_events "
               "FOR EACH ROW EXECUTE FUNCTION audit_events_in_order()")
    op.execute(f"""
        CREATE FUNCTION audit_leaves_in_order() RETURNS trigger AS $$
        BEGIN
            IF NEW.leaf <> coalesce((SELECT max(leaf) FROM audit_leaves), -1) + 1
               OR NOT EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.event_id) THEN
                RAISE EXCEPTION '{LEAF_MESSAGE}';
            END IF;
            RETURN NEW;
        END; $$ LANGUAGE plpgsql""")
    op.execute("CREATE TRIGGER audit_leaves_in_order BEFORE INSERT ON audit_leaves "
               "FOR EACH ROW EXECUTE FUNCTION audit_leaves_in_order()")
    op.execute(f"""
        CREATE FUNCTION audit_tree_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '{GUARD_MESSAGE}'; END; $$ LANGUAGE plpgsql""")
    for table in ("audit_leaves", "audit_checkpoints"):
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION audit_tree_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_in_order ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_in_order()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_in_order")
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_tree_head')
    op.drop_table('audit_leaves')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_leaves_in_order()")
        op.execute("DROP FUNCTION IF EXISTS audit_tree_append_only()")
