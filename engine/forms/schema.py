"""User-task forms: JSON Schema (draft 2020-12) checked at deploy time, validated on every post.

The same schema serves three readers -- the deploy check (``check_schema``), the HTML page
(``resolve_options`` then the Jinja2 macros) and the server-side validation shared by the web
form and the JSON API (``coerce`` then ``validate``). Keeping them on one schema is what lets a
process owner change a form without touching code. Nothing here imports Flask.

Validation messages are Simplified Chinese, keyed by the dot-joined path of the field they
belong to ('' for the form as a whole) so that a page can print each one beside its input.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

from engine.forms import limits
from engine.forms.coerce import coerce, field_type, local_input_to_utc, utc_to_local_input

__all__ = ["check_schema", "resolve_options", "coerce", "validate", "FormErrors",
           "local_input_to_utc", "utc_to_local_input"]

#: field path -> Chinese message; empty when the data is valid.
FormErrors = dict[str, str]

# What the macros in webapp/templates/forms/_macros.html can draw, per JSON type.
_WIDGETS: dict[str, set[str | None]] = {
    "string": {None, "text", "textarea", "select", "radio", "hidden", "password"},
    "integer": {None, "text", "updown", "select", "radio", "hidden"},
    "number": {None, "text", "updown", "select", "radio", "hidden"},
    "boolean": {None, "checkbox", "select", "radio", "hidden"},
    "array": {None, "checkboxes", "textarea"},
    "object": {None},
}
_FORMATS = {None, "date", "date-time", "email", "phone"}
_CHOICE_WIDGETS = {"select", "radio", "checkboxes"}


# --- deploy-time check -------------------------------------------------------------------

def check_schema(schema: Mapping[str, Any], ui_schema: Mapping[str, Any] | None = None) -> list[str]:
    """Developer-facing (English) reasons why a form cannot be rendered or validated.

    Run by ``liyuan validate`` and at deploy, so a broken form is refused before any task
    needs it rather than failing in front of a guard at 3 a.m.
    """
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        return [f"not a valid draft 2020-12 schema at {where}: {exc.message}"]
    if schema.get("type", "object") != "object" or not isinstance(schema.get("properties"), Mapping):
        return ["a form schema must be an object with properties"]
    problems: list[str] = []
    _check_object(schema, ui_schema or {}, "", problems)
    return problems


def _check_object(schema: Mapping[str, Any], ui: Mapping[str, Any], prefix: str, problems: list[str]) -> None:
    props = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in props:
            problems.append(f"{prefix or 'form'}: required field {name!r} is not in properties")
    order = ui.get("ui:order") or ()
    for name in order:
        if name != "*" and name not in props:
            problems.append(f"{prefix or 'form'}: ui:order names unknown field {name!r}")
    if order and "*" not in order and set(props) - set(order):
        missing = ", ".join(sorted(set(props) - set(order)))
        problems.append(f"{prefix or 'form'}: ui:order leaves out {missing} (add '*' to keep them)")
    for name, sub in props.items():
        path = prefix + name
        sub_ui = ui.get(name) if isinstance(ui.get(name), Mapping) else {}
        _check_field(sub, sub_ui, path, problems)


def _check_field(schema: Mapping[str, Any], ui: Mapping[str, Any], path: str, problems: list[str]) -> None:
    kind = field_type(schema)
    widget = ui.get("ui:widget")
    if kind not in _WIDGETS:
        problems.append(f"{path}: unsupported type {schema.get('type', '(none)')!r}")
        return
    if widget not in _WIDGETS[kind]:
        problems.append(f"{path}: widget {widget!r} cannot draw a field of type {kind!r}")
    if schema.get("format") not in _FORMATS:
        problems.append(f"{path}: unsupported format {schema.get('format')!r}")
    choices = _has_choices(schema, ui)
    if kind == "array":
        items = schema.get("items")
        item_kind = field_type(items) if isinstance(items, Mapping) else None
        if item_kind not in ("string", "integer", "number"):
            problems.append(f"{path}: only arrays of strings or numbers are supported")
        elif widget == "checkboxes" and not _has_choices(items, ui.get("items") or {}) and not choices:
            problems.append(f"{path}: checkboxes need an enum on items (or ui:options.enum_from)")
    elif widget in _CHOICE_WIDGETS and not choices:
        problems.append(f"{path}: widget {widget!r} needs an enum (or ui:options.enum_from)")
    if kind == "string" and not choices:
        _check_max_length(schema, path, problems)
    if kind == "array" and isinstance(schema.get("items"), Mapping) and field_type(schema["items"]) == "string" \
            and not _has_choices(schema["items"], ui.get("items") or {}) and not choices:
        _check_max_length(schema["items"], path + "[]", problems)
    if "x-personal" in schema and not isinstance(schema["x-personal"], bool):
        problems.append(f"{path}: x-personal must be true or false")
    names = schema.get("x-enumNames")
    if names is not None and len(names) != len(schema.get("enum") or ()):
        problems.append(f"{path}: x-enumNames and enum differ in length")
    if kind == "object":
        _check_object(schema, ui, path + ".", problems)


def _check_max_length(schema: Mapping[str, Any], path: str, problems: list[str]) -> None:
    """Free text must say how long it may be: the same limit then holds on SQLite (which stores any length)
    and PostgreSQL, and nobody can post a novel into a one-line field."""
    bound = schema.get("maxLength")
    if bound is None:
        problems.append(f"{path}: a text field needs maxLength (at most {limits.MAX_TEXT_LENGTH})")
    elif bound > limits.MAX_TEXT_LENGTH:
        problems.append(f"{path}: maxLength {bound} is above the limit of {limits.MAX_TEXT_LENGTH}")


def _has_choices(schema: Mapping[str, Any], ui: Mapping[str, Any]) -> bool:
    return ("enum" in schema or "oneOf" in schema or "enum_from" in (ui.get("ui:options") or {})
            or field_type(schema) == "boolean")


def personal_fields(schema: Mapping[str, Any] | None) -> frozenset[str]:
    """The form's fields marked ``"x-personal": true``: a resident's or caller's name, phone, address or
    medical details. Their submitted values are kept beside the audit log, committed to it by a salted hash,
    so they can be erased on a lawful request (:mod:`engine.audit.personal`)."""
    props = (schema or {}).get("properties") or {}
    return frozenset(name for name, sub in props.items() if isinstance(sub, Mapping) and sub.get("x-personal") is True)


# --- options from task data --------------------------------------------------------------

def resolve_options(schema: Mapping[str, Any], ui_schema: Mapping[str, Any] | None,
                    data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` whose ``enum_from`` fields carry ``enum``/``x-enumNames`` from ``data``.

    Choices such as the guards on duty or the fee schedule only exist at run time. Putting them
    into the schema -- not just the page -- means validation rejects a value that was not
    offered, and the audit log's copy of the form shows what the user chose from. A missing
    data key gives an empty list, so nothing can be chosen rather than anything.
    """
    resolved = copy.deepcopy(dict(schema))
    _resolve_object(resolved, ui_schema or {}, data)
    return resolved


