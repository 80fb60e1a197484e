"""Scenario files: the procedure's own tests, written beside the diagrams (``bpmn/scenarios/*.yaml``).

A process owner states what the 工作规程 promises as a story a new colleague could follow: a request comes
in by a channel, people complete the tasks in their own inboxes, time passes, and at chosen points the
tasks, the deadlines and the data are what the procedure says. The format is documented in
``bpmn/scenarios/README.md``. This module reads a file (``load``) and runs it (``run``) against the
procedure deployed in a database, through the same paths the web uses: the request is started by
``help_requests.start`` (as the hotline page and the residents' portal do), a task is completed only from
the named user's inbox through ``tasks.complete`` (right to work on it, then the form's validation), and
time is moved by the engine clock and fired by the timer poller. A run that goes wrong stops at the first
step that does not hold and says what was found instead. ``runs`` gives each run its own
throwaway database; the CLI, the test suite and (later) the studio all use these two modules.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select

from engine import forms, identity, runtime, tasks
from engine.audit import history
from engine.core import clock, config, db, errors
from engine.core.tables import Instance, SlaClock, TaskRow, Timer
from engine.forms import sample
from engine.helpdesk import help_requests, resident
from engine.helpdesk.tables import HelpRequest
from engine.timers import firing

# Friday 2026-11-27 09:00 Asia/Shanghai, a normal office morning, unless a file says ``at``.
DEFAULT_START = dt.datetime(2026, 11, 27, 9, 0, tzinfo=clock.SHANGHAI)
CHANNEL_ACTORS = {"hotline": "assistant", "online": "customer"}  # who records a call / submits online
CALLER = {"caller_name": "张三", "phone": "13800000000", "address": "3栋2单元1201", "description": "厨房水管漏水"}
STEP_KINDS = ("do", "advance", "expect")
EXPECT_KEYS = ("ready", "inbox", "clocks", "ended", "data", "escalated", "resident")
RESIDENT_KEYS = ("status", "answers", "coming")


class ScenarioError(ValueError):
    """The file is not a scenario (wrong keys or values); the message names the file and the place."""


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, as a person counts the file's steps
    kind: str
    spec: dict

    def describe(self) -> str:
        if self.kind == "do":
            return f"do {self.spec['do']}（{self.spec.get('as', '?')}）"
        if self.kind == "advance":
            return f"advance {self.spec['advance']}"
        return "expect " + "、".join(k for k in EXPECT_KEYS if k in self.spec["expect"])


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    start: dict
    steps: tuple[Step, ...]
    at: dt.datetime = DEFAULT_START


@dataclass(frozen=True)
class StepTrail:
    """Where one step of a run went on the diagrams, for the studio to draw: the flow nodes its audit events
    name (the path it took, the tasks reached and completed, the timers fired), in order; for a step that
    failed before anything moved, the elements it named (the task to do, the tasks expected)."""
    number: int  # 0: the start (the request coming in); then the file's step number
    kind: str  # "start", "do", "advance" or "expect"
    ok: bool
    elements: tuple[tuple[str | None, str], ...]  # (process id, element id); process id None when only named

    def as_json(self) -> dict:
        return {"number": self.number, "kind": self.kind, "ok": self.ok,
                "elements": [{"process_id": pid, "element_id": eid} for pid, eid in self.elements]}


@dataclass
class Outcome:
    scenario: Scenario
    ok: bool
    failed_step: Step | None = None
    message: str = ""
    instance_id: str | None = None
    passed: set[tuple[str, str]] = field(default_factory=set)  # (process id, element id) from the audit log
    trail: list[StepTrail] = field(default_factory=list)  # the start (number 0) and each step run, in order

    def describe(self) -> str:
        where = f"第{self.failed_step.number}步（{self.failed_step.describe()}）" if self.failed_step else "开始"
        return f"{self.scenario.path.name}：{where}：{self.message}"


class _Failed(Exception):
    pass


# --- reading ----------------------------------------------------------------------------------------------

# libyaml's safe loader where PyYAML was built with it: the same documents, about ten times faster to read.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}：无法读取：{exc}") from exc
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}：应为一个映射（name、start、steps）")
    unknown = set(raw) - {"name", "start", "steps", "at"}
    if unknown:
        raise ScenarioError(f"{path}：未知的键：{'、'.join(sorted(unknown))}")
    start = raw.get("start")
    if not isinstance(start, dict) or (start.get("channel") not in CHANNEL_ACTORS and "timer" not in start):
        raise ScenarioError(f"{path}：start 须有 channel（hotline 或 online），或 timer（由定时启动的流程 id）")
    steps = []
    for number, item in enumerate(raw.get("steps") or [], 1):
        kinds = [k for k in STEP_KINDS if isinstance(item, dict) and k in item]
        if len(kinds) != 1:
            raise ScenarioError(f"{path}：第{number}步应有且只有 do、advance、expect 之一")
        step = Step(number, kinds[0], item)
        _check_step(path, step)
        steps.append(step)
    if not steps:
        raise ScenarioError(f"{path}：没有步骤（steps）")
    at = raw.get("at", DEFAULT_START)
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    if not isinstance(at, dt.datetime) or at.tzinfo is None:
        raise ScenarioError(f"{path}：at 必须是带时区的时间，如 2026-11-27T09:00:00+08:00")
    return Scenario(path, str(raw.get("name") or path.stem), start, tuple(steps), at)


def _check_step(path: Path, step: Step) -> None:
    where = f"{path}：第{step.number}步"
    spec = step.spec
    if step.kind == "do":
        if not isinstance(spec.get("as"), str):
            raise ScenarioError(f"{where}：do 需要 as（由谁完成，用户名）")
        if not (spec.get("data", "auto") == "auto" or isinstance(spec.get("data"), dict)):
            raise ScenarioError(f"{where}：data 必须是映射或 auto")
    elif step.kind == "advance":
        duration(spec["advance"], where)
    else:
        expect = spec["expect"]
        if not isinstance(expect, dict) or not expect or set(expect) - set(EXPECT_KEYS):
            raise ScenarioError(f"{where}：expect 的键只能是 {'、'.join(EXPECT_KEYS)}")
        for key, value in expect.items():
            if not _EXPECT_SHAPES[key](value):
                raise ScenarioError(f"{where}：expect.{key} {_EXPECT_HINTS[key]}")


def _ids(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_EXPECT_SHAPES = {
    "ready": _ids, "escalated": _ids, "ended": lambda v: isinstance(v, bool),
    "inbox": lambda v: isinstance(v, dict) and all(_ids(x) for x in v.values()),
    "clocks": lambda v: isinstance(v, dict) and all(x is None or isinstance(x, str) for x in v.values()),
    "data": lambda v: isinstance(v, dict),
    "resident": lambda v: (isinstance(v, dict) and bool(v) and not set(v) - set(RESIDENT_KEYS)
                           and isinstance(v.get("status", ""), str) and isinstance(v.get("coming", ""), str)
                           and _ids(v.get("answers", []))),
}
_EXPECT_HINTS = {
    "ready": "应为元素 id 的列表", "escalated": "应为元素 id 的列表", "ended": "应为 true 或 false",
    "inbox": "应为 用户名: [元素 id…] 的映射", "clocks": "应为 时限键: armed/met/breached/null 的映射",
    "data": "应为 字段: 值 的映射",
    "resident": "应为映射，键只能是 status（住户看到的状态）、answers（答复片段的列表）、coming（派单信息片段）",
}


def duration(text: Any, where: str = "") -> dt.timedelta:
    """An ISO 8601 duration as the diagrams' timers write them (``PT25H``, ``P2D``)."""
    try:
        return TimerEventDefinition.get_timedelta_from_start(TimerEventDefinition.parse_iso_duration(str(text)))
    except Exception as exc:
        raise ScenarioError(f"{where}：{text!r} 不是 ISO 8601 时长（如 PT25H）") from exc


