"""Deployments: immutable, numbered versions per process id, and the spec cache.

A version pins the exact bytes (sha256) of the BPMN files it needs (its own file plus, transitively, the
files of the processes it calls) and of every form its tasks name. Deploying identical bytes again makes
no new version; an instance keeps the version it started on for its whole life.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import forms
from engine.audit import history
from engine.core import clock
from engine.core.tables import Blob, Deployment, ProcessVersion
from engine.repository.bundle import Bundle, SourceFile
from engine.repository.validation import BPMN_NS, InvalidBundle, Problem, element_properties, validate


@dataclass
class LoadedVersion:
    """A parsed version: the specs SpiffWorkflow runs, plus what the engine reads beside them."""

    version: ProcessVersion
    spec: object
    subprocess_specs: dict
    forms: dict[str, dict] = field(default_factory=dict)  # form file name -> parsed JSON
    # process id -> element id -> spiffworkflow properties (clause, sla, assignee, form names …)
    properties: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    process_names: dict[str, str] = field(default_factory=dict)  # process id -> name

    @property
    def personal_fields(self) -> frozenset[str]:
        """Data keys this version's forms mark ``x-personal`` (see :mod:`engine.audit.personal`). Taken from
        the pinned forms, so a version's answer never changes and its histories fingerprint the same forever."""
        cached = self.__dict__.get("_personal")
        if cached is None:
            cached = self.__dict__["_personal"] = frozenset().union(*(forms.personal_fields(f) for f in self.forms.values()))
        return cached


@dataclass(frozen=True)
class DeployResult:
    process_id: str
    version: int
    created: bool


def deployed_process_ids(session: Session) -> set[str]:
    return set(session.scalars(select(ProcessVersion.process_id).distinct()))


def latest_version(session: Session, process_id: str) -> ProcessVersion | None:
    return session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                          .order_by(ProcessVersion.version.desc()).limit(1))


def get_version(session: Session, process_id: str, version: int) -> ProcessVersion | None:
    return session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == process_id,
                                                       ProcessVersion.version == version))


def session_version(session: Session, instance) -> int:
    """The version number an instance runs on."""
    return session.get(ProcessVersion, instance.version_id).version


def list_versions(session: Session) -> list[ProcessVersion]:
    return list(session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version)))


def deploy(session: Session, bundle: Bundle, actor: str, note: str = "", *,
           require_note: bool = False) -> list[DeployResult]:
    """Validate the bundle, then write a new version for each process whose pinned bytes changed.

    Nothing is written when anything is invalid (raises :class:`InvalidBundle`). Runs inside the caller's
    transaction, so the versions and their audit events commit together. ``require_note``: a new version
    of a process already deployed needs a change note (a first version does not).
    """
    known = deployed_process_ids(session)
    problems = validate(bundle, known)
    if problems:
        raise InvalidBundle(problems)
    parser = SpiffBpmnParser()
    for source in bundle.bpmn.values():
        parser.add_bpmn_str(source.content, filename=source.name)
    results: list[DeployResult] = []
    deployment: Deployment | None = None
    for pid in sorted(parser.get_process_ids()):
        files, forms = _pins(session, parser, pid, bundle)
        fingerprint = _fingerprint(files, forms)
        current = latest_version(session, pid)
        if current is not None and current.fingerprint == fingerprint:
            results.append(DeployResult(pid, current.version, False))
            continue
        if require_note and current is not None and not note.strip():
            raise InvalidBundle([Problem(bundle.bpmn[parser.process_parsers[pid].filename].path, 0, pid,
                                         f"发布 {pid} 的新版本须写明变更说明（--note \"改了什么、为什么\"）")])
        if deployment is None:
            deployment = Deployment(created_at=clock.now(), actor=actor, note=note)
            session.add(deployment)
            session.flush()
        own = bundle.bpmn[parser.process_parsers[pid].filename]
        for source in [*(_source_for(bundle, n, s) for n, s in files.items()),
                       *(_source_for(bundle, n, s, forms=True) for n, s in forms.items())]:
            _store_blob(session, source)
        number = (current.version + 1) if current else 1
        row = ProcessVersion(process_id=pid, version=number, name=parser.process_parsers[pid].get_name() or pid,
                             deployment_id=deployment.id, bpmn_file=own.name, bpmn_sha256=own.sha256,
                             files=files, forms=forms, fingerprint=fingerprint, created_at=clock.now())
        session.add(row)
        session.flush()
        history.append(session, "repository", actor, "deployed", element_id=pid,
                       payload={"process_id": pid, "version": number, "files": files, "forms": forms,
                                "deployment_id": deployment.id, **({"note": note} if note else {})})
        results.append(DeployResult(pid, number, True))
    return results


