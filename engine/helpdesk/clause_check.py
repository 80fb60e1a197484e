"""The clause check: does an edit of a diagram depart from the 工作规程 its elements say they implement?

Validation (``engine.repository.validation``) says whether a diagram *runs*; this says whether it still
does what the procedure promises. Two departures are reported, as warnings a process owner may publish
over only with a written reason (the studio asks for it, the version's note records it):

- a timer on an element that carries a clause with a time limit waits longer than that limit (T2.1: a
  response within 30 minutes, T2.2: an ordinary problem solved within 24 hours, T2.3: a complex problem's
  solution within 48 hours, 4.1.2.a: a reply within 10 minutes after reporting to the head of department,
  O1.2: an online request confirmed within 15 minutes);
- a step of a clause removed: an element of the published version carried a clause and no element of the
  edit carries it for that element any more (deleted, or its clause reference dropped).
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from engine.helpdesk.deadlines import counted_duration, format_duration, literal_duration
from engine.repository.diff import element_properties
from engine.repository.validation import BPMN_NS, Problem

# Clause id -> the longest wait the 工作规程 allows (its text says so; bpmn/clauses.toml holds the text).
CLAUSE_DEADLINES: dict[str, dt.timedelta] = {
    "T2.1": dt.timedelta(minutes=30),
    "T2.2": dt.timedelta(hours=24),
    "T2.3": dt.timedelta(hours=48),
    "4.1.2.a": dt.timedelta(minutes=10),
    "O1.2": dt.timedelta(minutes=15),
}

_XML = etree.XMLParser(resolve_entities=False, no_network=True)


def deadlines_for_people() -> dict[str, dict]:
    """{clause id: {"minutes": n, "text": "不超过30分钟"}} for the studio's panel (the same table)."""
    return {c: {"minutes": d.total_seconds() / 60, "text": f"不超过{format_duration(d)}"}
            for c, d in CLAUSE_DEADLINES.items()}


def _processes(content: bytes) -> dict[str, dict[str, dict]]:
    root = etree.fromstring(content, parser=_XML)
    return {p.get("id"): element_properties(p) for p in root.iter(f"{{{BPMN_NS}}}process")}


def _clauses(props: dict) -> list[str]:
    return [c.strip() for c in (props.get("clause") or "").split(",") if c.strip()]


def _timer_length(timer: str) -> dt.timedelta | None:
    kind, _, expression = timer.partition(" ")
    if kind == "timeDuration":
        return literal_duration(expression)
    if kind == "timeDate":
        return counted_duration(expression)
    return None


def check(content: bytes, published: bytes | None = None, *, file: str = "") -> list[Problem]:
    """Departures of the edited diagram ``content`` from the procedure (and from ``published``, the
    version it edits). Returns warnings as :class:`Problem` (element id, Chinese message); an unreadable
    file returns nothing here (validation reports it)."""
    try:
        new = _processes(content)
        old = _processes(published) if published else {}
    except etree.XMLSyntaxError:
        return []
    lines = _lines(content)
    out: list[Problem] = []
    for elements in new.values():
        for element_id, props in sorted(elements.items()):
            length = _timer_length(props["timer"]) if "timer" in props else None
            if length is None:
                continue
            for clause in _clauses(props):
                limit = CLAUSE_DEADLINES.get(clause)
                if limit is not None and length > limit:
                    out.append(Problem(file, lines.get(element_id, 0), element_id,
                                       f"定时器等待{format_duration(length)}，超过条款 {clause} 规定的"
                                       f"{format_duration(limit)}：偏离工作规程，发布须写明理由"))
    for pid, elements in old.items():
        now = new.get(pid, {})
        for element_id, props in sorted(elements.items()):
            gone = [c for c in _clauses(props) if c not in _clauses(now.get(element_id, {}))]
            if not gone:
                continue
            name = props.get("name") or element_id
            what = "已删除" if element_id not in now else "不再标注"
            out.append(Problem(file, lines.get(element_id, 0), element_id if element_id in now else "",
                               f"「{name}」（{element_id}）{what}，原本实施的条款 {'、'.join(gone)} 的这一步被移除："
                               f"偏离工作规程，发布须写明理由"))
    return out


def _lines(content: bytes) -> dict[str, int]:
    root = etree.fromstring(content, parser=_XML)
    return {el.get("id"): el.sourceline for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
