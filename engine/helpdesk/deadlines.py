"""The procedure's deadlines as the diagrams define them: one registry every label reads.

A time limit of the 工作规程 (15 minutes to acknowledge an online request, 30 to respond …) is written once,
as a timer event that carries an SLA key (``spiffworkflow:property name="sla"``). Whatever a person reads
about it — the inbox badge "响应（30分钟）", the promise "预计30分钟内响应", the report's column headings —
is built here from the deployed diagrams, so a process owner who edits a timer and deploys it changes every
label, and no duration is repeated in code. Only the *names* of the keys live here: they are vocabulary,
not rules.

The registry is read from the latest version of every deployed process (their called processes as they
pinned them included) and cached by those versions' fingerprints: recomputed only when a deployment changes
what is current, and never mixed up between two databases whose version ids happen to coincide.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import repository
from engine.core import clock, config
from engine.core.tables import ProcessVersion

# What the procedure calls each deadline; the durations come from the diagrams.
NAMES = {
    "ack_online": "线上受理",
    "response": "响应",
    "take_over": "部门接单",
    "supervisor_reply": "主管回复",
    "resolve_ordinary": "一般问题解决",
    "solution_complex": "复杂问题方案",
    "promised_done": "部门承诺完成",   # the expected time the department gave when it took the job
    "plan_promised": "方案承诺完成",   # the completion date promised in a complex problem's plan
    "improvement_due": "改进措施期限",  # a date the 客服部主管 sets per action (monthly_statistics)
}


@dataclass(frozen=True)
class DeadlineTimer:
    """One timer event that carries an SLA key."""

    sla_key: str
    process_id: str
    element_id: str
    expression: str  # as written in the diagram, e.g. '"PT15M"'
    duration: dt.timedelta | None  # None: not a quoted literal duration (a date, a cycle, an expression)


@dataclass(frozen=True)
class Deadline:
    """Every timer of one SLA key. They normally agree; when they do not, the most common duration names
    the deadline and :attr:`varies` says that some processes differ."""

    key: str
    name: str
    timers: tuple[DeadlineTimer, ...] = ()

    @cached_property  # the deadline is frozen; a workbook asks for the label of each of thousands of rows
    def durations(self) -> list[dt.timedelta]:
        """The known durations, most common first (ties: the shorter first)."""
        counts = Counter(t.duration for t in self.timers if t.duration is not None)
        return sorted(counts, key=lambda d: (-counts[d], d))

    @property
    def duration(self) -> dt.timedelta | None:
        found = self.durations
        return found[0] if found else None

    @property
    def varies(self) -> bool:
        return len({t.duration for t in self.timers}) > 1

    @property
    def text(self) -> str:
        """"15分钟"; "" when no timer states a duration."""
        return format_duration(self.duration) if self.duration is not None else ""

    @cached_property
    def label(self) -> str:
        """"线上受理（15分钟）"; the plain name when no duration is known."""
        if not self.text:
            return self.name
        return f"{self.name}（{self.text}，部分流程不同）" if self.varies else f"{self.name}（{self.text}）"


@dataclass(frozen=True)
class Registry:
    deadlines: dict[str, Deadline]

    def get(self, key: str) -> Deadline:
        """The deadline of ``key``; one with no timers (plain name, no duration) when no diagram has it."""
        return self.deadlines.get(key) or Deadline(key, NAMES.get(key, key))

    def label(self, key: str) -> str:
        return self.get(key).label

    def duration(self, key: str) -> dt.timedelta | None:
        return self.get(key).duration

    def text(self, key: str) -> str:
        return self.get(key).text

    def __iter__(self) -> Iterator[Deadline]:
        return iter(self.deadlines.values())


EMPTY = Registry({})


def format_duration(delta: dt.timedelta) -> str:
    """A duration as the procedure says it: "15分钟", "24小时", "1小时30分钟"; whole days beyond two days
    ("7天"), since the procedure itself counts "48小时" in hours."""
    seconds = int(delta.total_seconds())
    if seconds > 2 * 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}天"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{hours}小时" if hours else "") + (f"{minutes}分钟" if minutes else "") + (f"{seconds}秒" if seconds else "")
    return text or "0分钟"


# --- reading the diagrams ---------------------------------------------------------------------------------

def literal_duration(expression: str | None) -> dt.timedelta | None:
    """The fixed length of a timer expression that is a quoted ISO 8601 duration ('"PT15M"'); ``None`` for
    anything whose length is not known before it runs (an expression over task data) or not fixed (months
    and years depend on the calendar)."""
    try:
        value = ast.literal_eval((expression or "").strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(value, str):
        return None
    try:
        parsed = TimerEventDefinition.parse_iso_duration(value)
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises a bare Exception for a malformed duration
        return None
    if parsed.get("years") or parsed.get("months"):
        return None
    return dt.timedelta(weeks=parsed.get("weeks", 0), days=parsed.get("days", 0), hours=parsed.get("hours", 0),
                        minutes=parsed.get("minutes", 0), seconds=parsed.get("seconds", 0))


def counted_duration(expression: str | None) -> dt.timedelta | None:
    """The length of a deadline counted from a recorded moment, written as a date
    ``add_duration(received_at, "PT48H")`` (the 48 hours run from receipt even when the timer is armed
    later, e.g. when a problem is re-classified as complex); ``None`` for any other date expression."""
    try:
        call = ast.parse((expression or "").strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "add_duration"
            and len(call.args) == 2 and not call.keywords and isinstance(call.args[1], ast.Constant)):
        return None
    return literal_duration(repr(call.args[1].value))


def _timer_of(task_spec) -> TimerEventDefinition | None:
    event = getattr(task_spec, "event_definition", None)
    if isinstance(event, MultipleEventDefinition):
        event = next((e for e in event.event_definitions if isinstance(e, TimerEventDefinition)), None)
    return event if isinstance(event, TimerEventDefinition) else None


def timers_of(spec, properties: dict[str, dict[str, dict[str, str]]]) -> list[DeadlineTimer]:
    """The SLA timers of one process spec (``properties``: process id -> element id -> spiff properties,
    as :class:`engine.repository.LoadedVersion` holds them). Read the way the runtime arms them
    (:mod:`engine.runtime.timer_rows`): a timer event, its key from the ``sla`` property."""
    own = properties.get(spec.name, {})
    out = []
    for task_spec in spec.task_specs.values():
        event = _timer_of(task_spec)
        key = own.get(getattr(task_spec, "bpmn_id", None) or "", {}).get("sla")
        if event is None or not key:
            continue
        duration = literal_duration(event.expression) if isinstance(event, DurationTimerEventDefinition) \
            else counted_duration(event.expression) if isinstance(event, TimeDateEventDefinition) else None
        out.append(DeadlineTimer(key, spec.name, task_spec.bpmn_id, event.expression, duration))
    return out


def build(timers: Iterable[DeadlineTimer]) -> Registry:
    """A registry from timers, each counted once however many versions pin it; known keys in the order of
    :data:`NAMES`, then any others."""
    by_key: dict[str, dict[tuple, DeadlineTimer]] = {}
    for t in timers:
        by_key.setdefault(t.sla_key, {})[(t.process_id, t.element_id, t.expression)] = t
    order = [key for key in NAMES if key in by_key] + sorted(set(by_key) - set(NAMES))
    return Registry({key: Deadline(key, NAMES.get(key, key), tuple(t for _where, t in sorted(by_key[key].items())))
                     for key in order})


# --- the registry of what is deployed -----------------------------------------------------------------------

_cache: dict[tuple, Registry] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 16


def current(session: Session) -> Registry:
    """The deadlines of the latest deployed version of every process; :data:`EMPTY` before any deployment.

    One small query per call (which versions are current); the diagrams are only read again when that
    set changes.
    """
    latest: dict[str, tuple[int, int, str]] = {}
    for vid, pid, number, fingerprint in session.execute(select(
            ProcessVersion.id, ProcessVersion.process_id, ProcessVersion.version, ProcessVersion.fingerprint)):
        if pid not in latest or number > latest[pid][1]:
            latest[pid] = (vid, number, fingerprint)
    if not latest:
        return EMPTY
    key = tuple(sorted((pid, fingerprint) for pid, (_vid, _n, fingerprint) in latest.items()))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    timers: list[DeadlineTimer] = []
    for vid, _number, _fingerprint in latest.values():
        loaded = repository.load(session, session.get(ProcessVersion, vid))
        for spec in [loaded.spec, *loaded.subprocess_specs.values()]:
            timers += timers_of(spec, loaded.properties)
    registry = build(timers)
    with _cache_lock:
        _cache[key] = registry
        while len(_cache) > _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
    return registry


def of_version(session: Session, version_id: int) -> Registry:
    """The deadlines of one deployed version (its called processes as it pinned them): what a request
    started on that version is held to, and what its labels say, after a newer version changes a timer.
    (``session.get``: a page that already holds the version row asks nothing.)"""
    row = session.get(ProcessVersion, version_id)
    if row is None:
        return EMPTY
    with _cache_lock:
        hit = _cache.get(("version", row.process_id, row.fingerprint))
    return hit if hit is not None else _load_version(session, version_id)


def of_versions(session: Session, version_ids: Iterable[int]) -> dict[int, Registry]:
    """:func:`of_version` for every version of a page at once: one query of three narrow columns (no JSON
    decoded) however many rows share them, the diagrams parsed only for a version not cached yet. A list
    of 50 tasks asks once, not 50 times; an unknown id is left out."""
    ids = set(version_ids)
    if not ids:
        return {}
    out: dict[int, Registry] = {}
    for vid, process_id, fingerprint in session.execute(select(
            ProcessVersion.id, ProcessVersion.process_id, ProcessVersion.fingerprint)
            .where(ProcessVersion.id.in_(ids))).all():
        with _cache_lock:
            hit = _cache.get(("version", process_id, fingerprint))
        out[vid] = hit if hit is not None else _load_version(session, vid)
    return out


def _load_version(session: Session, version_id: int) -> Registry:
    row = session.get(ProcessVersion, version_id)
    key = ("version", row.process_id, row.fingerprint)
    loaded = repository.load(session, row)
    registry = build(t for spec in [loaded.spec, *loaded.subprocess_specs.values()]
                     for t in timers_of(spec, loaded.properties))
    with _cache_lock:
        _cache[key] = registry
        while len(_cache) > _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
    return registry


# --- the diagrams as written --------------------------------------------------------------------------------

_source_cache: dict[tuple, Registry] = {}


def from_sources(folder: Path | None = None) -> Registry:
    """The deadlines of the diagrams in ``bpmn/`` as written, deployed or not: for code that runs with no
    database to ask (a unit test, a script). :data:`EMPTY` when the folder is missing or does not parse.
    Cached by the files' contents."""
    folder = Path(folder) if folder is not None else config.bpmn_dir()
    files = sorted(folder.glob("*.bpmn")) if folder.is_dir() else []
    contents = [(f.name, f.read_bytes()) for f in files]
    key = tuple((name, hashlib.sha256(content).hexdigest()) for name, content in contents)
    with _cache_lock:
        hit = _source_cache.get(key)
    if hit is not None:
        return hit
    parser = SpiffBpmnParser()
    properties: dict[str, dict[str, dict[str, str]]] = {}
    try:
        for name, content in contents:
            parser.add_bpmn_str(content, filename=name)
            properties.update(repository.properties_by_process(etree.fromstring(content)))
        # each process with its embedded and called sub-processes, as a deployed version holds them
        specs = [spec for pid in parser.get_process_ids()
                 for spec in [parser.get_spec(pid), *parser.get_subprocess_specs(pid).values()]]
        timers = [t for spec in specs for t in timers_of(spec, properties)]
    except Exception:  # noqa: BLE001 - a diagram being edited must not break a label: no durations then
        return EMPTY
    registry = build(timers)
    with _cache_lock:
        _source_cache.clear()
        _source_cache[key] = registry
    return registry


