"""Turning an HTML form post into typed JSON data, guided by the form's JSON Schema.

A browser only ever sends strings, and it sends nothing at all for an unchecked box or an
empty multi-select. Validation, scripts and the audit log all want the typed value the
schema promises, so this module is the single place where the two worlds meet.

Two rules shape every branch below:

- **Never lose what the user typed.** A number that does not parse is kept as the raw
  string, so that validation reports "格式不正确" beside the field and the page can show the
  input again, instead of the value silently disappearing.
- **Empty means absent.** Browsers post ``""`` for untouched text inputs; dropping it lets
  ``required`` say "请填写此项" rather than accepting a blank answer.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.forms.limits import normalise_phone

#: The wall clock of every user: residents and staff all read Shenzhen time.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"false", "off", "0", "no", ""}
_MISSING = object()


def coerce(schema: Mapping[str, Any], form: Mapping[str, list[str]], *,
           current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Typed data for the properties of ``schema`` from ``form`` (name -> list of values).

    ``form`` is what ``MultiDict.to_dict(flat=False)`` gives; nested objects use
    ``parent.child`` names. Keys the schema does not know (the CSRF token, the submit
    button) are ignored, and so are ``readOnly`` fields: a disabled input is not posted,
    and the server must not take a client's word for data it only displays. Pass the task's
    ``current`` data to carry those read-only values over, so a required read-only field
    validates against what the server already holds.
    """
    return _coerce_object(schema, form, prefix="", current=current or {})


def _coerce_object(schema: Mapping[str, Any], form: Mapping[str, list[str]], prefix: str,
                   current: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, Mapping):
            continue
        if sub.get("readOnly"):
            if name in current:
                out[name] = copy.deepcopy(current[name])
            continue
        inner = current.get(name) if isinstance(current.get(name), Mapping) else {}
        value = _coerce_field(sub, form, prefix + name, inner, required=name in (schema.get("required") or ()))
        if value is not _MISSING:
            out[name] = value
    return out


def _coerce_field(schema: Mapping[str, Any], form: Mapping[str, list[str]], path: str,
                  current: Mapping[str, Any], required: bool) -> Any:
    kind = field_type(schema)
    raw = [v for v in form.get(path, ()) if v is not None]
    if kind == "object":
        child = _coerce_object(schema, form, prefix=path + ".", current=current)
        # An untouched optional fieldset stays absent so its inner `required` does not fire;
        # a required one is kept (even empty) so each missing child is reported on its own path.
        return child if child or required else _MISSING
    if kind == "boolean":
        return _coerce_boolean(raw)
    if kind == "array":
        # Unchecking every box posts nothing; an empty list lets minItems say "至少需要N项".
        return _coerce_array(schema.get("items") or {}, raw)
    text = _first_nonblank(raw)
    if text is None:
        return _MISSING
    return _coerce_scalar(schema, kind, text)


def field_type(schema: Mapping[str, Any]) -> str | None:
    """The single JSON type of a field, inferring it from ``enum``/``const`` when unstated."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    values = list(schema.get("enum") or ()) + ([schema["const"]] if "const" in schema else [])
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if values and all(isinstance(v, str) for v in values):
        return "string"
    return None


def _coerce_boolean(raw: list[str]) -> Any:
    if not raw:
        return False  # an unchecked checkbox is simply not posted
    text = raw[-1].strip().lower()  # a hidden "false" followed by the checkbox's "true"
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return raw[-1]


def _coerce_array(items: Mapping[str, Any], raw: list[str]) -> list[Any]:
    kind = field_type(items) or "string"
    out = []
    for value in raw:
        # A free-text list arrives as one textarea, one entry per line.
        for line in value.splitlines() if "enum" not in items else [value]:
            line = line.strip()
            if line:
                out.append(_coerce_scalar(items, kind, line))
    return out


def _coerce_scalar(schema: Mapping[str, Any], kind: str | None, text: str) -> Any:
    if kind == "integer":
        return _parse_number(text, integer=True)
    if kind == "number":
        return _parse_number(text, integer=False)
    if kind == "boolean":
        return _coerce_boolean([text])
    if schema.get("format") == "date-time":
        return local_input_to_utc(text)
    if schema.get("format") == "phone":
        return normalise_phone(text)
    return text


def normalise(schema: Mapping[str, Any], data: Any) -> Any:
    """JSON data as an API client sent it, with the same normalisation a form post gets from
    :func:`coerce`: phone numbers typed with full-width digits ("１３８…") become ASCII. Other values are
    left as sent, for validation to judge."""
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, Mapping) or name not in out:
            continue
        if sub.get("format") == "phone" and isinstance(out[name], str):
            out[name] = normalise_phone(out[name])
        elif field_type(sub) == "object":
            out[name] = normalise(sub, out[name])
    return out


def _first_nonblank(raw: list[str]) -> str | None:
    for value in raw:
        if value.strip():
            return value.strip()
    return None


def _parse_number(text: str, integer: bool) -> Any:
    try:
        return int(text)  # int() also reads full-width digits from Chinese input methods
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    if integer:
        return int(number) if number.is_integer() else text
    return number


def local_input_to_utc(text: str) -> str:
    """``YYYY-MM-DDTHH:MM`` from a ``datetime-local`` input, read as Shanghai time, to RFC 3339 UTC.

    The browser sends wall-clock time without an offset; the engine stores and compares UTC.
    A value that already carries an offset (an API client) is converted as-is; an unparsable
    one is returned unchanged so that validation reports "时间格式不正确".
    """
    moment = _parse_timestamp(text)
    if moment is None:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_to_local_input(value: Any) -> str:
    """The reverse of :func:`local_input_to_utc`, for refilling a ``datetime-local`` input.

    Anything that is not an aware timestamp (a half-typed value kept after a failed post)
    is returned unchanged so the user sees what they typed.
    """
    if value is None:
        return ""
    text = str(value)
    moment = _parse_timestamp(text)
    if moment is None:
        return text
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%dT%H:%M")
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?")


def _parse_timestamp(text: str) -> datetime | None:
    """A date *and* time; ``fromisoformat`` alone would also take a bare date as midnight."""
    if not _TIMESTAMP.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError:
        return None