def _pins(session: Session, parser: SpiffBpmnParser, pid: str, bundle: Bundle) -> tuple[dict, dict]:
    """The BPMN files and forms a process needs, by name and sha256."""
    files: dict[str, str] = {}
    forms: dict[str, str] = {}
    pending, seen = [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in parser.process_parsers:
            fname = parser.process_parsers[current].filename
            files[fname] = bundle.bpmn[fname].sha256
            specs = [parser.get_spec(current)]
            for spec in specs:  # the process, then its embedded sub-processes (their tasks' forms are its own)
                for ts in spec.task_specs.values():
                    if isinstance(ts, SubWorkflowTask) and ts.spec in spec.task_specs:
                        if ts.spec not in [s.name for s in specs]:  # embedded: its spec is named by its id
                            specs.append(parser.get_spec(ts.spec))
                    elif isinstance(ts, SubWorkflowTask):
                        pending.append(ts.spec)
                    if isinstance(ts, UserTask):
                        props = (ts.extensions or {}).get("properties", {})
                        for key in ("formJsonSchemaFilename", "formUiSchemaFilename"):
                            if props.get(key):
                                forms[props[key]] = bundle.forms[props[key]].sha256
            for name in start_forms(bundle.bpmn[fname].content, current):  # a start event's form
                forms[name] = bundle.forms[name].sha256
        else:  # a process deployed earlier, called from this bundle: pin its latest version's files
            called = latest_version(session, current)
            files.update(called.files)
            forms.update(called.forms)
    return dict(sorted(files.items())), dict(sorted(forms.items()))


def start_forms(content: bytes, process_id: str) -> list[str]:
    """The forms the start events of ``process_id`` name (``formJsonSchemaFilename``): the data a person
    starts the process with (:mod:`engine.repository.starting`)."""
    root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    out = []
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        if process.get("id") != process_id:
            continue
        props = element_properties(process)
        for start in process.findall(f"{{{BPMN_NS}}}startEvent"):
            for key in ("formJsonSchemaFilename", "formUiSchemaFilename"):
                if props.get(start.get("id"), {}).get(key):
                    out.append(props[start.get("id")][key])
    return out


def _fingerprint(files: dict, forms: dict) -> str:
    return hashlib.sha256(json.dumps({"files": files, "forms": forms}, sort_keys=True).encode()).hexdigest()


def _source_for(bundle: Bundle, name: str, sha: str, *, forms: bool = False) -> SourceFile | None:
    pool = bundle.forms if forms else bundle.bpmn
    source = pool.get(name)
    if source is not None and source.sha256 == sha:
        return source
    return None  # already stored (pinned from an earlier deployment)


def _store_blob(session: Session, source: SourceFile | None) -> None:
    if source is None or session.get(Blob, source.sha256) is not None:
        return
    session.add(Blob(sha256=source.sha256, name=source.name, content=source.content))
    session.flush()


# --- loading -------------------------------------------------------------------------------------------

_cache: OrderedDict[tuple[str, str], LoadedVersion] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def load(session: Session, version: ProcessVersion) -> LoadedVersion:
    """Parse a version once per process; keyed by its fingerprint, since equal pins mean equal specs."""
    key = (version.process_id, version.fingerprint)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            fresh = LoadedVersion(version, hit.spec, hit.subprocess_specs, hit.forms, hit.properties,
                                  hit.process_names)
            # the same pinned forms: their personal fields are worked out once, not on every change (issue 16)
            fresh.__dict__["_personal"] = hit.personal_fields
            return fresh
    blobs = {b.sha256: b.content for b in session.scalars(
        select(Blob).where(Blob.sha256.in_([*version.files.values(), *version.forms.values()])))}
    loaded = parse(version, blobs)
    with _cache_lock:
        _cache[key] = loaded
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return loaded


def properties_by_process(root) -> dict[str, dict[str, dict[str, str]]]:
    """{process id: {element id: properties}} of one file; an embedded sub-process is keyed by its own id too,
    since SpiffWorkflow runs its tasks in a workflow whose spec is named after it (a multi-instance
    sub-process's task with an ``assignee``, a timer with an SLA key inside it)."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        out[process.get("id")] = element_properties(process)
        for sub in process.iter(f"{{{BPMN_NS}}}subProcess"):
            out.setdefault(sub.get("id"), element_properties(sub))
    return out


def parse(version: ProcessVersion, blobs: dict[str, bytes]) -> LoadedVersion:
    """Parse a version from its pinned files' bytes (sha256 -> content), with no database: what replaying
    an exported audit bundle offline needs. ``version`` may be a transient row built from the bundle."""
    parser = SpiffBpmnParser()
    properties: dict[str, dict[str, dict[str, str]]] = {}
    for name, sha in version.files.items():
        parser.add_bpmn_str(blobs[sha], filename=name)
        properties.update(properties_by_process(etree.fromstring(blobs[sha])))
    return LoadedVersion(
        version=version,
        spec=parser.get_spec(version.process_id),
        subprocess_specs=parser.get_subprocess_specs(version.process_id),
        forms={name: json.loads(blobs[sha]) for name, sha in version.forms.items()},
        properties=properties,
        process_names={pid: (p.get_name() or pid) for pid, p in parser.process_parsers.items()},
    )


def file_content(session: Session, sha256: str) -> bytes | None:
    blob = session.get(Blob, sha256)
    return blob.content if blob else None


def version_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ProcessVersion)) or 0
