"""A loopback HTTP server with a route table and fault knobs, shared by every emulator.

Fault knobs, set from Python (``emulator.faults``) or over HTTP (``POST /_emulator/faults``):

- HTTP faults are one-shot and consumed in order by the next matching requests:
  ``{"kind": "status", "status": 500, "count": 3}`` answers 500 three times;
  ``{"kind": "rate_limit", "retry_after": 1}`` answers 429 with ``Retry-After``;
  ``{"kind": "delay", "seconds": 5}`` answers late; ``{"kind": "truncate"}`` declares the full
  ``Content-Length`` but closes the connection halfway through the body. Any of them may carry
  ``"path"``, a regular expression the request path must match.
- Data faults persist until reset and are read by each emulator's handlers, e.g.
  ``{"malformed_rows": 2}``. Which ones an emulator honours is listed in its module docstring.

``DELETE /_emulator/faults`` clears both; ``GET /_emulator/faults`` shows them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ADMIN_PATH = "/_emulator/faults"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    base_url: str
    match: re.Match[str] | None = None

    def url_for(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """An absolute URL on this emulator (for ``next`` links)."""
        from urllib.parse import urlencode

        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base_url}{path}{query}"


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200, content_type: str = "application/json") -> Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(status=status, body=body, content_type=f"{content_type}; charset=utf-8")


Route = Callable[[Request], Response]


@dataclass
class Faults:
    http: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inject(self, kind: str, count: int = 1, **params: Any) -> None:
        with self._lock:
            self.http.append({"kind": kind, "count": count, **params})

    def reset(self) -> None:
        with self._lock:
            self.http.clear()
            self.data.clear()

    def take(self, path: str) -> dict[str, Any] | None:
        """The next HTTP fault that applies to ``path``, consuming one of its count."""
        with self._lock:
            for fault in self.http:
                if "path" in fault and not re.search(fault["path"], path):
                    continue
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.http.remove(fault)
                return dict(fault)
        return None

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"http": [dict(f) for f in self.http], "data": dict(self.data)}


class Emulator:
    """One stakeholder system on 127.0.0.1: ``routes`` maps a path regex to a handler."""

    def __init__(self, name: str, routes: Mapping[str, Route], port: int = 0):
        self.name = name
        self.routes = [(re.compile(pattern), handler) for pattern, handler in routes.items()]
        self.faults = Faults()
        self.requests: list[str] = []
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"emulator-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def handle(self, request: Request) -> Response:
        for pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match:
                return handler(_with_match(request, match))
        return json_response({"error": f"no route for {request.path}"}, status=404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _with_match(request: Request, match: re.Match[str]) -> Request:
    return Request(**{**request.__dict__, "match": match})


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK hold the body back ~40 ms on a kept-alive connection
        disable_nagle_algorithm = True
        server_version = f"khonkaen-emulator-{emulator.name}"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=method,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
                base_url=emulator.url,
            )
            if request.path == ADMIN_PATH:
                self._send(self._admin(request))
                return
            emulator.requests.append(self.path)
            fault = emulator.faults.take(request.path)
            kind = fault["kind"] if fault else None
            if kind == "status":
                status = int(fault.get("status", 500))
                self._send(json_response({"error": f"injected {status}"}, status=status))
                return
            if kind == "rate_limit":
                response = json_response({"error": "rate limited"}, status=429)
                response.headers["Retry-After"] = str(fault.get("retry_after", 1))
                self._send(response)
                return
            if kind == "delay":
                time.sleep(float(fault.get("seconds", 5)))
            try:
                response = emulator.handle(request)
            except Exception as error:  # an emulator bug must show as a 500, not a hang
                response = json_response({"error": repr(error)}, status=500)
            self._send(response, truncate=kind == "truncate")

        def _admin(self, request: Request) -> Response:
            if request.method == "DELETE":
                emulator.faults.reset()
            elif request.method == "POST":
                spec = json.loads(request.body or b"{}")
                for fault in spec.get("http", []):
                    emulator.faults.inject(**fault)
                emulator.faults.data.update(spec.get("data", {}))
            return json_response(emulator.faults.as_dict())

        def _send(self, response: Response, truncate: bool = False) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if truncate:
                self.wfile.write(response.body[: len(response.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(response.body)

    return Handler
