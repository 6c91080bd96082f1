"""A local alert receiver: what Apprise's `json://127.0.0.1:PORT/...` posts lands here.

Used by `funnelwatch demo` (to show an alert arriving) and by the tests (a
real HTTP endpoint instead of a mocked Apprise). Heartbeat GETs are recorded
too (path and query). `failing = True` makes it answer 500, like a channel
that is down; `fail_next = N` answers 500 to the next N requests only (a blip).
Apprise's attachments (json:// sends them base64-encoded) arrive in the
message's `attachments` list.

    with AlertReceiver() as receiver:
        url = receiver.apprise_url("/alerts")      # json://127.0.0.1:PORT/alerts
        ...
        receiver.wait_for(1)[0]["title"]
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class AlertReceiver:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.pings: list[str] = []
        self.failing = False
        self.fail_next = 0
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    doc = json.loads(raw or b"{}")
                except ValueError:
                    doc = {"raw": raw.decode("utf-8", "replace")}
                if not receiver._refuse():
                    with receiver._cond:
                        receiver.messages.append({**doc, "path": self.path})
                        receiver._cond.notify_all()
                    self._answer(False)
                else:
                    self._answer(True)

            def do_GET(self) -> None:
                refused = receiver._refuse()
                if not refused:
                    with receiver._cond:
                        receiver.pings.append(self.path)
                        receiver._cond.notify_all()
                self._answer(refused)

            def _answer(self, refused: bool) -> None:
                status = 500 if refused else 200
                body = b'{"ok": false}' if refused else b'{"ok": true}'
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _refuse(self) -> bool:
        """Answer this request with 500? (`failing`, or one of the next `fail_next`)."""
        with self._cond:
            if self.failing:
                return True
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def apprise_url(self, path: str = "/alerts") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def http_url(self, path: str = "/ping") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """The messages once at least `count` arrived (or whatever came before the timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return list(self.messages)

    def start(self) -> "AlertReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "AlertReceiver":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()
