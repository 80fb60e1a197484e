"""Serving: the Flask app on waitress, a production WSGI server (plus, by default, the in-process scheduler).

Werkzeug's own server is for development and says so; waitress is pure Python, runs the same on every
platform, and serves the embedded deployment with a pool of threads. SIGTERM (a service manager's stop)
and Ctrl-C both end it cleanly: the scheduler gives back its timer leases before the process exits.
For several workers behind a proxy on PostgreSQL, run ``create_app()`` under any WSGI server with
``LIYUAN_SCHEDULER=external`` and ``liyuan scheduler`` beside it.
"""

from __future__ import annotations

import logging
import os
import signal

THREADS = 8


def serve(host: str, port: int) -> int:
    from waitress import serve as waitress_serve

    from engine.core import db
    from webapp.app import create_app

    app = create_app()
    db.refresh_statistics()  # the planner's statistics, also when timers run in other processes
    _show_outbox_log()
    if host in ("127.0.0.1", "localhost") and not os.environ.get("LIYUAN_PUBLIC_URL"):
        # The demo on this machine: the SMS written to the log carry links that open here (the scheduler
        # runs in this process). A server others reach sets LIYUAN_PUBLIC_URL to its public address.
        os.environ["LIYUAN_PUBLIC_URL"] = f"http://{host}:{port}"
    stop = _start_scheduler()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        print(f"serving on http://{host}:{port}", flush=True)
        waitress_serve(app, host=host, port=port, threads=THREADS, ident="liyuan")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if stop:
            stop()
        print("server stopped", flush=True)
    return 0


def _show_outbox_log() -> None:
    """The demo SMS provider (``LIYUAN_SMS_PROVIDER=log``) writes each message to the server log: show the
    outbox's INFO lines on stderr unless logging is configured already."""
    log = logging.getLogger("engine.notify")
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False  # waitress configures the root logger later: one line per message, not two


def _raise_interrupt(_signum, _frame):
    raise KeyboardInterrupt


def _start_scheduler():
    """The embedded default runs the timer poller in-process (off with LIYUAN_SCHEDULER=external)."""
    from engine.timers import scheduler

    return scheduler.start_in_process()
