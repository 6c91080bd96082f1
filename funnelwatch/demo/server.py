"""A small threaded HTTP server on 127.0.0.1 with routes set in Python.

Serves the bundled demo site, and the test suite's local sites (pages,
redirects, delays, form endpoints) the same way playwright-python's test
server does.

    site = LocalSite().start()
    site.page("/lp", "<h1>Hello</h1>")
    site.redirect("/go", "/lp?utm_source=x")
    print(site.url("/go"))
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    url: str

    def form(self) -> dict[str, str]:
        """Form fields from a urlencoded body, a JSON body, or the query string."""
        kind = self.headers.get("content-type", "")
        if "json" in kind:
            try:
                data = json.loads(self.body or b"{}")
                return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
            except ValueError:
                return {}
        if "multipart/form-data" in kind:
            return _multipart(self.body, kind)
        source = self.body.decode("utf-8", "replace") if self.body else urlsplit(self.url).query
        return {k: v[0] for k, v in parse_qs(source, keep_blank_values=True).items()}


@dataclass
class Response:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html; charset=utf-8"


Handler = Callable[[Request], Response]


def _multipart(body: bytes, content_type: str) -> dict[str, str]:
    from email.parser import BytesParser
    from email.policy import default

    message = BytesParser(policy=default).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = part.get_content() if part.get_content_type().startswith("text") else ""
    return fields


class LocalSite:
    """Routes by exact path; unknown paths answer a 404 page."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()}, body, site.url(self.path),
                )
                with site._lock:
                    site.requests.append(request)
                handler = site.routes.get(parts.path)
                try:
                    response = handler(request) if handler else Response(404, "<title>Page not found</title><h1>Page not found</h1>")
                except BrokenPipeError:
                    return
                payload = response.body.encode() if isinstance(response.body, str) else response.body
                try:
                    self.send_response(response.status)
                    headers = {"Content-Type": response.content_type, **response.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = do_PUT = _serve

        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> "LocalSite":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "LocalSite":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    # --- helpers to set routes ---------------------------------------------

    def route(self, path: str, handler: Handler | None = None) -> Any:
        if handler is not None:
            self.routes[path] = handler
            return handler

        def decorate(fn: Handler) -> Handler:
            self.routes[path] = fn
            return fn

        return decorate

    def page(self, path: str, html: str, status: int = 200, delay_s: float = 0, headers: dict[str, str] | None = None,
             content_type: str = "text/html; charset=utf-8") -> None:
        def serve(_: Request) -> Response:
            if delay_s:
                time.sleep(delay_s)
            return Response(status, html, dict(headers or {}), content_type)

        self.routes[path] = serve

    def file(self, path: str, data: bytes, content_type: str, status: int = 200) -> None:
        self.routes[path] = lambda _: Response(status, data, {}, content_type)

    def redirect(self, path: str, to: str, status: int = 302, keep_query: bool = True) -> None:
        """Redirect `path` to `to`; with keep_query, the incoming query string is carried over."""

        def serve(request: Request) -> Response:
            target = to
            query = urlsplit(request.url).query
            if keep_query and query:
                target += ("&" if "?" in target else "?") + query
            return Response(status, "", {"Location": target})

        self.routes[path] = serve

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]
