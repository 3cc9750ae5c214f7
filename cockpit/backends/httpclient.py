"""Blocking HTTP in a thread pool, for the sources that poll HTTP APIs all shift long.

Prometheus, Alertmanager and the health checks are asked every 10-15 s for as long as the
cockpit is open. Through httpx's async client a request cost the cockpit about 1.3 ms of
CPU; through urllib3 (botocore's own HTTP library, so already installed) in a small pool of
threads, about 0.5 ms (bench/README.md). A request runs to its end in its thread: the
caller's deadline ends the *wait* at once, and urllib3's connect and read timeouts end the
thread soon after, so a server that hangs holds one thread of this pool, nothing else.
"""

from __future__ import annotations

import functools
import json as jsonlib
import ssl
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import (
    HTTPError,
    InsecureRequestWarning,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from cockpit.backends.pools import run_in_pool

POOL = "http"
POOL_THREADS = 8  # a few servers, each with a request or two at a time


class HttpTimeout(Exception):
    """No connection or no answer within the timeout."""


class HttpConnectError(Exception):
    """Could not connect (refused, unreachable, name unknown, TLS verification failed)."""


class HttpRequestError(Exception):
    """The exchange broke after connecting (the server closed it, a malformed answer)."""


@dataclass(frozen=True)
class Response:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class HttpClient:
    """Keeps connections open between requests; never follows redirects; ignores proxy
    variables (a proxy from the environment must not see a token)."""

    def __init__(
        self,
        *,
        headers: dict[str, str] | None = None,
        verify: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"num_pools": 4, "maxsize": 4, "retries": False}
        if ssl_context is not None:
            kwargs["ssl_context"] = ssl_context
        elif not verify:
            kwargs.update(cert_reqs="CERT_NONE", assert_hostname=False)
            # Said once in the profile (verify: false), not on every request.
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
        self.headers = dict(headers or {})
        self._pool = urllib3.PoolManager(**kwargs)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        timeout: float,
        connect_timeout: float | None = None,
    ) -> Response:
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        headers = dict(self.headers)
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers["Content-Type"] = "application/json"
        limits = urllib3.Timeout(connect=connect_timeout or timeout, read=timeout)
        call = functools.partial(self._request, method, url, body, headers, limits)
        return await run_in_pool(POOL, POOL_THREADS, call)

    def _request(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], limits: urllib3.Timeout
    ) -> Response:
        # A kept connection the server closed as we reused it fails a read: a GET is tried
        # once more on a new one (a POST or DELETE may have been done: said, not repeated).
        tries = 2 if method == "GET" else 1
        for left in range(tries - 1, -1, -1):
            try:
                r = self._pool.request(method, url, body=body, headers=headers, timeout=limits, redirect=False)
                return Response(r.status, r.data)
            except (NewConnectionError, SSLError) as e:  # before Urllib3Timeout: subclasses it
                raise HttpConnectError(_reason(e)) from e
            except Urllib3Timeout as e:
                raise HttpTimeout(_reason(e)) from e
            except ProtocolError as e:
                if not left:
                    raise HttpRequestError(_reason(e)) from e
            except HTTPError as e:
                raise HttpRequestError(_reason(e)) from e
            except OSError as e:
                raise HttpConnectError(str(e) or type(e).__name__) from e
        raise AssertionError("unreachable: the last try returns or raises")

    def close(self) -> None:
        self._pool.clear()


def _reason(error: Exception) -> str:
    """urllib3's message without the connection object's repr in front."""
    text = str(error)
    # "<urllib3.connection.HTTPConnection object at 0x...>: Failed to establish ..."
    if text.startswith("<") and ">: " in text:
        text = text.split(">: ", 1)[1]
    return text or type(error).__name__
