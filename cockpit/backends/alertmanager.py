"""Alertmanager (v2 API) -> ``Alarm`` rows, grouped; silences as a capability.

Alerts are read with ``GET /api/v2/alerts`` (active, silenced, inhibited and unprocessed),
de-duplicated by fingerprint and grouped by ``(alertname, severity)``: an alert that fires
on thirty instances is one row, "firing ×30", not thirty. A row's severity comes from the
``severity`` label (critical/page/error, warning, info/none); a group whose every alert is
silenced or inhibited drops to INFO so it sinks below what still needs someone, and its
state says so. The reason is the ``summary`` (else ``description``/``message``)
annotation, raw: the pane sanitises it.

Silencing a row silences exactly the alerts in it: the matchers are the labels every alert
of the group shares (always including ``alertname``), the way Alertmanager's own UI
prefills them. The equivalent ``amtool silence add`` is built from the same matchers.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.backends.prometheus import RESOURCE_LABELS, HttpApi, utc_from_rfc3339
from cockpit.errors import ActionRefused, BackendError
from cockpit.model import Alarm, DetailSection, PaneKind, Severity
from cockpit.profile import AlertmanagerConfig, Profile

SEVERITIES = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "error": Severity.CRITICAL,
    "high": Severity.CRITICAL,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "info": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
}
_REASON_ANNOTATIONS = ("summary", "description", "message")
_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_duration(text: str) -> timedelta:
    """A Prometheus/amtool duration ("1h", "90m", "1h30m", "2d"); refuses anything else."""
    value = str(text).strip()
    if not value or _DURATION.sub("", value):
        raise ActionRefused(f"duration {text!r} is not a duration", "use e.g. 30m, 1h, 1h30m or 2d")
    seconds = sum(int(n) * _UNIT_S[u] for n, u in _DURATION.findall(value))
    if seconds <= 0:
        raise ActionRefused("duration must be longer than 0", "use e.g. 30m, 1h or 2d")
    return timedelta(seconds=seconds)


def author() -> str:
    """The OS user, recorded as the silence's creator (as amtool does)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid without a passwd entry (some containers)
        return os.environ.get("USER") or f"uid-{os.getuid()}"


def severity_of(labels: dict[str, str]) -> Severity:
    return SEVERITIES.get(labels.get("severity", "").lower(), Severity.WARNING)


