"""Search for words anywhere in a request's caller name, phone, address or description, served by an index.

The search means what it always meant — ``col LIKE '%q%'`` on any of the four columns, so ``%`` and ``_`` in
the words are LIKE's wildcards and SQLite ignores ASCII case while PostgreSQL does not — and
:func:`condition` keeps that very expression as the final word on every row. What changes is how the rows
are found (issue 16: four leading-wildcard LIKEs read the whole table):

- PostgreSQL: ``pg_trgm`` GIN indexes on the four columns (migration 0063). The planner serves the
  unchanged LIKEs from them (a ``BitmapOr`` of four index reads) and rechecks each row, so the results are
  the LIKE's by construction. Chinese works: trigrams of any characters, hashed.
- SQLite: an FTS5 table ``requests_fts`` with the ``trigram`` tokenizer (Chinese has no spaces; trigrams
  match any substring of three or more characters). Its candidates — a phrase ``MATCH`` over the four
  columns, turned into instance ids through ``requests_fts_keys`` — are a superset of the LIKE's (the
  tokenizer folds case in all of Unicode, LIKE only in ASCII), and the LIKE then rechecks only those rows.

Words of one or two characters (a surname, "漏水") make no trigram, and neither does a word with a LIKE
wildcard in it: those keep the plain LIKE. The list reads requests newest first through its
``created_at`` index and stops at its page (51 rows) and its capped count (1,001), so a common character
costs about a page; a rare one or two characters read further back, up to the whole table as before. The
list page says three characters search the index (``SHORT_HINT``). The other way round, a page of words that
thousands of requests contain is read newest first too (:func:`common`), while its capped count still
comes from the index (it needs no order, so it stops at the cap).

Keeping ``requests_fts`` in step: SQLite triggers (migration 0063), not the projection code, so every writer
of ``requests`` — the projection, an erasure, a data migration, a bulk load in a benchmark or a test, a
repair by hand in the ``sqlite3`` shell — updates the index in the same transaction with nothing to forget.
A migration that rebuilds ``requests`` on SQLite (Alembic's batch mode copies it to a new table and drops the
old one) drops these triggers with it and must create them again.

What the index's rows are keyed by: not ``requests.rowid``. ``requests`` has a TEXT primary key, so its rowid
is implicit, and SQLite documents that ``VACUUM`` (which an operator runs to give disk back, e.g. after old
states are packed) may renumber such rowids — as may a ``.dump`` and reload — after which an index keyed by
them would point at the wrong requests and a search would silently miss the right ones (the LIKE recheck
drops wrong candidates, but nothing brings the right ones back). SQLite 3.40's ``VACUUM`` happens to keep
them (it copies a table that has an index rowid and all); nothing promises that. The key is ``requests_fts_keys.id``, an
INTEGER PRIMARY KEY: an alias of that table's rowid, a real column, which no ``VACUUM`` or dump changes;
the row beside it names the request (``instance_id``, unique). The FTS5 table is *contentless*
(``content=''``): it stores the trigram index and per-row token counts only, never a second copy of the
personal text (the key table holds instance ids, which are no personal data), and it forgets a row by
FTS5's ``'delete'`` command given the values it indexed — the triggers have them as ``old.*``. A search
costs one more lookup per candidate (key → instance id → request), both through primary-key indexes.
Rejected: an INTEGER PRIMARY KEY added to ``requests`` itself (rebuilding the projection's main table,
and its model, for one SQLite index), and re-indexing after every ``VACUUM`` (a step an operator forgets,
and until it runs the search is wrong without a sign).

An erasure replaces a request's personal columns, so the update trigger deletes its old trigrams at once,
and :func:`purge_erased` then merges the index so no segment of the file still holds them.
"""

from __future__ import annotations

import itertools

from sqlalchemy import Boolean, column, func, literal_column, or_, select, table, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, Join, Select
from sqlalchemy.sql.visitors import InternalTraversal

from engine.helpdesk.tables import HelpRequest

FTS_TABLE = "requests_fts"
KEYS_TABLE = "requests_fts_keys"  # the index's key (INTEGER PRIMARY KEY, stable) beside the request's id
COLUMNS = ("caller_name", "phone", "address", "description")
TRIGRAM = 3  # the shortest words the indexes serve
COMMON = 2000  # candidates from which a page of the search is read newest first instead (common())
TRGM_INDEXES = {f"ix_requests_{name}_trgm": name for name in COLUMNS}  # PostgreSQL
SHORT_HINT = "输入三个字及以上可更快搜索全部记录；一两个字的搜索从最新的求助往前逐条查找。"

_fts = table(FTS_TABLE, column("rowid"))
_keys = table(KEYS_TABLE, column("id"), column("instance_id"))


