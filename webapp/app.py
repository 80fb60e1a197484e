"""Flask app factory."""

from __future__ import annotations

import os
import secrets

from flask import Flask, render_template


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("LIYUAN_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if config:
        app.config.update(config)

    @app.get("/")
    def landing():
        return render_template("landing.html")

    return app
