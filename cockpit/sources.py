"""Profile -> backend source objects, importing each backend only when it is configured.

boto3, the kubernetes client, psycopg and redis together cost over a second to import; a
profile pays only for what it uses, and the app calls this after its first frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cockpit.backends.base import LogSource, Source
from cockpit.errors import CockpitError
from cockpit.model import PaneKind, PaneRecord
from cockpit.profile import Profile


@dataclass
class NoticeSource:
    """A pane entry for something configured but not available: it says so, on screen."""

    id: str
    pane: PaneKind
    title: str
    message: str
    hint: str = ""

    async def fetch(self) -> Sequence[PaneRecord]:
        raise CockpitError(self.message, self.hint)

    async def close(self) -> None:
        return None


@dataclass
class Sources:
    sources: list[Source] = field(default_factory=list)
    log_sources: list[LogSource] = field(default_factory=list)


def _aws(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.aws import build_aws_sources

    return build_aws_sources(profile)


def _postgres(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.postgres import build_postgres_sources

    sources: list[Source] = list(build_postgres_sources(profile))
    return sources, []


def _redis(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.redis import build_redis_sources

    sources: list[Source] = list(build_redis_sources(profile))
    return sources, []


def _prometheus(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.prometheus import build_prometheus_sources

    return list(build_prometheus_sources(profile)), []


def _alertmanager(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.alertmanager import build_alertmanager_sources

    return list(build_alertmanager_sources(profile)), []


def _sentry(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.sentry import build_sentry_sources

    return list(build_sentry_sources(profile)), []


def _pagerduty(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.pagerduty import build_pagerduty_sources

    return list(build_pagerduty_sources(profile)), []


def _kubernetes(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.kubernetes import build_kubernetes_sources

    return build_kubernetes_sources(profile)


def _hosts(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.hosts import build_host_sources

    return build_host_sources(profile)


def _health(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    from cockpit.backends.health import build_health_sources

    return list(build_health_sources(profile)), []


# (name, is it configured, builder, the pane that shows a failure to build it)
_BACKENDS = (
    ("aws", lambda p: p.aws is not None, _aws, PaneKind.SERVICES),
    ("postgres", lambda p: bool(p.databases), _postgres, PaneKind.DATABASE),
    ("redis", lambda p: bool(p.redis), _redis, PaneKind.DATABASE),
    ("prometheus", lambda p: bool(p.prometheus), _prometheus, PaneKind.ALARMS),
    ("alertmanager", lambda p: bool(p.alertmanager), _alertmanager, PaneKind.ALARMS),
    ("hosts", lambda p: bool(p.hosts), _hosts, PaneKind.SERVICES),
    ("kubernetes", lambda p: bool(p.kubernetes), _kubernetes, PaneKind.SERVICES),
    ("health", lambda p: bool(p.health), _health, PaneKind.ALARMS),
    ("sentry", lambda p: bool(p.sentry), _sentry, PaneKind.ALARMS),
    ("pagerduty", lambda p: p.pagerduty is not None, _pagerduty, PaneKind.ALARMS),
)


def build_sources(profile: Profile, notes: dict[str, str] | None = None) -> Sources:
    """Every source the profile configures. ``notes`` are the lab's "not installed" notices.

    A backend that cannot even be built (a missing module, a bad secret reference) becomes
    a notice on its pane; the others are built regardless.
    """
    out = Sources()
    for name, configured, builder, pane in _BACKENDS:
        if not configured(profile):
            continue
        try:
            srcs, logs = builder(profile)
        except Exception as e:
            from cockpit.hub import describe_error

            message, hint = describe_error(e)
            out.sources.append(NoticeSource(f"{name}:setup", pane, name, message, hint))
            continue
        out.sources += srcs
        out.log_sources += logs
    for pane_name, note in (notes or {}).items():
        message, _, hint = note.partition(": ")
        out.sources.append(
            NoticeSource(f"lab:{pane_name}", PaneKind(pane_name), f"lab {pane_name}", message, hint)
        )
    return out
