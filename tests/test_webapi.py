"""The incident APIs' shared client against a real loopback HTTP server: 429 with Retry-After,
5xx, refused tokens, Link pagination, and a secret webhook URL that never shows in an error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cockpit.errors import BackendError, CredentialsError
from cockpit.integrations.webapi import WebAPI, retry_after


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def _send(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path))
        path, _, query = self.path.partition("?")
        if path == "/busy":
            self.server.busy -= 1
            if self.server.busy >= 0:
                return self._send(429, {"detail": "slow down"}, {"Retry-After": "0"})
            return self._send(200, {"ok": True})
        if path == "/down":
            return self._send(503, {"detail": "maintenance"})
        if path == "/auth":
            return self._send(401, {"detail": "Invalid token"})
        if path == "/issues":
            page = int(query.partition("cursor=")[2] or 0)
            base = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}/issues"
            more = "true" if page < 2 else "false"
            link = (f'<{base}?cursor={page - 1}>; rel="previous"; results="false"; cursor="{page - 1}", '
                    f'<{base}?cursor={page + 1}>; rel="next"; results="{more}"; cursor="{page + 1}"')
            return self._send(200, [{"id": f"{page}"}], {"Link": link})
        self._send(404, {"detail": "no such thing"})

    def do_POST(self) -> None:
        self.server.seen.append(("POST", self.path))
        self._send(500, {"detail": "boom"})


class _Server(ThreadingHTTPServer):
    busy = 0
    seen: list[tuple[str, str]]


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.seen = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _api(srv: _Server, **kw: object) -> WebAPI:
    host, port = srv.server_address[:2]
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    api = WebAPI("Sentry", f"http://{host!s}:{port}", sleep=sleep, **kw)  # type: ignore[arg-type]
    api.waits = waits  # type: ignore[attr-defined]
    return api


async def test_429_waits_as_told_then_gets_the_answer(server):
    server.busy = 2
    api = _api(server)
    r = await api.request("GET", "/busy")
    assert r.json() == {"ok": True}
    assert api.waits == [0.0, 0.0]  # type: ignore[attr-defined]
    await api.aclose()


async def test_429_past_the_retries_says_when_to_try_again(server):
    server.busy = 10
    api = _api(server, retries=1)
    with pytest.raises(BackendError, match="rate limited"):
        await api.request("GET", "/busy")
    await api.aclose()


async def test_5xx_is_tried_again_for_a_get_not_for_a_post(server):
    api = _api(server, retries=2)
    with pytest.raises(BackendError, match=r"HTTP 503"):
        await api.request("GET", "/down")
    assert server.seen.count(("GET", "/down")) == 3
    with pytest.raises(BackendError, match=r"HTTP 500"):
        await api.request("POST", "/hook", json={"text": "hi"})
    assert server.seen.count(("POST", "/hook")) == 1  # a POST that may have landed is not repeated
    await api.aclose()


async def test_a_refused_token_says_how_to_renew_it(server):
    api = _api(server, token_hint="set SENTRY_TOKEN (profiles.yaml: sentry.token)")
    with pytest.raises(CredentialsError) as e:
        await api.request("GET", "/auth")
    assert "SENTRY_TOKEN" in e.value.hint
    await api.aclose()


async def test_link_pagination_stops_where_sentry_says_no_more_results(server):
    api = _api(server)
    ids = [item["id"] async for r in api.pages("/issues") for item in r.json()]
    assert ids == ["0", "1", "2"]
    await api.aclose()


async def test_a_secret_url_never_shows_in_an_error(server):
    api = _api(server, secret_url=True)
    api.base_url += "/services/T000/B000/XXXXSECRET"
    with pytest.raises(BackendError) as e:
        await api.request("POST", "", json={"text": "hi"})
    assert "SECRET" not in str(e.value) and "services" not in str(e.value)
    await api.aclose()


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after("7") == 7.0
    assert retry_after(None) == 1.0
    assert retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after("garbage") == 1.0
