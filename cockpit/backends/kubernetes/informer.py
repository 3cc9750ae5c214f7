"""The Informer: list once, then watch, keeping a kind's objects of a namespace in memory."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cockpit.backends.kubernetes.errors import KubeApiError, _check, translate
from cockpit.backends.kubernetes.records import LIST_PAGE, WATCH_TIMEOUT, _key, _meta
from cockpit.backends.kubernetes.rest import iter_lines
from cockpit.errors import CockpitError

if TYPE_CHECKING:
    from cockpit.backends.kubernetes.context import KubeContext

log = logging.getLogger(__name__)


class Informer:
    """List once, then watch: a thread keeps ``items`` (raw dicts by ns/name) current."""

    def __init__(self, ctx: KubeContext, plural: str, namespace: str) -> None:
        self.ctx = ctx
        self.plural = plural
        self.namespace = namespace
        self.items: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.rv: str | None = None
        self.synced = threading.Event()
        self.error: CockpitError | None = None
        self.error_since: float | None = None
        self.version = 0  # bumped on every change: cheap change detection for readers
        self.lists = 0
        self.resumes = 0
        self._stop = threading.Event()
        self._resp: Any = None
        self._thread: threading.Thread | None = None
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

    @property
    def what(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"watch {self.plural}{where}"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"k8s-{self.plural}-{self.namespace or 'all'}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        resp = self._resp
        if resp is not None:
            # Unblock the thread's read at once instead of waiting out the watch timeout.
            with contextlib.suppress(Exception):
                sock = getattr(getattr(resp, "connection", None), "sock", None)
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.items.values())

    def _call(self, query: dict[str, Any], timeout: tuple[float, float]) -> Any:
        """GET the list (or watch, by ``query``) of this informer's kind and namespace."""
        ns = "" if self.plural == "nodes" else self.namespace
        return self.ctx.rest().get(self.ctx.path(self.plural, ns), query, timeout=timeout)

    def _list(self) -> None:
        items: dict[str, dict[str, Any]] = {}
        cont: str | None = None
        rv = None
        while True:
            q: dict[str, Any] = {"limit": LIST_PAGE}
            if cont:
                q["continue"] = cont
            body = json.loads(_check(self._call(q, (10, 60))).data)
            meta = body.get("metadata") or {}
            rv = rv or meta.get("resourceVersion")
            for it in body.get("items") or []:
                items[_key(it)] = it
            cont = meta.get("continue")
            if not cont:
                break
        with self.lock:
            old = self.items
            self.items = items
            self.rv = rv
            self.version += 1
            self.lists += 1
        for k in old.keys() - items.keys():
            self._notify("DELETED", old[k])
        for k in items.keys() - old.keys():
            self._notify("ADDED", items[k])

    def _notify(self, etype: str, obj: dict[str, Any]) -> None:
        for fn in list(self.listeners):
            try:
                fn(etype, obj)
            except Exception:  # a listener's bug must not stop the watch
                log.exception("listener of %s failed", self.what)

    def _watch(self) -> None:
        resp = self._call({"watch": True, "resourceVersion": self.rv, "timeoutSeconds": WATCH_TIMEOUT,
                           "allowWatchBookmarks": True}, (10, WATCH_TIMEOUT + 30))
        self._resp = resp
        try:
            _check(resp)
            # Connected again: a dropped watch that resumed is not an error any more.
            self.error = self.error_since = None
            for line in iter_lines(resp):
                if self._stop.is_set():
                    return
                if not line:
                    continue
                ev = json.loads(line)
                etype, obj = ev.get("type"), ev.get("object") or {}
                if etype == "ERROR":
                    raise KubeApiError(int(obj.get("code") or 500), str(obj.get("reason", "")),
                                       str(obj.get("message", "")))
                rv = _meta(obj).get("resourceVersion")
                if etype == "BOOKMARK":
                    self.rv = rv or self.rv
                    continue
                k = _key(obj)
                with self.lock:
                    if etype == "DELETED":
                        self.items.pop(k, None)
                    else:
                        self.items[k] = obj
                    self.version += 1
                    self.rv = rv or self.rv
                self._notify(str(etype), obj)
        finally:
            self._resp = None
            with contextlib.suppress(Exception):
                resp.release_conn()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if self.rv is None:
                    self._list()
                    self.synced.set()
                else:
                    self.resumes += 1
                self._watch()
                failures = 0
                self.error = self.error_since = None
            except KubeApiError as e:
                if self._stop.is_set():
                    break
                if e.status == 410:
                    # The version was compacted away: only a fresh list is consistent.
                    self.rv = None
                    continue
                failures = self._failed(e, failures)
            except Exception as e:
                if self._stop.is_set():
                    break
                failures = self._failed(e, failures)

    def _failed(self, e: BaseException, failures: int) -> int:
        failures += 1
        if self.error_since is None:
            self.error_since = time.monotonic()
        self.error = translate(e, self.what, self.ctx.name)
        log.info("%s failed (%s), retry %d", self.what, self.error, failures)
        # A dropped connection is normal: resume at once the first time, then back off.
        self._stop.wait(0 if failures == 1 else min(30.0, 0.25 * 2 ** failures))
        return failures
