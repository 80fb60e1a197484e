"""Serving: the Flask app on a threaded WSGI server (plus, when present, the in-process scheduler)."""

from __future__ import annotations

from werkzeug.serving import run_simple


def serve(host: str, port: int) -> int:
    from webapp.app import create_app

    app = create_app()
    stop = _start_scheduler()
    try:
        print(f"serving on http://{host}:{port}", flush=True)
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if stop:
            stop()
    return 0


def _start_scheduler():
    """The embedded default runs the timer poller in-process (off with LIYUAN_SCHEDULER=external)."""
    from engine import scheduler

    return scheduler.start_in_process()
