"""Links of a list, built once per page rather than once per row.

``url_for`` walks the URL map for every call: a page of 50 task cards with five links each spent a fifth of
its rendering there. :func:`per_row` builds the URL once around a marker and puts each row's id in its place;
an id that would need quoting (never a UUID) still goes through ``url_for``, so the links are the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import url_for

_MARKER = "0rowid0"
_PLAIN = re.compile(r"[A-Za-z0-9_-]+")  # characters url_for leaves as they are in a path segment


def per_row(endpoint: str, key: str, **fixed) -> Callable[[object], str]:
    """``url_for(endpoint, **fixed, key=value)`` as a function of ``value``, at the cost of one url_for."""
    pattern = url_for(endpoint, **fixed, **{key: _MARKER})
    if pattern.count(_MARKER) != 1:
        return lambda value: url_for(endpoint, **fixed, **{key: value})
    head, tail = pattern.split(_MARKER)

    def link(value) -> str:
        value = str(value)
        return head + value + tail if _PLAIN.fullmatch(value) else url_for(endpoint, **fixed, **{key: value})

    return link
