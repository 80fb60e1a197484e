"""The deploy-time dry run: start every process of a bundle and run it to its first waiting point.

The static checks (:mod:`engine.repository.validation`) read the files; some mistakes only show when an
instance runs: a condition over a field nobody set, a script that divides by a missing value, a timer
expression over task data, an id SpiffWorkflow uses for its own bookkeeping. So before a bundle may be
deployed, each process it defines is instantiated with plausible start data and run exactly as the
runtime runs a new instance (:mod:`engine.runtime.steps`, the clock pinned, recorded helpers answering
with their defaults), then its first waiting point is projected as the runtime would (ready tasks and
their assignees, waiting timers and their due times). Nothing is written anywhere: the workflows live in
memory and are thrown away, which is all a "throwaway database" would hold at the first step.

Start data, per process:

- the start event's form (``formJsonSchemaFilename``), its required fields filled plausibly
  (:mod:`engine.forms.sample`);
- else the start data a domain registers for it (:func:`engine.runtime.listeners.add_sample_start`; the help
  desk offers a hotline call and an online request filled from its start form, and the channel and
  type each of its scenario files starts with), else ``{}``;
- for a process started by code rather than a form (a benchmark, an import), the JSON object in its
  start event's ``dry_run_data`` property: the data its starter passes;
- a process that other processes of the bundle call is run (standalone) with the data each caller holds
  at that point: the caller's data at its first wait plus a plausible filling of its forms' required
  fields (what a person would have entered before the call is reached).

A failure is reported on the element that failed, with file and line; a condition that cannot be
evaluated is reported on the sequence flow that holds it, not on its gateway.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.util.task import TaskState

from engine import scripting
from engine.core import clock
from engine.forms import sample
from engine.repository import validation
from engine.repository.validation import BPMN_NS, Problem
from engine.runtime import listeners, steps, task_rows, timer_rows
from engine.runtime.workflow import all_tasks, current_data, ready_user_tasks

# A fixed, ordinary moment (a Friday morning, Asia/Shanghai): the dry run must not depend on when it runs.
DRY_RUN_AT = dt.datetime(2026, 11, 27, 9, 0, tzinfo=clock.SHANGHAI)


@dataclass
class _Version:
    """What the runtime reads of a version during a step, built from the bundle instead of the database."""

    spec: object
    subprocess_specs: dict
    forms: dict = field(default_factory=dict)
    properties: dict = field(default_factory=dict)


def check(bundle, parser, owners: dict) -> list[Problem]:
    """Problems found by running each process of ``bundle`` to its first waiting point.

    ``parser``: the SpiffWorkflow parser the static checks filled; ``owners``: process id -> the file
    index (lines, properties) that defines it.
    """
    forms = _forms(bundle)
    properties = {pid: index.properties for pid, index in owners.items()}
    called = _called_processes(parser, owners)
    problems: list[Problem] = []
    reported: set[tuple[str, str]] = set()
    called_somewhere = {target for targets in called.values() for target in targets}
    for pid in sorted(owners):
        version = _version(parser, pid, forms, properties)
        if version is None or pid in called_somewhere:  # calls a process deployed earlier: its spec is not in the bundle
            continue
        for data in _start_samples(pid, owners[pid], version):
            outcome = _run(pid, version, data, owners)
            for problem in outcome.problems:
                if (problem.element_id, problem.message) not in reported:
                    reported.add((problem.element_id, problem.message))
                    problems.append(problem)
            if outcome.problems:
                break
            for target in called.get(pid, ()):
                target_version = _version(parser, target, forms, properties)
                if target_version is None:
                    continue
                caller_data = {**outcome.data, **_form_fill(version)}
                for problem in _run(target, target_version, caller_data, owners).problems:
                    if (problem.element_id, problem.message) not in reported:
                        reported.add((problem.element_id, problem.message))
                        problems.append(problem)
    return problems


@dataclass
class _Outcome:
    problems: list[Problem] = field(default_factory=list)
    data: dict = field(default_factory=dict)


def _run(pid: str, version: _Version, data: dict, owners: dict) -> _Outcome:
    out = _Outcome()
    with clock.pinned(clock.as_utc(DRY_RUN_AT)), scripting.recorded_helpers({}):
        try:
            wf = steps.new_workflow(version, {**data, **listeners.start_data(None, pid, data)})
            steps.run(wf)
            ready = ready_user_tasks(wf)
            waiting = timer_rows.waiting(wf, version)
            task_rows.deadlines(waiting, [str(t.id) for t in ready])
        except Exception as exc:  # SpiffWorkflow's own errors, and a helper or guard outside its wrapping
            out.problems.append(_problem(pid, exc, owners))
            return out
    errored = [t for t in all_tasks(wf) if t.state == TaskState.ERROR]
    for task in errored:
        out.problems.append(_on_element(owners, task.workflow.spec.name, task.task_spec.bpmn_id or pid,
                                        "试运行时此元素出错"))
    out.data = current_data(wf)
    return out


def _problem(pid: str, exc: Exception, owners: dict) -> Problem:
    task = getattr(exc, "task", None)
    task_spec = task.task_spec if task is not None else getattr(exc, "task_spec", None)
    process = task.workflow.spec.name if task is not None else pid
    element = getattr(task_spec, "bpmn_id", None) or pid
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Error evaluating expression" in message:
        flow, expression = _flow_with_condition(owners.get(process), element, message)
        if flow is not None:
            kind = getattr(exc, "error_type", None) or "错误"
            return _on_element(owners, process, flow, f"试运行时无法求值顺序流上的条件 {expression!r}（{kind}）："
                                                     f"{_hint(exc)}")
    return _on_element(owners, process, element, f"试运行（以示例数据启动至第一个等待点）失败：{message}")


def _hint(exc: Exception) -> str:
    """SpiffWorkflow's note (e.g. "Did you mean one of …"), or the error's kind."""
    notes = [str(n).strip() for n in getattr(exc, "notes", None) or getattr(exc, "__notes__", None) or [] if n]
    return "；".join(notes) or str(getattr(exc, "error_type", "") or "表达式出错")


def _flow_with_condition(index, gateway_id: str, message: str) -> tuple[str | None, str]:
    """The outgoing flow of ``gateway_id`` whose condition the error message quotes."""
    if index is None:
        return None, ""
    for flow in index.tree.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        cond = flow.find(f"{{{BPMN_NS}}}conditionExpression")
        expression = (cond.text or "").strip() if cond is not None else ""
        if flow.get("sourceRef") == gateway_id and expression and f"'{expression}'" in message:
            return flow.get("id"), expression
    return None, ""


def _on_element(owners: dict, process: str, element_id: str, message: str) -> Problem:
    index = owners.get(process) or next(iter(owners.values()))
    return index.problem(element_id, message)


def _forms(bundle) -> dict:
    import json

    out = {}
    for name, source in bundle.forms.items():
        try:
            out[name] = json.loads(source.content)
        except (ValueError, UnicodeDecodeError):
            continue  # reported by the static checks when a task names it
    return out


def _version(parser, pid: str, forms: dict, properties: dict) -> _Version | None:
    try:
        return _Version(parser.get_spec(pid), parser.get_subprocess_specs(pid), forms, properties)
    except Exception:  # noqa: BLE001 - a called process outside the bundle: the static checks judged it
        return None


def _called_processes(parser, owners: dict) -> dict[str, list[str]]:
    """Caller process id -> the processes of the bundle it calls (call activities only)."""
    out: dict[str, list[str]] = {}
    for pid in owners:
        try:
            spec = parser.get_spec(pid)
        except Exception:  # noqa: BLE001
            continue
        for ts in spec.task_specs.values():
            if isinstance(ts, CallActivity) and ts.spec in owners and ts.spec != pid:
                out.setdefault(pid, []).append(ts.spec)
    return {pid: sorted(set(targets)) for pid, targets in out.items()}


def _form_fill(version: _Version) -> dict:
    """A plausible filling of the required fields of every form the caller's user tasks use."""
    data: dict = {}
    for ts in version.spec.task_specs.values():
        if not isinstance(ts, UserTask):
            continue
        schema = version.forms.get((ts.extensions or {}).get("properties", {}).get("formJsonSchemaFilename", ""))
        if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
            try:
                data.update(sample.answer(schema, {}))
            except Exception:  # noqa: BLE001 - a form the sampler cannot fill: its fields stay unset
                continue
    return data


def _start_samples(pid: str, index, version: _Version) -> list[dict]:
    declared = []
    start = getattr(version.spec, "start", None)
    for ts in version.spec.task_specs.values():
        if getattr(ts, "inputs", None) == [start] and getattr(ts, "bpmn_id", None):
            props = index.properties.get(ts.bpmn_id, {})
            if props.get("dry_run_data"):
                declared.append(_json_object(props["dry_run_data"]))
            elif isinstance(version.forms.get(props.get("formJsonSchemaFilename", "")), dict):
                declared.append(sample.answer(version.forms[props["formJsonSchemaFilename"]], {}))
    return [d for d in declared if d is not None] or listeners.sample_starts(pid) or [{}]


def _json_object(raw: str) -> dict | None:
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


validation.register_run_check(check)
