"""The OpenAPI 3.1 document at ``/api/v1/openapi.json``, written next to the routes it describes.

A test checks it with openapi-spec-validator and that every ``/api/v1`` rule of the app appears in it.
"""

from __future__ import annotations

from flask import request

from engine import forms
from webapp import policy

from . import bp
from .routes_requests import FOLLOW_UP_SCHEMA, REQUEST_SCHEMA


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _portable(schema: dict) -> dict:
    """A validation schema as other tools read it: no ``$schema``, and our custom formats (``phone``)
    spelled as the standard ``pattern`` they stand for, so a client checks what the server checks."""
    props = {name: ({**field, "pattern": forms.FORMAT_PATTERNS[field["format"]]}
                    if field.get("format") in forms.FORMAT_PATTERNS else field)
             for name, field in schema.get("properties", {}).items()}
    return {**{k: v for k, v in schema.items() if k != "$schema"}, "properties": props}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR_WORDS = {400: "请求格式不正确：不是 JSON、嵌套过深、含控制字符或无效编码、NaN 或超出范围的数值",
               413: "请求内容过大", 401: "缺少、无效或过期的访问令牌", 403: "无权执行此操作",
               404: "不存在或无权查看", 405: "不支持此请求方法", 409: "冲突：已被他人领取/完成，或版本已变化",
               422: "数据校验失败（fields 为逐字段提示）", 429: "尝试次数过多", 500: "服务器或流程脚本出错"}

_ts = {"type": ["string", "null"], "format": "date-time"}
_str_or_null = {"type": ["string", "null"]}
TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
PROCESS_ID = {"name": "process_id", "in": "path", "required": True, "schema": {"type": "string"}}
PAGE_AFTER = {"name": "after", "in": "query", "required": False,
              "schema": {"type": "string", "maxLength": 500}, "description": "上一页返回的 next 游标"}
