"""One kubeconfig context: its REST client (resolved in a child process), informers and
kubectl conventions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cockpit.backends.kubernetes.errors import _check, translate
from cockpit.backends.kubernetes.informer import Informer
from cockpit.backends.kubernetes.records import (
    _API_OF,
    _PREFIX,
    ERROR_GRACE,
    LOG_POSITIONS,
    SYNC_WAIT,
)
from cockpit.backends.kubernetes.rest import KubeRest, ResolveError, resource_path
from cockpit.backends.pools import run_in_pool
from cockpit.errors import BackendError, CockpitError, CredentialsError

if TYPE_CHECKING:
    from cockpit.backends.kubernetes.logs import KubernetesLogSource

log = logging.getLogger(__name__)


class KubeContext:
    """One kubeconfig context: its REST client, informers and kubectl conventions."""

    def __init__(self, context: str | None, *, kubeconfig: str | None = None,
                 estate: str = "") -> None:
        self.context = context
        self.kubeconfig = kubeconfig
        self.name = context or "current-context"
        self.estate = estate or self.name  # the profile's name for it (its rows carry it)
        self._lock = threading.Lock()
        self._rest: KubeRest | None = None
        self._informers: dict[tuple[str, str], Informer] = {}
        self._users: set[int] = set()
        # Log followers of this context. One that follows a single workload (added on demand)
        # claims its container streams: the namespace-wide followers hand those over instead
        # of showing every line twice, and take them back when it is removed.
        self.log_followers: weakref.WeakSet[KubernetesLogSource] = weakref.WeakSet()
        self.log_claims_version = 0
        self._log_positions: dict[tuple[str, str, str], tuple[datetime, set[str]]] = {}

    def describe_estate(self) -> dict[str, str]:
        """What a confirmation and the audit say about where an action runs."""
        return {"estate": self.estate, "context": self.name}

    # --- client ------------------------------------------------------------------------

    def rest(self) -> KubeRest:
        """The context's REST client (resolved and connected on its first request)."""
        with self._lock:
            if self._rest is None:
                self._rest = _ResolvingRest(self)
            return self._rest

    @staticmethod
    def path(plural: str, namespace: str = "", name: str = "", sub: str = "") -> str:
        """The API path of a kind this backend reads (``_API_OF``), e.g. a pod's log."""
        return resource_path(_PREFIX[_API_OF[plural]], plural, namespace, name, sub)

    async def run(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def guarded() -> Any:
            try:
                return fn(*args, **kwargs)
            except CockpitError:
                raise
            except Exception as e:
                raise translate(e, what, self.name) from e

        # Its own threads, not the default executor: calls hung on an unanswering API server
        # (30 s request timeouts) must not starve the audit write or other backends.
        return await run_in_pool("k8s", 8, guarded)

    # --- informers ------------------------------------------------------------------------

    def informer(self, plural: str, namespace: str = "") -> Informer:
        with self._lock:
            inf = self._informers.get((plural, namespace))
            if inf is None:
                inf = Informer(self, plural, namespace)
                self._informers[(plural, namespace)] = inf
        inf.start()
        return inf

    async def ready(self, informers: Sequence[Informer], *, wait: float = SYNC_WAIT) -> None:
        """Wait for every informer's first list; raise its error when it cannot list or is stale."""
        deadline = time.monotonic() + wait
        while True:
            pending = [i for i in informers if not i.synced.is_set()]
            for i in informers:
                if i.error is not None and (
                    not i.synced.is_set()
                    or (i.error_since is not None and time.monotonic() - i.error_since > ERROR_GRACE)
                ):
                    raise i.error
            if not pending:
                return
            if time.monotonic() > deadline:
                raise BackendError(f"{pending[0].what}: no first list within {wait:g} s",
                                   "the API server is slow or the namespace is huge; retrying")
            await asyncio.sleep(0.02)

    def acquire(self, owner: object) -> None:
        self._users.add(id(owner))

    async def release(self, owner: object) -> None:
        self._users.discard(id(owner))
        if self._users:
            return
        with self._lock:
            infs = list(self._informers.values())
            self._informers.clear()
            rest, self._rest = self._rest, None
        for i in infs:
            i.stop()
        def join_all() -> None:
            for i in infs:
                i.join(2)

        await asyncio.to_thread(join_all)
        if rest is not None:
            await asyncio.to_thread(rest.close)

    # --- log streams handed between followers ---------------------------------------------

    def followers(self) -> list[KubernetesLogSource]:
        with self._lock:
            return list(self.log_followers)

    def claimed_logs(self) -> set[tuple[str, str, str]]:
        """(namespace, pod, container) streams followed by a single-workload follower."""
        out: set[tuple[str, str, str]] = set()
        for f in self.followers():
            out |= f.claims
        return out

    def claims_changed(self, by: KubernetesLogSource) -> None:
        with self._lock:
            self.log_claims_version += 1
        for f in self.followers():
            if f is not by:
                f._poke()

    def save_log_position(self, key: tuple[str, str, str], last: datetime | None, seen: set[str]) -> None:
        """Where a halted stream was, so the follower taking it over resumes there."""
        if last is None:
            return
        with self._lock:
            self._log_positions[key] = (last, set(seen))
            while len(self._log_positions) > LOG_POSITIONS:
                self._log_positions.pop(next(iter(self._log_positions)))

    def log_position(self, key: tuple[str, str, str],
                     asking: KubernetesLogSource) -> tuple[datetime, set[str]] | None:
        """The newest position another follower has (or had) for that stream, if any."""
        for f in self.followers():
            if f is not asking:
                pos = f.position(key)
                if pos is not None:
                    return pos
        with self._lock:
            return self._log_positions.pop(key, None)

    # --- kubectl --------------------------------------------------------------------------

    def cli(self, *args: str, namespace: str | None = None) -> list[str]:
        argv = ["kubectl"]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        if namespace:
            argv += ["-n", namespace]
        return argv + list(args)


class _ResolvingRest(KubeRest):
    """``KubeRest`` whose resolution failures are the ``CredentialsError`` users know."""

    def __init__(self, ctx: KubeContext) -> None:
        super().__init__(ctx.kubeconfig, ctx.context)
        self.ctx_name = ctx.name

    def _connect_locked(self) -> None:
        try:
            super()._connect_locked()
        except ResolveError as e:
            raise CredentialsError(
                f"kubernetes context {self.ctx_name}: {e}",
                "set KUBECONFIG or ~/.kube/config and check the context name (kubectl config get-contexts)",
            ) from e


def _load(resp: Any) -> Any:
    return json.loads(_check(resp).data or b"null")


