"""The JSON API under ``/api/v1``: same rules as the pages (``webapp.policy``), bearer tokens, JSON errors.

Register it from the app factory with :func:`init_app` *after* CSRFProtect is set up, so the blueprint is
exempted from CSRF (it takes no cookies: a token must be sent in the ``Authorization`` header).
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Routes register themselves on ``bp`` when imported.
from . import (  # noqa: E402,F401
    auth,
    errors,
    openapi,
    routes_instances,
    routes_my,
    routes_processes,
    routes_requests,
    routes_tasks,
)


@bp.record_once
def _exempt_from_csrf(state) -> None:
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


def init_app(app: Flask) -> None:
    """Register the blueprint (and CSRF exemption) on ``app``; idempotent."""
    if "api" not in app.blueprints:
        app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
