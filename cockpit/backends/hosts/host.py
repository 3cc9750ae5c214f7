"""One configured host: its transport (ssh or local), the probe its sources share (reused for
``max_age`` seconds, so the services and alarms sources cost one round trip), the CPU and
memory history for sparklines, and ``measure`` (a fresh probe over a given CPU window).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from cockpit.backends.hosts.probe import (
    PROBE_SCRIPT,
    SHOW_PROPERTIES,
    HostSnapshot,
    HostTools,
    parse_probe,
)
from cockpit.backends.hosts.rows import _checked_unit, has_rule, process_name, unit_rule
from cockpit.backends.ssh import (
    LocalTransport,
    Pool,
    SshTransport,
    Transport,
    check_command,
    check_path,
    check_unit,
)
from cockpit.errors import BackendError
from cockpit.profile import HostConfig, UnitConfig

HISTORY = 30  # probes kept for sparklines
FIRST_CPU_WINDOW_S = 0.3  # the first probe's two /proc/stat samples (later: probe to probe)


class Host:
    """One configured host: its transport and the probe its sources share."""

    def __init__(
        self,
        cfg: HostConfig,
        transport: Transport,
        *,
        tools: HostTools | None = None,
        max_age: float = 1.0,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        # systemd units (asked of systemctl); ``unit_items`` also holds the ruled ones, in order
        self.unit_items = tuple(_checked_unit(u) for u in cfg.units)
        self.units = tuple(unit_rule(u).name for u in self.unit_items if not has_rule(u))
        self.journal = tuple(check_unit(u) for u in cfg.journal)
        self.logs = tuple(check_path(p) for p in cfg.logs)
        self.checks = tuple((name, check_command(argv, f"check {name}")) for name, argv in cfg.checks)
        self.transport = transport
        self.tools = tools or HostTools()
        self.max_age = max_age  # a probe younger than this is shared, not repeated
        self._task: asyncio.Future[HostSnapshot] | None = None
        self._last: HostSnapshot | None = None
        self._last_at = 0.0
        self._error: BaseException | None = None
        self._users = 0
        self._history: dict[str, deque[float]] = {
            "cpu": deque(maxlen=HISTORY), "memory": deque(maxlen=HISTORY)
        }

    def history(self) -> tuple[tuple[str, tuple[float, ...]], ...]:
        """Recent cpu and memory % (oldest first), for the host row's sparklines."""
        return tuple((k, tuple(v)) for k, v in self._history.items() if v)

    def probe_command(self, pause: float) -> list[str]:
        return [
            "sh", "-c", PROBE_SCRIPT, "sh",
            self.tools.systemd_dir, self.tools.systemctl, f"{pause:g}", SHOW_PROPERTIES,
            "1" if any(has_rule(u) for u in self.unit_items) else "0",
            "\n".join(r.pidfile for u in self.unit_items if (r := unit_rule(u)).pidfile),
            *self.units,
        ]  # fmt: skip

    def unit_named(self, name: str) -> UnitConfig:
        return next((unit_rule(u) for u in self.unit_items if process_name(unit_rule(u).name) == name),
                    UnitConfig(name))

    async def snapshot(self) -> HostSnapshot:
        """The host's figures, shared by concurrent callers and reused for ``max_age`` s."""
        if self._task is not None and not self._task.done():
            return await asyncio.shield(self._task)
        if time.monotonic() - self._last_at < self.max_age:
            if self._error is not None:
                raise self._error
            if self._last is not None:
                return self._last
        self._task = asyncio.ensure_future(self._probe())
        return await asyncio.shield(self._task)

    async def measure(self, window_s: float) -> HostSnapshot:
        """A fresh probe whose CPU figure is measured over the next ``window_s`` seconds
        alone, like ``vmstat 1 2``'s second line (``cockpit check``: not over its start-up)."""
        if self._task is not None and not self._task.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._task)
        self._task = asyncio.ensure_future(self._probe(window_s))
        return await asyncio.shield(self._task)

    async def _probe(self, pause: float | None = None) -> HostSnapshot:
        previous = self._last.cpu_sample if self._last else None
        if pause is None:
            # The first probe samples CPU twice; later ones compare with the previous probe.
            pause = 0 if previous else FIRST_CPU_WINDOW_S
        try:
            result = await self.transport.run(self.probe_command(pause))
            if result.returncode != 0:
                raise BackendError(
                    f"{self.name}: probe failed: {result.error_text or f'exit {result.returncode}'}",
                    "the cockpit runs /bin/sh, /proc, df and ps on the host",
                )
            snap = parse_probe(self.name, result.text, previous)
        except BaseException as e:
            self._error, self._last_at = e, time.monotonic()
            raise
        self._last, self._error, self._last_at = snap, None, time.monotonic()
        for key, value in (("cpu", snap.cpu_percent), ("memory", snap.mem_percent)):
            if value is not None:
                self._history[key].append(value)
        return snap

    def acquire(self) -> None:
        self._users += 1

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            await self.transport.close()

    async def close(self) -> None:
        await self.transport.close()


def make_transport(cfg: HostConfig, pool: Pool, timeout: float) -> Transport:
    if cfg.local:
        return LocalTransport(cfg.name, pool=pool, timeout=timeout)
    if not cfg.ssh:
        raise BackendError(f"host {cfg.name} has neither ssh: nor local: true", "fix profiles.yaml")
    return SshTransport(cfg.name, cfg.ssh, pool=pool, timeout=timeout)
