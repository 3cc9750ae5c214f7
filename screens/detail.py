"""Detail of one row: every field as plain text, deployments and events for services.

The detail follows its row while open (see ``DetailScreen``); ``SectionsScreen`` is a
one-off read of sections a backend computes on demand."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, Static

from cockpit.hub import SourceUpdate
from cockpit.model import Deployment, DetailSection, Severity
from cockpit.profile import Runbook
from cockpit.text import sanitize
from widgets.footer import KeyFooter


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, Severity):
        return f"{value.symbol} {value.label}"
    if hasattr(value, "value") and hasattr(value, "name"):  # other enums
        return str(value.name).lower()
    return "–" if value in (None, "") else str(value)


# ServiceStatus's fields are named for ECS; other backends keep other things in them.
_HOST_LABELS = {"task_definition": "process", "cluster": "host", "deployment": "activity"}
FIELD_LABELS: dict[str, dict[str, str]] = {
    "kubernetes": {"task_definition": "images", "cluster": "namespace", "deployment": "rollout"},
    "host": _HOST_LABELS,
    "systemd": _HOST_LABELS,
    "process": _HOST_LABELS,
}


def describe(record: Any) -> list[tuple[str, str]]:
    """Scalar fields of a record as (label, plain text) pairs; collections are rendered apart."""
    out: list[tuple[str, str]] = []
    labels = FIELD_LABELS.get(str(getattr(record, "backend", "")), {})
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, tuple) and f.name in ("deployments", "events", "detail", "history", "metrics"):
            continue
        if value is None and f.default is None:
            continue  # an optional figure this backend does not give (an RDS row's tps)
        if f.name == "estate" and not value:
            continue  # a row of no AWS estate or Kubernetes context (a host, a database)
        out.append((labels.get(f.name) or f.name.replace("_", " "), sanitize(_fmt(value), 4000)))
    for label, value in getattr(record, "detail", ()) or ():
        out.append((sanitize(label, 60), sanitize(value, 4000)))
    return out


def _field_row(label: str, value: str, width: int) -> Table:
    """One label/value line, its label column as wide as the longest label (the grid look)."""
    row = Table.grid(padding=(0, 2))
    row.add_column(style="bold", width=width)
    row.add_column()
    row.add_row(Text(label), Text(value))
    return row


def record_parts(record: Any) -> dict[str, Any]:
    """The record's collections as tables, by kind; a kind the record lacks maps to None."""
    parts: dict[str, Any] = {"deployments": None, "metrics": None, "events": None}
    deployments: tuple[Deployment, ...] = getattr(record, "deployments", ())
    if deployments:
        t = Table(title="Deployments", title_justify="left", expand=False)
        revision = FIELD_LABELS.get(str(getattr(record, "backend", "")), {}).get("task_definition", "task definition")
        for col in ("status", revision, "running/pending/desired", "failed", "rollout", "created"):
            t.add_column(col)
        for d in deployments:
            t.add_row(
                Text(d.status), Text(d.task_definition), Text(f"{d.running}/{d.pending}/{d.desired}"),
                Text(str(d.failed)), Text(sanitize(f"{d.rollout_state} {d.rollout_reason}".strip(), 300)),
                Text(_fmt(d.created_at)),
            )
        parts["deployments"] = t
    metrics = getattr(record, "metrics", ())
    if metrics:
        from cockpit.units import sparkline

        t = Table(title="Metrics", title_justify="left", expand=False)
        for col in ("metric", "trend", "latest"):
            t.add_column(col)
        for name, values in metrics:
            t.add_row(Text(sanitize(name, 60)), Text(sparkline(values, width=30)),
                      Text(f"{values[-1]:.2f}" if values else "–"))
        parts["metrics"] = t
    events = getattr(record, "events", ())
    if events:
        t = Table(title="Events (newest first)", title_justify="left", expand=False)
        t.add_column("time")
        t.add_column("message")
        for when, message in events[:20]:
            t.add_row(Text(_fmt(when)), Text(sanitize(message, 1000)))
        parts["events"] = t
    return parts


