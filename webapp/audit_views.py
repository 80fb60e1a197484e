"""The auditor's pages: find an instance, verify every hash chain, read an instance's events with their
hashes, replay it step by step, and download its audit bundle for someone outside the company to check.

Everything here only reads. Replay re-runs the instance in memory from its pinned version; nothing it
computes is written back.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, render_template, request, send_file

from engine import audit, repository
from engine.audit import history, personal, signing, tree, tree_verify
from engine.helpdesk import queries
from engine.runtime import replay

from .policy import requires
from .timeline import element_names
from .web import read_db

bp = Blueprint("audit", __name__, url_prefix="/audit")
SYSTEM_ACTORS = ("engine", "scheduler", "timer")


@bp.get("")
@requires("audit")
def index():
    q = request.args.get("q", "").strip()
    session = read_db()
    rows = queries.search_instances(session, q or None)
    return render_template("audit/index.html", rows=rows, q=q, verified=None,
                           checkpoint=tree.latest_checkpoint(session))


@bp.post("/verify")
@requires("audit")
def verify_all():
    session = read_db()
    count, breaks = history.verify(session)
    report = tree_verify.verify(session)
    rows = queries.search_instances(session, None)
    return render_template("audit/index.html", rows=rows, q="", reason=audit.break_reason,
                           verified={"count": count, "breaks": breaks, "tree": report},
                           checkpoint=tree.latest_checkpoint(session))


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


def _page(instance_id: str, result=None):
    session = read_db()
    instance, version = _instance(instance_id)
    events = history.events(session, instance_id)
    _, breaks = history.verify(session, instance_id)
    names = element_names(repository.load(session, version))
    people = queries.display_names(session, {e.actor for e in events})
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
    steps = audit.step_views(result.steps) if result is not None else None
    return render_template("audit/instance.html", instance=instance, version=version, req=req, rows=rows,
                           broken=breaks[0] if breaks else None, reason=audit.break_reason, result=result,
                           steps=steps, names=names, people=people, shown=audit.shown, kind_name=audit.kind_name,
                           hash_rule=audit.HASH_RULE, replay_error=audit.replay_error)


@bp.get("/<instance_id>")
@requires("audit")
def show(instance_id):
    return _page(instance_id)


@bp.post("/<instance_id>/replay")
@requires("audit")
def run_replay(instance_id):
    _instance(instance_id)
    result = replay.replay(read_db(), instance_id)
    return _page(instance_id, result)


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