def _resolve_object(schema: dict[str, Any], ui: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    for name, sub in (schema.get("properties") or {}).items():
        sub_ui = ui.get(name) if isinstance(ui.get(name), Mapping) else {}
        if field_type(sub) == "object":
            _resolve_object(sub, sub_ui, data)
            continue
        options = sub_ui.get("ui:options") or {}
        if field_type(sub) == "array" and isinstance(sub.get("items"), dict):
            item_ui = sub_ui.get("items") if isinstance(sub_ui.get("items"), Mapping) else {}
            options = item_ui.get("ui:options") or options  # rjsf puts it on the array itself
            if "enum_from" in options:
                _apply_options(sub["items"], options, data)
        elif "enum_from" in options:
            _apply_options(sub, options, data)


def _apply_options(target: dict[str, Any], options: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    source = _lookup(data, options["enum_from"])
    value_key, label_key = options.get("value_key", "code"), options.get("label_key", "name")
    values, labels = [], []
    if isinstance(source, Mapping):  # {value: label}
        source = [{value_key: k, label_key: v} for k, v in source.items()]
    for entry in source if isinstance(source, list) else ():
        if isinstance(entry, Mapping):
            if value_key not in entry:
                continue
            values.append(entry[value_key])
            labels.append(str(entry.get(label_key, entry[value_key])))
        else:
            values.append(entry)
            labels.append(str(entry))
    target["enum"], target["x-enumNames"] = values, labels
    target.pop("oneOf", None)


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    current: Any = data
    for part in str(dotted).split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


# --- validation --------------------------------------------------------------------------

_FORMAT_CHECKER = FormatChecker(formats=())
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# The custom formats as standard, anchored JSON Schema patterns: for documents read by other tools (the
# OpenAPI description), which know no "phone" format.
# The servers trim what people type before checking, so the patterns allow white space around the value.
FORMAT_PATTERNS = {"phone": rf"^\s*(?:{limits.PHONE_PATTERN})\s*$", "email": rf"^\s*(?:{_EMAIL.pattern})\s*$"}


@_FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE.fullmatch(value) and date.fromisoformat(value))


@_FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    # RFC 3339 demands an offset: a naive time would be ambiguous across the UTC boundary.
    return not isinstance(value, str) or bool(_DATE_TIME.fullmatch(value)
                                              and datetime.fromisoformat(value.upper()))


@_FORMAT_CHECKER.checks("phone")
def _is_phone(value: object) -> bool:
    return not isinstance(value, str) or limits.is_phone(value)


@_FORMAT_CHECKER.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.fullmatch(value))


