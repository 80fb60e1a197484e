"""Every answer under ``/api/v1`` that is not a success is ``{"error", "message", "fields"}`` JSON.

Engine errors carry their Chinese message and HTTP status; Werkzeug's HTTP errors get a Chinese message
by code. Routing errors (an unknown URL, a wrong method) never reach the blueprint's handlers, and the
pages may register HTML error handlers of their own, so an app-wide ``after_request`` hook rewrites any
non-JSON error response on an ``/api/`` path as a last line.
"""

from __future__ import annotations

import logging

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from engine.core.errors import EngineError, InvalidData

from . import bp

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "请先登录（缺少或无效的访问令牌）"),
    403: ("forbidden", "您没有权限执行此操作"),
    404: ("not_found", "找不到请求的资源"),
    405: ("method_not_allowed", "不支持此请求方法"),
    409: ("conflict", "操作冲突，请刷新后重试"),
    413: ("too_large", "请求内容过大"),
    415: ("unsupported_media_type", "请以 JSON 格式提交"),
    422: ("invalid_data", "提交的内容有误，请按提示修改"),
    429: ("too_many_requests", "尝试次数过多，请稍后再试"),
    500: ("server_error", "服务器内部错误，请稍后重试"),
}
_ENGINE_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid_data",
                 500: "script_failure"}


def error_response(status: int, message: str | None = None, *, code: str | None = None,
                   fields: dict | None = None, headers: dict | None = None) -> Response:
    default_code, default_message = MESSAGES.get(status, ("error", "请求失败"))
    response = jsonify({"error": code or default_code, "message": message or default_message,
                        "fields": fields or {}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


class ApiError(Exception):
    """Raised by routes for a refusal that is not an engine error (e.g. 403 on a single record)."""

    def __init__(self, status: int, message: str | None = None, *, code: str | None = None,
                 fields: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.fields = status, message, code, fields


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return error_response(exc.status, exc.message, code=exc.code, fields=exc.fields)


@bp.errorhandler(EngineError)
def _engine_error(exc: EngineError):
    if exc.status >= 500:
        log.error("engine failure on %s: %s %s", request.path, exc.message, exc.details)
    fields = exc.errors if isinstance(exc, InvalidData) else {}
    return error_response(exc.status, exc.message, code=_ENGINE_CODES.get(exc.status), fields=fields)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    headers = {"WWW-Authenticate": 'Bearer realm="liyuan"'} if exc.code == 401 else None
    return error_response(exc.code or 500, headers=headers)


@bp.after_app_request
def _json_errors_everywhere_under_api(response: Response) -> Response:
    if (request.path.startswith("/api/") and response.status_code >= 400
            and response.mimetype != "application/json"):
        new = error_response(response.status_code)
        if "Allow" in response.headers:
            new.headers["Allow"] = response.headers["Allow"]
        if response.status_code == 401:
            new.headers["WWW-Authenticate"] = 'Bearer realm="liyuan"'
        return new
    return response
