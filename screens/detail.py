"""Detail of one row: every field as plain text, deployments and events for services."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, Static

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


def describe(record: Any) -> list[tuple[str, str]]:
    """Scalar fields of a record as (label, plain text) pairs; collections are rendered apart."""
    out: list[tuple[str, str]] = []
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, tuple) and f.name in ("deployments", "events", "detail", "history", "metrics"):
            continue
        if value is None and f.default is None:
            continue  # an optional figure this backend does not give (an RDS row's tps)
        out.append((f.name.replace("_", " "), sanitize(_fmt(value), 4000)))
    for label, value in getattr(record, "detail", ()) or ():
        out.append((sanitize(label, 60), sanitize(value, 4000)))
    return out


def render_record(record: Any) -> list[Any]:
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for label, value in describe(record):
        fields.add_row(Text(label), Text(value))
    parts: list[Any] = [fields]
    deployments: tuple[Deployment, ...] = getattr(record, "deployments", ())
    if deployments:
        t = Table(title="Deployments", title_justify="left", expand=False)
        for col in ("status", "task definition", "running/pending/desired", "failed", "rollout", "created"):
            t.add_column(col)
        for d in deployments:
            t.add_row(
                Text(d.status), Text(d.task_definition), Text(f"{d.running}/{d.pending}/{d.desired}"),
                Text(str(d.failed)), Text(sanitize(f"{d.rollout_state} {d.rollout_reason}".strip(), 300)),
                Text(_fmt(d.created_at)),
            )
        parts.append(t)
    metrics = getattr(record, "metrics", ())
    if metrics:
        from widgets.services import sparkline

        t = Table(title="Metrics", title_justify="left", expand=False)
        for col in ("metric", "trend", "latest"):
            t.add_column(col)
        for name, values in metrics:
            t.add_row(Text(sanitize(name, 60)), Text(sparkline(values, width=30)),
                      Text(f"{values[-1]:.2f}" if values else "–"))
        parts.append(t)
    events = getattr(record, "events", ())
    if events:
        t = Table(title="Events (newest first)", title_justify="left", expand=False)
        t.add_column("time")
        t.add_column("message")
        for when, message in events[:20]:
            t.add_row(Text(_fmt(when)), Text(sanitize(message, 1000)))
        parts.append(t)
    return parts


def render_section(section: DetailSection) -> list[Any]:
    parts: list[Any] = []
    if section.columns:
        t = Table(title=sanitize(section.title, 200), title_justify="left", expand=False)
        for col in section.columns:
            t.add_column(sanitize(col, 60))
        for row in section.rows:
            t.add_row(*(Text(sanitize(cell, 2000)) for cell in row))
        parts.append(t)
    else:
        parts.append(Text(sanitize(section.title, 200), style="bold"))
    if section.lines:
        parts.append(Text("\n".join(sanitize(line, 4000) for line in section.lines)))
    return parts


class DetailScreen(Screen):
    """Every field of a row; a backend that is a ``DetailProvider`` adds sections on open."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="detail.back"),
        # Kubernetes workloads only (hidden elsewhere by check_action): see screens/k8s.py.
        Binding("p", "pods", "Pods", id="detail.pods"),
        Binding("L", "follow_logs", "Follow logs", id="detail.follow_logs"),
    ]

    def __init__(self, record: Any, title: str, banner: Static, provider: Any = None,
                 runbooks: Sequence[Runbook] = ()) -> None:
        super().__init__()
        self.runbooks = list(runbooks)
        self._steps: dict[str, tuple[Runbook, str]] = {}
        self.record = record
        self.title_text = title
        self.banner = banner
        self.provider = provider
        self.body = VerticalScroll()
        self.more = Static(Text("⧗ loading details…"), classes="detail-more")

    def compose(self) -> ComposeResult:
        yield self.banner
        with self.body:
            yield Static(Text(self.title_text, style="bold"))
            for part in render_record(self.record):
                title = str(getattr(part, "title", "") or "")
                # A provider's own Deployments / Events sections (images, circuit breaker)
                # replace these generic ones when they arrive.
                kind = next((k for k in ("Deployments", "Events") if title.startswith(k)), None)
                yield Static(part, classes=f"generic-{kind.lower()}" if kind else None)
            for i, rb in enumerate(self.runbooks):
                yield Static(Text(f"Runbook: {sanitize(rb.title, 200)}", style="bold underline"))
                if rb.url:
                    yield Static(Text(sanitize(rb.url, 500)))
                for j, step in enumerate(rb.steps):
                    box_id = f"step-{i}-{j}"
                    self._steps[box_id] = (rb, step)
                    yield Checkbox(Text(sanitize(step, 500)), id=box_id)  # a label str is markup
            if self.provider is not None:
                yield self.more
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
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
        rb, step = self._steps[event.checkbox.id or ""]
        self.app.record_runbook_step(rb, step, event.value, getattr(self.record, "name", "?"))

    def on_mount(self) -> None:
        if self.provider is not None:
            self.load_more()

    @work(exclusive=True, exit_on_error=False)
    async def load_more(self) -> None:
        from cockpit.hub import describe_error

        try:
            sections = await asyncio.wait_for(self.provider.detail(self.record), 15)
        except Exception as e:  # shown in place: what failed and what to do
            message, hint = describe_error(e)
            self.more.update(Text(f"✖ details unavailable: {message}" + (f" · {hint}" if hint else "")))
            return
        await self.more.remove()
        for kind in ("Deployments", "Events"):
            if any(sec.title.startswith(kind) for sec in sections):
                await self.query(f".generic-{kind.lower()}").remove()
        for section in sections:
            for part in render_section(section):
                await self.body.mount(Static(part))


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
