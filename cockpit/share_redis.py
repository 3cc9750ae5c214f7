"""Sharing on Redis Streams: the target URL, the publishing sink and the driver lease.

The driver (or a headless ``cockpit poll``) appends the event stream (docs/stream.md) to a
Redis stream, one entry per event, trimmed by length (``XADD MAXLEN ~``) and by age
(``XTRIM MINID ~``). Every ``snapshot_every`` seconds a *state* entry carries the full state
(``hello``, a full snapshot of every source, the open detail) and the key ``STREAM:state``
names its id, so a watcher starts there instead of reading the history.

Publishing never waits on Redis: ``publish`` puts the entry in a bounded queue that a task
drains with pipelined ``XADD``s. A slow or unreachable Redis is reported (``status``) and
retried with backoff; when the queue is full, events are dropped and counted, and the next
entry written is a state that heals every watcher. An entry carries its publisher's session
and a sequence number: a batch resent after an ambiguous failure makes duplicates in the
stream, which readers skip (cockpit/redis_watch.py).

A password never appears in process arguments: a URL given on the command line with one is
refused; it comes from ``?password=env:NAME`` / ``?password=file:PATH`` or a profile's
``share.url`` (itself ``env:``/``file:``).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from cockpit.errors import CockpitError
from cockpit.masking import mask_secrets
from cockpit.profile import SecretRef, ShareConfig
from cockpit.stream import dumps

QUEUE_MAX = 5000  # entries waiting for Redis; beyond, events are dropped and a state heals
BATCH = 200  # entries per pipeline
SLOW_AFTER_S = 5.0  # an entry waiting this long: the share says Redis is slow
BACKOFF_MAX_S = 10.0
SCHEMES = ("redis://", "rediss://")
_READER_KEYS = {"from", "to"}  # replay's range: not part of the connection


def is_redis(text: str | None) -> bool:
    return bool(text) and (str(text).startswith(SCHEMES) or text == "redis")


@dataclass
class RedisTarget:
    """A Redis stream to share on: the server URL (no password in it), the stream's name,
    where the password comes from, and (for replay) a time range."""

    url: str
    stream: str
    password: SecretRef | None = None
    secret_url: SecretRef | None = None  # a profile's env:/file: URL, resolved when connecting
    query: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:  # what is shown: never a password
        return f"{self.url}?stream={self.stream}"

    @property
    def state_key(self) -> str:
        return f"{self.stream}:state"

    @property
    def lease_key(self) -> str:
        return f"{self.stream}:driver"

    def client(self, *, timeout: float = 5.0) -> Any:
        """A ``redis.asyncio`` client that retries nothing itself: the callers' loops do."""
        import redis.asyncio as aredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        url = self.url
        if self.secret_url is not None:
            url = _connection_url(self.secret_url.resolve())
        password = self.password.resolve() if self.password is not None else None
        kw: dict[str, Any] = {"password": password} if password else {}
        return aredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=min(timeout, 3.0),
            retry=Retry(NoBackoff(), 0), decode_responses=True, **kw,
        )


def _connection_url(text: str) -> str:
    """The URL without the query keys the cockpit reads itself (stream, password, range)."""
    parts = urlparse(text)
    rest = [(k, v) for k, v in parse_qsl(parts.query) if k not in {"stream", "password", *_READER_KEYS}]
    return urlunparse(parts._replace(query=urlencode(rest)))


def parse_redis_target(text: str, profile: str = "lab", share: ShareConfig | None = None) -> RedisTarget:
    """``redis://HOST:PORT/N?stream=NAME[&password=env:X|file:P]`` (or rediss://), or the word
    ``redis`` for the profile's ``share.url``. A literal password is refused: command lines
    are public (ps)."""
    secret_url: SecretRef | None = None
    if text == "redis":
        if share is None or share.url is None:
            raise CockpitError("--share redis needs the profile's share.url",
                               "give the URL instead: --share redis://HOST:PORT/0?stream=cockpit:NAME")
        secret_url = share.url
        if str(share.url).startswith(("env:", "file:")):
            text = share.url.resolve()
        else:
            text, secret_url = str(share.url), None
    parts = urlparse(text)
    if parts.scheme not in ("redis", "rediss"):
        raise CockpitError(f"not a Redis URL: {parts.scheme}://…", "use redis://HOST:PORT/N or rediss://…")
    query = dict(parse_qsl(parts.query))
    hint = "give it as ?password=env:NAME or ?password=file:PATH (a file only you can read)"
    if parts.password and secret_url is None:
        raise CockpitError("a password in a command's arguments can be read by every local user (ps)", hint)
    password = None
    if "password" in query:
        ref = query["password"]
        if not ref.startswith(("env:", "file:")):
            raise CockpitError("a literal password in a command's arguments can be read by every local user", hint)
        password = SecretRef(ref)
    db = parts.path.lstrip("/") or "0"
    if not db.isdigit():
        raise CockpitError(f"the database number must be an integer, not {db!r}", "e.g. redis://127.0.0.1:6379/0")
    stream = query.get("stream") or f"cockpit:{profile}"
    host = parts.hostname or "127.0.0.1"
    netloc = f"{parts.username}@" if parts.username else ""
    netloc += f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    shown = urlunparse((parts.scheme, netloc, f"/{db}", "", "", ""))
    return RedisTarget(shown, stream, password, secret_url,
                       {k: v for k, v in query.items() if k in _READER_KEYS})


