"""The process owner's studio: the checks an edit passes before it goes live, and moving running requests.

The editor page (``modeler.edit``) posts the edited XML here (JSON in, JSON out, CSRF header):

- ``validate``: the engine's own validator (static checks and the dry run to each process's first wait)
  — errors — and the clause check (:mod:`engine.helpdesk.clause_check`) — warnings — with element ids;
- ``scenarios``: the procedure's scenario files that go through this process, run against the edit in a
  child process (``liyuan simulate --json``; a run moves the engine clock, which must not move in here);
- ``changes``: the semantic diff against the latest version (:func:`engine.repository.diff.diff_edit`);
- ``deploy``: publishing, refused while any error remains or a scenario fails, and needing a written
  reason when the clause check warns (the reason goes into the version's note).

``migrate`` is a page: the running instances of older versions, each with its preview (what moves, which
timers change, or why it cannot), a dry run, and the migration itself (one audit event per instance): a
batch (:mod:`engine.runtime.migration_batch`) run in a worker thread, whose page shows the progress and the
instances that failed, reloading itself until the batch is done.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    render_template_string,
    request,
    url_for,
)

from engine import forms as form_schema
from engine import repository
from engine.core import config, db
from engine.core.errors import EngineError, NotFound
from engine.core.tables import MigrationJob
from engine.helpdesk import clause_check, publish_approval, scenarios
from engine.helpdesk.scenarios import saved as saved_scenarios
from engine.helpdesk.tables import StudioScenario
from engine.repository import diff as version_diff
from engine.repository import editing, form_usage
from engine.repository.validation import InvalidBundle
from engine.runtime import migration, migration_batch

from .policy import current_user, requires
from .web import id_or_404, read_db

bp = Blueprint("studio", __name__, url_prefix="/modeler")
NOTE_MAX_LENGTH = 500
SCENARIO_TIMEOUT = 15 * 60  # seconds; the whole procedure's scenarios take about a minute on an idle machine


def _posted_xml() -> bytes | None:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        return None
    return body["xml"].encode("utf-8")


def _posted_forms() -> dict[str, bytes]:
    """The forms edited beside the diagram: {"forms": {file name: JSON object}}; anything else is ignored."""
    body = request.get_json(silent=True)
    raw = body.get("forms") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        return {}
    return {name: json.dumps(schema, ensure_ascii=False, indent=2).encode("utf-8")
            for name, schema in raw.items() if isinstance(name, str) and isinstance(schema, dict)}


def _as_json(problems, severity: str) -> list[dict]:
    return [{"file": p.file, "line": p.line, "element_id": p.element_id, "message": p.message, "severity": severity}
            for p in problems]


def _bad(message: str, status: int = 400):
    return jsonify({"ok": False, "message": message, "problems": []}), status


def _edit_error(exc: editing.EditError):
    return _bad(str(exc), 404 if "尚未发布" in str(exc) else 400)


def review(session, process_id: str, xml: bytes, forms: dict[str, bytes]) -> tuple[list[dict], list[dict]]:
    """(errors, warnings) of an edit: the engine's validator, then the clause check against the latest version."""
    errors = _as_json(editing.check(session, process_id, xml, forms), "error")
    latest = repository.latest_version(session, process_id)
    published = repository.file_content(session, latest.bpmn_sha256)
    warnings = _as_json(clause_check.check(xml, published, file=latest.bpmn_file), "warning")
    return errors, warnings


@bp.post("/<process_id>/validate")
@requires("modeler")
def validate(process_id):
    xml = _posted_xml()
    if xml is None:
        return _bad("请求格式不正确：需要 JSON {\"xml\": \"…\"}")
    try:
        errors, warnings = review(read_db(), process_id, xml, _posted_forms())
    except editing.EditError as exc:
        return _edit_error(exc)
    if errors:
        message = f"发现 {len(errors)} 个问题" + (f"，另有 {len(warnings)} 个警告" if warnings else "")
        return jsonify({"ok": False, "message": message, "problems": errors + warnings})
    if warnings:
        return jsonify({"ok": True, "message": f"校验通过，但有 {len(warnings)} 处偏离工作规程：发布时须写明理由",
                        "problems": warnings})
    return jsonify({"ok": True, "message": "校验通过，可以发布", "problems": []})


# --- 试运行: the scenario files against the edit ------------------------------------------------------

_RUNS: OrderedDict[str, dict] = OrderedDict()  # sha of (edit, files) -> outcome; the same input runs the same
_RUNS_LOCK = threading.Lock()