# --- running ----------------------------------------------------------------------------------------------

def run(scenario: Scenario, url: str | None = None) -> Outcome:
    """Run ``scenario`` against the procedure deployed in ``url`` (demo users present). Freezes the engine
    clock at the scenario's start and resets it afterwards."""
    url = url or config.database_url()
    clock.freeze(scenario.at)
    outcome = Outcome(scenario, ok=False)
    seen = 0  # the last audit seq of the instance already in the trail
    try:
        outcome.instance_id = _start(scenario.start, url)
        seen = _trail(outcome, 0, "start", True, seen, url)
        for step in scenario.steps:
            outcome.failed_step = step
            _STEPS[step.kind](outcome.instance_id, step.spec, url)
            seen = _trail(outcome, step.number, step.kind, True, seen, url)
        outcome.ok, outcome.failed_step = True, None
    except _Failed as exc:
        outcome.message = str(exc)
    except errors.EngineError as exc:
        outcome.message = f"引擎拒绝：{exc}"
    finally:
        clock.reset()
    if outcome.instance_id is not None:
        if outcome.failed_step is not None:
            _trail(outcome, outcome.failed_step.number, outcome.failed_step.kind, False, seen, url,
                   named=_named(outcome.failed_step))
        with db.read_session(url) as session:
            outcome.passed = passed_elements(session, outcome.instance_id)
    return outcome