def owner_name() -> str:
    """Who drives, as the audit and the lease name them: user@host."""
    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid (a container): its number
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


# --- the publishing sink -------------------------------------------------------------------


@dataclass
class _Entry:
    fields: dict[str, str]
    queued_at: float


class RedisShare:
    """A stream sink appending events to a Redis stream, never blocking its caller.

    ``states=False``: a driver that only adds its actions to a poller's stream (attach
    --drive) writes no state entries, which would replace the poller's records.
    """

    def __init__(self, target: RedisTarget, full_state: Callable[[], list[dict[str, Any]]],
                 settings: ShareConfig | None = None, *,
                 on_status: Callable[[str, bool], None] | None = None, states: bool = True,
                 queue_max: int = QUEUE_MAX, clock: Callable[[], float] = time.time) -> None:
        self.target = target
        self.full_state = full_state
        self.settings = settings or ShareConfig()
        self.on_status = on_status
        self.states = states
        self.queue_max = queue_max
        self.clock = clock
        self.session = secrets.token_hex(6)
        self._seq = 0
        self._queue: deque[_Entry] = deque()
        self._need_state = states  # a stream's first entry is a state: watchers start there
        self._heal = False
        self._trim_due = False
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: Any = None
        self.sent = 0
        self.dropped = 0
        self.error: str | None = None  # the last failure, while it lasts
        self.retry_at: float | None = None
        self._said: tuple[str, bool] | None = None

    @property
    def address(self) -> str:
        return str(self.target)

    @property
    def watch_command(self) -> str:
        return f"cockpit attach {self.target}"

    async def start(self) -> str:
        self._client = self.target.client()  # builds only; the writer connects (and retries)
        self._tasks = [asyncio.create_task(self._writer(), name="redis-share"),
                       asyncio.create_task(self._ticker(), name="redis-share-state")]
        self._wake.set()
        return self.address

    # Called on the UI's loop for every event: a deque append, nothing else.
    def publish(self, event: dict[str, Any]) -> None:
        kind = str(event.get("kind", ""))
        if not self._room(2 if self._need_state else 1):
            self.dropped += 1
            self._need_state = self._heal = self.states
            return
        if self._need_state:
            self._add_state()
        self._add(kind, dumps(mask_secrets(event)))

    def _room(self, n: int) -> bool:
        return len(self._queue) + n <= self.queue_max

    def _add(self, kind: str, data: str, **extra: str) -> None:
        self._seq += 1
        fields = {"k": kind, "s": self.session, "n": str(self._seq), "d": data, **extra}
        self._queue.append(_Entry(fields, time.monotonic()))
        self._wake.set()

    def _add_state(self) -> None:
        """The full state now, in order after every event queued before it."""
        events = [mask_secrets(e) for e in self.full_state()]
        self._add("state", "[" + ",".join(dumps(e) for e in events) + "]", **({"h": "1"} if self._heal else {}))
        self._need_state = self._heal = False

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.settings.snapshot_every)
            if self.states:
                if self._room(1):
                    self._add_state()
                else:
                    self._need_state = True
            self._trim_due = True
            self._wake.set()

    async def _writer(self) -> None:
        backoff = 0.5
        while True:
            if not self._queue and not self._trim_due:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue[i] for i in range(min(BATCH, len(self._queue)))]
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # redis errors, OSError, a bad password reference alike
                self.error = _describe(e)
                self.retry_at = time.monotonic() + backoff
                self._say()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                with contextlib.suppress(Exception):  # a fresh connection next time
                    await detached(self._client.connection_pool.disconnect(), 2)
                continue
            backoff = 0.5
            for _ in batch:
                self._queue.popleft()
            self.sent += len(batch)
            self.error, self.retry_at = None, None
            self._say()

    async def _write(self, batch: list[_Entry]) -> None:
        s = self.settings
        pipe = self._client.pipeline(transaction=False)
        for entry in batch:
            pipe.xadd(self.target.stream, entry.fields, maxlen=s.maxlen, approximate=True)
        trim = self._trim_due and s.max_age is not None
        if trim:
            assert s.max_age is not None
            pipe.xtrim(self.target.stream, minid=f"{int((self.clock() - s.max_age) * 1000)}-0", approximate=True)
        ids = await detached(pipe.execute(), 30)
        self._trim_due = False
        states = [i for e, i in zip(batch, ids, strict=False) if e.fields["k"] == "state"]
        if states:
            ttl = int((s.max_age or 86400 * 7) * 1000)
            await detached(self._client.set(self.target.state_key, states[-1], px=ttl), 30)

    def status(self) -> tuple[str, bool]:
        """What the share says now, and whether all is well."""
        waiting = len(self._queue)
        lost = f", {self.dropped} events dropped (the next full state heals watchers)" if self.dropped else ""
        if self.error is not None:
            wait = max(0.0, (self.retry_at or 0) - time.monotonic())
            return (f"Redis share {self.target}: {self.error}; retrying in {wait:.0f} s, "
                    f"{waiting} events waiting{lost}", False)
        if waiting and time.monotonic() - self._queue[0].queued_at > SLOW_AFTER_S:
            return f"Redis share {self.target}: Redis is slow, {waiting} events waiting{lost}", False
        return f"sharing on {self.target}: {self.sent} entries sent{lost}", True

    def _say(self) -> None:
        text, ok = self.status()
        if self._said is None or self._said[1] != ok:  # transitions only, not every batch
            if self.on_status is not None and (self._said is not None or not ok):
                self.on_status(text if not ok else f"Redis share {self.target} is writing again", ok)
            self._said = (text, ok)

    async def stop(self, flush_within: float = 2.0) -> None:
        """Write what is queued (for ``flush_within`` at most), then close."""
        deadline = time.monotonic() + flush_within
        while self._queue and self.error is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await detached(self._client.aclose(), 1)


