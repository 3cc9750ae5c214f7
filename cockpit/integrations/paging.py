"""Paging PagerDuty when an incident starts: Events API v2 (``POST /v2/enqueue``, the service
integration's ``routing_key``). A ``dedup_key`` makes a repeat the same incident, so the
request may be retried; ``page_incident_start`` audits what it sends before and its outcome after.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable

from cockpit.errors import ActionRefused, BackendError
from cockpit.integrations.webapi import WebAPI
from cockpit.profile import PagerDutyConfig, Profile, SecretRef


def _var(ref: SecretRef | None, default: str) -> str:
    return f"${ref.ref[4:]}" if ref is not None and ref.ref.startswith("env:") else f"${default}"


async def send_event(cfg: PagerDutyConfig, action: str, dedup_key: str,
                     payload: dict[str, str] | None = None, *, timeout: float = 10.0) -> str:
    """One Events API v2 event (trigger, acknowledge, resolve) on the incident ``dedup_key``."""
    if cfg.routing_key is None:
        raise ActionRefused("PagerDuty cannot be paged without a routing key",
                            "set pagerduty.routing_key in profiles.yaml")
    key = cfg.routing_key.resolve()
    api = WebAPI("PagerDuty Events", cfg.events_url, timeout=timeout,
                 headers={"Content-Type": "application/json", "User-Agent": "ops-cockpit"},
                 token_hint=f"check the routing key ({cfg.routing_key}): the service's Events API v2 integration")
    body: dict[str, object] = {"routing_key": key, "event_action": action, "dedup_key": dedup_key}
    if payload is not None:
        body["payload"] = payload
    try:
        r = await api.request("POST", "/v2/enqueue", idempotent=True, json=body)
    finally:
        await api.aclose()
    answer = r.json() if r.content else {}
    return str((answer or {}).get("dedup_key") or dedup_key)


async def trigger_incident(cfg: PagerDutyConfig, summary: str, severity: str, dedup_key: str,
                           *, source: str = "ops-cockpit", timeout: float = 10.0) -> str:
    """Trigger (or re-trigger: same ``dedup_key``) an incident through Events API v2."""
    return await send_event(cfg, "trigger", dedup_key,
                            {"summary": summary, "source": source, "severity": severity}, timeout=timeout)


def event_command(cfg: PagerDutyConfig, action: str, dedup_key: str,
                  payload: dict[str, str] | None = None) -> str:
    body: dict[str, object] = {"routing_key": _var(cfg.routing_key, "PAGERDUTY_ROUTING_KEY"),
                               "event_action": action, "dedup_key": dedup_key}
    if payload is not None:
        body["payload"] = payload
    return shlex.join(["curl", "-X", "POST", f"{cfg.events_url.rstrip('/')}/v2/enqueue",
                       "-H", "Content-Type: application/json", "-d", json.dumps(body)])


def dedup_key(profile: Profile, started: float) -> str:
    """The page of the incident that started at ``started``: resolving it names the same key."""
    return f"cockpit-{profile.name}-{int(started)}"


# The runbooks' incident severities -> Events API v2 payload severities.
PAGE_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}


async def page_incident_start(profile: Profile, title: str, severity: str, started: float,
                              note: Callable[[str], None], *, dry_run: bool = False) -> str:
    """``incident: start``'s page, when the profile says ``trigger_on_incident``: audited
    before (what will be sent) and after (its outcome); returns what to tell the user ("" when
    the profile does not page). Read-only and dry-run profiles say what they would page."""
    level = PAGE_SEVERITY.get(severity, "error")
    payload = {"summary": f"{severity} {title}", "source": "ops-cockpit", "severity": level}
    return await _audited_event(profile, "trigger", started, payload, note, dry_run,
                                doing=f"triggering an incident ({level}", done="incident triggered",
                                told=f"paged ({level}", untold="not paged")


async def page_incident_resolve(profile: Profile, started: float, note: Callable[[str], None],
                                *, dry_run: bool = False) -> str:
    """``incident: resolve`` resolves the page ``incident: start`` made (its dedup_key), audited
    like the trigger; "" when the profile does not page."""
    return await _audited_event(profile, "resolve", started, None, note, dry_run,
                                doing="resolving the incident (", done="incident resolved",
                                told="page resolved (", untold="page not resolved")


async def _audited_event(profile: Profile, action: str, started: float, payload: dict[str, str] | None,
                         note: Callable[[str], None], dry_run: bool, *, doing: str, done: str,
                         told: str, untold: str) -> str:
    cfg = profile.pagerduty
    if cfg is None or not cfg.trigger_on_incident:
        return ""
    dedup = dedup_key(profile, started)
    command = event_command(cfg, action, dedup, payload)
    if profile.read_only or dry_run:
        why = "read-only" if profile.read_only else "dry run"
        note(f"pagerduty: {untold} ({why}): would run {command}")
        return f"PagerDuty {untold} ({why})"
    sep = "" if doing.endswith("(") else ", "
    note(f"pagerduty: {doing}{sep}dedup_key {dedup}): {command}")
    try:
        key = await send_event(cfg, action, dedup, payload, timeout=max(1.0, profile.timeout))
    except Exception as e:
        from cockpit.hub import describe_error

        message, hint = describe_error(e)
        note(f"pagerduty: {action} failed: {message}")
        raise BackendError(f"PagerDuty {action} failed: {message}", hint) from e
    note(f"pagerduty: {done} (dedup_key {key})")
    sep = "" if told.endswith("(") else ", "
    return f"PagerDuty {told}{sep}dedup_key {key})"
