"""The errors a person may see, raised anywhere in the engine and mapped once to HTTP by the web app.

One module for all of them, so a caller catches ``EngineError`` without importing the room that raised it.
Each carries a Chinese ``message`` for the person and an HTTP-like ``status`` for the entry points.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of the errors a person may see; ``message`` is Chinese."""

    status = 400

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(EngineError):
    status = 404


class Forbidden(EngineError):
    """The person may not do this (wrong lane, not the claimant, not a dispatcher)."""

    status = 403


class Conflict(EngineError):
    """Someone else changed the instance first, or the task is no longer waiting for input."""

    status = 409


class InvalidData(EngineError):
    status = 422

    def __init__(self, errors: dict[str, str]):
        super().__init__("提交的内容有误，请按提示修改", fields=errors)
        self.errors = errors


class ScriptFailure(EngineError):
    """A script, condition or timer expression raised while the engine ran; nothing was saved."""

    status = 500


class StorageFull(EngineError):
    """The database could not grow (disk or quota full); the change was rolled back, nothing is lost."""

    status = 507

    def __init__(self, message: str = "服务器存储空间已满，本次操作未保存（已保存的数据不受影响）。请联系管理员清理磁盘后重试。"):
        super().__init__(message)