PAGE_LIMIT = {"name": "limit", "in": "query", "required": False,
              "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "description": "每页条数"}
INSTANCE_ID = {"name": "instance_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}

SCHEMAS: dict = {
    "Error": {"type": "object", "required": ["error", "message", "fields"], "properties": {
        "error": {"type": "string", "description": "机器可读的错误代码"},
        "message": {"type": "string", "description": "中文说明"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "字段路径（点号分隔）→ 中文提示"}}},
    "TokenRequest": {"type": "object", "required": ["username", "password"], "properties": {
        "username": {"type": "string"}, "password": {"type": "string", "format": "password"}}},
    "Token": {"type": "object", "required": ["token"], "properties": {
        "token": {"type": "string"}, "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "description": "有效秒数"}}},
    "NewRequest": _portable(REQUEST_SCHEMA),
    "FollowUp": _portable(FOLLOW_UP_SCHEMA),
    "StartData": {"type": "object", "description": "开始表单的字段（开始事件未指定表单时同 NewRequest）",
                  "additionalProperties": True},
    "Started": {"type": "object", "required": ["instance_id", "process_id", "version"], "properties": {
        "instance_id": {"type": "string", "format": "uuid"}, "process_id": {"type": "string"},
        "version": {"type": "integer"}}},
    "Created": {"type": "object", "required": ["instance_id"], "properties": {
        "instance_id": {"type": "string", "format": "uuid"}}},
    "TaskSummary": {"type": "object", "required": ["id", "instance_id", "element_id", "name", "lane", "due_at", "form"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"}, "instance_id": {"type": "string", "format": "uuid"},
                        "process_id": {"type": "string", "description": "任务所在的（子）流程"},
                        "element_id": {"type": "string"}, "name": {"type": "string"}, "lane": _str_or_null,
                        "due_at": _ts | {"description": "最近的SLA截止时间（UTC）"},
                        "form": _str_or_null | {"description": "表单 JSON Schema 文件名"},
                        "claimed_by": _str_or_null, "assignee": _str_or_null,
                        "department": _str_or_null | {"description": "部门任务所属部门的代码（如 engineering）"},
                        "offered_to": {"type": "string", "description": "任务交给谁：角色、部门（工程部）或部门主管"}}},
    "TaskList": {"type": "object", "required": ["tasks", "next"], "properties": {
        "tasks": {"type": "array", "items": _ref("TaskSummary"), "maxItems": 200},
        "next": _str_or_null | {"description": "下一页的游标（作为 after 参数传回）；没有下一页时为 null"}}},
    "TaskDetail": {"allOf": [_ref("TaskSummary"), {"type": "object",
                   "required": ["schema", "ui_schema", "data", "revision"], "properties": {
                       "schema": {"type": ["object", "null"],
                                  "description": "JSON Schema (2020-12)；来自任务数据的选项已写入 enum / x-enumNames"},
                       "ui_schema": {"type": ["object", "null"]},
                       "data": {"type": "object", "description": "您可查看的任务数据"},
                       "revision": {"type": "integer", "description": "提交时可回传以检测并发修改"},
                       "instructions": _str_or_null, "clause": _str_or_null,
                       "may_complete": {"type": "boolean"}}}]},
    "CompleteTask": {"type": "object", "required": ["data"], "properties": {
        "data": {"type": "object", "description": "按任务表单 schema 填写的内容"},
        "revision": {"type": "integer", "description": "GET 时得到的 revision；已变化则返回 409"}}},
    "Completed": {"type": "object", "required": ["instance_id", "status", "revision"], "properties": {
        "instance_id": {"type": "string"}, "status": {"type": "string"}, "revision": {"type": "integer"}}},
    "SlaClock": {"type": "object", "required": ["sla_key", "status", "due_at"], "properties": {
        "sla_key": {"type": "string"}, "element_id": {"type": "string"}, "guarded_element_id": _str_or_null,
        "status": {"type": "string", "enum": ["armed", "met", "breached"]}, "armed_at": _ts, "due_at": _ts,
        "met_at": _ts, "breached_at": _ts}},
    "Instance": {"type": "object", "required": ["id", "process_id", "version", "status", "tasks", "sla"],
                 "properties": {
                     "id": {"type": "string", "format": "uuid"}, "process_id": {"type": "string"},
                     "version": {"type": ["integer", "null"]},
                     "status": {"type": "string", "enum": ["running", "completed", "cancelled", "incident"]},
                     "revision": {"type": "integer"}, "started_at": _ts, "updated_at": _ts, "completed_at": _ts,
                     "request": {"type": ["object", "null"], "description": "求助信息（按权限隐藏内部字段）"},
                     "linked": {"type": ["object", "null"], "description": "关联求助：本求助跟进自哪一求助、由本求助发现的跟进求助"},
                     "tasks": {"type": "array", "items": _ref("TaskSummary")},
                     "sla": {"type": "array", "items": _ref("SlaClock"), "description": "仅员工可见"},
                     "resident_view": {"type": ["object", "null"], "description": "住户看到的：状态、谁来及预计时间、全部答复（各一次）、评价来源",
                                       "properties": {"status": {"type": "string"}, "can_urge": {"type": "boolean"},
                                                      "coming": {"type": ["object", "null"]},
                                                      "answers": {"type": "array", "items": {"type": "object"}},
                                                      "hotline": {"type": ["object", "null"]},
                                                      "rating_source": {"type": ["string", "null"],
                                                                        "enum": ["resident", "callback", None]}}}}},
    "ResidentRequest": {"type": "object", "description": "住户在“我的求助”中看到的一条求助（不含内部任务名称）",
                        "required": ["instance_id", "status", "can_urge", "coming", "answers", "hotline"],
                        "properties": {
                            "instance_id": {"type": "string", "format": "uuid"}, "created_at": _ts,
                            "channel": _str_or_null, "category": _str_or_null, "address": _str_or_null,
                            "description": _str_or_null, "satisfaction": {"type": ["integer", "null"]},
                            "status": {"type": "string", "enum": ["已受理", "已派单", "处理中", "待您处理", "待您确认",
                                                                  "回访中", "已完成", "已关闭"]},
                            "can_urge": {"type": "boolean"},
                            "coming": {"type": ["object", "null"], "description": "最近一条派单信息：谁来、预计时间",
                                       "properties": {"at": _ts, "text": {"type": "string"}}},
                            "answers": {"type": "array", "description": "给住户的全部答复，按时间顺序，每条一次",
                                        "items": {"type": "object", "properties": {"at": _ts, "text": {"type": "string"}}}},
                            "hotline": {"type": ["object", "null"], "description": "紧急求助（a、e、f）时显示的24小时服务热线",
                                        "properties": {"number": {"type": "string"}, "tel": {"type": "string"}}},
                            "rating_source": {"type": ["string", "null"], "enum": ["resident", "callback", None]}}},
    "ResidentRequestList": {"type": "object", "required": ["requests"], "properties": {
        "requests": {"type": "array", "items": _ref("ResidentRequest")}}},
    "Event": {"type": "object", "required": ["seq", "at", "actor", "kind", "element_id", "payload", "hash"],
              "properties": {
                  "seq": {"type": "integer"}, "at": _ts, "actor": {"type": "string"}, "kind": {"type": "string"},
                  "element_id": _str_or_null, "payload": {"type": "object"}, "state_fingerprint": _str_or_null,
                  "prev_hash": {"type": "string"}, "hash": {"type": "string", "description": "sha256(prev_hash + 规范化行)"}}},
    "EventList": {"type": "object", "required": ["instance_id", "events"], "properties": {
        "instance_id": {"type": "string"}, "events": {"type": "array", "items": _ref("Event")}}},
}


def _op(summary: str, ok: tuple[str, dict, str], errors: tuple[int, ...], *, body: str | None = None,
        params: list | None = None, public: bool = False, tag: str) -> dict:
    status, schema, words = ok
    # Any request can be malformed (400, webapp.security); one with a body can be too large (413).
    errors = tuple(sorted({*errors, 400, *((413,) if body else ())}))
    op = {"summary": summary, "tags": [tag], "operationId": None,
          "responses": {status: _json(schema, words)} | {str(c): {"$ref": f"#/components/responses/E{c}"}
                                                          for c in errors}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if params:
        op["parameters"] = params
    if public:
        op["security"] = []
    return op


def document() -> dict:
    paths = {
        "/auth/token": {"post": _op("用户名和密码换取访问令牌（默认12小时有效；退出登录、修改密码、账号停用或"
                                    "管理员撤销即失效；按来源地址限制签发频率）", ("200", _ref("Token"), "令牌"),
                                    (401, 422, 429), body="TokenRequest", public=True, tag="auth")},
        "/requests": {"post": _op("登记求助：热线（物业助理/客服部主管）或线上（业主/住户本人）",
                                  ("201", _ref("Created"), "已创建"), (401, 403, 404, 422, 500),
                                  body="NewRequest", tag="requests")},
        "/requests/{instance_id}/follow-ups": {"post": _op(
            "处理中发现新问题：登记与本求助关联的跟进求助（同一求助人与地址，由工作人员登记）",
            ("201", _ref("Created"), "已创建"), (401, 403, 404, 422, 500), body="FollowUp",
            params=[INSTANCE_ID], tag="requests")},
        "/processes/{process_id}/instances": {"post": _op(
            "发起已发布的流程（由其开始事件所在泳道的角色发起）：开始事件指定了表单时提交该表单的字段，否则同登记求助",
            ("201", _ref("Started"), "已发起"), (401, 403, 404, 409, 422, 500), body="StartData",
            params=[PROCESS_ID], tag="requests")},
        "/tasks": {"get": _op("我的待办（最近截止的在前），每页最多 limit 条", ("200", _ref("TaskList"), "待办列表"),
                              (401, 403), params=[PAGE_AFTER, PAGE_LIMIT], tag="tasks")},
        "/tasks/{task_id}": {"get": _op("任务详情与表单", ("200", _ref("TaskDetail"), "任务"), (401, 403, 404),
                                        params=[TASK_ID], tag="tasks")},
        "/tasks/{task_id}/claim": {"post": _op("领取任务", ("200", _ref("TaskSummary"), "已领取"),
                                               (401, 403, 409), params=[TASK_ID], tag="tasks")},
        "/tasks/{task_id}/release": {"post": _op("退回已领取的任务", ("200", _ref("TaskSummary"), "已退回"),
                                                 (401, 403, 409), params=[TASK_ID], tag="tasks")},
        "/tasks/{task_id}/complete": {"post": _op("提交任务表单", ("200", _ref("Completed"), "已完成"),
                                                  (401, 403, 409, 422, 500), body="CompleteTask",
                                                  params=[TASK_ID], tag="tasks")},
        "/instances/{instance_id}": {"get": _op("求助流程实例：状态、版本、当前任务、SLA",
                                                ("200", _ref("Instance"), "实例"), (401, 403, 404),
                                                params=[INSTANCE_ID], tag="instances")},
        "/instances/{instance_id}/events": {"get": _op("审计事件（按顺序，哈希链）", ("200", _ref("EventList"), "事件"),
                                                       (401, 403, 404), params=[INSTANCE_ID], tag="instances")},
        "/my/requests": {"get": _op("我的求助（业主/住户本人）：每条的状态、派单信息与答复", ("200", _ref("ResidentRequestList"),
                                    "我的求助"), (401, 403), tag="my")},
        "/my/requests/{instance_id}": {"get": _op("我的一条求助，与“求助进度”页面所示相同", ("200", _ref("ResidentRequest"),
                                                  "求助进度"), (401, 403, 404), params=[INSTANCE_ID], tag="my")},
        "/openapi.json": {"get": _op("本文档", ("200", {"type": "object"}, "OpenAPI 3.1"), (), public=True,
                                     tag="meta")},
    }
    for path, methods in paths.items():
        for method, op in methods.items():
            op["operationId"] = method + "".join(p.strip("{}").title().replace("_", "")
                                                 for p in path.replace(".", "/").split("/") if p)
    server = request.host_url.rstrip("/") + bp.url_prefix if request else bp.url_prefix
    return {
        "openapi": "3.1.0",
        "info": {"title": "荔园物业客户求助服务 API", "version": "1.0.0",
                 "description": "与网页相同的权限规则。先用 POST /auth/token 换取令牌，之后每个请求带 "
                                "`Authorization: Bearer <令牌>`。错误统一为 {error, message, fields}。时间均为 UTC。"},
        "servers": [{"url": server}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "POST /auth/token 得到的令牌"}},
            "schemas": SCHEMAS,
            "responses": {f"E{c}": _json(_ref("Error"), w) for c, w in ERROR_WORDS.items()},
        },
    }


@bp.get("/openapi.json")
@policy.public
def openapi_json():
    return document()
