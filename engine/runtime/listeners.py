"""How a domain hears of the runtime's changes without the runtime importing it.

As Camunda's execution and history-event listeners do, a domain registers what it needs at start-up
(``engine.helpdesk.install()``) and the runtime calls it on every change:

- a **projection**: a row the domain keeps per instance, copied out of the workflow data (the help desk's
  request row). The runtime computes it before and after a change and writes it only when it changed or
  the instance ended, in the same transaction as the change;
- a **script helper** that reads the database (the fee schedule). Its result is recorded in the change's
  audit event, and a replay hands scripts the recorded value, so history replays the same;
- **start data** for instances that a timer start event starts (the month-end figures).

Registration is idempotent by name, so an entry point may install a domain more than once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from engine import scripting


@dataclass(frozen=True)
class Projection:
    name: str
    # (process_id, workflow data) -> the values to keep, or None when the instance is none of the domain's
    project: Callable[[str, dict], Any]
    # (session, instance row, values, ended) -> None: write them in the caller's transaction
    write: Callable[[Session, Any, Any, bool], None]


_projections: dict[str, Projection] = {}
_helpers: dict[str, Callable[[Session], Any]] = {}
_start_data: dict[str, Callable[[Session, str, dict], dict]] = {}
_sample_starts: dict[str, Callable[[str], list[dict]]] = {}


def add_projection(projection: Projection) -> None:
    _projections[projection.name] = projection


def add_script_helper(name: str, fetch: Callable[[Session], Any], default: Callable[[], Any]) -> None:
    """Scripts may call ``name()``; in a change it returns ``fetch(session)`` (recorded), in a replay the
    recorded value, and ``default()`` where neither is at hand (a deploy-time dry run)."""
    _helpers[name] = fetch
    scripting.register_recorded_helper(name, default)


def add_start_data(name: str, provide: Callable[[Session, str, dict], dict]) -> None:
    """``provide(session, process_id, data)`` returns what to add to a timer-started instance's data."""
    _start_data[name] = provide


def add_sample_start(name: str, provide: Callable[[str], list[dict]]) -> None:
    """``provide(process_id)`` returns plausible start data sets (as the domain's start form would give) for
    the deploy-time dry run (:mod:`engine.runtime.dry_run`); an empty list when the process is not its."""
    _sample_starts[name] = provide


def sample_starts(process_id: str) -> list[dict]:
    out: list[dict] = []
    for provide in _sample_starts.values():
        out += provide(process_id)
    return out


def project(process_id: str, data: dict) -> dict:
    """Every projection's values for this data (name -> values; None where the instance is not its)."""
    return {name: p.project(process_id, data) for name, p in _projections.items()}


def write_projections(session: Session, instance, data: dict, before: dict, *, ended: bool) -> None:
    for name, p in _projections.items():
        values = p.project(instance.process_id, data)
        if values is not None and (ended or values != before.get(name)):
            p.write(session, instance, values, ended)


def helper_providers(session: Session, consulted: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """Providers for the recorded helpers in one change: the first call reads the database and records
    the value in ``consulted``; later calls in the same change return the same value (as a replay would)."""
    def provider(name: str, fetch: Callable[[Session], Any]) -> Callable[[], Any]:
        def call():
            if name not in consulted:
                consulted[name] = fetch(session)
            return consulted[name]
        return call
    return {name: provider(name, fetch) for name, fetch in _helpers.items()}


def start_data(session: Session | None, process_id: str, data: dict) -> dict:
    extra: dict = {}
    if session is not None:
        for provide in _start_data.values():
            extra.update(provide(session, process_id, data))
    return extra
