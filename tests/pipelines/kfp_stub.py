"""A local stand-in for the Kubeflow Pipelines REST API (v2beta1): records each request and
answers what kfp.Client needs, so submit and schedule are tested without a cluster."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class KfpStub:
    def __init__(self, refuse_with: int | None = None) -> None:
        """`refuse_with`: answer every request with this HTTP status (e.g. 401, a bad token)."""
        self.requests: list[dict[str, Any]] = []
        self.experiments: dict[str, str] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                stub.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                if refuse_with:
                    self._answer({"error": "refused"}, refuse_with)
                elif self.path.startswith("/apis/v2beta1/healthz"):
                    self._answer({"multi_user": False})
                elif self.path.startswith("/apis/v2beta1/experiments"):
                    found = [{"experiment_id": eid, "display_name": name} for name, eid in stub.experiments.items() if name in self.path]
                    self._answer({"experiments": found, "total_size": len(found)} if found else {})
                else:
                    self._answer({"error": "not found"}, 404)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                stub.requests.append({"method": "POST", "path": self.path, "body": body, "headers": dict(self.headers)})
                if self.path == "/apis/v2beta1/experiments":
                    experiment_id = f"exp-{len(stub.experiments) + 1}"
                    stub.experiments[body["display_name"]] = experiment_id
                    self._answer({"experiment_id": experiment_id, "display_name": body["display_name"]})
                elif self.path == "/apis/v2beta1/runs":
                    self._answer({"run_id": "run-1", "display_name": body.get("display_name"), "state": "PENDING"})
                elif self.path == "/apis/v2beta1/recurringruns":
                    self._answer({"recurring_run_id": "recurring-1", "display_name": body.get("display_name")})
                else:
                    self._answer({"error": "not found"}, 404)

            def _answer(self, payload: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> KfpStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posted(self, path: str) -> list[dict[str, Any]]:
        return [request["body"] for request in self.requests if request["method"] == "POST" and request["path"] == path]
