"""A loopback CloudWatch Logs endpoint that serves StartLiveTail as a real event stream.

moto answers StartLiveTail with HTTP 500 (5.2.1) or a one-shot stream of history (5.2.5), so
the live path is tested here: the reply is ``application/vnd.amazon.eventstream``, framed as
AWS frames it (``cockpit.lab.eventstream``), and botocore's own ``EventStream`` decodes it;
unlike the lab's, this stub's sessions play scripted steps. FilterLogEvents and DescribeLogGroups are
answered from a list of events the test controls, enough for the polling fallback.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cockpit.lab.eventstream import event

ARN_PREFIX = "arn:aws:logs:us-east-1:123456789012:log-group:"


def session_start(groups: list[str], pattern: str = "") -> bytes:
    return event("sessionStart", {
        "requestId": "req-1", "sessionId": "session-1",
        "logGroupIdentifiers": [ARN_PREFIX + g for g in groups],
        "logStreamNames": [], "logStreamNamePrefixes": [], "logEventFilterPattern": pattern,
    })  # fmt: skip


def session_update(group: str, events: list[dict[str, Any]]) -> bytes:
    return event("sessionUpdate", {
        "sessionMetadata": {"sampled": False},
        "sessionResults": [{
            "logStreamName": e["logStreamName"], "logGroupIdentifier": ARN_PREFIX + group,
            "message": e["message"], "timestamp": e["timestamp"],
            "ingestionTime": e["timestamp"] + 5,
        } for e in events],
    })  # fmt: skip


@dataclass
class LogsStub:
    """What the stub serves; steps are bytes (a frame) or a threading.Event to wait for."""

    url: str = ""
    groups: list[str] = field(default_factory=list)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # group -> events
    sessions: list[list[bytes | threading.Event]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gates: list[threading.Event] = field(default_factory=list)

    def calls(self, action: str) -> list[dict[str, Any]]:
        return [body for name, body in self.requests if name == action]

    def gate(self) -> threading.Event:
        g = threading.Event()
        self.gates.append(g)
        return g


def _handler(stub: LogsStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 and chunked, as AWS sends event streams: each frame reaches the client
        # as it is written (a close-delimited body would be read in 64 KiB blocks).
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, body: dict[str, Any], status: int = 200) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            action = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
            stub.requests.append((action, body))
            if action == "DescribeLogGroups":
                prefix = body.get("logGroupNamePrefix", "")
                self._json({"logGroups": [
                    {"logGroupName": g, "arn": ARN_PREFIX + g + ":*", "logGroupArn": ARN_PREFIX + g}
                    for g in stub.groups if g.startswith(prefix)]})  # fmt: skip
            elif action == "FilterLogEvents":
                group, start = body["logGroupName"], body.get("startTime", 0)
                term = body.get("filterPattern", "").strip('"')
                found = [e for e in stub.events.get(group, [])
                         if e["timestamp"] >= start and term in e["message"]]  # fmt: skip
                self._json({"events": sorted(found, key=lambda e: e["timestamp"])})
            elif action == "StartLiveTail" and stub.sessions:
                self._stream(stub.sessions.pop(0))
            else:
                self._json({"__type": "UnknownOperationException", "message": action}, 400)

        def _stream(self, steps: list[bytes | threading.Event]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            # awsJson event streams start with the operation's (empty) initial response.
            steps = [event("initial-response", {}), *steps]
            try:
                for step in steps:
                    if isinstance(step, threading.Event):
                        step.wait(10)
                    else:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(step), step))
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")  # the end of the stream
                self.wfile.flush()
            except OSError:  # the client closed the session
                pass

    return Handler


@contextmanager
def logs_stub() -> Iterator[LogsStub]:
    stub = LogsStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        for g in stub.gates:
            g.set()
        server.shutdown()
        server.server_close()
