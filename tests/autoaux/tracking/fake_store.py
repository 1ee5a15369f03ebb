"""A fake MLflow tracking server on 127.0.0.1 that records every request (path, Authorization
header, JSON body), for tests of where credentials go and of what a replay sends.

It answers the REST calls the tracker and the journal make: an experiment found by name, runs
created (artifacts in a local folder) and read back, and an empty ``{}`` for every write. A
``log-batch`` holding a param named ``poison`` is refused with 400 INVALID_PARAMETER_VALUE;
``status`` (``None``: normal) makes it answer every request with that HTTP status and a
text body instead, as a proxy in front of a store does.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None
    body: dict[str, Any]


@dataclass
class FakeStore:
    url: str
    artifacts: Path
    requests: list[Request] = field(default_factory=list)
    status: int | None = None

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def batches(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/runs/log-batch")]


def _run(store: FakeStore, run_id: str) -> dict[str, Any]:
    info = {
        "run_id": run_id,
        "run_uuid": run_id,
        "experiment_id": "1",
        "status": "RUNNING",
        "start_time": 0,
        "artifact_uri": (store.artifacts / run_id).as_uri(),
        "lifecycle_stage": "active",
    }
    return {"info": info, "data": {}}


def _handler(store: FakeStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            return None

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            path = urlsplit(self.path).path
            store.requests.append(Request(method, path, self.headers.get("Authorization"), body))
            code, reply = 200, {}
            if store.status is not None:  # as a proxy in front of the store answers: text
                text = f"status {store.status}".encode()
                self.send_response(store.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
                return
            if path.endswith("/experiments/get-by-name") or path.endswith("/experiments/get"):
                reply = {
                    "experiment": {
                        "experiment_id": "1",
                        "name": "x",
                        "lifecycle_stage": "active",
                        "artifact_location": store.artifacts.as_uri(),
                    }
                }
            elif path.endswith("/runs/create"):
                reply = {"run": _run(store, uuid.uuid4().hex)}
            elif path.endswith("/runs/get"):
                run_id = self.path.split("run_id=")[-1].split("&")[0]
                reply = {"run": _run(store, run_id)}
            elif path.endswith("/runs/search"):
                reply = {"runs": []}
            elif path.endswith("/runs/log-batch") and any(
                p.get("key") == "poison" for p in body.get("params", [])
            ):
                code = 400
                reply = {"error_code": "INVALID_PARAMETER_VALUE", "message": "poisoned"}
            data = json.dumps(reply).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_PATCH(self) -> None:
            self._answer("PATCH")

    return Handler


def serve(artifacts: Path) -> Iterator[FakeStore]:
    """A running fake store (a generator for a pytest fixture); stopped when it resumes."""
    artifacts.mkdir(parents=True, exist_ok=True)
    store = FakeStore(url="", artifacts=artifacts)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(store))
    store.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield store
    finally:
        server.shutdown()
        server.server_close()
