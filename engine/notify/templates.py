"""The wording of each message, in Chinese, one template per event, editable by the admin.

The defaults live here; an admin's edit is stored in ``message_templates`` and wins from then on (for
messages written after it: a message is rendered when it is written, so the outbox keeps what was sent).

Templates are Jinja2 run in a :class:`~jinja2.sandbox.SandboxedEnvironment`: an admin may use the named
variables, ``if`` and filters, never reach Python internals (``{{ ''.__class__ }}`` is refused). A template
is checked before it is saved — syntax, unknown variable names and a trial render with sample values —
and a bad one is refused with a Chinese message and not saved.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import clock
from engine.notify.tables import MessageTemplate

MAX_LENGTH = 500


@dataclass(frozen=True)
class Event:
    code: str
    name: str  # what the admin page calls it
    variables: dict[str, str]  # name -> (Chinese) meaning, with a sample value below
    default: str


_REQUEST = {"number": "求助编号", "caller_name": "求助人", "description": "求助内容", "link": "查看求助的网址"}
_SAMPLES = {"number": "1A2B3C4D", "caller_name": "林先生", "description": "厨房水管漏水", "link":
            "https://wy.example.cn/portal/requests/1", "person": "郑工程师", "eta": "11月27日 14:00",
            "answer": "您咨询的停车月卡每月 300 元，可在物业服务中心办理。", "code": "382915", "minutes": "10"}

EVENTS: dict[str, Event] = {e.code: e for e in (
    Event("received", "受理", _REQUEST,
          "【荔园物业】{{ caller_name }}您好，您的求助（编号 {{ number }}）已受理：{{ description }}。我们会尽快处理。"),
    Event("dispatched", "派单", {**_REQUEST, "person": "负责人（接单人/维修人员）", "eta": "预计时间（未知时为空）"},
          "【荔园物业】您的求助（编号 {{ number }}）已派单{% if person %}，由{{ person }}负责{% endif %}"
          "{% if eta %}，预计 {{ eta }} 前处理{% endif %}。"),
    Event("answered", "答复", {**_REQUEST, "answer": "答复内容"},
          "【荔园物业】关于您的求助（编号 {{ number }}）的答复：{{ answer }}"),
    Event("confirm", "待确认", _REQUEST,
          "【荔园物业】您的求助（编号 {{ number }}）已处理，请确认是否解决并评价：{{ link }}"),
    Event("followup", "回访", _REQUEST,
          "【荔园物业】客服部将就您的求助（编号 {{ number }}）进行电话回访，请留意来电。感谢您的支持！"),
    Event("code", "验证码", {"code": "验证码", "minutes": "有效分钟数"},
          "【荔园物业】您的验证码是 {{ code }}，{{ minutes }} 分钟内有效，请勿告诉他人。"),
)}

_env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
_strict = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


class TemplateError(ValueError):
    """A template the admin typed cannot be used (message in Chinese)."""


def current(session: Session, event: str) -> str:
    row = session.get(MessageTemplate, event)
    return row.body if row is not None else EVENTS[event].default


def all_current(session: Session) -> list[tuple[Event, str, MessageTemplate | None]]:
    """(event, its template text, the stored row or None when still the default), in the events' order."""
    rows = {r.event: r for r in session.scalars(select(MessageTemplate))}
    return [(e, rows[e.code].body if e.code in rows else e.default, rows.get(e.code)) for e in EVENTS.values()]


def render(session: Session, event: str, values: dict) -> str:
    """The message for ``values``. A stored template that fails at run time (it was checked when saved,
    but values differ) falls back to the default, so a message is never lost to a template."""
    context = {name: values.get(name) or "" for name in EVENTS[event].variables}
    try:
        return _env.from_string(current(session, event)).render(context).strip()
    except Exception:  # noqa: BLE001 - any failure of an admin's template: the default still speaks
        return _env.from_string(EVENTS[event].default).render(context).strip()


def check(event: str, body: str) -> str:
    """``body`` trimmed if it is a usable template for ``event``; else :class:`TemplateError`."""
    spec = EVENTS.get(event)
    if spec is None:
        raise TemplateError("没有这种通知")
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise TemplateError("模板不能为空")
    if len(body) > MAX_LENGTH:
        raise TemplateError(f"模板不能超过 {MAX_LENGTH} 个字")
    try:
        template = _strict.from_string(body)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"模板语法错误（第 {exc.lineno} 行）：{exc.message}") from exc
    sample = {name: _SAMPLES.get(name, name) for name in spec.variables}
    try:
        text = template.render(sample)
    except UndefinedError as exc:
        allowed = "、".join(spec.variables)
        raise TemplateError(f"模板使用了未知的变量（{exc.message}）；可用的变量：{allowed}") from exc
    except SecurityError as exc:
        raise TemplateError("模板访问了不允许的内容，只能使用列出的变量和常用过滤器") from exc
    except Exception as exc:  # noqa: BLE001 - a filter misused, a division by zero …
        raise TemplateError(f"模板无法生成消息：{exc}") from exc
    if not text.strip():
        raise TemplateError("模板生成的消息为空")
    if len(text) > 2 * MAX_LENGTH:
        raise TemplateError(f"模板生成的消息过长（{len(text)} 字），请控制在 {2 * MAX_LENGTH} 字以内")
    return body


def save(session: Session, event: str, body: str, actor: str) -> MessageTemplate:
    """Store the admin's template after :func:`check` (nothing is stored when it raises)."""
    body = check(event, body)
    row = session.get(MessageTemplate, event)
    if row is None:
        row = MessageTemplate(event=event, body=body, updated_at=clock.now(), updated_by=actor)
        session.add(row)
    else:
        row.body, row.updated_at, row.updated_by = body, clock.now(), actor
    session.flush()
    return row


def reset(session: Session, event: str) -> None:
    """Back to the default wording."""
    row = session.get(MessageTemplate, event)
    if row is not None:
        session.delete(row)
        session.flush()


def ensure_defaults(session: Session) -> int:
    """Store the default wording of every event that has none yet (``liyuan init``), so the admin sees
    and edits rows; returns how many were added."""
    added = 0
    for event in EVENTS.values():
        if session.get(MessageTemplate, event.code) is None:
            session.add(MessageTemplate(event=event.code, body=event.default, updated_at=clock.now(),
                                        updated_by="system"))
            added += 1
    session.flush()
    return added
