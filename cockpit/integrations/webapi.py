"""One client for the request/response web APIs of the incident loop (Sentry, PagerDuty, Slack).

These are asked a few times a minute at most, or once when an engineer acts, so httpx's
async client is the right tool here (the hot polling paths use urllib3 in threads, see
cockpit/backends/httpclient.py). What every vendor client needs is here once:

- 429 waits for ``Retry-After`` (seconds or an HTTP date), capped, then tries again;
- 5xx and broken connections are tried again with backoff, but only for requests that are
  safe to repeat (a POST that may have been done is said, not repeated, unless the caller
  says it is idempotent, as PagerDuty's Events API is with a ``dedup_key``);
- 401/403 is a :class:`CredentialsError` whose hint names where the token comes from;
- ``Link: <…>; rel="next"`` pagination (Sentry's, with its ``results="false"`` end marker);
- no redirects followed, no proxy from the environment (neither may see a token), and a
  URL that is itself a secret (a Slack webhook) never appears in an error.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from cockpit.errors import BackendError, CredentialsError

SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class HTTPStatusError(BackendError):
    """A 4xx or 5xx answer; ``status`` and ``body`` let a vendor's client say more (a Slack
    webhook answers ``no_service`` when it was removed)."""

    def __init__(self, message: str, hint: str = "", *, status: int = 0, body: str = "") -> None:
        super().__init__(message, hint)
        self.status = status
        self.body = body


class WebAPI:
    """A vendor's API at ``base_url``; errors name the vendor (``name``) and what to do."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        max_wait: float = 30.0,
        token_hint: str = "",
        secret_url: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.max_wait = max_wait
        self.token_hint = token_hint
        self.secret_url = secret_url
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            headers=headers or {},
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )

    def _where(self, method: str, url: str) -> str:
        if self.secret_url:
            return f"{self.name} {method}"
        return f"{self.name} {method} {httpx.URL(url).path}"

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """The answer of a 2xx; anything else raises a BackendError that says what to do."""
        url = self.url(path)
        method = method.upper()
        repeatable = method in SAFE_METHODS if idempotent is None else idempotent
        where = self._where(method, url)
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                r = await self._client.request(method, url, params=params, json=json, headers=headers)
            except httpx.TimeoutException as e:
                if repeatable and not last:
                    await self._sleep(_backoff(attempt))
                    continue
                raise BackendError(f"{where}: no answer in time ({type(e).__name__})",
                                   "the service may be slow or down; try again") from e
            except httpx.HTTPError as e:
                # Connecting failed: nothing was sent, so even a POST may be tried again.
                connect = isinstance(e, httpx.ConnectError)
                if (repeatable or connect) and not last:
                    await self._sleep(_backoff(attempt))
                    continue
                raise BackendError(f"{where}: {_reason(e)}", "check the url in profiles.yaml") from e
            if r.status_code == 429:
                wait = retry_after(r.headers.get("Retry-After"))
                if not last and wait <= self.max_wait:
                    await self._sleep(wait)
                    continue
                raise BackendError(f"{where}: rate limited (HTTP 429)",
                                   f"the API asks to wait {wait:.0f} s; try again then")
            if r.status_code >= 500:
                if repeatable and not last:
                    await self._sleep(_backoff(attempt))
                    continue
                raise HTTPStatusError(f"{where}: the service failed (HTTP {r.status_code})",
                                      "the vendor's side is failing; try again later",
                                      status=r.status_code, body=_short(r.text))
            if r.status_code in (401, 403):
                raise CredentialsError(f"{where}: the token was refused (HTTP {r.status_code})",
                                       self.token_hint or "check the token in profiles.yaml")
            if r.status_code >= 400:
                raise HTTPStatusError(f"{where}: HTTP {r.status_code}: {_short(r.text)}",
                                      "check the names in profiles.yaml",
                                      status=r.status_code, body=_short(r.text))
            return r
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def pages(
        self, path: str, *, params: dict[str, Any] | None = None, max_pages: int = 20
    ) -> AsyncIterator[httpx.Response]:
        """Each page of a listing that says its next page in a ``Link`` header."""
        url: str | None = self.url(path)
        for _ in range(max_pages):
            assert url is not None
            r = await self.request("GET", url, params=params)
            yield r
            nxt = r.links.get("next")
            if not nxt or nxt.get("results") == "false" or not nxt.get("url"):
                return
            url, params = nxt["url"], None  # the next link carries the query itself

    async def aclose(self) -> None:
        await self._client.aclose()


def retry_after(value: str | None, *, now: float | None = None) -> float:
    """Seconds to wait from a Retry-After header: a number or an HTTP date (1 s if absent)."""
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 1.0
    return max(0.0, when - (time.time() if now is None else now))


def _backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2**attempt)


def _reason(error: Exception) -> str:
    return str(error) or type(error).__name__


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
