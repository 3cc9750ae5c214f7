"""A loopback Slack incoming webhook, for the lab's drills and for tests.

It answers as Slack's API reference documents incoming webhooks ("Sending messages using
incoming webhooks", its "Handling errors" table), so the cockpit's client meets the same
answers here as on hooks.slack.com:

- ``POST /services/T…/B…/SECRET`` with a JSON body ``{"text": ..., "blocks"?: [...]}``
  (``Content-type: application/json``, or a form field ``payload=`` holding the JSON)
  -> ``200`` ``ok`` (``text/plain``);
- a body that is not a JSON object, or a ``text`` that is not a string -> ``400``
  ``invalid_payload``; neither ``text`` nor ``blocks`` -> ``400`` ``no_text``; blocks that
  are not a list of objects each with a ``type`` -> ``400`` ``invalid_blocks``;
- any other path (a removed or mistyped webhook) -> ``404`` ``no_service``;
- more than the documented one message a second (short bursts allowed, here ``burst``) ->
  ``429`` with ``Retry-After`` in seconds.

What Slack does not offer and a drill needs: ``fail_next(status, count)`` (also ``POST
/_lab/fail?status=503&count=2`` from another process) answers the next posts with a 5xx or
a 429; the posted messages are kept in memory (``messages``, ``GET /messages.json``); and
``GET /`` is a small HTML page listing them, newest first, every text escaped, so a trainee
sees the channel during a drill.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["PostedMessage", "SlackLab", "start_slack_lab"]

PAGE_REFRESH_S = 3  # the page reloads itself: a drill's updates show without a key press


@dataclass(frozen=True)
class PostedMessage:
    time: float  # epoch seconds when it was accepted
    text: str
    blocks: tuple[Any, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    lab: SlackLab


class SlackLab:
    """One workspace's webhook for one channel, on ``127.0.0.1``; ``start()`` then use."""

    def __init__(self, channel: str = "#incidents", *, team: str = "T0LAB00001",
                 bot: str = "B0LAB00001", secret: str | None = None,
                 per_second: float = 1.0, burst: int = 5) -> None:
        self.channel = channel
        self.path = f"/services/{team}/{bot}/{secret or secrets.token_hex(12)}"
        self.messages: list[PostedMessage] = []
        self.requests = 0  # every POST to the webhook, answered or not
        self.per_second = per_second
        self.burst = burst
        self._failures: list[tuple[int, float | None]] = []  # (status, Retry-After)
        self._recent: list[float] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life ---------------------------------------------------------------------------

    def start(self) -> SlackLab:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.lab = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="lab-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> SlackLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() it first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def webhook_url(self) -> str:
        """The secret URL a profile's ``notify.slack_webhook`` points at."""
        return self.base_url + self.path

    @property
    def page_url(self) -> str:
        """The page listing what was posted (no secret in it)."""
        return self.base_url + "/"

    # --- the control hook ---------------------------------------------------------------

    def fail_next(self, status: int = 503, count: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``count`` posts with ``status`` (a 5xx, or 429 with ``retry_after``)."""
        with self._lock:
            self._failures += [(status, retry_after)] * count

    def texts(self) -> list[str]:
        with self._lock:
            return [m.text for m in self.messages]

    # --- what a post gets -----------------------------------------------------------------

    def _answer(self, path: str, content_type: str, body: bytes) -> tuple[int, str, dict[str, str]]:
        if path != self.path:
            return 404, "no_service", {}
        with self._lock:
            self.requests += 1
            if self._failures:
                status, wait = self._failures.pop(0)
                if status == 429:
                    return 429, "rate_limited", {"Retry-After": f"{wait if wait is not None else 1:g}"}
                return status, "service_unavailable" if status == 503 else "rollup_error", {}
            now = time.monotonic()
            self._recent = [t for t in self._recent if now - t < self.burst / self.per_second]
            if len(self._recent) >= self.burst:
                wait = self.burst / self.per_second - (now - self._recent[0])
                return 429, "rate_limited", {"Retry-After": str(max(1, round(wait)))}
        payload = _payload(content_type, body)
        if not isinstance(payload, dict):
            return 400, "invalid_payload", {}
        text, blocks = payload.get("text"), payload.get("blocks")
        if text is not None and not isinstance(text, str):
            return 400, "invalid_payload", {}
        if blocks is not None and (not isinstance(blocks, list) or not all(
                isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)):
            return 400, "invalid_blocks", {}
        if not text and not blocks:
            return 400, "no_text", {}
        with self._lock:
            self._recent.append(time.monotonic())
            self.messages.append(PostedMessage(time.time(), text or "", tuple(blocks or ()), payload))
        return 200, "ok", {}

    def page(self) -> str:
        with self._lock:
            shown = list(reversed(self.messages))
        channel = html.escape(self.channel)
        items = "\n".join(
            f'<li><time>{time.strftime("%H:%M:%S", time.gmtime(m.time))} UTC</time>'
            f"<pre>{html.escape(_as_slack_shows(m.text))}</pre></li>"
            for m in shown
        ) or "<li><em>nothing posted yet</em></li>"
        return (
            "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="refresh" content="{PAGE_REFRESH_S}">'
            f"<title>{channel} · lab Slack</title>"
            "<style>body{font-family:sans-serif;margin:2em}li{margin:1em 0;list-style:none}"
            "time{color:#666}pre{white-space:pre-wrap;margin:.2em 0}</style></head>"
            f"<body><h1>{channel}</h1><p>The lab's Slack channel: what the cockpit posted, "
            f"newest first ({len(shown)} message{'' if len(shown) == 1 else 's'}).</p>"
            f"<ul>\n{items}\n</ul></body></html>\n"
        )


def _as_slack_shows(text: str) -> str:
    """Slack's three entities undone, as the channel shows them (``a &amp; b`` is ``a & b``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _payload(content_type: str, body: bytes) -> Any:
    try:
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode(), strict_parsing=False)
            return json.loads(form["payload"][0])
        return json.loads(body)
    except (ValueError, KeyError, IndexError):
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # the lab's log stays readable
        pass

    def _send(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 1 << 20)) if length > 0 else b""

    def do_POST(self) -> None:
        lab = self.server.lab
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/_lab/fail":
            q = parse_qs(url.query)
            try:
                status = int(q.get("status", ["503"])[0])
                count = int(q.get("count", ["1"])[0])
                wait = float(q["retry_after"][0]) if "retry_after" in q else None
            except ValueError:
                return self._send(400, "bad_control")
            lab.fail_next(status, count, wait)
            return self._send(200, "ok")
        status, text, headers = lab._answer(url.path, self.headers.get("Content-Type", ""), body)
        self._send(status, text, headers=headers)

    def do_GET(self) -> None:
        lab = self.server.lab
        path = urlsplit(self.path).path
        if path == "/":
            return self._send(200, lab.page(), "text/html; charset=utf-8")
        if path == "/messages.json":
            with lab._lock:
                shown = [{"time": m.time, "text": m.text, "blocks": list(m.blocks)} for m in lab.messages]
            return self._send(200, json.dumps(shown), "application/json")
        self._send(404, "no_service")


def start_slack_lab(channel: str = "#incidents") -> SlackLab:
    """A started webhook server for the lab (stopped with ``stop()``)."""
    return SlackLab(channel).start()
