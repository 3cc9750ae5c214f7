"""The incident timeline: audit entries (alarm transitions and actions) in time order.

Pure functions from audit entries to events, and from events to the runbooks'
incident-report Markdown or to JSON lines an incident tool can import. The timeline screen
and ``cockpit timeline`` both use them, so the two always agree.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cockpit.audit import AuditLog, default_audit_path, parse_time, utc_iso
from cockpit.errors import CockpitError
from cockpit.text import EstateText, sanitize

_FIRING = {"ALARM", "FIRING", "CRITICAL"}
_CLEAR = {"OK", "RESOLVED", "INACTIVE"}


@dataclass(frozen=True)
class TimelineEvent(EstateText):
    # Built from audit lines, which hold estate text as it came: printed safe.
    _free_text = ("summary", "subject")

    time: datetime
    type: str  # "alarm" | "action" | "drill"
    summary: str
    actor: str
    resources: tuple[str, ...]
    outcome: str  # action outcome, or the alarm's new state
    profile: str = ""
    subject: str = ""  # alarm name / "title target (params)", for the summary sections
    severity: str = ""  # an alarm's severity label when it was recorded

    def matches(self, text: str) -> bool:
        needle = text.strip().lower()
        if not needle:
            return True
        hay = " ".join((self.type, self.summary, self.actor, self.outcome, *self.resources))
        return needle in hay.lower()


def _action_title(action_id: str) -> str:
    # Lazy: actions imports backends' Protocols; the CLI path stays light without it.
    from cockpit.registry import get_action

    try:
        return get_action(action_id).title
    except KeyError:
        return action_id


def _alarm_event(e: dict[str, Any], when: datetime) -> TimelineEvent:
    name = str(e.get("name") or e.get("alarm") or "?")
    before, after = str(e.get("from") or "?"), str(e.get("to") or "?")
    if after.upper() in _FIRING:
        verb = "fired"
    elif after.upper() in _CLEAR:
        verb = "cleared"
    else:
        verb = "changed"
    summary = f"Alarm {name} {verb} ({before} -> {after})"
    if e.get("reason") and verb != "cleared":
        summary += f": {e['reason']}"
    resources = tuple(str(r) for r in (e.get("alarm"), e.get("resource")) if r)
    return TimelineEvent(
        when,
        "alarm",
        summary,
        "monitoring",
        resources,
        after,
        str(e.get("profile", "")),
        name,
        str(e.get("severity", "")).lower(),
    )


def _format_params(params: Any) -> str:
    if not isinstance(params, dict) or not params:
        return ""
    return " (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"


def _action_event(e: dict[str, Any], when: datetime, live: str | None = None) -> TimelineEvent:
    target = str(e.get("target", "?"))
    actor = str(e.get("user", "?"))
    where = f" in {e['estate']}" if e.get("estate") else ""
    what = f"{_action_title(str(e.get('action', '?')))} {target}{where}{_format_params(e.get('params'))}"
    if e.get("phase") == "started":  # read() folds a started line into its finished line
        outcome = "unknown"
        why = "still running" if live and e.get("session") == live else "the cockpit stopped"
        summary = f"{what} by {actor}: outcome unknown ({why})"
    else:
        outcome = str(e.get("outcome", "?"))
        summary = f"{what} by {actor}: {outcome}"
    if e.get("error"):
        summary += f" ({e['error']})"
    resources = tuple(str(r) for r in (e.get("resource"),) if r) or (target,)
    return TimelineEvent(
        when, "action", summary, actor, resources, outcome, str(e.get("profile", "")), what
    )


def _note_event(e: dict[str, Any], when: datetime) -> TimelineEvent:
    """A person's note: a runbook step ticked, an incident started or resolved."""
    actor = str(e.get("user", "?"))
    summary = f"{e.get('summary', '')} ({actor})"
    resources = tuple(str(r) for r in (e.get("resource"),) if r)
    return TimelineEvent(
        when, "note", summary, actor, resources, "", str(e.get("profile", "")), str(e.get("summary", ""))
    )


def _drill_event(e: dict[str, Any], when: datetime) -> TimelineEvent:
    # Lazy, like _action_title: the drills module pulls in the action registry.
    from cockpit.lab.drills import describe_summary

    name = str(e.get("drill", "?"))
    outcome = str(e.get("outcome") or e.get("phase") or "?")
    return TimelineEvent(
        when, "drill", describe_summary(e), str(e.get("user", "?")), (f"drill:{name}",),
        outcome, str(e.get("profile", "")), f"drill {name}",
    )  # fmt: skip


