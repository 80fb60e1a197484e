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
  columns, ``requests.rowid IN (…)`` — are a superset of the LIKE's (the tokenizer folds case in all of
  Unicode, LIKE only in ASCII), and the LIKE then rechecks only those rows.

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
The table is *external content* (``content='requests'``): it holds the trigram index only, never a second
copy of the personal text; its rows are keyed by ``requests.rowid``, which SQLite keeps except through a
``VACUUM`` (after one, :func:`rebuild`). An erasure deletes a request's old trigrams through the update
trigger, and :func:`purge_erased` then merges the index so no segment still holds them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, column, func, literal_column, or_, select, table, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from engine.helpdesk.tables import HelpRequest

FTS_TABLE = "requests_fts"
COLUMNS = ("caller_name", "phone", "address", "description")
TRIGRAM = 3  # the shortest words the indexes serve
COMMON = 2000  # candidates from which a page of the search is read newest first instead (common())
TRGM_INDEXES = {f"ix_requests_{name}_trgm": name for name in COLUMNS}  # PostgreSQL
SHORT_HINT = "输入三个字及以上可更快搜索全部记录；一两个字的搜索从最新的求助往前逐条查找。"

_fts = table(FTS_TABLE, column("rowid"))


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
    candidates = select(_fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")(phrase(q)))
    return _Search(plain, literal_column(f"{HelpRequest.__tablename__}.rowid").in_(candidates) & plain)


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


def rebuild(session: Session) -> None:
    """Index every request again from ``requests`` (after a ``VACUUM``, which may renumber its rowids)."""
    if _is_sqlite(session):
        session.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"))
