"""PagerDuty -> ``Alarm`` rows (the open incidents of the watched services), who is on call, and
the page's own actions: acknowledge, resolve, add a note; and triggering an incident.

REST API v2 (``Authorization: Token token=…``, ``Accept: application/vnd.pagerduty+json;version=2``):
``GET /incidents?service_ids[]=…&statuses[]=triggered&statuses[]=acknowledged`` read page by page
(``offset``/``limit`` until ``more`` is false); ``GET /services/{id}`` once for each service's
escalation policy; ``GET /oncalls?escalation_policy_ids[]=…&earliest=true`` for who is on call
now, at which level: an incident's escalation level is its assignee's level in its policy.
Changes are ``PUT /incidents/{id}`` and ``POST /incidents/{id}/notes`` with ``From:`` the
profile's ``user_email``, as the API requires for a REST API key.

Triggering an incident (Events API v2) is in ``cockpit/integrations/paging.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cockpit.backends.prometheus import utc_from_rfc3339
from cockpit.errors import ActionRefused, BackendError
from cockpit.integrations.webapi import WebAPI
from cockpit.model import Alarm, DetailSection, PaneKind, Severity
from cockpit.profile import PagerDutyConfig, Profile, SecretRef
from cockpit.text import EstateText

ACCEPT = "application/vnd.pagerduty+json;version=2"
OPEN = ("triggered", "acknowledged")
STATUSES = ("acknowledged", "resolved")


def token_var(ref: SecretRef | None, default: str) -> str:
    return f"${ref.ref[4:]}" if ref is not None and ref.ref.startswith("env:") else f"${default}"


def rest_api(cfg: PagerDutyConfig, timeout: float) -> WebAPI:
    token = cfg.token.resolve()
    return WebAPI(
        "PagerDuty", cfg.url,
        headers={"Authorization": f"Token token={token}", "Accept": ACCEPT,
                 "Content-Type": "application/json", "User-Agent": "ops-cockpit"},
        timeout=timeout,
        token_hint=f"renew the REST API key ({cfg.token}) in PagerDuty: Integrations > API Access Keys",
    )  # fmt: skip


@dataclass(frozen=True)
class Page(EstateText):
    """One open incident, as the row and the actions need it."""

    id: str
    number: int
    title: str
    status: str
    urgency: str
    service: str
    assignees: tuple[str, ...]
    assignee_ids: tuple[str, ...]
    policy: str
    created: datetime | None
    link: str

    @classmethod
    def from_json(cls, j: dict[str, Any]) -> Page:
        assignments = [a.get("assignee") or {} for a in j.get("assignments") or []]
        return cls(
            id=str(j.get("id", "")),
            number=int(j.get("incident_number") or 0),
            title=str(j.get("title") or j.get("summary") or "(no title)"),
            status=str(j.get("status") or ""),
            urgency=str(j.get("urgency") or ""),
            service=str((j.get("service") or {}).get("summary") or ""),
            assignees=tuple(str(a.get("summary") or a.get("id") or "") for a in assignments),
            assignee_ids=tuple(str(a.get("id") or "") for a in assignments),
            policy=str((j.get("escalation_policy") or {}).get("id") or ""),
            created=utc_from_rfc3339(j.get("created_at")),
            link=str(j.get("html_url") or ""),
        )


@dataclass(frozen=True)
class OnCall(EstateText):
    user: str
    user_id: str
    policy: str
    level: int


def page_alarm(page: Page, source: str, levels: dict[tuple[str, str], int]) -> Alarm:
    level = min((levels.get((page.policy, uid), 0) for uid in page.assignee_ids), default=0)
    if page.status == "triggered":
        severity = Severity.CRITICAL if page.urgency == "high" else Severity.WARNING
    else:
        severity = Severity.WARNING if page.urgency == "high" else Severity.INFO
    who = ", ".join(page.assignees) or "nobody"
    reason = f"{page.urgency} urgency, assigned to {who}" + (f", escalation level {level}" if level else "")
    return Alarm(
        name=f"#{page.number} {page.title}",
        source=source,
        severity=severity,
        state=page.status,
        reason=reason,
        since=page.created,
        resource=page.service,
        threshold=f"{page.urgency} urgency",
    )


class PagerDutySource:
    """Open incidents of the watched services; ``PageManageable``; ``oncall_text`` for the header."""

    min_interval = 15.0
    pane = PaneKind.ALARMS

    def __init__(self, cfg: PagerDutyConfig, *, timeout: float = 8.0, api: WebAPI | None = None) -> None:
        self.cfg = cfg
        self.id = "pagerduty"
        self.title = "PagerDuty"
        self.timeout = timeout
        self._api = api
        self.pages: dict[str, Page] = {}  # row name -> incident, from the last fetch
        self.oncall: list[OnCall] = []
        self._policies: dict[str, str] = {}  # service id -> escalation policy id

    @property
    def api(self) -> WebAPI:
        if self._api is None:
            self._api = rest_api(self.cfg, self.timeout)
        return self._api

    async def _listing(self, path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of an offset-paginated listing (``more`` says whether to go on)."""
        out: list[dict[str, Any]] = []
        offset = 0
        for _ in range(50):
            r = await self.api.request("GET", path, params={**params, "offset": offset, "limit": 100})
            body = r.json()
            items = body.get(key) if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise BackendError(f"PagerDuty answered {path} without {key}", f"is {self.cfg.url} PagerDuty's REST API?")
            out += [i for i in items if isinstance(i, dict)]
            if not body.get("more") or not items:
                break
            offset += len(items)
        return out

    async def fetch(self) -> list[Alarm]:
        params: dict[str, Any] = {"statuses[]": list(OPEN)}
        if self.cfg.services:
            params["service_ids[]"] = list(self.cfg.services)
        pages = [Page.from_json(j) for j in await self._listing("/incidents", "incidents", params)]
        await self._read_oncall()
        levels = {(o.policy, o.user_id): o.level for o in self.oncall}
        alarms = [page_alarm(p, self.id, levels) for p in pages]
        self.pages = {a.name: p for a, p in zip(alarms, pages, strict=True)}
        return alarms

    async def _read_oncall(self) -> None:
        for sid in self.cfg.services:
            if sid not in self._policies:
                r = await self.api.request("GET", f"/services/{sid}")
                body = r.json() if isinstance(r.json(), dict) else {}
                self._policies[sid] = str(((body.get("service") or {}).get("escalation_policy") or {}).get("id") or "")
        policies = sorted({p for p in self._policies.values() if p})
        params: dict[str, Any] = {"earliest": "true"}
        if policies:
            params["escalation_policy_ids[]"] = policies
        rows = await self._listing("/oncalls", "oncalls", params)
        self.oncall = [OnCall(str((o.get("user") or {}).get("summary") or ""), str((o.get("user") or {}).get("id") or ""),
                              str((o.get("escalation_policy") or {}).get("id") or ""), int(o.get("escalation_level") or 0))
                       for o in rows]

    @property
    def oncall_text(self) -> str:
        """Who is paged first now, for the header: "on call: Ada (L1)"."""
        first = sorted({o.user for o in self.oncall if o.level == 1 and o.user})
        return f"on call: {', '.join(first)}" if first else ""

    def page(self, target: Alarm) -> Page:
        page = self.pages.get(target.name)
        if page is None or target.source != self.id:
            raise BackendError(f"{target.name} is no longer an open PagerDuty incident",
                               "it was resolved since the last refresh")
        return page

    def _from(self) -> str:
        if not self.cfg.user_email:
            raise ActionRefused("PagerDuty changes need your login email",
                                "set pagerduty.user_email in profiles.yaml (the API's From: header)")
        return self.cfg.user_email

    def _curl(self, method: str, path: str, body: dict[str, Any]) -> list[str]:
        return ["curl", "-X", method, f"{self.cfg.url.rstrip('/')}{path}",
                "-H", f"Authorization: Token token={token_var(self.cfg.token, 'PAGERDUTY_TOKEN')}",
                "-H", f"Accept: {ACCEPT}", "-H", "Content-Type: application/json",
                "-H", f"From: {self.cfg.user_email}", "-d", json.dumps(body)]

    # --- PageManageable -----------------------------------------------------------------

    def set_page_status_command(self, target: Alarm, status: str) -> list[str]:
        page = self.page(target)
        return self._curl("PUT", f"/incidents/{page.id}",
                          {"incident": {"type": "incident_reference", "status": status}})

    async def set_page_status(self, target: Alarm, status: str) -> str:
        if status not in STATUSES:
            raise BackendError(f"unknown PagerDuty status {status!r}")
        page = self.page(target)
        if page.status == status:
            raise ActionRefused(f"#{page.number} is {status} already")
        await self.api.request("PUT", f"/incidents/{page.id}", headers={"From": self._from()},
                               json={"incident": {"type": "incident_reference", "status": status}})
        return f"#{page.number} {status} in PagerDuty"

    def add_page_note_command(self, target: Alarm, note: str) -> list[str]:
        page = self.page(target)
        return self._curl("POST", f"/incidents/{page.id}/notes", {"note": {"content": note}})

    async def add_page_note(self, target: Alarm, note: str) -> str:
        page = self.page(target)
        # A POST that may have been done is not repeated (the note would show twice).
        await self.api.request("POST", f"/incidents/{page.id}/notes", headers={"From": self._from()},
                               json={"note": {"content": note}})
        return f"note added to #{page.number}"

    # --- explain / detail ---------------------------------------------------------------

    def explain_command(self) -> list[str]:
        query = "&".join(["statuses[]=triggered", "statuses[]=acknowledged",
                          *(f"service_ids[]={s}" for s in self.cfg.services)])
        return ["curl", "-g", f"{self.cfg.url.rstrip('/')}/incidents?{query}",
                "-H", f"Authorization: Token token={token_var(self.cfg.token, 'PAGERDUTY_TOKEN')}",
                "-H", f"Accept: {ACCEPT}"]

    async def detail(self, record: Any) -> list[DetailSection]:
        page = self.pages.get(getattr(record, "name", ""))
        if page is None or getattr(record, "source", "") != self.id:
            return []
        oncall = tuple((o.user, str(o.level)) for o in sorted(self.oncall, key=lambda o: o.level)
                       if o.policy == page.policy)
        return [
            DetailSection(title=f"PagerDuty incident #{page.number}", columns=("field", "value"),
                          rows=(("status", page.status), ("urgency", page.urgency),
                                ("service", page.service), ("assigned to", ", ".join(page.assignees)),
                                ("link", page.link))),
            DetailSection(title="on call for its escalation policy", columns=("user", "level"), rows=oncall),
        ]

    async def close(self) -> None:
        if self._api is not None:
            await self._api.aclose()


def build_pagerduty_sources(profile: Profile) -> list[PagerDutySource]:
    if profile.pagerduty is None:
        return []
    return [PagerDutySource(profile.pagerduty, timeout=max(1.0, profile.timeout * 0.8))]