def build_timeline(
    entries: Iterable[dict[str, Any]], live: str | None = None
) -> list[TimelineEvent]:
    """Events in time order (stable for equal times); unknown or undated entries are skipped.

    ``live``: the session of the running cockpit, whose unfinished actions are still running.
    """
    events: list[TimelineEvent] = []
    for e in entries:
        try:
            when = parse_time(str(e["time"]))
        except (KeyError, ValueError):
            continue
        kind = e.get("type", "action")
        if kind == "alarm":
            events.append(_alarm_event(e, when))
        elif kind == "action":
            events.append(_action_event(e, when, live))
        elif kind == "drill":
            events.append(_drill_event(e, when))
        elif kind == "note":
            events.append(_note_event(e, when))
    events.sort(key=lambda ev: ev.time)
    return events


def one_cockpit(
    entries: Iterable[dict[str, Any]], session: str | None = None
) -> list[dict[str, Any]]:
    """Alarm transitions of one session per profile, every other entry.

    Each cockpit of the user appends to the same file and records the alarms of the estate
    it watches (each lab is an estate of its own): mixing them shows another cockpit's
    alarms as still firing. ``session`` picks one; else each profile's newest (session
    ids sort by start time; lines written before sessions existed count as the oldest).
    Actions, notes and drills of every session stay: they are what people did.
    """
    entries = list(entries)
    chosen: dict[str, str] = {}
    if session is None:
        for e in entries:
            prof = str(e.get("profile", ""))
            chosen[prof] = max(chosen.get(prof, ""), str(e.get("session") or ""))
    return [
        e for e in entries
        if e.get("type") != "alarm"
        or str(e.get("session") or "") == (session if session is not None
                                          else chosen[str(e.get("profile", ""))])
    ]  # fmt: skip


def filter_events(events: Sequence[TimelineEvent], text: str) -> list[TimelineEvent]:
    return [e for e in events if e.matches(text)]


# --- Markdown (the runbooks' incident-report template) -------------------------------------


_MD_SPECIAL = re.compile(r"([\\\[\]])")


def md_text(text: str) -> str:
    """Estate text made inert in Markdown: no HTML, no links or images, no new blocks.

    Entities for ``&`` and ``<`` (no tag, no autolink), a backslash before ``[`` ``]``
    (no link, no image, no reference) and before a backslash, and line breaks folded (no
    new block), so an alert summary such as ``<img src=x onerror=...>`` or
    ``[x](javascript:...)`` renders as the text it is. ``>`` and emphasis are harmless
    inside a list item and stay readable.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = " ".join(text.splitlines())
    return _MD_SPECIAL.sub(r"\\\1", text)


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def _duration(start: datetime, end: datetime) -> str:
    # On whole minutes, so the duration agrees with the HH:MM lines of the timeline.
    minutes = int((_minute(end) - _minute(start)).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _still_firing(events: Sequence[TimelineEvent]) -> list[str]:
    state: dict[str, str] = {}
    for e in events:
        if e.type == "alarm":
            state[e.subject] = e.outcome.upper()
    return [name for name, s in state.items() if s in _FIRING]


def to_markdown(events: Sequence[TimelineEvent], profile: str, *, title: str = "",
                declared: str = "") -> str:
    """The runbooks' incident report; ``title`` and ``declared`` (P1-P4) are the incident's
    own when the cockpit knows it (``incident: post report``)."""
    alarms = [e for e in events if e.type == "alarm"]
    fired = sorted({md_text(e.subject) for e in alarms if e.outcome.upper() in _FIRING})
    actions = [e for e in events if e.type == "action"]
    ok = [e for e in actions if e.outcome == "ok"]
    firing = [md_text(name) for name in _still_firing(events)]

    if events:
        start, last = events[0].time, events[-1].time
        start_s = f"{start:%Y-%m-%d %H:%M} UTC"
        if firing:
            end_s = f"ongoing ({', '.join(firing)} still firing)"
            duration_s = f"{_duration(start, last)} so far"
        else:
            end_s = f"{last:%Y-%m-%d %H:%M} UTC"
            duration_s = _duration(start, last)
    else:
        start_s = end_s = duration_s = "-"

    ranks = ["info", "warning", "critical"]
    worst = max(
        (e.severity for e in alarms if e.severity in ranks and e.outcome.upper() in _FIRING),
        key=ranks.index,
        default="",
    )
    if worst:
        severity = f"{worst} (highest alarm severity; assess the incident level)"
    else:
        severity = "to be assessed" if fired else "none (no alarm fired)"
    if declared:
        severity = f"{md_text(declared)} (declared)" + (f"; highest alarm severity {worst}" if worst else "")
    summary_parts = [
        f"{len(fired)} alarm{'s' if len(fired) != 1 else ''} fired"
        + (f" ({', '.join(fired)})" if fired else ""),
        f"{len(actions)} action{'s' if len(actions) != 1 else ''} attempted ({len(ok)} ok)",
    ]
    if ok:
        done = ", ".join(f"{md_text(e.subject)} ({e.time:%H:%M})" for e in ok)
        resolution = f"Actions that succeeded: {done}."
    else:
        resolution = "No action succeeded."
    if firing:
        resolution += f" Still firing: {', '.join(firing)}."
    elif fired:
        resolution += f" Every alarm had cleared by {alarms[-1].time:%H:%M}."

    lines = [
        f"# Incident report: {md_text(title)}" if title else "# Incident report",
        "",
        f"**Profile:** {md_text(profile)}",
        f"**Severity:** {severity}",
        f"**Start time:** {start_s}",
        f"**End time:** {end_s}",
        f"**Duration:** {duration_s}",
        "",
        "## Summary",
        "",
        "; ".join(summary_parts) + ".",
        "",
        "## Impact",
        "",
        "_To be completed: who and what was affected, and for how long._",
        "",
        "## Root cause",
        "",
        "_To be completed._",
        "",
        "## Timeline",
        "",
        "Times are UTC.",
        "",
        *(f"- {e.time:%H:%M} - {md_text(e.summary)}" for e in events),
        "",
        "## Resolution",
        "",
        resolution,
        "",
        "## Action items",
        "",
        "- [ ] _To be completed._",
        "",
    ]
    if not events:
        lines.insert(lines.index("## Resolution") - 1, "- (no events)")
    return "\n".join(lines)


def to_jsonl(events: Sequence[TimelineEvent]) -> str:
    """One object per line with the fields an incident tool's timeline imports."""
    out = []
    for e in events:
        out.append(
            json.dumps(
                {
                    "event_time": utc_iso(e.time),
                    "type": e.type,
                    "summary": e.summary,
                    "actor": e.actor,
                    "resources": list(e.resources),
                    "outcome": e.outcome,
                    "profile": e.profile,
                },
                ensure_ascii=False,
            )
        )
    return "".join(line + "\n" for line in out)