def render_record(record: Any) -> list[Any]:
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for label, value in describe(record):
        fields.add_row(Text(label), Text(value))
    return [fields, *(p for p in record_parts(record).values() if p is not None)]


def render_section(section: DetailSection) -> list[Any]:
    parts: list[Any] = []
    if section.columns:
        # Text, not str: Rich parses markup in a str title. The table is at least as wide as
        # its title, which Rich wraps to the table's width ("on call for its" / "escalation...").
        title = Text(sanitize(section.title, 200))
        t = Table(title=title, title_justify="left", expand=False, min_width=title.cell_len)
        for col in section.columns:
            t.add_column(Text(sanitize(col, 60)))
        for row in section.rows:
            t.add_row(*(Text(sanitize(cell, 2000)) for cell in row))
        parts.append(t)
    else:
        parts.append(Text(sanitize(section.title, 200), style="bold"))
    if section.lines:
        parts.append(Text("\n".join(sanitize(line, 4000) for line in section.lines)))
    return parts


# While a detail is open, a provider's sections are read again when the row changed, after
# an action, and at least this often (a DLQ peek or a pod's events may change alone).
SECTIONS_MAX_AGE_S = 30.0
_PART_KINDS = ("deployments", "metrics", "events")


class DetailScreen(Screen):
    """Every field of a row, kept current while it is open.

    The app hands each update of the row's source to ``source_updated`` and each finished
    action to ``after_action``: the fields follow the row (found by key), a provider's
    sections are read again, and only the widgets whose text changed are updated (one per
    field line, per table, per section), so an open detail costs the bytes of what moved.
    """

    DEFAULT_CSS = """
    DetailScreen #detail-fields, DetailScreen #detail-sections, DetailScreen .detail-section {
        height: auto;
    }
    DetailScreen #detail-status, DetailScreen #detail-sections-note { color: $warning; }
    """

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="detail.back"),
        # Kubernetes workloads only (hidden elsewhere by check_action): see screens/k8s.py.
        Binding("p", "pods", "Pods", id="detail.pods"),
        Binding("L", "follow_logs", "Follow logs", id="detail.follow_logs"),
        Binding("e", "explain", "Explain", id="detail.explain"),
    ]

    def __init__(self, record: Any, title: str, banner: Static, provider: Any = None,
                 runbooks: Sequence[Runbook] = ()) -> None:
        super().__init__()
        self.runbooks = list(runbooks)
        self._steps: dict[str, tuple[Runbook, str]] = {}
        self.offered: list[Any] = []  # detail_actions.Offer: what this detail can do (on_mount)
        self._offers_backend: Any = None
        self.sessions: list[Any] = []  # a database's sessions, as its sections last read them
        self._pending_step = ""  # the checklist box whose action is being confirmed / run
        self._quiet: set[str] = set()  # boxes set from code: their Changed is not a tick
        self.record = record
        self.title_text = title
        self.banner = banner
        self.provider = provider
        self.body = VerticalScroll()
        self.more = Static(Text("⧗ loading details…"), classes="detail-more")
        self.status = Static(id="detail-status")
        self.status.display = False
        self.fields = Vertical(id="detail-fields")
        self._field_rows: list[tuple[str, str, int]] = []
        self._field_widgets: list[Static] = []
        self._parts: dict[str, Static] = {}
        self._shown_parts = {kind: getattr(record, kind, ()) for kind in _PART_KINDS}
        self._replaced: set[str] = set()  # generic parts a provider's own sections replace
        self.sections_box = Vertical(id="detail-sections")
        self.sections_note = Static(id="detail-sections-note")
        self.sections_note.display = False
        self.sections: list[DetailSection] = []
        self._section_boxes: list[Vertical] = []
        self._sections_at = float("-inf")  # monotonic time of the last good read
        self._loading = False
        self._again = False

    def compose(self) -> ComposeResult:
        yield self.banner
        with self.body:
            yield Static(Text(self.title_text, style="bold"))
            yield self.status
            self._field_rows = self._rows_of(self.record)
            self._field_widgets = [Static(_field_row(*row), classes="detail-field") for row in self._field_rows]
            with self.fields:
                yield from self._field_widgets
            for kind, part in record_parts(self.record).items():
                # A provider's own Deployments / Events sections (images, circuit breaker)
                # replace these generic ones when they arrive.
                widget = Static(part if part is not None else "", classes=f"generic-{kind}")
                widget.display = part is not None
                self._parts[kind] = widget
                yield widget
            for i, rb in enumerate(self.runbooks):
                yield Static(Text(f"Runbook: {sanitize(rb.title, 200)}", style="bold underline"))
                if rb.url:
                    yield Static(Text(sanitize(rb.url, 500)))
                for j, step in enumerate(rb.steps):
                    box_id = f"step-{i}-{j}"
                    self._steps[box_id] = (rb, step)
                    label = Text(sanitize(step, 500))
                    if getattr(step, "action", ""):
                        label.append(f"  ▶ {step.action}", style="bold")
                    yield Checkbox(label, id=box_id)  # a label str is markup
            if self.provider is not None:
                yield self.more
                yield self.sections_note
                yield self.sections_box
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "detail_action":
            from screens.detail_actions import usable

            offer = next((o for o in self.offered if o.spec.id == parameters[0]), None)
            return offer is not None and usable(offer, self.record, self._offers_backend)
        if action in ("pods", "follow_logs"):
            from screens.k8s import is_workload_source

            return is_workload_source(self.provider) and hasattr(self.record, "cluster")
        return True

    def action_pods(self) -> None:
        from screens.k8s import open_workload_pods

        open_workload_pods(self.app, self.provider, self.record)

    def action_follow_logs(self) -> None:
        from screens.k8s import start_following

        start_following(self.app, self.provider, self.record)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        box_id = event.checkbox.id or ""
        rb, step = self._steps[box_id]
        if box_id in self._quiet:
            self._quiet.discard(box_id)
            if not event.value:
                return  # a tick taken back while its action is confirmed: nothing happened
        elif event.value and (action := str(getattr(step, "action", ""))):
            # A step that names an action is done when the action is: the tick waits for
            # the runner (confirmation, read-only, audit) and its outcome (after_action).
            self._quiet.add(box_id)
            event.checkbox.value = False
            self._run_step(box_id, action)
            return
        self.app.record_runbook_step(rb, step, event.value, getattr(self.record, "name", "?"))  # type: ignore[attr-defined]

    def _run_step(self, box_id: str, action_id: str) -> None:
        from cockpit.registry import get_action
        from screens.detail_actions import step_target

        offer = next((o for o in self.offered if o.spec.id == action_id), None)
        if offer is not None:
            if self._act(offer):
                self._pending_step = box_id
            return
        spec = get_action(action_id, getattr(self.app, "action_specs", ()))  # or the profile's own
        target = step_target(self.app, self.record, spec)
        if target is None:
            self.notify(f"{spec.title}: no row here it can run on (from {getattr(self.record, 'name', 'this row')})",
                        severity="warning")
            return
        self._pending_step = box_id
        self.app.request_action(spec, target, "detail")  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        from screens.detail_actions import bindings, offers

        backend_for = getattr(self.app, "backend_for", None)
        self._offers_backend = backend_for(self.record) if backend_for else None
        self.offered = offers(self.record, self._offers_backend)
        for b in bindings(self.offered):
            self._bindings.key_to_bindings.setdefault(b.key, []).append(b)
        if self.offered:
            self.refresh_bindings()
        self.load_more()
        from screens.follow import publish_detail

        publish_detail(self.app, self.record, self.title_text)

    def on_unmount(self) -> None:
        from screens.follow import publish_detail

        publish_detail(self.app, None, "")

    # --- actions on what the detail shows --------------------------------------------------

    def action_detail_action(self, action_id: str) -> None:
        offer = next((o for o in self.offered if o.spec.id == action_id), None)
        if offer is not None:
            self._act(offer)

    def _act(self, offer: Any) -> bool:
        from screens.detail_actions import blocker

        target: Any = self.record
        if offer.on_sessions:
            target = blocker(self.sessions)
            if target is None:
                self.notify(f"{offer.spec.title}: no session blocks another; pick a session in the "
                            "palette (ctrl+p) or in database: activity", severity="warning")
                return False
        self.app.request_action(offer.spec, target, "detail")  # type: ignore[attr-defined]
        return True

    def palette_commands(self) -> list[Any]:
        """The palette's first entries while this detail is open: what it offers."""
        from functools import partial

        from cockpit.commands import PaletteCommand
        from screens.detail_actions import palette_entries

        return [PaletteCommand(title, help_, partial(self.app.request_action, spec, target, "palette"),  # type: ignore[attr-defined]
                               focused=True)
                for title, help_, spec, target in palette_entries(self.offered, self.record, self.sessions)]

    def explain_sections(self) -> list[Any]:
        from cockpit.explain import ExplainSection, explain

        app: Any = self.app
        hub = getattr(app, "hub", None)
        source = hub.source(self.record.source) if hub and getattr(self.record, "source", None) else None
        sections = []
        if source is not None and getattr(source, "pane", None) is not None:  # a log line's is a follower
            sections = explain(source.pane, [source], self.record, app.backend_for(self.record),
                               app.profile.name, estates=app.profile.several_estates)
        if not sections:  # a log line, or a watcher's detail: no source to explain here
            sections.append(ExplainSection(self.title_text, ("every field of the row, kept current while open",)))
        lines = [f"{o.key or 'ctrl+p'}  {o.spec.title} ({o.spec.risk.value}) — {o.spec.description}"
                 for o in self.offered]
        sections.append(ExplainSection("Actions on this detail", tuple(lines) or ("none here",)))
        for rb in self.runbooks:
            sections.append(ExplainSection(f"Runbook: {rb.title}", tuple(
                f"{step}" + (f"  (runs {step.action})" if getattr(step, "action", "") else "")
                for step in rb.steps)))
        return sections

    def action_explain(self) -> None:
        from screens.explain_any import toggle_explain

        toggle_explain(self)

    # --- following the source ------------------------------------------------------------

    def source_updated(self, update: SourceUpdate) -> None:
        """A refresh of some source (a ``SourceUpdate``): follow it if it is this row's."""
        key = getattr(self.record, "key", None)
        if key is None or update.source_id != getattr(self.record, "source", None):
            return
        from widgets.pane import clock

        if update.error:
            when = clock(update.fetched_at) if update.fetched_at else "never"
            self._note(self.status, f"✖ {update.title}: {update.error} · as read at {when}")
        if update.records is None:
            return
        record = next((r for r in update.records if r.key == key), None)
        if record is None:
            if not update.error:
                self._note(self.status, f"✖ no longer in {update.title} · as last seen")
            return
        if not update.error:
            self._note(self.status, "")
        if record != self.record:
            self.record = record
            self._show_record(record)
            self.load_more()
        elif time.monotonic() - self._sections_at >= SECTIONS_MAX_AGE_S:
            self.load_more()

    def after_action(self, target: Any, outcome: Any) -> None:
        """An action finished (from the palette or a key): its result may be a section."""
        box_id, self._pending_step = self._pending_step, ""
        if box_id and getattr(outcome, "status", "") == "ok":
            box = self.query_one(f"#{box_id}", Checkbox)
            self._quiet.add(box_id)  # its Changed records the step as done
            box.value = True
        self.load_more()

    @staticmethod
    def _rows_of(record: Any) -> list[tuple[str, str, int]]:
        rows = describe(record)
        width = max((Text(label).cell_len for label, _ in rows), default=0)
        return [(label, value, width) for label, value in rows]

    def _show_record(self, record: Any) -> None:
        rows = self._rows_of(record)
        for i, row in enumerate(rows):
            if i < len(self._field_widgets):
                if self._field_rows[i] != row:
                    self._field_widgets[i].update(_field_row(*row))
            else:
                widget = Static(_field_row(*row), classes="detail-field")
                self._field_widgets.append(widget)
                self.fields.mount(widget)
        for widget in self._field_widgets[len(rows):]:
            widget.remove()
        del self._field_widgets[len(rows):]
        self._field_rows = rows
        for kind, part in record_parts(record).items():
            if kind in self._replaced or getattr(record, kind, ()) == self._shown_parts[kind]:
                continue
            widget = self._parts[kind]
            widget.update(part if part is not None else "")
            widget.display = part is not None
        self._shown_parts = {kind: getattr(record, kind, ()) for kind in _PART_KINDS}

    @staticmethod
    def _note(widget: Static, text: str) -> None:
        if text or widget.display:
            if str(getattr(widget.content, "plain", widget.content)) != text:
                widget.update(Text(text))
            widget.display = bool(text)

    # --- a provider's sections -------------------------------------------------------------

    def load_more(self) -> None:
        """Read the provider's sections; one read at a time, again once if asked meanwhile."""
        if self.provider is None:
            return
        if self._loading:
            self._again = True
            return
        self._loading = True
        self.run_worker(self._load_sections(), group="detail-sections", exit_on_error=False)

    async def _load_sections(self) -> None:
        try:
            self._again = True
            while self._again and self.is_attached:
                self._again = False
                await self._read_sections()
        finally:
            self._loading = False

    async def _read_sections(self) -> None:
        from cockpit.hub import describe_error

        try:
            sections = list(await asyncio.wait_for(self.provider.detail(self.record), 15))
        except Exception as e:  # shown in place: what failed and what to do
            message, hint = describe_error(e)
            text = f"✖ details unavailable: {message}" + (f" · {hint}" if hint else "")
            if self.more.is_attached:
                self.more.update(Text(text))
            else:
                self._note(self.sections_note, f"{text} · showing the last ones read")
            return
        self._sections_at = time.monotonic()
        if self.more.is_attached:
            await self.more.remove()
        self._note(self.sections_note, "")
        for kind in ("Deployments", "Events"):
            if kind.lower() not in self._replaced and any(sec.title.startswith(kind) for sec in sections):
                self._replaced.add(kind.lower())
                await self._parts[kind.lower()].remove()
        await self._show_sections(sections)
        activity = getattr(self.provider, "last_activity", None)
        if activity is not None and getattr(activity, "database", None) is not None:
            self.sessions = list(activity.sessions)

    async def _show_sections(self, sections: list[DetailSection]) -> None:
        for i, section in enumerate(sections):
            parts = render_section(section)
            if i >= len(self._section_boxes):
                box = Vertical(*(Static(part) for part in parts), classes="detail-section")
                self._section_boxes.append(box)
                await self.sections_box.mount(box)
                continue
            if self.sections[i] == section:
                continue
            box = self._section_boxes[i]
            statics = list(box.query_children(Static))
            if len(statics) == len(parts):
                for widget, part in zip(statics, parts, strict=True):
                    widget.update(part)
            else:
                await box.remove_children()
                await box.mount_all([Static(part) for part in parts])
        for box in self._section_boxes[len(sections):]:
            await box.remove()
        del self._section_boxes[len(sections):]
        self.sections = sections


class SectionsScreen(Screen):
    """A read-only view of sections a backend computes on demand (e.g. Kubernetes nodes)."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="sections.back")]

    def __init__(self, title: str, banner: Static, load: Any) -> None:
        super().__init__()
        self.title_text = title
        self.banner = banner
        self.load = load  # async () -> list[DetailSection]
        self.body = VerticalScroll()
        self.more = Static(Text("⧗ loading…"))

    def compose(self) -> ComposeResult:
        yield self.banner
        with self.body:
            yield Static(Text(self.title_text, style="bold"))
            yield self.more
        yield KeyFooter()

    def on_mount(self) -> None:
        self.fill()

    @work(exclusive=True, exit_on_error=False)
    async def fill(self) -> None:
        from cockpit.hub import describe_error

        try:
            sections = await asyncio.wait_for(self.load(), 15)
        except Exception as e:
            message, hint = describe_error(e)
            self.more.update(Text(f"✖ {message}" + (f" · {hint}" if hint else "")))
            return
        await self.more.remove()
        for section in sections:
            for part in render_section(section):
                await self.body.mount(Static(part))