def _matcher_arg(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class AlertGroup:
    """The alerts behind one row, and what a silence of that row matches."""

    name: str  # the row's name
    alerts: tuple[dict[str, Any], ...]  # raw v2 alerts, oldest first
    matchers: tuple[tuple[str, str], ...]  # the labels every alert shares

    @property
    def silence_ids(self) -> tuple[str, ...]:
        ids = {
            sid for a in self.alerts for sid in ((a.get("status") or {}).get("silencedBy") or [])
        }
        return tuple(sorted(ids))


def _labels(a: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (a.get("labels") or {}).items()}


def _status(a: dict[str, Any]) -> tuple[bool, bool]:
    st = a.get("status") or {}
    return bool(st.get("silencedBy")), bool(st.get("inhibitedBy"))


def group_alerts(alerts: list[dict[str, Any]], source: str) -> list[tuple[Alarm, AlertGroup]]:
    """De-duplicate by fingerprint, group by (alertname, severity), worst and newest first."""
    seen: set[str] = set()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in alerts:
        labels = _labels(a)
        fp = str(a.get("fingerprint") or sorted(labels.items()))
        if fp in seen:
            continue
        seen.add(fp)
        key = (labels.get("alertname", "(no alertname)"), labels.get("severity", ""))
        groups.setdefault(key, []).append(a)
    severities_per_name: dict[str, int] = {}
    for name, _sev in groups:
        severities_per_name[name] = severities_per_name.get(name, 0) + 1

    out = []
    for (alertname, sev), members in groups.items():
        members.sort(key=lambda a: (str(a.get("startsAt") or ""), str(a.get("fingerprint"))))
        label_sets = [_labels(a) for a in members]
        common = dict(label_sets[0])
        for ls in label_sets[1:]:
            common = {k: v for k, v in common.items() if ls.get(k) == v}
        name = (
            alertname if severities_per_name[alertname] == 1 else f"{alertname} ({sev or 'none'})"
        )
        flags = [_status(a) for a in members]
        silenced = sum(1 for s, _ in flags if s)
        inhibited = sum(1 for s, i in flags if i and not s)
        n = len(members)
        if silenced == n:
            state = "silenced"
        elif inhibited + silenced == n:
            state = "inhibited" if not silenced else "suppressed"
        elif silenced or inhibited:
            state = f"firing ({silenced + inhibited}/{n} muted)"
        else:
            state = "firing"
        if n > 1:
            state += f" ×{n}"
        severity = severity_of(label_sets[0])
        if silenced + inhibited == n:
            severity = min(severity, Severity.INFO)
        first = members[0]
        annotations = first.get("annotations") or {}
        reason = next((str(annotations[k]) for k in _REASON_ANNOTATIONS if annotations.get(k)), "")
        resource = next((common[k] for k in RESOURCE_LABELS if common.get(k)), "")
        if not resource:
            for k in RESOURCE_LABELS:
                values = sorted({ls[k] for ls in label_sets if ls.get(k)})
                if values:
                    resource = ", ".join(values[:3]) + (
                        f" +{len(values) - 3}" if len(values) > 3 else ""
                    )
                    break
        alarm = Alarm(
            name=name,
            source=source,
            severity=severity,
            state=state,
            reason=reason,
            since=utc_from_rfc3339(first.get("startsAt")),
            resource=resource,
            threshold="",
        )
        out.append((alarm, AlertGroup(name, tuple(members), tuple(sorted(common.items())))))
    out.sort(
        key=lambda p: (-p[0].severity, -(p[0].since.timestamp() if p[0].since else 0), p[0].name)
    )
    return out


class AlertmanagerSource:
    """Firing alerts of one Alertmanager; ``Silenceable`` and ``SilenceExpirable``."""

    min_interval = 10.0  # alerts change at evaluation intervals (15 s by default)
    pane = PaneKind.ALARMS

    def __init__(self, cfg: AlertmanagerConfig, *, timeout: float = 8.0) -> None:
        self.cfg = cfg
        self.api = HttpApi("Alertmanager", cfg, timeout)
        self.id = f"alertmanager:{cfg.name}"
        self.title = f"Alertmanager {cfg.name}"
        self.groups: dict[str, AlertGroup] = {}  # row name -> its alerts, from the last fetch

    async def fetch(self) -> list[Alarm]:
        params = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
        body = await self.api.request("GET", "/api/v2/alerts", "alerts", params=params)
        if not isinstance(body, list):
            raise BackendError(
                f"Alertmanager {self.cfg.name} answered alerts with {type(body).__name__}",
                f"is {self.api.shown_url} an Alertmanager with the v2 API (0.16 or later)?",
            )
        pairs = group_alerts(body, self.id)
        self.groups = {alarm.name: group for alarm, group in pairs}
        return [alarm for alarm, _ in pairs]

    def group(self, target: Alarm) -> AlertGroup:
        group = self.groups.get(target.name)
        if group is None or not group.matchers:
            raise BackendError(
                f"alert {target.name} is no longer in Alertmanager {self.cfg.name}",
                "it resolved or expired since the last refresh",
            )
        return group

    # --- Silenceable --------------------------------------------------------------------

    def silence_command(self, target: Alarm, duration: str, comment: str) -> list[str]:
        parse_duration(duration)
        if not str(comment).strip():
            raise ActionRefused("a silence needs a comment", "say why, and for whom")
        group = self.group(target)
        return [
            "amtool", "silence", "add", f"--alertmanager.url={self.api.shown_url}",
            f"--author={author()}", f"--duration={duration}", f"--comment={comment}",
            *(_matcher_arg(k, v) for k, v in group.matchers),
        ]  # fmt: skip

    async def silence(self, target: Alarm, duration: str, comment: str) -> str:
        length = parse_duration(duration)
        if not str(comment).strip():
            raise ActionRefused("a silence needs a comment", "say why, and for whom")
        group = self.group(target)
        now = datetime.now(UTC)
        body = await self.api.request(
            "POST",
            "/api/v2/silences",
            f"silence {target.name}",
            json={
                "matchers": [
                    {"name": k, "value": v, "isRegex": False, "isEqual": True}
                    for k, v in group.matchers
                ],
                "startsAt": _iso(now),
                "endsAt": _iso(now + length),
                "createdBy": author(),
                "comment": comment,
            },
        )
        silence_id = str((body or {}).get("silenceID", ""))
        return f"silenced {target.name} for {duration} (silence {silence_id})"

    # --- SilenceExpirable ---------------------------------------------------------------

    def expire_silence_command(self, target: Alarm) -> list[str]:
        ids = self.group(target).silence_ids
        return ["amtool", "silence", "expire", f"--alertmanager.url={self.api.shown_url}", *ids]

    async def expire_silence(self, target: Alarm) -> str:
        ids = self.group(target).silence_ids
        if not ids:
            raise ActionRefused(f"{target.name} is not silenced")
        for sid in ids:
            await self.api.request("DELETE", f"/api/v2/silence/{sid}", f"expire silence {sid}")
        return f"expired {len(ids)} silence{'s' if len(ids) > 1 else ''} of {target.name}"

    # --- explain / detail ---------------------------------------------------------------

    def explain_command(self) -> list[str]:
        return ["amtool", "alert", "query", f"--alertmanager.url={self.api.shown_url}"]

    async def detail(self, record: Any) -> list[DetailSection]:
        group = self.groups.get(getattr(record, "name", ""))
        if group is None or getattr(record, "source", "") != self.id:
            return []
        rows = []
        for a in group.alerts:
            labels = _labels(a)
            silenced, inhibited = _status(a)
            rows.append((
                ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname"),
                "silenced" if silenced else "inhibited" if inhibited else "firing",
                str(a.get("startsAt") or ""),
            ))  # fmt: skip
        first = group.alerts[0].get("annotations") or {}
        sections = [
            DetailSection(
                title=f"{len(group.alerts)} alert{'s' if len(group.alerts) > 1 else ''}",
                columns=("labels", "state", "starts at"),
                rows=tuple(rows),
            ),
            DetailSection(
                title="annotations",
                columns=("annotation", "value"),
                rows=tuple((str(k), str(v)) for k, v in sorted(first.items())),
            ),
            DetailSection(
                title="silence matchers",
                lines=tuple(f'{k}="{v}"' for k, v in group.matchers),
            ),
        ]
        if group.silence_ids:
            sections.append(DetailSection(title="silenced by", lines=group.silence_ids))
        return sections

    async def close(self) -> None:
        await self.api.close()


def build_alertmanager_sources(profile: Profile) -> list[AlertmanagerSource]:
    timeout = max(1.0, profile.timeout * 0.8)
    return [AlertmanagerSource(cfg, timeout=timeout) for cfg in profile.alertmanager]
