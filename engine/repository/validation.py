"""Deploy-time checks: reject at deploy what would fail at run time.

SpiffWorkflow's parser leaves most mistakes to run time (conditions, scripts, unquoted timers, missing
called processes, forms) and reports the rest without line numbers. Each check here reports
``file:line: element_id: message`` so a process owner can go straight to the element.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from engine import forms, scripting
from engine.identity import ROLE_BY_NAME, departments
from engine.repository.bundle import Bundle, SourceFile

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_TIMER_KIND = {"timeDuration": "时长", "timeDate": "时间点", "timeCycle": "周期"}
# The SLA keys a timer may carry, registered by the domain that reports on them (the help desk's deadline
# registry); while none are registered, any key is accepted.
SLA_KEYS: dict[str, str] = {}


def register_sla_keys(names: dict[str, str]) -> None:
    """Make a timer whose SLA key is not among ``names`` (key -> what people call it) a deploy error."""
    SLA_KEYS.update(names)

# Task spec names SpiffWorkflow gives its own bookkeeping tasks: an element with one of these ids replaces
# the engine's task (a start event with id ``Start`` leaves the process with "No output task connected").
RESERVED_IDS = {"Start": "开始", "End": "结束", "Root": "根"}
RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin", "_loop_reset")

# Checks that need to *run* the processes (the dry run, :mod:`engine.runtime.dry_run`) sit above this room;
# they register here so every caller of :func:`validate` (validate, deploy, the modeler) runs them.
_RUN_CHECKS: list = []


def register_run_check(check) -> None:
    """``check(bundle, parser, indexes) -> list[Problem]``, run once the static checks found nothing."""
    if check not in _RUN_CHECKS:
        _RUN_CHECKS.append(check)

# Elements the parser accepts but this product cannot run (no service registry, no DMN deployment).
UNSUPPORTED_TAGS = {"serviceTask": "不支持服务任务（serviceTask）：本系统没有服务注册",
                    "businessRuleTask": "不支持业务规则任务（businessRuleTask）：本系统不部署 DMN",
                    "complexGateway": "不支持复杂网关（complexGateway）：SpiffWorkflow 无法执行",
                    "sendTask": "不支持发送任务（sendTask）", "receiveTask": "不支持接收任务（receiveTask）"}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    element_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.element_id or '-'}: {self.message}"


class InvalidBundle(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


def element_properties(tree) -> dict[str, dict[str, str]]:
    """{element id: {spiffworkflow property name: value}} for every element, events included.

    The spiff parser keeps ``properties`` only for tasks; SLA keys sit on boundary events, so we read them
    from the XML ourselves.
    """
    out: dict[str, dict[str, str]] = {}
    for prop in tree.iter(f"{{{SPIFF_NS}}}property"):
        owner = prop.getparent().getparent().getparent()  # property < properties < extensionElements < element
        if owner is not None and owner.get("id"):
            out.setdefault(owner.get("id"), {})[prop.get("name")] = prop.get("value") or ""
    return out


class _FileIndex:
    """Line numbers and properties of one parsed file."""

    def __init__(self, source: SourceFile, tree):
        self.source = source
        self.tree = tree
        self.lines = {el.get("id"): el.sourceline for el in tree.iter() if isinstance(el.tag, str) and el.get("id")}
        self.properties = element_properties(tree)

    def problem(self, element_id: str | None, message: str, line: int | None = None) -> Problem:
        return Problem(self.source.path, line or self.lines.get(element_id or "", 0) or 0, element_id or "", message)


def validate(bundle: Bundle, deployed_processes: set[str] = frozenset(), *, run: bool = True) -> list[Problem]:
    """Every problem in the bundle; an empty list means it can be deployed. ``run``: also run the
    registered run checks (the dry run) once the static checks pass."""
    problems: list[Problem] = []
    indexes: dict[str, _FileIndex] = {}
    parser = SpiffBpmnParser(validator=VALIDATOR)
    seen_processes: dict[str, str] = {}
    for source in bundle.bpmn.values():
        index = _parse_file(source, problems)
        if index is None:
            continue
        indexes[source.name] = index
        problems += _check_xml(index)
        problems += _check_ids(index, seen_processes)
        try:
            parser.add_bpmn_xml(index.tree, filename=source.name)
        except ValidationException as exc:
            problems.append(_from_validation(exc, index))
            del indexes[source.name]
    if problems:
        return problems
    owners = {pid: indexes[_file_of(parser, pid)] for pid in parser.get_process_ids()}
    available = set(owners) | set(deployed_processes)
    for pid, index in owners.items():
        try:
            spec = parser.get_spec(pid)
        except ValidationException as exc:
            problems.append(_from_validation(exc, index))
            continue
        problems += _check_spec(spec, index, bundle, available)
    if problems or not run:
        return problems
    for check in _RUN_CHECKS:
        problems += check(bundle, parser, {pid: owners[pid] for pid in owners})
    return problems


def _file_of(parser: SpiffBpmnParser, process_id: str) -> str:
    return parser.process_parsers[process_id].filename


def _parse_file(source: SourceFile, problems: list[Problem]):
    try:
        tree = etree.fromstring(source.content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        problems.append(Problem(source.path, exc.lineno or 0, "", f"XML 格式错误：{exc.msg}"))
        return None
    index = _FileIndex(source, etree.ElementTree(tree))
    duplicates = _duplicate_ids(index)
    if duplicates:  # the XSD would say "not a valid value of the atomic type 'xs:ID'" about the first one
        problems += duplicates
        return None
    try:
        VALIDATOR.validate(index.tree, filename=source.name)
    except ValidationException as exc:
        line = int(exc.line_number) if str(exc.line_number).isdigit() else 0
        element = next((el for el in tree.iter() if getattr(el, "sourceline", None) == line and el.get("id")), None)
        problems.append(Problem(source.path, line, element.get("id") if element is not None else "",
                                f"不符合 BPMN 规范：{exc}"))
        return None
    return index


def _check_xml(index: _FileIndex) -> list[Problem]:
    """Checks on the XML itself: unsupported elements, lanes, timer literals, SLA keys."""
    out = []
    for el in index.tree.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith(f"{{{BPMN_NS}}}"):
            continue
        tag = el.tag.split("}", 1)[1]
        if tag in UNSUPPORTED_TAGS:
            out.append(index.problem(el.get("id"), UNSUPPORTED_TAGS[tag], el.sourceline))
        elif tag == "lane":
            name = (el.get("name") or "").strip()
            if name in departments.ROUTING_LANES:
                out += _check_routing_lane(index, el, name)
            elif name not in ROLE_BY_NAME:
                out.append(index.problem(el.get("id"), f"泳道「{name}」没有对应的角色（可用角色：{'、'.join(ROLE_BY_NAME)}；"
                                         f"或{'、'.join(departments.ROUTING_LANES)}）", el.sourceline))
        elif tag == "eventBasedGateway":
            timers = [t for t in _gateway_targets(index, el) if t.find(f"{{{BPMN_NS}}}timerEventDefinition") is not None]
            if len(timers) > 1:
                out.append(index.problem(el.get("id"), "事件网关后不能有多个定时器（SpiffWorkflow 3.2 会把"
                                         "第一个定时器的到期时间用于全部定时器）",
                                         el.sourceline))
        elif tag in ("timeDuration", "timeDate", "timeCycle"):
            out += _check_timer(index, el, tag)
        elif tag == "conditionExpression" and el.getparent() is not None:
            flow = el.getparent()  # the sequence flow holds the condition: the problem is pinned on it
            expression = (el.text or "").strip()
            out += [index.problem(flow.get("id"), f"顺序流上的条件 {expression!r} 不被允许：{m}", el.sourceline)
                    for m in scripting.check(expression, "eval")]
    for element_id, props in index.properties.items():
        sla = props.get("sla")
        if sla is not None and SLA_KEYS and sla not in SLA_KEYS:
            out.append(index.problem(element_id, f"未知的 SLA 键 {sla!r}（可用：{', '.join(SLA_KEYS)}）"))
        for key in ("assignee", "sla_when", "department"):
            if key in props:
                out += [index.problem(element_id, f"{key} 表达式不被允许：{m}")
                        for m in scripting.check(props[key], "eval")]
    return out


def _check_routing_lane(index: _FileIndex, lane, name: str) -> list[Problem]:
    """A 责任部门 / 部门主管 lane routes by the department its user tasks name: each must say which."""
    out = []
    refs = {(r.text or "").strip() for r in lane.iter(f"{{{BPMN_NS}}}flowNodeRef")}
    for el in index.tree.iter(f"{{{BPMN_NS}}}userTask"):
        if el.get("id") in refs and not index.properties.get(el.get("id"), {}).get("department"):
            out.append(index.problem(el.get("id"), f"泳道「{name}」中的用户任务须以属性 department 指明部门"
                                     f"（如 department，取值为部门代码或名称）", el.sourceline))
    return out


def _duplicate_ids(index: _FileIndex) -> list[Problem]:
    out, first = [], {}
    for el in index.tree.iter():
        if not isinstance(el.tag, str) or not el.get("id"):
            continue
        element_id = el.get("id")
        if element_id in first:
            out.append(index.problem(element_id, f"元素 id「{element_id}」重复（第 {first[element_id]} 行已使用）",
                                     el.sourceline))
        else:
            first[element_id] = el.sourceline
    return out


def _check_ids(index: _FileIndex, seen_processes: dict[str, str]) -> list[Problem]:
    """Ids SpiffWorkflow reserves for itself, a process id defined in two files."""
    out = []
    for el in index.tree.iter():
        if not isinstance(el.tag, str) or not el.get("id"):
            continue
        element_id = el.get("id")
        if not el.tag.startswith(f"{{{BPMN_NS}}}"):
            continue
        if element_id in RESERVED_IDS or element_id.endswith(RESERVED_SUFFIXES):
            out.append(index.problem(element_id, f"元素 id「{element_id}」是 SpiffWorkflow 的保留名（引擎的内部任务"
                                     f"使用此名），流程会在第一步失败；请改用其他 id，例如「{element_id.lower()}_1」",
                                     el.sourceline))
        if el.tag == f"{{{BPMN_NS}}}process":
            other = seen_processes.setdefault(element_id, index.source.path)
            if other != index.source.path:
                out.append(index.problem(element_id, f"流程 id「{element_id}」已在 {other} 中定义", el.sourceline))
    return out


def _gateway_targets(index: _FileIndex, gateway) -> list:
    flows = [f for f in index.tree.iter(f"{{{BPMN_NS}}}sequenceFlow") if f.get("sourceRef") == gateway.get("id")]
    targets = {f.get("targetRef") for f in flows}
    return [el for el in index.tree.iter() if isinstance(el.tag, str) and el.get("id") in targets]


def _check_timer(index: _FileIndex, el, tag: str) -> list[Problem]:
    owner = el.getparent().getparent()
    element_id = owner.get("id") if owner is not None else ""
    expression = (el.text or "").strip()
    if not expression:
        return [index.problem(element_id, "定时器表达式为空", el.sourceline)]
    rejected = scripting.check(expression, "eval")
    try:
        value = ast.literal_eval(expression)
    except (ValueError, SyntaxError):
        if _parses_as_iso(expression, tag):
            return [index.problem(element_id, f'定时器表达式 {expression} 会被当作 Python 求值，请加引号，'
                                  f'例如 "{expression}"', el.sourceline)]
        if rejected:
            return [index.problem(element_id, f"定时器表达式不被允许：{rejected[0]}", el.sourceline)]
        return []  # an expression over task data: checked when it runs
    if not isinstance(value, str) or not _parses_as_iso(value, tag):
        return [index.problem(element_id, f"无效的 ISO 8601 {_TIMER_KIND[tag]}：{value!r}", el.sourceline)]
    if tag == "timeDate" and TimerEventDefinition.get_datetime(value).tzinfo is None:
        return [index.problem(element_id, f"timeDate {value!r} 必须带时区偏移（如 +08:00）或 Z", el.sourceline)]
    return []


def _parses_as_iso(text: str, tag: str) -> bool:
    try:
        if tag == "timeCycle":
            CycleTimerEventDefinition.parse_iso_recurring_interval(text)
        elif tag == "timeDate":
            datetime_value = TimerEventDefinition.get_datetime(text)
            del datetime_value
        else:
            TimerEventDefinition.parse_iso_duration(text)
        return True
    except Exception:
        return False


def _from_validation(exc: ValidationException, index: _FileIndex) -> Problem:
    message = str(exc).split("\n")[0]
    return index.problem(getattr(exc, "id", "") or "", f"解析失败：{message}")


def _check_spec(spec, index: _FileIndex, bundle: Bundle, available: set[str]) -> list[Problem]:
    out = []
    for ts in spec.task_specs.values():
        element_id = getattr(ts, "bpmn_id", None)
        if not element_id:
            continue
        for attr, label in (("script", "script"), ("prescript", "preScript"), ("postscript", "postScript")):
            code = getattr(ts, attr, None)
            if code:
                out += [index.problem(element_id, f"{label} 脚本不被允许：{m}") for m in scripting.check(code, "exec")]
        if isinstance(ts, SubWorkflowTask) and ts.spec not in available and ts.spec not in spec.task_specs:
            out.append(index.problem(element_id, f"调用的流程 {ts.spec!r} 不存在"))
        if isinstance(ts, UserTask):
            out += _check_user_task(ts, index, bundle)
        elif isinstance(ts, StartEvent) and element_id in index.properties:
            out += _check_form(element_id, index.properties[element_id], index, bundle, required=False)
        if isinstance(ts, EventBasedGateway):
            continue
    return out


def _check_user_task(ts, index: _FileIndex, bundle: Bundle) -> list[Problem]:
    return _check_form(ts.bpmn_id, (ts.extensions or {}).get("properties", {}), index, bundle, required=True)


def _check_form(element_id: str, props: dict, index: _FileIndex, bundle: Bundle, *, required: bool) -> list[Problem]:
    """The form (and UI schema) an element names: present, JSON, a schema we can draw, UI naming its fields."""
    out = []
    loaded: dict = {}
    for key in ("formJsonSchemaFilename", "formUiSchemaFilename"):
        name = props.get(key)
        if not name:
            if required and key == "formJsonSchemaFilename":
                out.append(index.problem(element_id, "用户任务没有表单（缺少 formJsonSchemaFilename）"))
            continue
        source = bundle.forms.get(name)
        if source is None:
            out.append(index.problem(element_id, f"表单 {name!r} 不存在"))
            continue
        try:
            schema = json.loads(source.content)
        except (ValueError, UnicodeDecodeError) as exc:
            out.append(index.problem(element_id, f"表单 {name!r} 不是有效的 JSON：{exc}"))
            continue
        if key == "formJsonSchemaFilename":
            loaded["schema"] = schema
            out += [index.problem(element_id, f"表单 {name!r} 不是有效的 JSON Schema：{m}")
                    for m in forms.check_schema(schema)]
        elif not isinstance(schema, dict):
            out.append(index.problem(element_id, f"UI 模式 {name!r} 必须是 JSON 对象"))
        else:
            out += [index.problem(element_id, m) for m in _check_ui(name, schema, loaded.get("schema"))]
    return out


def _check_ui(name: str, ui: dict, schema) -> list[str]:
    """A UI schema may only name the form's own fields (a renamed field would silently lose its widget)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    fields = schema["properties"]
    out = [f"UI 模式 {name!r} 设置了表单中不存在的字段「{key}」（表单字段：{'、'.join(fields)}）"
           for key in ui if not key.startswith("ui:") and key not in fields]
    out += [f"UI 模式 {name!r} 的 ui:order 列出了表单中不存在的字段「{key}」"
            for key in ui.get("ui:order") or () if key != "*" and key not in fields]
    return out
