"""Jinja2 filters used by ``templates/forms/_macros.html``.

The macros stay declarative markup; anything that needs real logic -- time zones, the
``ui:order`` wildcard, turning ``enum``/``x-enumNames``/``oneOf`` into one option list --
lives here, in plain Python that the tests can call directly. ``register`` accepts a Flask
app or a bare ``jinja2.Environment`` so templates render the same in tests as in the app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.forms import field_type, utc_to_local_input


def to_local_input(value: Any) -> str:
    """A stored UTC timestamp as ``YYYY-MM-DDTHH:MM`` Shanghai time for ``datetime-local``."""
    return utc_to_local_input(value)


def input_value(value: Any) -> str:
    """How a typed value is written into an HTML ``value`` attribute (and read back by coerce)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_kind(schema: Mapping[str, Any]) -> str:
    return field_type(schema) or "string"


def field_options(schema: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """(value, label) pairs for a choice field, in schema order.

    Accepts the three spellings process owners use: ``enum`` + ``x-enumNames``, ``oneOf``
    of ``{const, title}``, and a bare boolean (是/否).
    """
    if "enum" in schema:
        names = list(schema.get("x-enumNames") or ())
        return [(v, str(names[i]) if i < len(names) else input_value(v)) for i, v in enumerate(schema["enum"])]
    if isinstance(schema.get("oneOf"), list):
        return [(o["const"], str(o.get("title", o["const"])))
                for o in schema["oneOf"] if isinstance(o, Mapping) and "const" in o]
    if field_type(schema) == "boolean":
        return [(True, "是"), (False, "否")]
    return []


def ordered_fields(properties: Mapping[str, Any], order: Iterable[str] | None) -> list[str]:
    """Property names in ``ui:order`` order; ``*`` stands for every field not named."""
    if not order:
        return list(properties)
    order = [name for name in order if name == "*" or name in properties]
    rest = [name for name in properties if name not in order]
    if "*" not in order:
        order = [*order, "*"]  # never silently drop a field the schema may require
    out: list[str] = []
    for name in order:
        out.extend(rest if name == "*" else [name])
    return out


def error_for(errors: Mapping[str, str] | None, path: str) -> str | None:
    """The message for ``path``, or for the first failing entry of a list field (``path.N``)."""
    if not errors:
        return None
    if path in errors:
        return errors[path]
    for key, message in errors.items():
        head, _, tail = key.rpartition(".")
        if head == path and tail.isdigit():
            return message
    return None


def selected_values(value: Any) -> list[str]:
    """The checked options of a checkbox group, as attribute strings."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [input_value(v) for v in value]
    return [input_value(value)]


def lines(value: Any) -> str:
    """A free-text list back into its textarea, one entry per line."""
    if isinstance(value, (list, tuple)):
        return "\n".join(input_value(v) for v in value)
    return input_value(value)


FILTERS = {
    "to_local_input": to_local_input,
    "input_value": input_value,
    "field_kind": field_kind,
    "field_options": field_options,
    "ordered_fields": ordered_fields,
    "error_for": error_for,
    "selected_values": selected_values,
    "lines": lines,
}


def register(app_or_env: Any) -> None:
    """Add the form filters to a Flask app's ``jinja_env`` or to a ``jinja2.Environment``."""
    env = getattr(app_or_env, "jinja_env", app_or_env)
    env.filters.update(FILTERS)