def _trail(outcome: Outcome, number: int, kind: str, ok: bool, seen: int, url: str,
           named: tuple[tuple[str | None, str], ...] = ()) -> int:
    """Append the elements named by the instance's audit events after ``seen`` as step ``number``'s trail
    (or, when no event names one, the elements the step itself ``named``); returns the last seq read."""
    found: list[tuple[str | None, str]] = []
    with db.read_session(url) as session:
        for event in history.events(session, outcome.instance_id):
            if event.seq <= seen:
                continue
            seen = event.seq
            payload = history.payload_of(event)
            found += [(pid, eid) for pid, eid in payload.get("passed", [])]
            if event.kind in ("task_reached", "escalated", "task_completed") and payload.get("process_id"):
                found.append((payload["process_id"], event.element_id))
    elements = tuple(dict.fromkeys(found or named))
    outcome.trail.append(StepTrail(number, kind, ok, elements))
    return seen


def _named(step: Step) -> tuple[tuple[str | None, str], ...]:
    """The elements a step names in the file: the task to do, or the tasks expected ready / in an inbox."""
    if step.kind == "do":
        return ((step.spec.get("process"), str(step.spec["do"])),)
    if step.kind == "expect":
        expect = step.spec["expect"]
        ids = [*(expect.get("ready") or []), *(i for v in (expect.get("inbox") or {}).values() for i in v or [])]
        return tuple((None, i) for i in dict.fromkeys(ids))
    return ()


def _start(spec: dict, url: str) -> str:
    if "timer" in spec:
        return _start_by_timer(str(spec["timer"]), url)
    channel = spec["channel"]
    username = spec.get("as", CHANNEL_ACTORS[channel])
    fields = {**CALLER, **(spec.get("caller") or {}), "category": spec.get("category")}
    if spec.get("resident"):  # the caller is a registered resident whose phone is proven: the call is theirs
        with db.transaction(url) as session:
            _user(session, str(spec["resident"])).phone = fields["phone"]
    with db.transaction(url) as session:
        actor = _user(session, username)
        return help_requests.start(session, spec.get("process", "help_request"), channel, fields, actor).instance_id


def _start_by_timer(process_id: str, url: str) -> str:
    """A process the procedure starts on a schedule (the month-end statistics): move the clock to its armed
    timer start event and let the poller start it, as the scheduler would (its first pass arms the start
    timers of the versions deployed, counted from the scenario's ``at``)."""
    _advance("", {}, url, by=dt.timedelta(0))
    with db.read_session(url) as session:
        due = session.scalar(select(Timer.due_at).where(Timer.process_id == process_id, Timer.kind == "start")
                             .order_by(Timer.due_at).limit(1))
    if due is None:
        raise _Failed(f"流程 {process_id} 没有已部署的定时启动事件")
    # One second past the due time, as a polling scheduler sees it: an instance started at the very
    # instant its start timer is due does not replay (its replayed start timer is not yet due then).
    wait = clock.as_utc(due) - clock.now() + dt.timedelta(seconds=1)
    _advance("", {}, url, by=max(wait, dt.timedelta(0)))
    with db.read_session(url) as session:
        iid = session.scalar(select(Instance.id).where(Instance.process_id == process_id)
                             .order_by(Instance.started_at.desc()).limit(1))
    if iid is None:
        raise _Failed(f"定时启动事件到期后，流程 {process_id} 没有启动")
    return iid


def _user(session, username: str):
    found = identity.get_user(session, username)
    if found is None:
        raise _Failed(f"没有用户 {username}")
    return found


def _do(iid: str, spec: dict, url: str) -> None:
    target, username, process = str(spec["do"]), spec["as"], spec.get("process")
    with db.transaction(url) as session:
        user = _user(session, username)
        mine = [r for r in tasks.inbox(session, user) if r.instance_id == iid
                and target in (r.element_id, r.name) and (process is None or r.process_id == process)]
        if len(mine) != 1:
            found = "不在" if not mine else "在多个子流程中出现于"
            hint = "" if not mine else "（请写 process 指明子流程）"
            raise _Failed(f"任务 {target} {found} {username} 的待办中{hint}；其待办：{_inbox(session, user, iid)}，"
                          f"求助正在等待：{_ready(session, iid)}")
        row = mine[0]
        loaded = runtime.load(session, iid)
        schema = loaded.version.forms.get(row.form) if row.form else None
        if schema is not None:  # choices drawn from the task's data (the people on the roster, the fees)
            task = loaded.workflow.get_task_from_id(uuid.UUID(row.id))
            schema = forms.resolve_options(schema, loaded.version.forms.get(row.ui_form or ""), task.data)
        given = {} if spec.get("data", "auto") == "auto" else spec["data"]
        try:
            tasks.complete(session, row.id, user, sample.answer(schema, given))
        except errors.InvalidData as exc:
            raise _Failed(f"表单被拒绝：{exc.errors}") from exc


