"""Keyset paging: a page continues *after* the last row of the previous one, named by its sort key.

``OFFSET`` makes the database read and throw away every earlier row, so page 200 of a long list costs 200
pages; a keyset condition (``WHERE key > last key``) lets an index start at the right row, so every page
costs its own rows. The cursor a page hands out is the last row's key, as an opaque URL-safe string.

A malformed or foreign cursor decodes to ``None`` (the list starts again from its first page), never an
error: cursors travel in links that people bookmark and edit.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

from sqlalchemy import and_, func, or_, select


def encode(values: tuple) -> str:
    """The cursor for a row whose sort key is ``values`` (datetimes, strings, numbers, ``None``)."""
    plain = [{"t": v.isoformat()} if isinstance(v, dt.datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, size: int) -> tuple | None:
    """The sort key a cursor names, or ``None`` when it is missing, malformed or of another length."""
    if not cursor or len(cursor) > 500:
        return None
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(plain, list) or len(plain) != size:
            return None
        return tuple(dt.datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in plain)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None


def after(columns, values, *, descending: bool = False):
    """SQL: rows after ``values`` in the order of ``columns`` (all ascending, or all descending), written
    out as ``a > x OR (a = x AND b > y) …`` so the first column's index range does the work."""
    ors = []
    for i, (column, value) in enumerate(zip(columns, values, strict=True)):
        step = column < value if descending else column > value
        ors.append(and_(*(c == v for c, v in zip(columns[:i], values[:i], strict=True)), step))
    return or_(*ors)


def capped_total(session, query, cap: int = 1000) -> tuple[int, bool]:
    """How many rows ``query`` (a SELECT of the rows) yields, counting at most ``cap`` + 1 of them: (count,
    more). A list shows "1000+" rather than counting all of a long history on every view."""
    found = session.scalar(select(func.count()).select_from(query.limit(cap + 1).subquery())) or 0
    return min(found, cap), found > cap