# --- `cockpit timeline` ------------------------------------------------------------------

_SPAN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2h`` / ``30m`` / ``1d`` back from now, or an ISO time (UTC if no offset)."""
    now = now or datetime.now(UTC)
    m = _SPAN.match(text)
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        return parse_time(text.strip())
    except ValueError:
        raise CockpitError(
            f"--since {text!r} is neither a span nor a time", "use 2h, 30m, 1d or 2024-05-01T03:00"
        ) from None


def _audit_path_for(profile: str | None, config: str | None) -> Path:
    """The audit log a profile writes to: its ``audit_log`` if profiles.yaml sets one."""
    if profile is None and config is None:
        return default_audit_path(None)
    # Lazy: only this path needs profiles.yaml (and the YAML parser).
    from cockpit.config import find_config_path, load_config

    cfg = load_config(find_config_path(config))
    return default_audit_path(cfg.get(profile))


def _current_profile(config: str | None) -> str:
    """The profile `cockpit` opens with the same --config: the file's default."""
    from cockpit.config import find_config_path, load_config

    return load_config(find_config_path(config)).get(None).name


def main_timeline(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cockpit timeline",
        description="Print the incident timeline (alarms and actions) from the audit log: of "
        "one profile (default: the one `cockpit` opens), with the alarm transitions its newest "
        "cockpit session recorded.",
    )
    parser.add_argument(
        "--since", default="2h", help="a span back from now (2h, 30m, 1d) or a time"
    )
    parser.add_argument("--format", choices=("md", "json"), default="md")
    parser.add_argument("--profile", default=None, help="this profile's entries (default: the "
                        "profiles.yaml default)")
    parser.add_argument("--all", action="store_true",
                        help="every profile and every session's alarm transitions")
    parser.add_argument(
        "--audit",
        type=Path,
        default=None,
        help="audit log (default: the profile's audit_log, else the XDG state path)",
    )
    parser.add_argument("--config", default=None, help="profiles.yaml for --profile's audit_log")
    args = parser.parse_args(argv)
    try:
        since = parse_since(args.since)
        profile = args.profile
        if profile is None and not args.all:
            profile = _current_profile(args.config)
        log = AuditLog(args.audit or _audit_path_for(args.profile, args.config))
        entries = log.read(since=since, profile=profile)
    except CockpitError as e:
        print(f"cockpit timeline: {sanitize(str(e))}", file=sys.stderr)
        return 2
    if log.skipped:
        print(f"cockpit timeline: skipped {log.skipped} unreadable line(s)", file=sys.stderr)
    events = build_timeline(entries if args.all else one_cockpit(entries))
    if args.format == "md":
        sys.stdout.write(to_markdown(events, profile or "all profiles"))
    else:
        sys.stdout.write(to_jsonl(events))
    return 0