def validate(schema: Mapping[str, Any], data: Mapping[str, Any]) -> FormErrors:
    """Chinese messages by field path for everything wrong with ``data``; ``{}`` when valid.

    Only the first message per field is kept: one clear instruction beside an input helps
    more than a list of everything a value failed.
    """
    errors = _unstorable(data)
    if errors:  # values that break storage are reported alone: the schema's checks assume sane values
        return errors
    validator = Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)
    for error in validator.iter_errors(data):
        for path, message in _messages(error):
            errors.setdefault(path, message)
    return errors


def _unstorable(data: Any) -> FormErrors:
    """NUL bytes, control characters, lone surrogates, NaN, huge numbers, deep nesting: by field."""
    if not isinstance(data, Mapping):
        return {"": problem} if (problem := limits.problem_in(data)) else {}
    return {str(key): problem for key, value in data.items()
            if (problem := limits.problem_in({key: value}))}


def _messages(error: ValidationError) -> Iterable[tuple[str, str]]:
    if error.validator in ("anyOf", "oneOf") and error.context:
        for inner in _closest_branch(error.context):
            yield from _messages(inner)
        return
    path = [str(p) for p in error.absolute_path]
    if error.validator in ("required", "dependentRequired"):
        needed = error.validator_value
        if error.validator == "dependentRequired":
            needed = [n for names in needed.values() for n in names]
        for name in needed:
            if isinstance(error.instance, Mapping) and name not in error.instance:
                yield ".".join([*path, name]), "请填写此项"
        return
    message = _message(error)
    if path and path[-1].isdigit():  # an entry of a list: say which one
        message = f"第{int(path[-1]) + 1}项：{message}"
    yield ".".join(path), message


def _closest_branch(context: list[ValidationError]) -> list[ValidationError]:
    """The errors of the alternative the user most likely meant.

    A branch whose ``const``/``enum`` selector failed is one the user did not pick (they chose
    "paid", not "free"); among the rest, the one with the fewest, deepest errors is closest to
    passing, so its messages say what to fix.
    """
    branches: dict[Any, list[ValidationError]] = {}
    for inner in context:
        branches.setdefault(inner.relative_schema_path[0], []).append(inner)
    return min(branches.values(), key=lambda errs: (
        any(e.validator in ("const", "enum") for e in errs), len(errs),
        -max(len(e.absolute_path) for e in errs)))


def _message(error: ValidationError) -> str:
    keyword, expected = error.validator, error.validator_value
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    # A process owner can explain a pattern ("手机号为11位数字"); a plain string covers pattern and
    # format only, a mapping (ajv-errors style) can word any keyword.
    custom = schema.get("x-errorMessage", schema.get("errorMessage"))
    if isinstance(custom, Mapping) and isinstance(custom.get(keyword), str):
        return custom[keyword]
    if isinstance(custom, str) and keyword in ("pattern", "format"):
        return custom
    n = _number(expected)
    simple = {
        "minLength": f"至少填写{n}个字", "maxLength": f"最多填写{n}个字",
        "minimum": f"不能小于{n}", "maximum": f"不能大于{n}",
        "exclusiveMinimum": f"必须大于{n}", "exclusiveMaximum": f"必须小于{n}",
        "minItems": f"至少需要{n}项", "maxItems": f"最多选择{n}项",
        "multipleOf": f"必须是{n}的倍数", "uniqueItems": "不能有重复项",
        "enum": "请从选项中选择", "pattern": "格式不正确",
    }
    if keyword in simple:
        return simple[keyword]
    if keyword == "const":
        return "必须确认此项" if expected is True else "请从选项中选择"
    if keyword == "type":
        return _TYPE_MESSAGES.get(expected if isinstance(expected, str) else "", "格式不正确")
    if keyword == "format":
        return _FORMAT_MESSAGES.get(expected, "格式不正确")
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return "包含表单中没有的字段"  # a tampered post; the page has no such input
    title = schema.get("title")
    return f"{title}填写不正确" if title else "填写不正确"


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_TYPE_MESSAGES = {
    "integer": "格式不正确，应为整数", "number": "格式不正确，应为数字", "string": "格式不正确，应为文字",
    "boolean": "格式不正确，应为是或否", "array": "格式不正确，应为列表", "object": "格式不正确",
}
_FORMAT_MESSAGES = {
    "date": "日期格式不正确", "date-time": "时间格式不正确",
    "email": "电子邮箱格式不正确", "phone": "电话号码格式不正确",
}