# --- changes of definition during a period ------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """A deployment that changed the duration of a deadline: the month report marks the figures it affects
    ("本月 3月12日 起 响应时限 由30分钟改为45分钟"), since a compliance rate over the month then mixes two rules."""

    key: str
    name: str
    process_id: str
    version: int
    at: dt.datetime  # when the version was deployed (UTC)
    before: str  # "30分钟" ("" when no timer of the key stated a duration)
    after: str

    @property
    def text(self) -> str:
        local = clock.to_local(self.at)
        when = f"{local.month}月{local.day}日 {local:%H:%M}"
        if not self.before:
            return f"本月 {when} 起 新增{self.name}时限 {self.after}（{self.process_id} 第{self.version}版）"
        if not self.after:
            return f"本月 {when} 起 {self.name}时限 {self.before} 不再适用（{self.process_id} 第{self.version}版）"
        return f"本月 {when} 起 {self.name}时限 由{self.before}改为{self.after}（{self.process_id} 第{self.version}版）"


_version_timers: dict[str, tuple[DeadlineTimer, ...]] = {}


def _timers_of_version(session: Session, version: ProcessVersion) -> tuple[DeadlineTimer, ...]:
    """The SLA timers of one version's own process, not of the processes it calls (each has versions of its
    own); cached by fingerprint, since a version never changes."""
    hit = _version_timers.get(version.fingerprint)
    if hit is None:
        loaded = repository.load(session, version)
        hit = tuple(t for spec in [loaded.spec, *loaded.subprocess_specs.values()]
                    for t in timers_of(spec, loaded.properties) if t.process_id == version.process_id)
        with _cache_lock:
            _version_timers[version.fingerprint] = hit
    return hit


def changes_between(session: Session, start: dt.datetime, end: dt.datetime) -> list[Change]:
    """Every deadline whose duration a version deployed in [start, end) changed against the version before
    it, per process: one small query when nothing was deployed in the period (the usual month)."""
    deployed = list(session.scalars(select(ProcessVersion).where(
        ProcessVersion.created_at >= start, ProcessVersion.created_at < end, ProcessVersion.version > 1)
        .order_by(ProcessVersion.created_at, ProcessVersion.id)))
    out: list[Change] = []
    for version in deployed:
        before = session.scalar(select(ProcessVersion).where(
            ProcessVersion.process_id == version.process_id, ProcessVersion.version == version.version - 1))
        if before is None:
            continue
        old = _durations(_timers_of_version(session, before))
        new = _durations(_timers_of_version(session, version))
        for key in [k for k in NAMES if k in old or k in new] + sorted((set(old) | set(new)) - set(NAMES)):
            if old.get(key) != new.get(key):
                out.append(Change(key, NAMES.get(key, key), version.process_id, version.version,
                                  version.created_at if version.created_at.tzinfo else
                                  version.created_at.replace(tzinfo=dt.UTC),
                                  _text(old.get(key)), _text(new.get(key))))
    return out


def _durations(timers: Iterable[DeadlineTimer]) -> dict[str, tuple[dt.timedelta | None, ...]]:
    found: dict[str, set] = {}
    for t in timers:
        found.setdefault(t.sla_key, set()).add(t.duration)
    return {k: tuple(sorted(v, key=lambda d: (d is None, d or dt.timedelta()))) for k, v in found.items()}


def _text(durations: tuple[dt.timedelta | None, ...] | None) -> str:
    return "、".join(format_duration(d) for d in durations or () if d is not None)
