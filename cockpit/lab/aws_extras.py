"""Lab extras for the AWS depth work: CloudFormation stacks (one fine, one stuck in
UPDATE_ROLLBACK_FAILED, one UPDATE_IN_PROGRESS for two hours) and local health endpoints.

``seed_extras(endpoint, lock)`` must run in the process that serves moto (the lab child):
the stacks are created over HTTP, then their status is set on moto's backend, which is the
only way to make a stack look stuck. ``start_health_server()`` serves ``/health`` (200),
``/health/deep`` (slow: 2.5 s) and ``/health/db`` (500) on a loopback port.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACKS = ("app-network", "app-queues", "app-service")
STACK_PATTERNS = ("app-*",)  # what the lab profile's aws.stacks should hold

_TEMPLATE = json.dumps(
    {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
)


def seed_extras(endpoint: str, lock: Any = None) -> None:
    """Create the lab's stacks and make two of them stuck (run inside the moto process)."""
    import boto3
    from botocore.config import Config

    cf = boto3.client(
        "cloudformation",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    for name in STACKS:
        cf.create_stack(StackName=name, TemplateBody=_TEMPLATE)
    from moto.backends import get_backend

    now = datetime.now(UTC)
    with lock if lock is not None else contextlib.nullcontext():
        stacks = get_backend("cloudformation")[ACCOUNT][REGION].stacks.values()
        by_name = {s.name: s for s in stacks}
        queues = by_name["app-queues"]
        queues.status = "UPDATE_ROLLBACK_FAILED"
        queues.status_reason = (
            "The following resource(s) failed to update: [JobsQueue]. Resource handler "
            "returned message: 'Queue jobs-dlq is referenced by a RedrivePolicy'"
        )
        queues.last_updated_time = now - timedelta(hours=30)
        queues._add_stack_event(queues.status, resource_status_reason=queues.status_reason)
        network = by_name["app-network"]
        network.status = "UPDATE_IN_PROGRESS"
        network.status_reason = "User Initiated"
        network.last_updated_time = now - timedelta(hours=2)
        network._add_stack_event(network.status, resource_status_reason=network.status_reason)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/health/deep":
            time.sleep(2.5)
            self._send(200, {"status": "ok", "db": "ok", "cache": "ok"})
        elif self.path == "/health/db":
            self._send(500, {"status": "error", "db": "connection refused"})
        elif self.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"status": "not found"})

    def _send(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # quiet: the child's stderr is a log file
        return


def start_health_server() -> tuple[str, Callable[[], None]]:
    """(base URL, stop) of the lab's health endpoints on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="lab-health", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", stop
