"""Drill disk-full: a rotated log grows huge beside a followed log of the lab's host and its
disk alarm fires. The goal: that disk back under its threshold (delete the rotated logs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.errors import CockpitError
from cockpit.lab.drills.base import Drill, DrillUnavailable
from cockpit.profile import Profile, Thresholds


class _Names(tuple[str, ...]):
    """``detect_on`` names: exact, or a prefix when the entry ends in a space ("host disk ")."""

    def __contains__(self, name: object) -> bool:
        text = str(name)
        return any(text == n or (n.endswith(" ") and text.startswith(n)) for n in self)


DISK_HOST = "this-machine"
BALLAST_MARGIN = 0.25  # percent points kept between the usage and the lowered threshold
BALLAST_MAX_SHARE = 0.02  # never more than 2 % of the file system ...
BALLAST_MAX_OF_FREE = 0.25  # ... nor a quarter of its free space
BALLAST_AGE_S = 3 * 86400  # an old rotated log, as the trainee would find it


def _df(path: Path) -> Any:
    """The file system holding ``path`` as the host probe sees it (``df -P -k``), or None."""
    import subprocess

    from cockpit.backends.hosts import parse_df

    out = subprocess.run(["df", "-P", "-k", str(path)], capture_output=True, text=True, timeout=10)
    disks = parse_df(out.stdout.splitlines())
    return disks[0] if disks else None


@dataclass(frozen=True)
class DiskFull(Drill):
    """A rotated log grew huge beside a followed log of the lab's host; its disk alarm fires.

    Filling a real disk to 80 % is out of the question on a trainee's machine, so the drill
    lowers that mount's disk threshold (the ``ThresholdOverrides`` the cockpit's host sources
    share, found through the session's ``sources``) to just above today's usage and writes a
    ballast file (``<log>.1``, allocated, three days old) big enough to cross it: about
    0.5-1.5 % of the file system. Deleting it ("host: delete rotated logs")
    brings the usage back under; the override is removed when the drill ends either way.
    """

    def _host_log(self, lab: Any) -> Path:
        hosts = lab.profile(Profile("lab", lab=True)).hosts
        host = next((h for h in hosts if h.name == DISK_HOST), None)
        if host is None or not host.logs:
            note = getattr(lab, "notes", {}).get("queues", "")
            raise DrillUnavailable(
                f"drill {self.name} needs a followed log on the lab's host {DISK_HOST}"
                " (the lab follows its Redis log)",
                note or "install redis-server",
            )
        return Path(host.logs[0])

    def _overrides(self, sources: Callable[[str], Any] | None) -> Any:
        """The run-time thresholds the cockpit's alarms and row of ``DISK_HOST`` read."""
        from cockpit.backends.hosts import ThresholdOverrides

        try:
            source = sources(f"hosts:{DISK_HOST}:alarms") if sources else None
        except LookupError:
            source = None
        overrides = getattr(source, "overrides", None)
        if not isinstance(overrides, ThresholdOverrides):
            raise DrillUnavailable(
                f"drill {self.name} lowers a disk threshold of the cockpit's host {DISK_HOST},"
                " and no cockpit shows that host here",
                f"start it from the cockpit's palette (drill: start {self.name}) on the lab",
            )
        return overrides

    async def inject(self, lab: Any, sources: Callable[[str], Any] | None = None) -> dict[str, Any]:
        overrides = self._overrides(sources)
        state = await super().inject(lab)
        overrides.set(state["metric"], state["threshold"])
        return {**state, "overrides": overrides}

    def _inject(self, lab: Any) -> dict[str, Any]:
        import math
        import os

        log = self._host_log(lab)
        ballast = log.with_name(log.name + ".1")
        if ballast.exists():
            raise CockpitError(f"{ballast} exists already", "delete it, then start the drill again")
        disk = _df(log.parent)
        if disk is None:
            raise DrillUnavailable(
                f"drill {self.name}: {log.parent} is on a file system the host pane does not show",
                "run the lab with its state dir on a real disk (not tmpfs)",
            )
        st = os.statvfs(log.parent)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        free = st.f_bavail * st.f_frsize
        total = used + free  # df's base for Use%
        now = 100.0 * used / total
        threshold = math.ceil(now + BALLAST_MARGIN)
        if threshold >= Thresholds().disk:
            raise DrillUnavailable(
                f"drill {self.name}: {disk.mount} is {disk.percent:.0f} % full already",
                "free some space first; the disk alarm is real then",
            )
        size = int((threshold + BALLAST_MARGIN - now) * total / 100)
        if size > min(BALLAST_MAX_SHARE * total, BALLAST_MAX_OF_FREE * free):
            raise DrillUnavailable(
                f"drill {self.name} would need a {size >> 20} MiB file on {disk.mount}: too big a"
                " share of that disk to fill safely",
                "run the lab on a smaller or emptier disk",
            )
        try:
            fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.posix_fallocate(fd, 0, size)  # real blocks, no time spent writing them
            finally:
                os.close(fd)
            old = time.time() - BALLAST_AGE_S
            os.utime(ballast, (old, old))
        except OSError as e:
            ballast.unlink(missing_ok=True)
            raise DrillUnavailable(f"drill {self.name} could not write {ballast}: {e}", "is the disk full?") from e
        metric = f"disk {disk.mount}"
        after = _df(log.parent)
        if after is None or after.percent <= threshold:
            ballast.unlink(missing_ok=True)
            raise CockpitError(
                f"drill {self.name}: {disk.mount} did not cross {threshold} % (something freed space"
                " meanwhile)",
                "start it again",
            )
        return {"ballast": str(ballast), "metric": metric, "threshold": threshold, "size": size}

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        if Path(state["ballast"]).exists():
            return False
        self._cleanup(lab, state)
        return True

    def _cleanup(self, lab: Any, state: dict[str, Any]) -> None:
        if state.get("ballast"):
            Path(state["ballast"]).unlink(missing_ok=True)
        if state.get("metric") and state.get("overrides") is not None:
            state["overrides"].set(state["metric"], None)


DISK_FULL = DiskFull(
    "disk-full",
    "disk full on a host",
    f"An old rotated log beside {DISK_HOST}'s followed Redis log has grown huge and its"
    " disk alarm fires (the lab lowers that disk's threshold to just above today's usage).",
    f"{DISK_HOST}'s disk back under its threshold (delete the rotated logs on the host row)",
    detect_on=_Names((DISK_HOST, f"{DISK_HOST} disk ")),
    in_cockpit_only="it lowers a threshold inside the cockpit: start it from the cockpit's"
    " palette (drill: start) on the lab",
)
