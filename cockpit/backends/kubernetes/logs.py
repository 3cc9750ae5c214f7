"""Logs of every pod of a namespace, stern-like: one thread per container stream, resuming
from its last timestamp; one workload's pods on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cockpit.backends.kubernetes.errors import KubeApiError, _check, translate
from cockpit.backends.kubernetes.informer import Informer
from cockpit.backends.kubernetes.records import (
    LOG_BUFFER,
    LOG_TAIL,
    MAX_LOG_STREAMS,
    _meta,
    parse_time,
    selector_matches,
    split_ref,
    workload_of,
)
from cockpit.model import (
    LogLevel,
    LogRecord,
)

if TYPE_CHECKING:
    from cockpit.backends.kubernetes.context import KubeContext

log = logging.getLogger(__name__)


async def previous_log_lines(ctx: KubeContext, ns: str, pod: str, container: str,
                             tail: int = 50) -> list[str]:
    """``kubectl logs POD -c C --previous --tail=N``: the crashed container's last words."""

    def call() -> list[str]:
        resp = _check(ctx.rest().get(ctx.path("pods", ns, pod, "log"), {
            "container": container, "previous": True, "tailLines": tail}))
        return resp.data.decode("utf-8", "replace").splitlines()

    return await ctx.run(f"previous log of {pod}/{container}", call)


class _Stream:
    """One followed container log (a thread), resuming from its last timestamp."""

    def __init__(self, owner: KubernetesLogSource, ns: str, pod: str, container: str, label: str) -> None:
        self.owner, self.ns, self.pod, self.container, self.label = owner, ns, pod, container, label
        self.last: datetime | None = None
        self.seen_at_last: set[str] = set()
        self.stop = threading.Event()
        self.resp: Any = None
        self.thread = threading.Thread(target=self._run, name=f"k8s-log-{pod}", daemon=True)

    def halt(self) -> None:
        self.stop.set()
        resp = self.resp
        if resp is not None:
            with contextlib.suppress(Exception):
                sock = getattr(getattr(resp, "connection", None), "sock", None)
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                self._follow()
                failures = 0
                # The stream ended: the pod is gone or the container stopped. Try again
                # only while the pod is still wanted.
                if not self.owner.wants(self.ns, self.pod):
                    return
                self.stop.wait(1.0)
            except Exception as e:
                if self.stop.is_set():
                    return
                err = translate(e, f"log of {self.pod}", self.owner.ctx.name)
                if isinstance(e, KubeApiError) and e.status in (400, 404):
                    # Not started yet (ContainerCreating) or deleted: wait for the pod cache.
                    if not self.owner.wants(self.ns, self.pod):
                        return
                failures += 1
                log.info("%s (retry %d)", err, failures)
                # A dropped stream resumes at once; repeated failures back off.
                self.stop.wait(0 if failures == 1 else min(10.0, 0.25 * 2 ** failures))

    def _follow(self) -> None:
        # A quiet container may say nothing for long: reconnect (resuming) after 10 min.
        q: dict[str, Any] = {"container": self.container, "follow": True, "timestamps": True}
        if self.last is None:
            q["tailLines"] = LOG_TAIL
        else:
            q["sinceSeconds"] = max(1, int((datetime.now(UTC) - self.last).total_seconds()) + 1)
        ctx = self.owner.ctx
        resp = ctx.rest().get(ctx.path("pods", self.ns, self.pod, "log"), q, timeout=(10, 600))
        self.resp = resp
        try:
            _check(resp)
            buf = b""
            for chunk in resp.stream(65536, decode_content=False):
                if self.stop.is_set():
                    return
                buf += chunk
                *lines, buf = buf.split(b"\n")
                if lines:
                    self.owner.push(self._records(lines))
            if buf:
                self.owner.push(self._records([buf]))
        finally:
            self.resp = None
            with contextlib.suppress(Exception):
                resp.release_conn()

    def _records(self, lines: list[bytes]) -> list[LogRecord]:
        from cockpit.backends.loglines import parse_level

        out = []
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip("\r")
            stamp, _, body = text.partition(" ")
            t = parse_time(stamp)
            if t is None:
                t, body = datetime.now(UTC), text
            # A resumed stream starts a little early (whole seconds): skip what was seen.
            if self.last is not None and (t < self.last or (t == self.last and body in self.seen_at_last)):
                continue
            if self.last is None or t > self.last:
                self.last = t
                self.seen_at_last = set()
            self.seen_at_last.add(body)
            out.append(LogRecord(time=t, source=self.label, level=parse_level(body), text=body,
                                 id=f"{self.ns}/{self.pod}/{self.container}/{stamp}"))
        return out


