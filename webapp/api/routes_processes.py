"""``POST /api/v1/processes/<process_id>/instances``: start any deployed process (a newly published 规程
too), by the roles its start lane names, with its start form's data.

A start event that names a form (``formJsonSchemaFilename``) is started with that form's fields; a process
without one starts as a help request does (``channel`` and the caller's fields, the help desk's start form),
so the request list, the SLA clocks and the portal see it like any other request.
"""

from __future__ import annotations

from flask import request

from engine import identity, repository, runtime
from engine.core import db, errors
from engine.helpdesk import help_requests
from webapp import policy

from . import bp
from .errors import ApiError
from .routes_requests import REQUEST_SCHEMA, validated


@bp.post("/processes/<process_id>/instances")
@policy.requires("start")
def start_process(process_id: str):
    user = policy.current_user()
    with db.read_session() as session:
        row = repository.latest_version(session, process_id)
        if row is None:
            raise errors.NotFound(f"流程 {process_id} 尚未发布", process_id=process_id)
        version = repository.load(session, row)
    manual = [e for e in repository.starting.start_events(version) if not e.timer]
    if not manual:
        raise ApiError(409, "此流程由定时器启动，不能手动发起")
    lanes = sorted({e.lane for e in manual if e.lane})
    roles = {identity.ROLE_BY_NAME[name].code for name in lanes if name in identity.ROLE_BY_NAME}
    if lanes and not (user.role_codes & roles):
        raise ApiError(403, f"只有「{'、'.join(lanes)}」可以发起此流程")
    if not lanes and not policy.allowed(user, "inbox"):
        raise ApiError(403, "此流程没有泳道，只有工作人员可以发起")
    form = next((e.form for e in manual if e.form), None)
    if form is not None:
        data = validated(version.forms.get(form) or {"type": "object", "properties": {}}, request.get_json(silent=True))
        with db.transaction() as session:
            instance = runtime.start(session, process_id, data, user.username)
        return {"instance_id": instance.id, "process_id": process_id, "version": row.version}, 201
    body = validated(REQUEST_SCHEMA, request.get_json(silent=True))
    if body["channel"] == "online" and "customer" not in user.role_codes:
        raise ApiError(403, "线上求助只能由业主/住户本人提交", fields={"channel": "请选择热线渠道"})
    with db.transaction() as session:
        started = help_requests.start(session, process_id, body["channel"], body, user)
    return {"instance_id": started.instance_id, "process_id": process_id, "version": row.version}, 201
