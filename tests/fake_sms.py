"""A tiny SMS provider on 127.0.0.1 for tests: records every message it is sent, answers with the status
codes it is told to (``fail_next(500, 500)``), in a thread. ``configure(monkeypatch)`` points the outbox's
http adapter at it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeProvider:
    def __init__(self):
        self.received: list[dict] = []  # {"to", "text", "auth"} of each accepted message
        self.refused: list[dict] = []
        self._statuses: list[int] = []
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["auth"] = self.headers.get("Authorization")
                with provider._lock:
                    status = provider._statuses.pop(0) if provider._statuses else 200
                    (provider.received if status < 300 else provider.refused).append(body)
                reply = b'{"ok": true}' if status < 300 else b'{"error": "provider down"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self._statuses.extend(statuses)

    def texts(self, phone: str | None = None) -> list[str]:
        return [m["text"] for m in self.received if phone is None or m["to"] == phone]

    def configure(self, monkeypatch) -> FakeProvider:
        monkeypatch.setenv("LIYUAN_SMS_PROVIDER", "http")
        monkeypatch.setenv("LIYUAN_SMS_URL", self.url)
        monkeypatch.setenv("LIYUAN_SMS_KEY", "test-key")
        return self

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
