"""An HTTP proxy in front of the moto S3 server that injects the faults a real S3 endpoint
produces: throttling (503 SlowDown), server errors (500), dropped connections, and responses
cut short (a GET whose body stops before its Content-Length)."""

from __future__ import annotations

import http.client
import itertools
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

ERROR_XML = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected</Message></Error>'


class FaultyS3Proxy:
    """Request i gets fault plan[i % len(plan)] (None: passed through untouched)."""

    def __init__(self, upstream: str, plan: list[str | None]) -> None:
        target = urlparse(upstream)
        self.upstream = (target.hostname, target.port)
        self.next_fault = itertools.cycle(plan).__next__
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy.lock:
                    fault = proxy.next_fault()
                if fault in ("drop", "truncate") and not (fault == "truncate" and self.command == "GET"):
                    fault = "drop"
                if fault == "drop":
                    proxy.injected["drop"] += 1
                    self.close_connection = True
                    self.connection.shutdown(2)  # no answer at all: the client sees a dropped connection
                    return
                if fault in ("throttle", "error"):
                    proxy.injected[fault] += 1
                    status, code = (503, "SlowDown") if fault == "throttle" else (500, "InternalError")
                    self._reply(status, {"Content-Type": "application/xml"}, ERROR_XML.format(code=code).encode())
                    return
                connection = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")}
                if fault == "truncate" and len(data) > 1:
                    proxy.injected["truncate"] += 1
                    self.send_response(response.status)
                    for key, value in kept.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                length = response.getheader("Content-Length")
                self._reply(response.status, kept, data if self.command != "HEAD" else b"", head_length=length)

            def _reply(self, status: int, headers: dict[str, str], data: bytes, head_length: str | None = None) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", head_length if self.command == "HEAD" and head_length else str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_HEAD(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyS3Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
