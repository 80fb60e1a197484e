"""发布审批: the 公司经理's decision on a process owner's publish when the admin requires a second approver
(:mod:`engine.helpdesk.publish_approval`), and the admin's switch for it (管理 → 发布审批).

The manager reads, for each waiting request, the change note and the diff against the published version —
computed from the very bytes that will be deployed — then approves (deployed as the next version) or refuses
with a reason. The studio's 发布 and the version list's 恢复为此版本 ask here instead of deploying while the
setting is on (:mod:`webapp.studio_views`, :mod:`webapp.modeler_views`).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine import repository
from engine.core import db
from engine.core.errors import NotFound
from engine.helpdesk import publish_approval, queries
from engine.repository import diff as version_diff
from engine.repository import editing, form_usage
from engine.repository.validation import InvalidBundle

from .policy import current_user, requires
from .web import id_or_404, read_db

bp = Blueprint("publication", __name__)
REASON_MAX_LENGTH = 500


def changes_of(session, row) -> list[str]:
    """The diff lines of a request against the latest version (what approving it would change)."""
    try:
        if row.kind == "revert":
            latest = repository.latest_version(session, row.process_id).version
            found = version_diff.diff_versions(session, row.process_id, latest, row.revert_to)
        else:
            forms = publish_approval.forms_of(row)
            found = version_diff.diff_edit(session, row.process_id, row.xml.encode("utf-8"), forms)
            latest = repository.latest_version(session, row.process_id)
            changed = set(form_usage.changed_forms(latest.forms, forms)) | {f.form for f in found.fields}
            return version_diff.describe(found) + form_usage.affected(session, row.process_id, sorted(changed))
    except NotFound:
        return ["（流程已不存在）"]
    except Exception:  # noqa: BLE001 - an unreadable diagram is shown as such; approving it would fail validation
        return ["（流程图无法读取，批准时将被校验拒绝）"]
    return version_diff.describe(found)


@bp.get("/approvals")
@requires("publish_approval")
def index():
    session = read_db()
    rows = publish_approval.waiting(session)
    names = queries.display_names(session, {r.requested_by for r in rows})
    return render_template("modeler/approvals.html", rows=rows, people=names,
                           required=publish_approval.required(session),
                           changes={r.id: changes_of(session, r) for r in rows},
                           stale={r.id for r in rows if publish_approval.stale(session, r)},
                           me=current_user().username)


@bp.post("/approvals/<pending_id>/approve")
@requires("publish_approval")
def approve(pending_id):
    try:
        with db.transaction() as session:
            published = publish_approval.approve(session, id_or_404(pending_id), current_user().username)
    except (publish_approval.ApprovalError, editing.EditError) as exc:
        flash(str(exc), "error")
    except InvalidBundle as exc:
        flash(f"未通过今天的校验，未发布：{exc.problems[0]}", "error")
    else:
        flash(f"已批准，{published.process_id} 已发布为第{published.version}版" if published.created
              else f"内容与最新版相同，未产生新版本（仍为第{published.version}版）", "success")
    return redirect(url_for("publication.index"))


@bp.post("/approvals/<pending_id>/refuse")
@requires("publish_approval")
def refuse(pending_id):
    reason = request.form.get("reason") or ""
    if len(reason) > REASON_MAX_LENGTH:
        flash(f"拒绝理由最多{REASON_MAX_LENGTH}个字", "error")
        return redirect(url_for("publication.index"))
    try:
        with db.transaction() as session:
            row = publish_approval.refuse(session, id_or_404(pending_id), current_user().username, reason)
    except publish_approval.ApprovalError as exc:
        flash(str(exc), "error")
    else:
        flash(f"已拒绝 {row.process_id} 的发布申请，已发布的版本不变", "success")
    return redirect(url_for("publication.index"))


@bp.get("/admin/publish-approval")
@requires("admin")
def setting():
    session = read_db()
    return render_template("admin/publish_approval.html", tab="publish_approval",
                           required=publish_approval.required(session), row=publish_approval.setting_row(session))


@bp.post("/admin/publish-approval")
@requires("admin")
def save_setting():
    on = request.form.get("required") == "1"
    with db.transaction() as session:
        publish_approval.set_required(session, on, current_user().username)
    flash("已启用发布审批：流程负责人发布新版本须经公司经理批准" if on else "已关闭发布审批：流程负责人可直接发布", "success")
    return redirect(url_for("publication.setting"))