def scenario_dir() -> Path:
    return Path(current_app.config.get("SCENARIO_DIR") or config.bpmn_dir() / "scenarios")


def run_scenarios(session, process_id: str, xml: bytes, forms: dict[str, bytes],
                  drafts: dict[str, str] | None = None) -> dict:
    """{"ok", "message", "results": [{file, name, ok, step, message}]} for the scenarios concerning ``process_id``:
    the repository's files, the scenarios saved in the studio for it (:mod:`engine.helpdesk.scenarios.saved`)
    and ``drafts`` ({name: YAML text}, a scenario being written and not yet saved, which replaces a saved one
    of the same name)."""
    folder = scenario_dir()
    try:
        files = scenarios.concerning(session, process_id, scenarios.scenario_files([folder])) if folder.is_dir() else []
    except scenarios.ScenarioError as exc:
        return {"ok": False, "message": f"场景文件有误：{exc}", "results": []}
    written = {row.name: row.content for row in saved_scenarios.saved(session, process_id)} | (drafts or {})
    if not files and not written:
        return {"ok": True, "message": "没有经过此流程的场景，未试运行", "results": []}
    key = hashlib.sha256(xml + json.dumps({k: v.decode() for k, v in forms.items()}, sort_keys=True).encode()
                         + json.dumps(written, sort_keys=True).encode()
                         + b"".join(f.read_bytes() for f in files)).hexdigest()
    with _RUNS_LOCK:
        if key in _RUNS:
            return _RUNS[key]
    with tempfile.TemporaryDirectory(prefix="liyuan-studio-") as tmp:
        scenarios.write_procedure(session, process_id, xml, Path(tmp), forms)
        files = [*files, *saved_scenarios.write_all(written, Path(tmp) / "studio-scenarios")]
        env = {**os.environ, "LIYUAN_BPMN_DIR": tmp}
        try:
            done = subprocess.run([sys.executable, "-m", "webapp.cli", "simulate", "--json", *map(str, files)],
                                  capture_output=True, text=True, env=env, timeout=SCENARIO_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return {"ok": False, "message": "试运行超时，未完成", "results": []}
    try:
        results = json.loads(done.stdout)
    except ValueError:
        lines = [line for line in done.stderr.splitlines() if line.strip()][-5:]
        return {"ok": False, "message": "试运行未能开始：" + "；".join(lines), "results": []}
    failed = sum(not r["ok"] for r in results)
    outcome = {"ok": not failed, "results": results,
               "message": f"试运行 {len(results)} 个场景：{len(results) - failed} 个通过，{failed} 个失败"}
    with _RUNS_LOCK:
        _RUNS[key] = outcome
        while len(_RUNS) > 16:
            _RUNS.popitem(last=False)
    return outcome


@bp.post("/<process_id>/scenarios")
@requires("modeler")
def try_scenarios(process_id):
    xml = _posted_xml()
    if xml is None:
        return _bad("请求格式不正确：需要 JSON {\"xml\": \"…\"}")
    try:
        errors, _warnings = review(read_db(), process_id, xml, _posted_forms())
    except editing.EditError as exc:
        return _edit_error(exc)
    if errors:
        return jsonify({"ok": False, "message": f"流程图有 {len(errors)} 个错误，先修正再试运行",
                        "problems": errors, "results": []})
    body = request.get_json(silent=True)
    draft = body.get("scenario") if isinstance(body.get("scenario"), dict) else None
    drafts = {}
    if draft is not None:  # a scenario being written, run with the others against the edit
        try:
            saved_scenarios.check(draft.get("name"), draft.get("content"))
        except scenarios.ScenarioError as exc:
            return jsonify({"ok": False, "message": f"场景格式有误：{exc}", "problems": [], "results": []}), 422
        drafts = {draft["name"]: draft["content"]}
    return jsonify({**run_scenarios(read_db(), process_id, xml, _posted_forms(), drafts), "problems": []})


# --- the diff shown before publishing -----------------------------------------------------------------

def _diff_json(found: version_diff.VersionDiff) -> dict:
    label = version_diff.LABELS.get
    return {"empty": found.empty, "old": found.old, "new": found.new, "lines": version_diff.describe(found),
            "elements": [{"element_id": c.element_id, "kind": c.kind, "name": c.name, "type": c.type,
                          "changes": [[label(k, k), version_diff.shown(a), version_diff.shown(b)]
                                      for k, a, b in c.changes]} for c in found.elements],
            "fields": [{"form": f.form, "field": f.field, "kind": f.kind,
                        "changes": [[k, version_diff.shown(a), version_diff.shown(b)] for k, a, b in f.changes]}
                       for f in found.fields]}


@bp.post("/<process_id>/changes")
@requires("modeler")
def changes(process_id):
    xml = _posted_xml()
    if xml is None:
        return _bad("请求格式不正确：需要 JSON {\"xml\": \"…\"}")
    try:
        found = version_diff.diff_edit(read_db(), process_id, xml, _posted_forms())
    except NotFound:
        abort(404)
    except Exception:  # noqa: BLE001 - unreadable XML: the validator names the problem
        return _bad("流程图无法读取，请先“检查”")
    out = _diff_json(found)
    affects = forms_affected(read_db(), process_id, _posted_forms(), found)
    return jsonify({**out, "lines": out["lines"] + affects, "affects": affects})


def forms_affected(session, process_id: str, forms: dict[str, bytes], found: version_diff.VersionDiff) -> list[str]:
    """Per form the edit changes, the diagrams that use it (:mod:`engine.repository.form_usage`)."""
    latest = repository.latest_version(session, process_id)
    changed = set(form_usage.changed_forms(latest.forms, forms)) | {f.form for f in found.fields}
    return form_usage.affected(session, process_id, sorted(changed))


# --- publishing -------------------------------------------------------------------------------------

@bp.post("/<process_id>/deploy")
@requires("modeler")
def deploy(process_id):
    """Publish the edit as a new version: refused while the validator reports an error or a scenario
    fails; a departure from the 工作规程 needs ``reason``, recorded in the version's note."""
    xml = _posted_xml()
    if xml is None:
        return _bad("请求格式不正确：需要 JSON {\"xml\": \"…\"}")
    body = request.get_json(silent=True) or {}
    note, reason = body.get("note") or "", body.get("reason") or ""
    if not isinstance(note, str) or not isinstance(reason, str) or len(note) > NOTE_MAX_LENGTH \
            or len(reason) > NOTE_MAX_LENGTH:
        return _bad(f"发布说明最多{NOTE_MAX_LENGTH}个字", 422)
    if not note.strip():
        return _bad("请填写变更说明：改了什么、为什么改（将记入版本历史）")
    try:
        errors, warnings = review(read_db(), process_id, xml, _posted_forms())
    except editing.EditError as exc:
        return _edit_error(exc)
    if errors:
        return jsonify({"ok": False, "message": f"发现 {len(errors)} 个问题，未发布",
                        "problems": errors + warnings}), 422
    if warnings and not reason.strip():
        return jsonify({"ok": False, "needs_reason": True, "problems": warnings,
                        "message": f"此修改有 {len(warnings)} 处偏离工作规程：请写明理由后再发布"}), 422
    tried = run_scenarios(read_db(), process_id, xml, _posted_forms())
    if not tried["ok"]:
        return jsonify({"ok": False, "message": f"场景未全部通过，未发布（{tried['message']}）",
                        "problems": warnings, "results": tried["results"]}), 422
    if warnings:
        note = f"{note.strip()}（偏离工作规程的理由：{reason.strip()}）"
    if publish_approval.required(read_db()):
        return _ask_approval(process_id, xml, note, tried["results"])
    try:
        with db.transaction() as session:
            result = editing.publish(session, process_id, xml, current_user().username, note, _posted_forms())
    except editing.EditError as exc:
        return _edit_error(exc)
    except InvalidBundle as exc:
        return jsonify({"ok": False, "message": f"发现 {len(exc.problems)} 个问题，未发布",
                        "problems": _as_json(exc.problems, "error")}), 422
    results = tried["results"]
    if result.created:
        with db.read_session() as session:
            affects = form_usage.affected(session, process_id, form_usage.changed_forms(
                repository.get_version(session, process_id, result.version - 1).forms, _posted_forms()))
    if not result.created:
        return jsonify({"ok": True, "created": False, "version": result.version, "problems": [], "results": results,
                        "message": f"内容未变化，未产生新版本（仍为第{result.version}版）"})
    return jsonify({"ok": True, "created": True, "version": result.version, "problems": [], "results": results,
                    "message": f"已发布 {process_id} 第{result.version}版",
                    **({"affects": affects} if affects else {})})  # only when a form changed


def _ask_approval(process_id: str, xml: bytes, note: str, results: list):
    """With a second approver required, the checked edit waits for a 公司经理 instead of deploying."""
    try:
        with db.transaction() as session:
            row = publish_approval.request_edit(session, process_id, xml, _posted_forms(), note,
                                                current_user().username)
    except editing.EditError as exc:
        return _edit_error(exc)
    return jsonify({"ok": True, "created": False, "pending": True, "pending_id": row.id, "problems": [],
                    "results": results, "version": row.base_version,
                    "message": f"已提交发布申请，公司经理批准后发布为新版本（当前仍为第{row.base_version}版）"})


# --- the form editor's live preview -----------------------------------------------------------------

_PREVIEW = '{% from "forms/_macros.html" import render_form_fields %}{{ render_form_fields(schema, ui) }}'


@bp.post("/forms/preview")
@requires("modeler")
def form_preview():
    """{"schema", "ui", "name"} -> the form drawn by the macros staff see, the schema's problems, and the
    latest versions that use a form of that name (a change published here affects only this diagram's next
    version: the others keep the form they pinned)."""
    body = request.get_json(silent=True)
    schema, ui = (body.get("schema"), body.get("ui")) if isinstance(body, dict) else (None, None)
    if not isinstance(schema, dict) or (ui is not None and not isinstance(ui, dict)):
        return _bad("请求格式不正确：需要 JSON {\"schema\": {…}, \"ui\": {…}}")
    problems = form_schema.check_schema(schema, ui)
    uses = form_usage.usage(read_db(), body["name"]) if isinstance(body.get("name"), str) else []
    used_by = [u.describe() for u in uses]
    html = ""
    if not problems:
        try:
            html = render_template_string(_PREVIEW, schema=schema, ui=ui or {})
        except Exception as exc:  # noqa: BLE001 - a schema the macros cannot draw: shown as a problem
            problems = [f"无法显示：{type(exc).__name__}: {exc}"]
    return jsonify({"ok": not problems, "problems": problems, "html": html, "used_by": used_by,
                    "usage": [{"process_id": u.process_id, "name": u.process_name, "version": u.version,
                               "elements": [{"element_id": e, "name": n} for e, n in u.elements]} for u in uses]})


# --- moving running requests to the latest version ------------------------------------------------------

def _older_versions(session, process_id: str):
    rows = editing.versions(session).get(process_id)
    if not rows:
        abort(404)
    latest = rows[0].version
    return latest, [r for r in rows[1:] if r.running]


def _plans(session, process_id: str, source: int, target: int, recompute: bool) -> list[migration.Plan]:
    out = []
    for instance_id in migration.instances_on(session, process_id, source):
        try:
            out.append(migration.plan(session, instance_id, target, recompute=recompute))
        except EngineError as exc:
            out.append(migration.Plan(instance_id, process_id, source, target, reasons=[exc.message]))
    return out


@bp.route("/<process_id>/migrate", methods=["GET", "POST"])
@requires("modeler")
def migrate(process_id):
    session = read_db()
    latest, older = _older_versions(session, process_id)
    raw = request.values.get("from", "")
    source = int(raw) if raw.isdecimal() and len(raw) < 10 else (older[0].version.version if older else None)
    recompute = request.values.get("recompute") == "1"
    done: list[tuple[str, str]] = []
    if request.method == "POST" and source is not None:
        chosen = list(dict.fromkeys(request.form.getlist("instance")))
        if request.form.get("action") == "migrate" and chosen:
            return _start_batch(process_id, source, latest.version, chosen, recompute)
        for instance_id in chosen:  # 试迁移: the previews, in this request (nothing is written)
            try:
                found = migration.plan(session, instance_id, latest.version, recompute=recompute)
                done.append((instance_id, "可以迁移（试迁移，未修改）" if found.movable
                             else "不能迁移：" + "；".join(found.reasons)))
            except EngineError as exc:
                done.append((instance_id, f"未迁移：{exc.message}"))
    plans = _plans(session, process_id, source, latest.version, recompute) if source is not None else []
    return render_template("modeler/migrate.html", process_id=process_id, latest=latest, older=older,
                           source=source, plans=plans, recompute=recompute, done=done)


# --- the batch: a job row updated per instance, run in a worker thread, and a page that polls it -------

def _start_batch(process_id: str, source: int, target: int, chosen: list[str], recompute: bool):
    with db.transaction() as tx:
        job = migration_batch.create(tx, process_id, source, target, chosen, current_user().username,
                                     recompute=recompute)
    worker = threading.Thread(target=_run_batch, args=(job.id,), name=f"migration-job-{job.id}", daemon=True)
    _WORKERS[job.id] = worker
    worker.start()
    return redirect(url_for("studio.migration_job", process_id=process_id, job_id=job.id))


_WORKERS: dict[int, threading.Thread] = {}  # job id -> its worker (tests join it; finished ones are dropped)


def _run_batch(job_id: int) -> None:
    try:
        migration_batch.run(job_id)
    finally:
        _WORKERS.pop(job_id, None)


def _job(process_id: str, job_id: str):
    job = read_db().get(MigrationJob, id_or_404(job_id))
    if job is None or job.process_id != process_id:
        abort(404)
    return job


@bp.get("/<process_id>/migrate/jobs/<job_id>")
@requires("modeler")
def migration_job(process_id, job_id):
    """The batch's progress; the page reloads itself every second until the batch is finished."""
    job = _job(process_id, job_id)
    rows = migration_batch.results(job)
    # A running job with no worker in this process was cut off by a restart (or runs in another server
    # process): the page says how the operator finishes it.
    orphaned = job.status == "running" and job.id not in _WORKERS
    return render_template("modeler/migration_job.html", process_id=process_id, job=job, rows=rows,
                           failures=[r for r in rows if r["ok"] is False], orphaned=orphaned)


@bp.get("/<process_id>/migrate/jobs/<job_id>.json")
@requires("modeler")
def migration_job_json(process_id, job_id):
    job = _job(process_id, job_id)
    return jsonify({"id": job.id, "status": job.status, "total": job.total, "done": job.done, "failed": job.failed,
                    "from_version": job.from_version, "to_version": job.to_version,
                    "results": migration_batch.results(job)})


# --- writing a scenario in the studio ------------------------------------------------------------------

@bp.route("/<process_id>/scenarios/write", methods=["GET", "POST"])
@requires("modeler")
def write_scenario(process_id):
    """Write a scenario (the YAML of ``bpmn/scenarios``): 检查格式, 试运行 against the published diagrams
    together with the other scenarios (the same ``run_scenarios`` as the editor's 试运行; the editor runs a
    draft against the unpublished edit through ``scenarios`` with {"scenario": {"name", "content"}}), 保存 —
    stored beside the process (:mod:`engine.helpdesk.scenarios.saved`), so later 试运行 and publishing run it."""
    session = read_db()
    latest = repository.latest_version(session, process_id)
    if latest is None:
        abort(404)
    name = (request.values.get("name") or "").strip()
    row = session.get(StudioScenario, (process_id, name)) if name else None
    content = request.form.get("content") if request.method == "POST" else (row.content if row else _TEMPLATE)
    error = message = None
    outcome = None
    status = 200
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if name and (scenario_dir() / f"{name}.yaml").exists():
                raise scenarios.ScenarioError(f"仓库中已有场景文件 {name}.yaml：请换一个名称")
            saved_scenarios.check(name, content or "")
        except scenarios.ScenarioError as exc:
            error, status = str(exc), 422
        else:
            if action == "save":
                with db.transaction() as tx:
                    saved_scenarios.save(tx, process_id, name, content, current_user().username)
                flash(f"已保存场景 {name}：以后的试运行和发布都会运行它", "success")
                return redirect(url_for("studio.write_scenario", process_id=process_id, name=name))
            if action == "try":
                xml = repository.file_content(session, latest.bpmn_sha256)
                outcome = run_scenarios(session, process_id, xml, {}, {name: content})
            else:
                message = "格式正确"
    return render_template("modeler/scenario_write.html", process_id=process_id, latest=latest, name=name,
                           content=content, error=error, message=message, outcome=outcome,
                           rows=saved_scenarios.saved(session, process_id)), status


@bp.post("/<process_id>/scenarios/<name>/delete")
@requires("modeler")
def delete_scenario(process_id, name):
    with db.transaction() as tx:
        found = saved_scenarios.delete(tx, process_id, name)
    flash(f"已删除场景 {name}" if found else "没有这个场景", "success" if found else "error")
    return redirect(url_for("studio.write_scenario", process_id=process_id))


_TEMPLATE = """name: 场景名称（说明它检查工作规程的哪一条）
start: {channel: hotline, category: b}
steps:
  - {do: record_hotline, as: assistant}
  - {expect: {ready: []}}
"""
