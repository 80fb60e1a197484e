"""The process owner's pages: deployed processes and their versions, any version's diagram, what changed
between two versions, and the studio (bpmn-js with the properties panel) whose checks, 试运行 and publishing
post the edited XML to :mod:`webapp.studio_views` (JSON in, JSON out, CSRF header).

Publishing writes a new immutable version with a required change note; instances already running keep the
version they started on (until ``liyuan migrate`` moves them). "恢复此版本" publishes an earlier version's
content as a new version.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from engine import repository
from engine.core import config, db
from engine.core.errors import NotFound
from engine.core.tables import Blob
from engine.helpdesk import publish_approval, queries
from engine.repository import diff as version_diff
from engine.repository import editing, form_usage
from engine.repository.validation import InvalidBundle

from .policy import current_user, requires
from .web import read_db

bp = Blueprint("modeler", __name__, url_prefix="/modeler")
NOTE_MAX_LENGTH = 500


@bp.get("")
@requires("modeler")
def index():
    session = read_db()
    processes = editing.versions(session)
    approved = publish_approval.approvals(session)
    requests = publish_approval.recent(session)
    people = queries.display_names(session, {r.deployment.actor for rows in processes.values() for r in rows}
                                   | {a.decided_by for a in [*approved.values(), *requests] if a.decided_by}
                                   | {a.requested_by for a in requests})
    return render_template("modeler/index.html", processes=processes, people=people, approved=approved,
                           requests=requests, approval_required=publish_approval.required(session))


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
    return render_template("modeler/edit.html", v=latest, studio=_studio_data(latest))


def _studio_data(latest) -> dict:
    """What the studio's properties panel offers to choose from: forms, roles, SLA keys, clauses."""
    from engine.helpdesk import clause_check, clauses, deadlines
    from engine.identity import ROLE_BY_NAME, departments

    names = set(latest.forms)
    if config.forms_dir().is_dir():
        names |= {f.name for f in config.forms_dir().glob("*.json")}
    try:
        texts = {c.id: c.text for c in clauses.load_clauses(config.bpmn_dir() / "clauses.toml")}
    except (OSError, ValueError):
        texts = {}
    pid = latest.process_id
    pinned = {b.sha256: b.content for b in read_db().scalars(select(Blob).where(Blob.sha256.in_(latest.forms.values())))}
    return {
        "process": pid, "version": latest.version,
        "forms": sorted(n for n in names if n.endswith(".schema.json")),
        "uiSchemas": sorted(n for n in names if n.endswith(".uischema.json")),
        # The forms this version pinned (schemas and UI schemas), which the panel and the form editor edit
        # (posted back as "forms").
        "formSchemas": {name: json.loads(pinned[sha]) for name, sha in latest.forms.items() if sha in pinned},
        "roles": [*ROLE_BY_NAME, *departments.ROUTING_LANES],
        "slaKeys": dict(deadlines.NAMES), "clauses": texts, "clauseDeadlines": clause_check.deadlines_for_people(),
        "urls": {"diagram": url_for("modeler.diagram", process_id=pid, number=latest.version),
                 "check": url_for("studio.validate", process_id=pid),
                 "scenarios": url_for("studio.try_scenarios", process_id=pid),
                 "changes": url_for("studio.changes", process_id=pid),
                 "deploy": url_for("studio.deploy", process_id=pid),
                 "migrate": url_for("studio.migrate", process_id=pid),
                 "formPreview": url_for("studio.form_preview")},
    }


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
    session = read_db()
    a, b = repository.get_version(session, process_id, int(old)), repository.get_version(session, process_id, int(new))
    changed = sorted(n for n in set(a.forms) | set(b.forms) if n in b.forms and a.forms.get(n) != b.forms[n])
    return render_template("modeler/diff.html", process_id=process_id, diff=found,
                           lines=version_diff.describe(found) + form_usage.affected(session, process_id, changed))


@bp.post("/<process_id>/v<number>/revert")
@requires("modeler")
def revert(process_id, number):
    row = _version(process_id, number)
    note = (request.form.get("note") or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        flash(f"变更说明最多{NOTE_MAX_LENGTH}个字", "error")
        return redirect(url_for("modeler.index"))
    if publish_approval.required(read_db()):
        try:
            with db.transaction() as session:
                publish_approval.request_revert(session, process_id, row.version, note, current_user().username)
        except editing.EditError as exc:
            flash(str(exc), "error")
        else:
            flash(f"已提交恢复为第{row.version}版的申请，公司经理批准后发布", "success")
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