def indexed(q: str) -> bool:
    """Whether the index can find the candidates of ``q``: three characters or more and no LIKE wildcard."""
    return len(q) >= TRIGRAM and "%" not in q and "_" not in q


def phrase(q: str) -> str:
    """``q`` as one FTS5 phrase (every character literal: a double quote is doubled)."""
    return '"' + q.replace('"', '""') + '"'


def condition(q: str, *, through_index: bool = True) -> ColumnElement:
    """SQL: a request whose caller name, phone, address or description contains ``q`` (see the docstring).
    ``through_index`` False: the plain LIKEs, for a page of words most requests contain (:func:`common`)."""
    like = f"%{q}%"
    plain = or_(*(getattr(HelpRequest, name).like(like) for name in COLUMNS)).self_group()
    if not through_index or not indexed(q):
        return plain
    found = select(_fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")(phrase(q)))
    candidates = select(_keys.c.instance_id).where(_keys.c.id.in_(found))
    return _Search(plain, HelpRequest.instance_id.in_(candidates) & plain)


class _Search(ColumnElement):
    """The search as each database runs it: SQLite through ``requests_fts``, any other as the plain LIKEs
    (which PostgreSQL serves from its trigram indexes)."""

    type = Boolean()
    _is_implicitly_boolean = True  # a condition already: never rendered as "(…) = 1" on SQLite (no index then)
    inherit_cache = True
    _traverse_internals = [("plain", InternalTraversal.dp_clauseelement),
                           ("sqlite", InternalTraversal.dp_clauseelement)]

    def __init__(self, plain: ColumnElement, sqlite: ColumnElement):
        self.plain = plain
        self.sqlite = sqlite


@compiles(_Search)
def _compile_plain(element: _Search, compiler, **kw) -> str:
    return compiler.process(element.plain, **kw)


@compiles(_Search, "sqlite")
def _compile_sqlite(element: _Search, compiler, **kw) -> str:
    return "(" + compiler.process(element.sqlite, **kw) + ")"


def through_index(session: Session, query: Select, q: str) -> Select:
    """``query`` (over ``requests``, holding ``condition(q, through_index=False)``) for a count, which needs no
    order: on SQLite its rows come from the index as a join — candidate, key, request — run in that order,
    which stops at the count's cap; :func:`condition`'s ``IN`` first builds the list of every candidate's
    instance id (at 100,000 requests, a word a quarter of them contain: 3 ms instead of 50). A page gains
    nothing from it (it sorts every candidate either way). Elsewhere, and for words the index cannot serve,
    ``query`` unchanged."""
    if not indexed(q) or not _is_sqlite(session):
        return query
    source = _InOrder(_InOrder(_fts, _keys, _keys.c.id == _fts.c.rowid), HelpRequest.__table__,
                      HelpRequest.instance_id == _keys.c.instance_id)
    return query.select_from(source).where(literal_column(FTS_TABLE).op("MATCH")(phrase(q)))


class _InOrder(Join):
    """A join SQLite runs in the order written (``CROSS JOIN``, which its planner never reorders): the index's
    candidates stay the outer loop even when the query also narrows by an indexed column such as ``status``
    (left to itself, the planner read every closed request by its status index and probed the index for each:
    310 ms instead of 3 at 100,000)."""

    inherit_cache = True


@compiles(_InOrder, "sqlite")
def _compile_in_order(join: _InOrder, compiler, asfrom=False, from_linter=None, **kw) -> str:
    if from_linter:  # as SQLCompiler.visit_join: the two sides are joined, no cartesian product
        from_linter.edges.update(itertools.product(join.left._from_objects, join.right._from_objects))
    return (compiler.process(join.left, asfrom=True, from_linter=from_linter, **kw) + " CROSS JOIN "
            + compiler.process(join.right, asfrom=True, from_linter=from_linter, **kw) + " ON "
            + compiler.process(join.onclause, from_linter=from_linter, **kw))


def common(session: Session, q: str) -> bool:
    """Whether the SQLite index finds at least COMMON candidates for ``q`` (a few milliseconds, the index
    alone). The newest page of such words is found faster newest first through ``created_at``'s index,
    testing the LIKE row by row (matches are dense there, so ~51 × N / COMMON rows at most), than by
    fetching and sorting every candidate; PostgreSQL's planner makes that choice itself from its trigram
    statistics."""
    if not indexed(q) or not _is_sqlite(session):
        return False
    probe = select(_fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")(phrase(q))).limit(COMMON)
    return session.scalar(select(func.count()).select_from(probe.subquery())) >= COMMON


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def purge_erased(session: Session) -> None:
    """After personal data was erased: merge the SQLite index into one segment, so the erased trigrams
    (hidden at once by the trigger's delete, but kept in older segments until a merge) are gone from the
    file's live pages too. PostgreSQL's GIN entries go with the old row versions at the next VACUUM."""
    if _is_sqlite(session):
        session.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')"))
