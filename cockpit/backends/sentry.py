"""Sentry -> ``Alarm`` rows: the issues the daily health check asks about, and resolve / ignore.

One refresh reads the organization's unresolved issues of the configured projects seen in the
window (``GET /api/0/organizations/{org}/issues/?query=is:unresolved&statsPeriod=…``, every
page of its ``Link`` header) and keeps those that need someone:

- **new**: first seen within the window;
- **regressed**: Sentry says so (``substatus``), seen within the window;
- **spike**: whatever its age, at least ``rate_threshold`` events in the last hour (the last
  bucket of the issue's hourly ``stats``).

A spike is critical (as is a ``fatal`` issue); new and regressed issues are warnings. The row
says the count, the users affected, first and last seen and the culprit; the detail adds the
link and the latest event's message and top in-app stack frame
(``GET /api/0/issues/{id}/events/latest/``). Everything from Sentry is estate text.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.backends.prometheus import utc_from_rfc3339
from cockpit.errors import BackendError
from cockpit.integrations.webapi import WebAPI
from cockpit.model import Alarm, DetailSection, PaneKind, Severity
from cockpit.profile import Profile, SecretRef, SentryConfig

STATUSES = ("resolved", "ignored")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def period(text: str) -> timedelta:
    """A Sentry statsPeriod ("24h", "14d") as a timedelta."""
    return timedelta(seconds=int(text[:-1]) * _UNITS[text[-1]])


def token_env(ref: SecretRef) -> str:
    """How a shown command names the token: its variable, never its value."""
    return f"${ref.ref[4:]}" if ref.ref.startswith("env:") else "$SENTRY_AUTH_TOKEN"


@dataclass(frozen=True)
class Issue:
    """What the row and its detail need of one issue (raw Sentry JSON, kept out of records)."""

    id: str
    short_id: str
    title: str
    project: str
    culprit: str
    link: str
    level: str
    substatus: str
    count: int
    users: int
    first_seen: datetime | None
    last_seen: datetime | None
    last_hour: int

    @classmethod
    def from_json(cls, j: dict[str, Any]) -> Issue:
        stats = (j.get("stats") or {}).get("24h") or []
        last_hour = 0
        if stats and isinstance(stats[-1], list | tuple) and len(stats[-1]) == 2:
            last_hour = _int(stats[-1][1])
        return cls(
            id=str(j.get("id", "")),
            short_id=str(j.get("shortId") or j.get("id") or ""),
            title=str(j.get("title") or "(no title)"),
            project=str((j.get("project") or {}).get("slug") or ""),
            culprit=str(j.get("culprit") or ""),
            link=str(j.get("permalink") or ""),
            level=str(j.get("level") or "error"),
            substatus=str(j.get("substatus") or ("regressed" if j.get("isRegression") else "")),
            count=_int(j.get("count")),
            users=_int(j.get("userCount")),
            first_seen=utc_from_rfc3339(j.get("firstSeen")),
            last_seen=utc_from_rfc3339(j.get("lastSeen")),
            last_hour=last_hour,
        )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _when(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if t else "?"


def issue_alarm(issue: Issue, source: str, cfg: SentryConfig, now: datetime) -> Alarm | None:
    """The alarm for ``issue``, or None when it does not need anyone now."""
    spike = issue.last_hour >= cfg.rate_threshold
    new = issue.first_seen is not None and issue.first_seen >= now - period(cfg.window)
    regressed = issue.substatus == "regressed"
    if not (spike or new or regressed):
        return None
    kinds = [k for k, on in (("spike", spike), ("new", new and not spike), ("regressed", regressed)) if on]
    severity = Severity.CRITICAL if spike or issue.level == "fatal" else Severity.WARNING
    if issue.level in ("info", "debug") and not spike:
        severity = Severity.INFO
    reason = (f"{issue.count} events, {issue.users} users, last hour {issue.last_hour}; "
              f"first {_when(issue.first_seen)}, last {_when(issue.last_seen)}"
              + (f"; {issue.culprit}" if issue.culprit else ""))
    return Alarm(
        name=f"{issue.short_id} {issue.title}",
        source=source,
        severity=severity,
        state=" ".join(kinds),
        reason=reason,
        since=issue.first_seen if new else issue.last_seen,
        resource=issue.project,
        threshold=f"≥ {cfg.rate_threshold} events/h" if spike else "",
    )


def top_frame(event: dict[str, Any]) -> tuple[str, list[str]]:
    """(the exception line, the innermost in-app frame's lines) of a latest event."""
    for entry in event.get("entries") or []:
        if entry.get("type") != "exception":
            continue
        values = (entry.get("data") or {}).get("values") or []
        if not values:
            continue
        exc = values[-1]  # the last value is the exception that was raised last
        head = f"{exc.get('type') or ''}: {exc.get('value') or ''}".strip(": ")
        frames = ((exc.get("stacktrace") or {}).get("frames")) or []
        frame = next((f for f in reversed(frames) if f.get("inApp")), frames[-1] if frames else None)
        if frame is None:
            return head, []
        where = f"{frame.get('filename') or frame.get('module') or '?'}:{frame.get('lineNo') or '?'} in {frame.get('function') or '?'}"
        code = [str(c[1]) for c in frame.get("context") or [] if isinstance(c, list | tuple) and len(c) == 2
                and c[0] == frame.get("lineNo")]
        return head, [where, *code]
    return "", []


class SentrySource:
    """Issues of one Sentry organization; ``IssueResolvable``."""

    min_interval = 30.0  # issue counts move by the minute; Sentry rate-limits eager readers
    pane = PaneKind.ALARMS

    def __init__(self, cfg: SentryConfig, *, timeout: float = 8.0, api: WebAPI | None = None) -> None:
        self.cfg = cfg
        self.id = f"sentry:{cfg.name}"
        self.title = f"Sentry {cfg.name}"
        self.timeout = timeout
        self._api = api
        self.issues: dict[str, Issue] = {}  # row name -> issue, from the last fetch

    @property
    def api(self) -> WebAPI:
        if self._api is None:
            token = self.cfg.token.resolve()
            self._api = WebAPI(
                f"Sentry {self.cfg.name}", self.cfg.url,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                         "User-Agent": "ops-cockpit"},
                timeout=self.timeout,
                token_hint=f"renew the auth token ({self.cfg.token}) in Sentry: Settings > Auth Tokens "
                           "(scopes event:read, event:write)",
            )  # fmt: skip
        return self._api

    async def fetch(self) -> list[Alarm]:
        params: dict[str, Any] = {"query": "is:unresolved", "statsPeriod": self.cfg.window,
                                  "groupStatsPeriod": "24h", "limit": 100}
        if self.cfg.projects:
            params["project"] = list(self.cfg.projects)
        now = datetime.now(UTC)
        issues: dict[str, Issue] = {}
        alarms: list[Alarm] = []
        async for page in self.api.pages(f"/api/0/organizations/{self.cfg.org}/issues/", params=params):
            body = page.json()
            if not isinstance(body, list):
                raise BackendError(f"Sentry {self.cfg.name} answered issues with {type(body).__name__}",
                                   f"is {self.cfg.url} Sentry's URL?")
            for raw in body:
                if not isinstance(raw, dict):
                    continue
                issue = Issue.from_json(raw)
                alarm = issue_alarm(issue, self.id, self.cfg, now)
                if alarm is not None and alarm.name not in issues:
                    issues[alarm.name] = issue
                    alarms.append(alarm)
        self.issues = issues
        return alarms

    def issue(self, target: Alarm) -> Issue:
        issue = self.issues.get(target.name)
        if issue is None or target.source != self.id:
            raise BackendError(f"{target.name} is no longer an open issue in Sentry {self.cfg.name}",
                               "it was resolved or went quiet since the last refresh")
        return issue

    # --- IssueResolvable ----------------------------------------------------------------

    def set_issue_status_command(self, target: Alarm, status: str) -> list[str]:
        issue = self.issue(target)
        verb = "resolve" if status == "resolved" else "mute"
        return ["sentry-cli", "--url", self.cfg.url, "--auth-token", token_env(self.cfg.token),
                "issues", verb, "--org", self.cfg.org, "--project", issue.project, "--id", issue.id]

    async def set_issue_status(self, target: Alarm, status: str) -> str:
        if status not in STATUSES:
            raise BackendError(f"unknown Sentry status {status!r}")
        issue = self.issue(target)
        await self.api.request("PUT", f"/api/0/issues/{issue.id}/", json={"status": status})
        return f"{issue.short_id} {status} in Sentry"

    # --- explain / detail ---------------------------------------------------------------

    def explain_command(self) -> list[str]:
        argv = ["sentry-cli", "--url", self.cfg.url, "issues", "list", "--org", self.cfg.org]
        for p in self.cfg.projects:
            argv += ["--project", p]
        return [*argv, "--query", "is:unresolved"]

    async def detail(self, record: Any) -> list[DetailSection]:
        issue = self.issues.get(getattr(record, "name", ""))
        if issue is None or getattr(record, "source", "") != self.id:
            return []
        sections = [DetailSection(
            title=f"Sentry issue {issue.short_id}",
            columns=("field", "value"),
            rows=(("events", str(issue.count)), ("users affected", str(issue.users)),
                  ("events in the last hour", str(issue.last_hour)),
                  ("first seen", _when(issue.first_seen)), ("last seen", _when(issue.last_seen)),
                  ("culprit", issue.culprit), ("level", issue.level), ("project", issue.project),
                  ("link", issue.link)),
        )]
        try:
            r = await asyncio.wait_for(self.api.request("GET", f"/api/0/issues/{issue.id}/events/latest/"),
                                       self.timeout)
            event = r.json() if isinstance(r.json(), dict) else {}
        except Exception as e:  # the detail still shows the issue; it says what failed
            return [*sections, DetailSection(title="latest event", lines=(f"not read: {e}",))]
        head, frame = top_frame(event)
        lines = [str(event.get("message") or event.get("title") or "")]
        if head and head not in lines:
            lines.append(head)
        if frame:
            lines += ["", "top frame:", *frame]
        when = event.get("dateCreated") or ""
        sections.append(DetailSection(title=f"latest event {when}".strip(), lines=tuple(lines)))
        return sections

    async def close(self) -> None:
        if self._api is not None:
            await self._api.aclose()


def build_sentry_sources(profile: Profile) -> list[SentrySource]:
    timeout = max(1.0, profile.timeout * 0.8)
    return [SentrySource(cfg, timeout=timeout) for cfg in profile.sentry]