def _quiet(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a read given up on is not "never retrieved"


async def detached(aw: Any, timeout: float | None = None) -> Any:
    """``await aw`` in a task of its own, given up on at ``timeout`` or when the caller is
    cancelled, without waiting for it to end: redis.asyncio can hold a cancelled blocking
    read (or a close after one) until the server answers, and quitting must not wait."""
    task = asyncio.ensure_future(aw)
    task.add_done_callback(_quiet)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise TimeoutError(f"no answer from Redis within {timeout:g} s")
    return task.result()


def _describe(e: BaseException) -> str:
    from cockpit.masking import mask_text

    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return mask_text(text)[:200]


# --- the driver lease ---------------------------------------------------------------------

_RENEW = """if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"""
_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1]) else return 0 end"""


class DriverLease:
    """``SET STREAM:driver OWNER NX PX ttl``, renewed every third of the TTL: one driver at a
    time. ``held`` turns false as soon as a renewal finds another owner, or when no renewal
    succeeded for a whole TTL (Redis away: another may have taken it)."""

    def __init__(self, target: RedisTarget, ttl: float = 15.0, owner: str | None = None,
                 on_lost: Callable[[str], None] | None = None) -> None:
        self.target = target
        self.ttl = ttl
        self.name = owner or owner_name()
        self.token = f"{self.name} {secrets.token_hex(6)}"  # two cockpits of one user differ
        self.on_lost = on_lost
        self._client: Any = None
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    async def holder(self) -> str | None:
        client = self._client or self.target.client()
        value = await client.get(self.target.lease_key)
        return value.rsplit(" ", 1)[0] if value else None

    async def acquire(self) -> bool:
        self._client = self._client or self.target.client()
        started = time.monotonic()
        if await detached(self._client.set(self.target.lease_key, self.token, nx=True, px=int(self.ttl * 1000)), 10):
            self._valid_until = started + self.ttl
            self._task = asyncio.create_task(self._renew(), name="driver-lease")
            return True
        return False

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            started = time.monotonic()
            try:
                ok = await detached(self._client.eval(_RENEW, 1, self.target.lease_key, self.token,
                                                      int(self.ttl * 1000)), self.ttl / 3)
            except Exception:  # Redis away: held until the TTL runs out, then lost
                ok = None
            if ok:
                self._valid_until = started + self.ttl
            elif ok == 0 or not self.held:
                self._valid_until = 0.0
                if self.on_lost is not None:
                    self.on_lost("the driver lease was lost (another driver took it, or Redis was away "
                                 "longer than its TTL): actions are refused now")
                return

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=2)
        if self._client is not None:
            with contextlib.suppress(Exception):
                if self.held:
                    await detached(self._client.eval(_RELEASE, 1, self.target.lease_key, self.token), 5)
            self._valid_until = 0.0
            with contextlib.suppress(Exception):
                await detached(self._client.aclose(), 1)
