"""StartLiveTail for the lab's moto server.

moto 5.2.1 answers StartLiveTail with HTTP 500, so the cockpit on the lab fell back to
polling FilterLogEvents every second: the lab's biggest share of API calls, and a path real
AWS does not take. Here the lab serves live tail as AWS does: an event stream that starts
with ``sessionStart`` and then sends ``sessionUpdate`` messages with the events ingested
since, read from moto's own log backend under the lab's request lock. The filter pattern is
matched by moto's FilterLogEvents matcher, so both paths agree on what a pattern selects.

Sessions end when the client closes them (as AWS, an empty update goes out now and then, so
a session whose client went away notices it), or after ``MAX_SESSION_S`` with
``SessionTimeoutException``, as AWS ends its sessions after three hours.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from cockpit.lab.eventstream import event, exception

log = logging.getLogger(__name__)

TICK_S = 0.25  # how often a session looks for new events
KEEPALIVE_S = 5.0  # an empty update when nothing matched for this long
MAX_SESSION_S = 3 * 3600.0
MAX_GROUPS = 10

StartResponse = Callable[..., Any]


def install_live_tail(lock: threading.RLock) -> None:
    """Answer StartLiveTail before moto sees it (it would answer HTTP 500)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication as App

    if getattr(App.__call__, "_cockpit_live_tail", False):
        return
    call = App.__call__

    def serve(self: Any, environ: dict[str, Any], start_response: StartResponse) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).endswith(".StartLiveTail"):
            return start_live_tail(environ, start_response, lock)
        return call(self, environ, start_response)

    serve._cockpit_live_tail = True  # type: ignore[attr-defined]
    App.__call__ = serve  # type: ignore[method-assign]


def _region(environ: dict[str, Any]) -> str:
    # "AWS4-HMAC-SHA256 Credential=KEY/20261125/us-east-1/logs/aws4_request, ..."
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    try:
        return auth.split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return "us-east-1"


def _error(start_response: StartResponse, code: str, message: str) -> list[bytes]:
    body = json.dumps({"__type": code, "message": message}).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))],
    )
    return [body]


def start_live_tail(
    environ: dict[str, Any], start_response: StartResponse, lock: threading.RLock
) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.logs.models import logs_backends
    from moto.logs.utils import EventMessageFilter

    length = int(environ.get("CONTENT_LENGTH") or 0)
    request = json.loads(environ["wsgi.input"].read(length) or b"{}")
    identifiers = [str(i) for i in request.get("logGroupIdentifiers") or []]
    pattern = str(request.get("logEventFilterPattern") or "")
    if not identifiers or len(identifiers) > MAX_GROUPS:
        return _error(start_response, "InvalidParameterException",
                      f"logGroupIdentifiers takes 1 to {MAX_GROUPS} log groups")  # fmt: skip
    region = _region(environ)
    with lock:
        backend = logs_backends[DEFAULT_ACCOUNT_ID][region]
        groups: dict[str, Any] = {}
        for ident in identifiers:
            # An ARN (arn:aws:logs:<region>:<account>:log-group:<name>[:*]) or a name.
            name = ident.removesuffix(":*").split(":log-group:", 1)[-1]
            group = backend.groups.get(name)
            if group is None:
                return _error(start_response, "ResourceNotFoundException",
                              f"The specified log group does not exist: {ident}")  # fmt: skip
            groups[ident] = group
        # Live tail sends what is ingested from now on: remember each stream's newest event.
        seen = {(ident, s): _newest(stream) for ident, g in groups.items()
                for s, stream in g.streams.items()}  # fmt: skip
    matches = EventMessageFilter(pattern).matches if pattern else None
    start_response("200 OK", [("Content-Type", "application/vnd.amazon.eventstream")])
    return _session(identifiers, pattern, groups, seen, matches, lock)


def _newest(stream: Any) -> int:
    return stream.events[-1].event_id if stream.events else -1


def _new_events(
    groups: dict[str, Any], seen: dict[tuple[str, str], int], lock: threading.RLock
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    with lock:
        for ident, group in groups.items():
            for name, stream in group.streams.items():
                last = seen.get((ident, name), -1)
                fresh = []
                # moto appends events with increasing ids: walk back to the last one sent.
                for ev in reversed(stream.events):
                    if ev.event_id <= last:
                        break
                    fresh.append(ev)
                if not fresh:
                    continue
                seen[(ident, name)] = fresh[0].event_id
                found += (
                    {
                        "logStreamName": name,
                        "logGroupIdentifier": ident,
                        "message": ev.message,
                        "timestamp": ev.timestamp,
                        "ingestionTime": ev.ingestion_time,
                    }
                    for ev in reversed(fresh)
                )
    found.sort(key=lambda e: (e["timestamp"], e["ingestionTime"]))
    return found


def _session(
    identifiers: list[str],
    pattern: str,
    groups: dict[str, Any],
    seen: dict[tuple[str, str], int],
    matches: Callable[[str], bool] | None,
    lock: threading.RLock,
) -> Iterator[bytes]:
    started = time.monotonic()
    # awsJson event streams begin with the operation's (empty) initial response.
    yield event("initial-response", {})
    yield event(
        "sessionStart",
        {
            "requestId": str(uuid.uuid4()),
            "sessionId": str(uuid.uuid4()),
            "logGroupIdentifiers": identifiers,
            "logStreamNames": [],
            "logStreamNamePrefixes": [],
            "logEventFilterPattern": pattern,
        },
    )
    last_sent = time.monotonic()
    while True:
        time.sleep(TICK_S)
        now = time.monotonic()
        if now - started >= MAX_SESSION_S:
            yield exception("SessionTimeoutException", "the session lasted its maximum time")
            return
        try:
            results = _new_events(groups, seen, lock)
        except Exception:  # a lab bug ends the session; the cockpit falls back to polling
            log.exception("live tail session failed")
            yield exception("ServiceUnavailableException", "the lab's live tail failed")
            return
        if matches is not None:
            results = [r for r in results if matches(r["message"])]
        if results or now - last_sent >= KEEPALIVE_S:
            last_sent = now
            yield event(
                "sessionUpdate",
                {"sessionMetadata": {"sampled": False}, "sessionResults": results},
            )
