"""The 荔园 customer-help procedure's own domain, standing on the generic engine: the request row and its
intake (``intake``, ``help_requests``), the deadlines as the deployed diagrams define them (``deadlines``),
the SLA figures (``sla``), queries for lists and pages, the monthly
reports, the clause matrix, fees and user management.

Callers import the module they need (``from engine.helpdesk import intake, queries``).
``install()`` plugs the help desk into the runtime (its request-row projection, the fee-schedule script
helper, the month-end figures); every entry point (web app, CLI, scheduler, tests) calls it once.
"""

from engine.helpdesk.listeners import install

__all__ = ["install"]
