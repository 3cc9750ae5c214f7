"""Profile -> backend source objects, importing each backend only when it is configured.

boto3, the kubernetes client, psycopg and redis together cost over a second to import; a
profile pays only for what it uses, and the app calls this after its first frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cockpit.backends.base import LogSource, Source
from cockpit.errors import CockpitError
from cockpit.model import PaneKind
from cockpit.profile import Profile


@dataclass
class NoticeSource:
    """A pane entry for something configured but not available: it says so, on screen."""

    id: str
    pane: PaneKind
    title: str
    message: str
    hint: str = ""

    async def fetch(self) -> Sequence[Any]:
        raise CockpitError(self.message, self.hint)

    async def close(self) -> None:
        return None


@dataclass
class Sources:
    sources: list[Source] = field(default_factory=list)
    log_sources: list[LogSource] = field(default_factory=list)


def build_sources(profile: Profile, notes: dict[str, str] | None = None) -> Sources:
    """Every source the profile configures. ``notes`` are the lab's "not installed" notices."""
    out = Sources()
    if profile.aws is not None:
        from cockpit.backends.aws import build_aws_sources

        srcs, logs = build_aws_sources(profile)
        out.sources += srcs
        out.log_sources += logs
    if profile.databases:
        from cockpit.backends.postgres import build_postgres_sources

        out.sources += build_postgres_sources(profile)
    if profile.redis:
        from cockpit.backends.redis import build_redis_sources

        out.sources += build_redis_sources(profile)
    # Delivered by later work; accepted by the schema now and shown as not available.
    for kind, configured, pane in (
        ("kubernetes", profile.kubernetes, PaneKind.SERVICES),
        ("hosts", profile.hosts, PaneKind.SERVICES),
        ("health", profile.health, PaneKind.ALARMS),
    ):
        if configured:
            out.sources.append(
                NoticeSource(
                    f"{kind}:pending",
                    pane,
                    kind,
                    f"{kind} backend is not available yet in this version",
                    f"the profile's {kind}: entries are kept and will be used once it lands",
                )
            )
    for pane_name, note in (notes or {}).items():
        message, _, hint = note.partition(": ")
        out.sources.append(
            NoticeSource(f"lab:{pane_name}", PaneKind(pane_name), f"lab {pane_name}", message, hint)
        )
    return out
