"""Replaying an exported audit bundle offline: no database, only the bundle's pinned BPMN and forms and its
events. A migrated instance's bundle carries every version it ran on: the replay starts on the one its
"started" event names and re-binds at each "migrated" event, as :mod:`engine.runtime.replay` does.

The standalone verifier (:mod:`engine.audit.verify_bundle`) proves the events are the company's, unbroken
and in the signed tree; it cannot tell whether they *make sense*. Someone who can sign — or who rewrote a
step's form data and recomputed every hash before the checkpoint was signed — leaves a chain that checks.
Replaying the recorded inputs against the pinned diagram, with the clock at each event's time, must reproduce
every recorded state fingerprint; the first step that does not is named.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

from SpiffWorkflow.util.task import TaskState

from engine import repository, scripting
from engine.audit import personal, verify_bundle
from engine.core import clock
from engine.core.tables import ProcessVersion
from engine.runtime import migration
from engine.runtime.replay import STATE_CHANGING, Replay, Step, _apply
from engine.runtime.workflow import all_tasks, state_fingerprint


class BundleError(ValueError):
    """The bundle cannot be replayed at all (in Chinese: the auditor reads it)."""


def _versions(bundle: dict) -> dict[int, repository.LoadedVersion]:
    """Every version the bundle carries (the instance's current one; after a migration the earlier ones
    too), parsed from its files, each checked against its sha256 first: a replay on other bytes would prove
    nothing. A bundle whose files name no version (exported before migrations were carried) holds the
    current version's."""
    instance = bundle["instance"]
    meta = {v["version"]: v for v in instance.get("versions") or []}
    meta.setdefault(instance["version"], {"version": instance["version"], "bpmn_file": instance.get("bpmn_file"),
                                          "bpmn_sha256": instance.get("bpmn_sha256"),
                                          "version_fingerprint": instance.get("version_fingerprint")})
    files: dict[int, tuple[dict, dict]] = {}
    blobs = {}
    for f in bundle["files"]:
        if f.get("content_base64") is None:
            raise BundleError(f"审计包缺少文件 {f['name']} 的内容，无法重放")
        content = base64.b64decode(f["content_base64"])
        if hashlib.sha256(content).hexdigest() != f["sha256"]:
            raise BundleError(f"审计包中的文件 {f['name']} 与其 sha256 不符，无法在其上重放")
        bpmn, forms = files.setdefault(f.get("version", instance["version"]), ({}, {}))
        (bpmn if f["kind"] == "bpmn" else forms)[f["name"]] = f["sha256"]
        blobs[f["sha256"]] = content
    out = {}
    for number, (bpmn, forms) in files.items():
        m = meta.get(number, {})
        row = ProcessVersion(process_id=instance["process_id"], version=number, name=instance["process_id"],
                             bpmn_file=m.get("bpmn_file"), bpmn_sha256=m.get("bpmn_sha256"), files=bpmn,
                             forms=forms, fingerprint=m.get("version_fingerprint") or "")
        try:
            out[number] = repository.parse(row, blobs)
        except Exception as exc:  # a diagram that does not parse: say so instead of a traceback
            raise BundleError(f"审计包中第 {number} 版的流程图无法解析：{exc}") from exc
    return out


def _carried(versions: dict, number) -> repository.LoadedVersion:
    if number not in versions:
        raise LookupError(f"第 {number} 版的流程图与表单未随审计包提供，无法重放到这里")
    return versions[number]


def replay_bundle(bundle: dict) -> Replay:
    """Re-run the bundle's recorded inputs on its pinned version; ``Replay.ok`` when every state matches."""
    if not isinstance(bundle, dict) or bundle.get("format") != verify_bundle.FORMAT:
        raise BundleError(f"不是审计包（格式应为 {verify_bundle.FORMAT}）")
    try:
        versions = _versions(bundle)
        version = versions[bundle["instance"]["version"]]
        events = sorted(bundle["events"], key=lambda e: e["seq"])
        first = bundle["instance"]["version"]
        if any(e["kind"] == "migrated" for e in events):  # it started on another version: replay from that one
            first = next((json.loads(e["payload"]) for e in events if e["kind"] == "started"), {}).get("version", first)
        result = Replay(bundle["instance"]["id"], [], chain_ok=not verify_bundle.check_chain(bundle))
    except (KeyError, TypeError) as exc:
        raise BundleError(f"审计包结构不完整：{type(exc).__name__}: {exc}") from exc
    # Personal values travel beside the events (``personal``): revealed where the bundle carries them, the
    # placeholder where they were lawfully erased; fingerprints mask them, so both replay the same.
    personal_fields = frozenset().union(*(v.personal_fields for v in versions.values()))
    known = {ref: json.loads(e["value_json"]) for ref, e in (bundle.get("personal") or {}).items()
             if isinstance(e, dict) and "value_json" in e and not e.get("erased")}
    wf = None
    try:
        version = _carried(versions, first)
        for event in events:
            if event["kind"] not in STATE_CHANGING:
                continue
            payload = json.loads(event["payload"])
            if personal_fields:
                found = list(personal.markers(payload))
                if found:
                    result.erased += sum(1 for m in found if m[personal.MARK] not in known)
                    payload = personal.reveal(payload, known)
            at = dt.datetime.fromisoformat(event["at"]).astimezone(dt.UTC)
            recorded = {name: (lambda n=name, p=payload: p[n]) for name in scripting.recorded_helper_names()
                        if name in payload}
            with clock.pinned(at), scripting.recorded_helpers(recorded):
                if event["kind"] == "migrated":  # the same re-binding the runtime ran, onto the carried version
                    version = _carried(versions, payload["to_version"])
                    migration.rebind(wf, version, recompute=bool(payload.get("recompute_deadlines")))
                else:
                    wf = _apply(wf, version, event["kind"], payload)
            result.steps.append(Step(event["seq"], event["kind"], event.get("element_id"), at.isoformat(),
                                     event["actor"], event.get("state_fingerprint"),
                                     state_fingerprint(wf, version.personal_fields),
                                     payload.get("data", {}),
                                     [t.task_spec.bpmn_id for t in all_tasks(wf)
                                      if t.state == TaskState.READY and t.task_spec.manual]))
    except Exception as exc:  # the recorded input does not fit the model: that is the finding
        result.error = f"{type(exc).__name__}: {exc}"
    final = bundle["instance"].get("state_fingerprint")
    if wf is not None and not result.error and final and state_fingerprint(wf, version.personal_fields) != final:
        result.error = "replayed state differs from the instance's recorded final state"
    return result
