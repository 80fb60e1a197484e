"""The process owner's pages: deployed processes and their versions, any version's diagram, what changed
between two versions, and the bpmn-js editor whose 校验 / 发布新版本 buttons post the edited XML here (JSON
in, JSON out, CSRF header).

Publishing writes a new immutable version with a required change note; instances already running keep the
version they started on (until ``liyuan migrate`` moves them). "恢复此版本" publishes an earlier version's
content as a new version.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for

from engine import repository
from engine.core import db
from engine.core.errors import NotFound
from engine.helpdesk import queries
from engine.repository import diff as version_diff
from engine.repository import editing
from engine.repository.validation import InvalidBundle

from .policy import current_user, requires
from .web import read_db

bp = Blueprint("modeler", __name__, url_prefix="/modeler")
NOTE_MAX_LENGTH = 500


@bp.get("")
@requires("modeler")
def index():
    processes = editing.versions(read_db())
    people = queries.display_names(read_db(), {r.deployment.actor for rows in processes.values() for r in rows})
    return render_template("modeler/index.html", processes=processes, people=people)


def _version(process_id: str, number: str):
    if not number.isdecimal() or len(number) > 9:  # "v99999999999999999999" overflows the database's integer
        abort(404)
    row = repository.get_version(read_db(), process_id, int(number))
    if row is None:
        abort(404)
    return row


@bp.get("/<process_id>/v<number>")
@requires("modeler")
def show(process_id, number):
    row = _version(process_id, number)
    latest = repository.latest_version(read_db(), process_id)
    return render_template("modeler/version.html", v=row, latest=latest)


@bp.get("/<process_id>/v<number>/diagram.bpmn")
@requires("modeler")
def diagram(process_id, number):
    content = repository.file_content(read_db(), _version(process_id, number).bpmn_sha256)
    if content is None:
        abort(404)
    return Response(content, mimetype="application/xml", headers={"Cache-Control": "private, no-cache"})


@bp.get("/<process_id>/edit")
@requires("modeler")
def edit(process_id):
    latest = repository.latest_version(read_db(), process_id)
    if latest is None:
        abort(404)
    return render_template("modeler/edit.html", v=latest)


def _posted_xml() -> bytes | None:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        return None
    return body["xml"].encode("utf-8")


def _problems(problems) -> list[dict]:
    return [{"file": p.file, "line": p.line, "element_id": p.element_id, "message": p.message} for p in problems]


def _bad(message: str, status: int = 400):
    return jsonify({"ok": False, "message": message, "problems": []}), status


@bp.post("/<process_id>/validate")
@requires("modeler")
def validate(process_id):
    xml = _posted_xml()
    if xml is None:
        return _bad("请求格式不正确：需要 JSON {\"xml\": \"…\"}")
    try:
        problems = editing.check(read_db(), process_id, xml)
    except editing.EditError as exc:
        return _bad(str(exc), 404 if "尚未发布" in str(exc) else 400)
    if problems:
        return jsonify({"ok": False, "message": f"发现 {len(problems)} 个问题", "problems": _problems(problems)})
    return jsonify({"ok": True, "message": "校验通过，可以发布", "problems": []})


@bp.post("/<process_id>/deploy")
@requires("modeler")
def deploy(process_id):
    xml = _posted_xml()
    if xml is None:
        return _bad("请求格式不正确：需要 JSON {\"xml\": \"…\"}")
    note = (request.get_json(silent=True) or {}).get("note") or ""
    if not isinstance(note, str) or len(note) > NOTE_MAX_LENGTH:
        return _bad(f"发布说明最多{NOTE_MAX_LENGTH}个字", 422)
    try:
        with db.transaction() as session:
            result = editing.publish(session, process_id, xml, current_user().username, note)
    except editing.EditError as exc:
        return _bad(str(exc), 404 if "尚未发布" in str(exc) else 400)
    except InvalidBundle as exc:
        return jsonify({"ok": False, "message": f"发现 {len(exc.problems)} 个问题，未发布",
                        "problems": _problems(exc.problems)}), 422
    if not result.created:
        return jsonify({"ok": True, "created": False, "version": result.version,
                        "message": f"内容未变化，未产生新版本（仍为第{result.version}版）", "problems": []})
    return jsonify({"ok": True, "created": True, "version": result.version,
                    "message": f"已发布 {process_id} 第{result.version}版", "problems": []})


@bp.get("/<process_id>/diff")
@requires("modeler")
def compare(process_id):
    """What changed between two versions (``?from=1&to=2``), as the list ``liyuan diff`` prints."""
    old, new = request.args.get("from", ""), request.args.get("to", "")
    if not (old.isdecimal() and new.isdecimal() and len(old) < 10 and len(new) < 10):
        abort(404)
    try:
        found = version_diff.diff_versions(read_db(), process_id, int(old), int(new))
    except NotFound:
        abort(404)
    return render_template("modeler/diff.html", process_id=process_id, diff=found, lines=version_diff.describe(found))


@bp.post("/<process_id>/v<number>/revert")
@requires("modeler")
def revert(process_id, number):
    row = _version(process_id, number)
    note = (request.form.get("note") or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        flash(f"变更说明最多{NOTE_MAX_LENGTH}个字", "error")
        return redirect(url_for("modeler.index"))
    try:
        with db.transaction() as session:
            result = editing.revert(session, process_id, row.version, current_user().username, note)
    except editing.EditError as exc:
        flash(str(exc), "error")
    except InvalidBundle as exc:
        flash(f"第{row.version}版的内容未通过今天的校验，未发布：{exc.problems[0]}", "error")
    else:
        if result.created:
            flash(f"已将第{row.version}版的内容发布为第{result.version}版", "success")
        else:
            flash(f"第{row.version}版的内容与最新版相同，未产生新版本", "success")
    return redirect(url_for("modeler.index"))