class KubernetesLogSource:
    """Follows the logs of every pod of a namespace or of one workload, like stern.

    Pods join as the pod watch adds them and leave when it deletes them (each shown as a
    ``+``/``-`` line); each line is labelled ``workload/pod/container``. At most
    ``max_streams`` containers are followed at once. Between two reads at most ``LOG_BUFFER``
    lines are held: under a flood the oldest are dropped and a line says how many.
    """

    def __init__(self, ctx: KubeContext, namespace: str, *, workload: str | None = None,
                 container: str | None = None, max_streams: int = MAX_LOG_STREAMS,
                 buffer: int = LOG_BUFFER) -> None:
        self.ctx = ctx
        self.namespace = namespace
        self.workload = workload  # "deployment/api" or None for the whole namespace
        self.container = container
        self.max_streams = max_streams
        what = workload or "all pods"
        self.id = (f"k8s:{ctx.name}:{namespace or 'all'}:logs" + (f":{workload}" if workload else "")
                   + (f":{container}" if container else ""))
        self.title = f"k8s {namespace or 'all'}/{what}" + (f" [{container}]" if container else "")
        self._buf: deque[LogRecord] = deque(maxlen=buffer)
        self._dropped = 0
        self._lock = threading.Lock()
        self._streams: dict[tuple[str, str, str], _Stream] = {}
        self._wanted: set[tuple[str, str]] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._skipped = 0
        self.claims: set[tuple[str, str, str]] = set()  # streams this follower takes over
        ctx.acquire(self)
        with ctx._lock:
            ctx.log_followers.add(self)

    def position(self, key: tuple[str, str, str]) -> tuple[datetime, set[str]] | None:
        with self._lock:
            s = self._streams.get(key)
        if s is None or s.last is None:
            return None
        return s.last, set(s.seen_at_last)

    def explain_command(self) -> list[str]:
        if self.workload:
            which = ["-c", self.container] if self.container else ["--all-containers"]
            return self.ctx.cli("logs", "-f", self.workload, *which, "--prefix",
                                "--timestamps", namespace=self.namespace or None)
        return ["stern", *self.ctx.cli(".", namespace=self.namespace or None)[1:]]

    def wants(self, ns: str, pod: str) -> bool:
        with self._lock:
            return (ns, pod) in self._wanted

    def push(self, records: list[LogRecord]) -> None:
        if not records:
            return
        with self._lock:
            room = self._buf.maxlen - len(self._buf) if self._buf.maxlen else len(records)
            if len(records) > room:
                self._dropped += len(records) - room
            self._buf.extend(records)
        self._poke()

    def _poke(self, *_: Any) -> None:
        """Wake ``follow()`` from any thread (new lines, or the pod watch saw a change)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not wake.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed at exit
                loop.call_soon_threadsafe(wake.set)

    def _drain(self) -> list[LogRecord]:
        with self._lock:
            out = list(self._buf)
            self._buf.clear()
            dropped, self._dropped = self._dropped, 0
        if dropped:
            out.append(LogRecord(time=datetime.now(UTC), source=self.title, level=LogLevel.WARN,
                                 text=f"... {dropped} log lines dropped: the reader fell behind"))
        return out

    def _selected(self, pods: list[dict[str, Any]], selector: dict[str, Any] | None) -> list[dict[str, Any]]:
        out = []
        for p in pods:
            if self.workload:
                if not selector_matches(selector, _meta(p).get("labels")):
                    continue
            if (p.get("spec") or {}).get("nodeName") is None:
                continue  # not scheduled: nothing to read yet
            out.append(p)
        out.sort(key=lambda p: (_meta(p).get("namespace", ""), _meta(p).get("name", "")))
        return out

    def _reconcile(self, pods_inf: Informer, wl_inf: Informer | None) -> None:
        selector = None
        if self.workload and wl_inf is not None:
            _, name = split_ref(self.workload)
            with wl_inf.lock:
                wl = wl_inf.items.get(f"{self.namespace}/{name}")
            selector = (wl or {}).get("spec", {}).get("selector")
            if wl is None:
                selector = None
        pods = self._selected(pods_inf.snapshot(), selector) if (selector or not self.workload) else []
        want: dict[tuple[str, str, str], str] = {}
        skipped = 0
        # A namespace-wide follower leaves the streams a single-workload follower took over.
        taken = set() if self.workload else self.ctx.claimed_logs()
        for p in pods:
            m = _meta(p)
            ns, name = m.get("namespace", ""), m.get("name", "")
            containers = [c.get("name", "") for c in (p.get("spec") or {}).get("containers") or []]
            all_containers = len(containers)
            if self.container:
                containers = [c for c in containers if c == self.container]
            for c in containers:
                if (ns, name, c) in taken:
                    continue
                if len(want) >= self.max_streams:
                    skipped += 1
                    continue
                # Labelled alike by every follower, so a handed-over stream reads the same.
                label = f"{workload_of(p).split('/', 1)[-1]}/{name}" + (f"/{c}" if all_containers > 1 else "")
                want[(ns, name, c)] = label
        with self._lock:
            self._wanted = {(k[0], k[1]) for k in want}
            current = dict(self._streams)
        if self.workload and set(want) != self.claims:
            self.claims = set(want)
            self.ctx.claims_changed(self)
        now = datetime.now(UTC)
        notes: list[LogRecord] = []
        for k, s in current.items():
            if k not in want:
                s.halt()
                with self._lock:
                    self._streams.pop(k, None)
                self.ctx.save_log_position(k, s.last, s.seen_at_last)
                if k not in taken:  # handed over: the other follower goes on where this stopped
                    notes.append(LogRecord(now, s.label, LogLevel.INFO, f"- {s.label} left"))
        for k, label in want.items():
            if k not in current:
                s = _Stream(self, *k, label=label)
                pos = self.ctx.log_position(k, self)
                if pos is not None:  # resume where the follower that had it was: no line twice
                    s.last, s.seen_at_last = pos
                with self._lock:
                    self._streams[k] = s
                s.thread.start()
                if pos is None:
                    notes.append(LogRecord(now, label, LogLevel.INFO, f"+ {label} joined"))
        if skipped and skipped != self._skipped:
            notes.append(LogRecord(now, self.title, LogLevel.WARN,
                                   f"following {self.max_streams} containers; {skipped} more not followed "
                                   f"(narrow to one workload)"))
        self._skipped = skipped
        self.push(notes)

    async def follow(self) -> AsyncIterator[list[LogRecord]]:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        pods_inf = self.ctx.informer("pods", self.namespace)
        wl_inf = None
        if self.workload:
            plural, _ = split_ref(self.workload)
            wl_inf = self.ctx.informer(plural, self.namespace)
        await self.ctx.ready([pods_inf] + ([wl_inf] if wl_inf else []), wait=30)
        watched = [i for i in (pods_inf, wl_inf) if i is not None]
        for inf in watched:
            inf.listeners.append(self._poke)
        seen_version = -1
        try:
            while True:
                # Cleared before reading, so a wake-up during the yield is not lost.
                self._wake.clear()
                version = (pods_inf.version + (wl_inf.version if wl_inf else 0)
                           + self.ctx.log_claims_version)
                if version != seen_version:
                    seen_version = version
                    await asyncio.to_thread(self._reconcile, pods_inf, wl_inf)
                batch = self._drain()
                if batch:
                    yield batch
                    continue
                with contextlib.suppress(TimeoutError):
                    # Woken by new lines or a pod change; a timeout is only a safety net.
                    async with asyncio.timeout(5.0):  # not wait_for: see Hub._run
                        await self._wake.wait()
        finally:
            for inf in watched:
                with contextlib.suppress(ValueError):
                    inf.listeners.remove(self._poke)

    async def close(self) -> None:
        with self._lock:
            streams = dict(self._streams)
            self._streams.clear()
            self._wanted.clear()
        for k, s in streams.items():
            s.halt()
            self.ctx.save_log_position(k, s.last, s.seen_at_last)
        halted = list(streams.values())
        with self.ctx._lock:
            self.ctx.log_followers.discard(self)
        if self.claims:  # the namespace-wide followers take these streams back
            self.claims = set()
            self.ctx.claims_changed(self)
        def join_all() -> None:
            for s in halted:
                s.thread.join(2)

        await asyncio.to_thread(join_all)
        await self.ctx.release(self)
