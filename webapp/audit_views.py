"""The auditor's pages: find an instance, verify every hash chain, read an instance's events with their
hashes, replay it step by step, and download its audit bundle for someone outside the company to check.

Everything here only reads. Replay re-runs the instance in memory from its pinned version; nothing it
computes is written back.
"""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, Response, abort, render_template, request, send_file

from engine import audit, repository
from engine.audit import history, personal, signing, tree, tree_verify, witness
from engine.helpdesk import audit_desk, intake, queries

from .policy import current_user, note_restricted_reads, public, requires
from .requests_view import DATA_LABELS
from .timeline import element_names
from .web import read_db

bp = Blueprint("audit", __name__, url_prefix="/audit")
SYSTEM_ACTORS = ("engine", "scheduler", "timer")


PAGE_SIZE = 50
FILTER_FIELDS = ("q", "customer", "building", "category", "staff", "date_from", "date_to", "breached")


def _filters() -> tuple[audit_desk.Filters, dict, list[str]]:
    """The desk's filters from the query string, what to put back in the form, and what could not be read."""
    args = {k: request.args.get(k, "").strip()[:100] for k in FILTER_FIELDS}
    problems, dates = [], {}
    for key, label in (("date_from", "开始日期"), ("date_to", "结束日期")):
        try:
            dates[key] = dt.date.fromisoformat(args[key]) if args[key] else None
        except ValueError:
            problems.append(f"{label}“{args[key]}”不是有效日期（格式：2026-11-30），已忽略")
            dates[key] = None
    if args["category"] and args["category"] not in intake.CATEGORIES:
        problems.append(f"没有求助类型“{args['category']}”，已忽略")
        args["category"] = ""
    filters = audit_desk.Filters(customer=args["customer"] or None, building=args["building"] or None,
                                 category=args["category"] or None, staff=args["staff"] or None,
                                 breached=args["breached"] in ("1", "on", "true"), q=args["q"] or None, **dates)
    return filters, args, problems


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