def _advance(_iid: str, spec: dict, url: str, *, by: dt.timedelta | None = None) -> None:
    clock.advance(seconds=(by if by is not None else duration(spec["advance"])).total_seconds())
    poller = firing.Poller(url, owner="scenario")
    try:
        poller.run_due()
    finally:
        poller.release()


def _expect(iid: str, spec: dict, url: str) -> None:
    expect = spec["expect"]
    with db.read_session(url) as session:
        problems = []
        if "ready" in expect:
            want, got = sorted(expect["ready"] or []), sorted(_ready(session, iid))
            if want != got:
                problems.append(f"等待的任务应为 {want}，实为 {got}")
        for username, elements in (expect.get("inbox") or {}).items():
            want, got = sorted(elements or []), _inbox(session, _user(session, username), iid)
            if want != got:
                problems.append(f"{username} 的待办应为 {want}，实为 {got}")
        if "clocks" in expect:
            got = clocks(session, iid)
            for key, status in expect["clocks"].items():  # null: the clock has not been started
                if got.get(key) != status:
                    problems.append(f"时限 {key} 应为 {status}，实为 {got.get(key, '未启动')}")
        if "ended" in expect:
            ended = session.get(Instance, iid).status == "completed"
            if ended != bool(expect["ended"]):
                problems.append(f"流程应{'已' if expect['ended'] else '未'}结束，实为{'已结束' if ended else '未结束'}，"
                                f"正在等待：{_ready(session, iid)}")
        if "data" in expect:
            data = runtime.current_data(runtime.load(session, iid).workflow)
            for key, value in expect["data"].items():
                if data.get(key) != value:
                    problems.append(f"数据 {key} 应为 {value!r}，实为 {data.get(key)!r}")
        if "escalated" in expect:
            got = sorted({e.element_id for e in history.events(session, iid) if e.kind == "escalated"})
            missing = sorted(set(expect["escalated"] or []) - set(got))
            if missing:
                problems.append(f"应因超时升级到 {missing}，实际升级到的只有 {got}")
        if "resident" in expect:
            problems += _resident_view(session, iid, expect["resident"])
    if problems:
        raise _Failed("；".join(problems))


def _resident_view(session, iid: str, want: dict) -> list[str]:
    """What the resident's portal page shows: the plain status, every answer once (each listed fragment in
    its own answer, in order, and no other answer), the latest 派单 message."""
    problems = []
    req = session.get(HelpRequest, iid)
    if "status" in want:
        got = resident.resident_status(req, _ready(session, iid))
        if got != want["status"]:
            problems.append(f"住户看到的状态应为 {want['status']}，实为 {got}")
    if "answers" in want:
        got = [a.text for a in resident.answers(session, iid)]
        if len(got) != len(want["answers"]) or any(w not in g for w, g in zip(want["answers"], got, strict=True)):
            problems.append(f"住户看到的答复应依次包含 {want['answers']}，实为 {got}")
    if "coming" in want:
        got = resident.dispatched(session, iid)
        if got is None or want["coming"] not in got.text:
            problems.append(f"住户看到的派单信息应包含 {want['coming']!r}，实为 {got.text if got else '无'}")
    return problems


_STEPS = {"do": _do, "advance": _advance, "expect": _expect}


# --- reading what happened --------------------------------------------------------------------------------

def _ready(session, iid: str) -> list[str]:
    return sorted(r.element_id for r in session.scalars(select(TaskRow).where(TaskRow.instance_id == iid)))


def _inbox(session, user, iid: str) -> list[str]:
    return sorted(r.element_id for r in tasks.inbox(session, user) if r.instance_id == iid)


def clocks(session, iid: str) -> dict[str, str]:
    """{sla key: status}; a key armed more than once reads as its statuses in order, e.g. ``met,breached``."""
    out: dict[str, str] = {}
    for c in session.scalars(select(SlaClock).where(SlaClock.instance_id == iid).order_by(SlaClock.id)):
        out[c.sla_key] = c.status if c.sla_key not in out else f"{out[c.sla_key]},{c.status}"
    return out


def passed_elements(session, iid: str) -> set[tuple[str, str]]:
    """(process id, element id) of every flow node the instance passed through, read from its audit log:
    the path each step took (``passed``), the user tasks reached and the timers fired."""
    out: set[tuple[str, str]] = set()
    for event in history.events(session, iid):
        payload = history.payload_of(event)
        out.update((pid, eid) for pid, eid in payload.get("passed", []))
        if event.kind in ("task_reached", "escalated", "task_completed") and payload.get("process_id"):
            out.add((payload["process_id"], event.element_id))
    return out
