"""Serving: the Flask app on waitress, a production WSGI server (plus, by default, the in-process scheduler).

Werkzeug's own server is for development and says so; waitress is pure Python, runs the same on every
platform, and serves the embedded deployment with a pool of threads. SIGTERM (a service manager's stop)
and Ctrl-C both end it cleanly: the scheduler gives back its timer leases before the process exits.
One waitress process holds one core. On PostgreSQL, ``liyuan serve --workers N`` runs N worker processes
under gunicorn instead (:func:`serve_workers`), with timers fired by ``liyuan scheduler`` processes beside
it. SQLite has one writer at a time, so more processes only queue on its lock: it refuses ``--workers``.
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


def serve_workers(host: str, port: int, workers: int) -> int:
    """``workers`` gunicorn processes of 8 threads each (the ``gthread`` worker, like waitress's thread pool);
    keep-alive connections held 75 s (a proxy in front reuses them; gunicorn's default is 2 s).

    Each worker builds its own app and connection pool after the fork (no preload: a pool shared across a
    fork hands one socket to two processes). No worker fires timers: that is ``liyuan scheduler``'s job
    (one or more, the leases keep them apart). SIGTERM stops the workers gracefully.
    """
    from gunicorn.app.base import BaseApplication

    from engine.core import config

    if config.database_url().startswith("sqlite"):
        print("--workers 需要 PostgreSQL（LIYUAN_DATABASE_URL）：SQLite 同一时刻只允许一个写入者，"
              "多个进程只会排队等它的写锁。请用单进程 liyuan serve。", flush=True)
        return 2
    os.environ["LIYUAN_SCHEDULER"] = "external"
    if host in ("127.0.0.1", "localhost") and not os.environ.get("LIYUAN_PUBLIC_URL"):
        os.environ["LIYUAN_PUBLIC_URL"] = f"http://{host}:{port}"

    class _Gunicorn(BaseApplication):
        def load_config(self):
            for key, value in {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread",
                               "threads": THREADS, "keepalive": 75, "graceful_timeout": 20,
                               "accesslog": None}.items():
                self.cfg.set(key, value)

        def load(self):
            from webapp.app import create_app

            return create_app()

    print(f"serving on http://{host}:{port} with {workers} worker processes; "
          "timers: run `liyuan scheduler` beside it", flush=True)
    _Gunicorn().run()
    print("server stopped", flush=True)
    return 0