def _index(verified=None):
    session = read_db()
    filters, args, problems = _filters()
    page = _page_number(request.args.get("page"))
    rows, total = audit_desk.search(session, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:  # past the end (an old bookmark): the last page, not an empty one
        page = pages
        rows, total = audit_desk.search(session, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    query = {k: v for k, v in args.items() if v}
    return render_template("audit/index.html", rows=rows, args=args, q=args["q"], problems=problems,
                           verified=verified, reason=audit.break_reason, total=total, page=page, pages=pages,
                           query=query, categories=intake.CATEGORIES, staff=audit_desk.staff_members(session),
                           checkpoint=tree.latest_checkpoint(session))


@bp.get("")
@requires("audit")
def index():
    return _index()


@bp.post("/verify")
@requires("audit")
def verify_all():
    session = read_db()
    count, breaks = history.verify(session)
    report = tree_verify.verify(session)
    return _index(verified={"count": count, "breaks": breaks, "tree": report})


@bp.get("/checkpoints.jsonl")
@requires("audit")
def checkpoints():
    """The published checkpoint file, as it is outside the database: auditors keep their own copies, and
    a later copy that does not extend an earlier one shows the history was rewritten."""
    path = signing.checkpoint_file()
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="application/x-ndjson", as_attachment=True,
                     download_name="audit-checkpoints.jsonl", max_age=0)


@bp.get("/checkpoints")
@public
def witness_checkpoints():
    """The signed checkpoints as JSON lines, for outside witnesses to pull (``?since=N``: only larger trees).
    Public on purpose, as a Certificate Transparency log's are: a checkpoint is a tree size, a root, a time
    and a signature — nothing about anybody — and a witness must not need an account the company grants."""
    since = _int_arg("since", 0)
    rows = witness.checkpoint_rows(read_db(), since)
    body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    return Response(body, mimetype="application/x-ndjson", headers={"Cache-Control": "no-store"})


@bp.get("/consistency")
@public
def witness_consistency():
    """RFC 9162 consistency proof between two tree sizes (``?first=M&second=N``), for a witness to check
    that the newest tree extends the one it kept."""
    first, second = _int_arg("first", None), _int_arg("second", None)
    if first is None or second is None:
        return Response(json.dumps({"error": "请给出 first 与 second 两个树大小（正整数）"}, ensure_ascii=False),
                        status=400, mimetype="application/json")
    try:
        proof = witness.consistency(read_db(), first, second)
    except ValueError as exc:
        return Response(json.dumps({"error": str(exc)}, ensure_ascii=False), status=400, mimetype="application/json")
    return Response(json.dumps({"first": first, "second": second, "proof": proof}), mimetype="application/json",
                    headers={"Cache-Control": "no-store"})


def _int_arg(name: str, default):
    try:
        value = int(request.args.get(name, ""))
    except ValueError:
        return default
    return value if value >= 0 else default


@bp.get("/verify_bundle.py")
@requires("audit")
def verifier():
    """The standalone bundle checker, as a file to hand to an outside firm with the bundle."""
    return send_file(audit.verify_bundle.__file__, mimetype="text/x-python", as_attachment=True,
                     download_name="verify_bundle.py", max_age=0)


@bp.get("/public-key")
@requires("audit")
def public_key():
    key = signing.private_key()
    if key is None:
        abort(404)
    return Response(signing.public_b64(key.public_key()) + "\n", mimetype="text/plain")


def _instance(instance_id: str):
    found = queries.instance_version(read_db(), instance_id)
    if found is None:
        abort(404)
    return found


def _selected_step() -> int | None:
    try:
        return int(request.args.get("step", ""))
    except ValueError:
        return None


def _page(instance_id: str, replayed: bool = False):
    session = read_db()
    instance, version = _instance(instance_id)
    events = history.events(session, instance_id)
    _, breaks = history.verify(session, instance_id)
    names = element_names(repository.load(session, version))
    desk = audit_desk.read(session, instance, _selected_step())
    people = queries.display_names(session, {e.event.actor for e in desk.entries})
    people.update({name: "系统" for name in SYSTEM_ACTORS})
    known = personal.chain_values(session, instance_id)  # personal values beside the log; erased ones say so
    rows = []
    for e in events:
        try:
            payload = json.dumps(personal.reveal(history.payload_of(e), known), ensure_ascii=False, indent=1,
                                 sort_keys=True)
        except ValueError:
            payload = e.payload  # an edited row need not even be JSON any more; show what is there
        rows.append({"e": e, "kind": audit.kind_name(e.kind), "element": names.get(e.element_id or "", e.element_id),
                     "actor": people.get(e.actor, e.actor), "payload": payload})
    req = queries.requests_by_instance(session, [instance_id]).get(instance_id)
    note_restricted_reads(current_user(), [req], "audit.instance")  # the auditor reads all, on the record
    result = desk.result if replayed else None  # the desk replayed it already: shown in full on request
    steps = audit.step_views(result.steps) if result is not None else None
    return render_template("audit/instance.html", instance=instance, version=version, req=req, rows=rows,
                           broken=breaks[0] if breaks else None, reason=audit.break_reason, result=result,
                           steps=steps, names=names, people=people, shown=audit.shown, kind_name=audit.kind_name,
                           hash_rule=audit.HASH_RULE, replay_error=audit.replay_error, desk=desk,
                           chain_names=CHAIN_NAMES, labels=DATA_LABELS)


CHAIN_NAMES = {"repository": "流程仓库", "audit": "审计密钥与恢复", "management": "用户与收费管理"}


@bp.get("/<instance_id>")
@requires("audit")
def show(instance_id):
    return _page(instance_id)


@bp.post("/<instance_id>/replay")
@requires("audit")
def run_replay(instance_id):
    _instance(instance_id)
    return _page(instance_id, replayed=True)


@bp.get("/<instance_id>/diagram.bpmn")
@requires("audit")
def diagram(instance_id):
    """The instance's pinned BPMN, drawn by the desk's viewer as of the selected step."""
    _instance_row, version = _instance(instance_id)
    content = repository.file_content(read_db(), version.bpmn_sha256)
    if content is None:
        abort(404)
    return Response(content, mimetype="application/xml", headers={"Cache-Control": "private, max-age=3600"})


@bp.get("/<instance_id>/bundle.json")
@requires("audit")
def bundle(instance_id):
    data = audit.export_bundle(read_db(), instance_id)
    if data is None:
        abort(404)
    body = json.dumps(data, ensure_ascii=False, indent=1)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="audit-{instance_id}.json"',
                             "Cache-Control": "no-store"})
