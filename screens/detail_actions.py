"""The actions a detail screen offers on what it shows: its row's, and its sessions'.

A queue's detail offers peek, redrive and purge; a PostgreSQL database's offers cancel and
terminate on the sessions its activity sections list (the footer's key acts on the session
that blocks others; the palette lists every session). Each runs through
``app.request_action`` (the ActionRunner: confirmation, read-only, audit), never around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from textual.binding import Binding

from cockpit.actions import ActionSpec, target_name
from cockpit.dbmodel import Session

# Keys for offered actions the registry gives none (peek, redrive ...), in order of offer;
# kept apart from the detail's own keys (q, p, L, e) and the registry's (r s P S c K F).
SPARE_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9")


@dataclass(frozen=True)
class Offer:
    spec: ActionSpec
    key: str
    on_sessions: bool  # the target is a session of the database shown, not the row itself


def offers(record: Any, backend: Any) -> list[Offer]:
    """What the detail of ``record`` offers, given the backend of its source."""
    from cockpit.registry import REGISTRY

    out: list[Offer] = []
    spare = iter(SPARE_KEYS)
    if backend is None:  # a watcher, a replay, a log line: nothing to act with
        return out
    for spec in REGISTRY:
        if not isinstance(backend, spec.capability):
            continue
        if spec.applies_to(record):
            if spec.target_type is object and spec.unavailable_reason(backend, record) is not None:
                continue  # an any-row action (shell: open) only where this row has one
            out.append(Offer(spec, spec.key or next(spare, ""), False))
        elif spec.target_type is Session and callable(getattr(backend, "activity", None)):
            out.append(Offer(spec, spec.key or next(spare, ""), True))
    return out


def bindings(offered: list[Offer]) -> list[Binding]:
    out, verbs = [], set()
    for o in offered:
        if not o.key:
            continue
        verb = o.spec.title.split(": ", 1)[-1]
        same = verb.replace(" ", "").lower()
        # Two offers with one verb ("roll back", "rollback"): the later one says its category.
        label = (verb if same not in verbs else o.spec.title).capitalize()
        verbs.add(same)
        out.append(Binding(o.key, f"detail_action('{o.spec.id}')",
                           label + (" (blocker)" if o.on_sessions else ""),
                           id=f"detail.action.{o.spec.id}"))
    return out


def usable(offer: Offer, record: Any, backend: Any) -> bool:
    """Can the offer succeed on the row now? As in the panes' footers, its key is hidden when
    not (a helm rollback on a workload helm did not install, a rollback with no revision)."""
    return offer.on_sessions or offer.spec.unavailable_reason(backend, record) is None


def blocker(sessions: list[Session]) -> Session | None:
    """The session at the head of the longest wait: it blocks others and waits for none."""
    blocking = {pid for s in sessions for pid in s.blocked_by}
    heads = [s for s in sessions if s.pid in blocking and not s.blocked_by]
    if not heads:
        return None
    return max(heads, key=lambda s: (sum(1 for x in sessions if s.pid in x.blocked_by), s.duration_s or 0))


def targets(offer: Offer, record: Any, sessions: list[Session]) -> list[Any]:
    """Every target an offer may act on: the row, or each session (the blocker first)."""
    if not offer.on_sessions:
        return [record]
    head = blocker(sessions)
    return ([head] if head is not None else []) + [s for s in sessions if s is not head]


def palette_entries(offered: list[Offer], record: Any, sessions: list[Session]) -> list[tuple[str, str, ActionSpec, Any]]:
    """(title, help, spec, target) for the palette, in the order the detail offers them."""
    out = []
    for offer in offered:
        for target in targets(offer, record, sessions):
            what = f"{offer.spec.title} {target_name(target, offer.spec)}"
            if isinstance(target, Session) and target.query:
                what += f" · {target.query[:60]}"
            out.append((what, f"{offer.spec.risk.value} · {offer.spec.description}", offer.spec, target))
    return out


def step_target(app: Any, record: Any, spec: ActionSpec) -> Any:
    """What a runbook step's action acts on from this detail: the row itself when a profile
    action fits it (the built-in ones it fits are offers), the profile for an action on no
    row, else the row the alarm is about (``related_target``)."""
    from cockpit.custom_actions import NoTarget, no_target

    if spec.target_type is NoTarget:
        return no_target(app.profile)
    if getattr(spec, "config", None) is not None and spec.applies_to(record):
        return record
    return related_target(app, record, spec)


def subject_names(resource: str) -> set[str]:
    """The row names an alarm's resource may mean: itself, its last path part, and its name
    before a qualifier in parentheses (a PagerDuty service named ``api (production)``)."""
    last = resource.rsplit("/", 1)[-1]
    bare = re.sub(r"\s*\([^()]*\)$", "", last)
    return {resource, last, bare} - {""}


def related_target(app: Any, record: Any, spec: ActionSpec) -> Any:
    """The row an alarm is about, for a runbook step whose action is not the alarm's own
    ("Restart the service" on api's service-down alarm): the one row of the cockpit named
    by the alarm's resource (a queue also by its dead-letter queue) that the action fits."""
    names = subject_names(str(getattr(record, "resource", "") or ""))
    cockpit = getattr(app, "cockpit", None)
    if not names or cockpit is None:
        return None
    found = [
        row for pane in cockpit.panes.values() for row in getattr(pane, "records", {}).values()
        if (getattr(row, "name", None) in names or getattr(row, "dlq_name", None) in names)
        and spec.applies_to(row) and isinstance(app.backend_for(row), spec.capability)
    ]
    return found[0] if len(found) == 1 else None
