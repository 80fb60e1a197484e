"""The smallest valid filling of a form, for scenarios that spell out only the fields that steer the process.

A procedure's scenario (``engine.helpdesk.scenarios``, the scenario tests) completes many tasks whose
every field it does not care about; writing them all out would bury the few that matter. ``answer``
overlays what the scenario gives on a filling that satisfies the form's ``required`` fields (and those
its ``if``/``then`` makes required), so the server-side validation still runs on every submission.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator

from engine.core import clock

# A date someone promises (``"x-promise": true``: the department's expected time, a plan's completion date)
# becomes a deadline of its own; the filling promises it a few days ahead, as people do, not "now".
PROMISE_AHEAD = dt.timedelta(days=3)


def answer(schema: Mapping[str, Any] | None, given: Mapping[str, Any]) -> dict:
    """``given`` over the smallest valid filling of ``schema`` (conditional requirements included)."""
    if not schema:
        return dict(given)
    data = {**fill(schema, schema.get("required", [])), **given}
    condition, then = schema.get("if"), schema.get("then", {})
    if condition and Draft202012Validator(condition).is_valid(data):
        data = {**fill(schema, [k for k in then.get("required", []) if k not in data]), **data}
    return data


def fill(schema: Mapping[str, Any], names: Iterable[str], *, now: dt.datetime | None = None) -> dict:
    """A plausible value for each named field: the first choice, ``True``/the default, the minimum, a
    Chinese sentence saying the step was done by the procedure, "now" for a date-time (a promised date:
    :data:`PROMISE_AHEAD` from now)."""
    out: dict[str, Any] = {}
    for name in names:
        prop = schema["properties"][name]
        if "const" in prop:
            out[name] = prop["const"]
        elif "oneOf" in prop:
            out[name] = prop["oneOf"][0]["const"]
        elif "enum" in prop:
            out[name] = prop["enum"][0]
        elif prop.get("type") == "boolean":
            out[name] = prop.get("default", True)
        elif prop.get("type") == "array":
            items = prop.get("items", {})
            n = max(prop.get("minItems", 1), 1)
            out[name] = items["enum"][:n] if "enum" in items else [f"{items.get('title', '事项')}{i + 1}"
                                                                     for i in range(n)]
        elif prop.get("type") in ("integer", "number"):
            out[name] = max(prop.get("minimum", 1), 1)
        elif prop.get("format") == "date-time":
            at = (now or clock.now()) + (PROMISE_AHEAD if prop.get("x-promise") else dt.timedelta(0))
            out[name] = at.astimezone(clock.SHANGHAI).isoformat(timespec="seconds")
        else:
            out[name] = f"{prop.get('title', name)}：已按规程办理"
    return copy.deepcopy(out)
