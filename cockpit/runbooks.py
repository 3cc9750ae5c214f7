"""Runbooks from the profile, matched to alarms and services by glob; ticks are audited."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from cockpit.audit import AuditLog
from cockpit.profile import Runbook


def match_runbooks(runbooks: Iterable[Runbook], *names: str) -> list[Runbook]:
    """Runbooks whose ``match`` glob fits any of ``names`` (case-insensitive), in file order."""
    out = []
    for rb in runbooks:
        pattern = rb.match.lower()
        if any(name and fnmatch.fnmatchcase(name.lower(), pattern) for name in names):
            out.append(rb)
    return out


def record_step(audit: AuditLog, profile: str, runbook: Runbook, step: str, done: bool,
                target: str) -> dict:
    """A ticked (or unticked) checklist step becomes a note on the incident timeline."""
    verb = "done" if done else "undone"
    return audit.append({
        "type": "note",
        "profile": profile,
        "summary": f"runbook {runbook.title}: {step} — {verb} for {target}",
        "resource": target,
        "runbook": runbook.title,
        "step": step,
        "done": done,
    })
