"""Kubernetes pods and nodes as rows of their own, and "follow this workload's logs".

A workload's pods screen lists its pods (refreshed from the backend's pod watch) with
actions on the focused one: its previous container's log (``kubectl logs --previous``),
``pod: delete`` through the ActionRunner, and following the whole workload's logs with a
container choice. The nodes screen offers ``node: cordon`` / ``uncordon`` on the focused
node. Every change goes through ``app.request_action`` (confirmation, read-only, audit).
The screens know a source only by the capability Protocols of cockpit/backends/base.py
(``PodsReader``, ``WorkloadLogsFollowable``, ``PreviousLogReader``, ``NodesReader``,
``WatchChanges``) and its records by cockpit/k8smodel.py.

Both screens follow the source's watch (``WatchChanges``): a change the API server reports,
such as the result of a delete or a cordon taken here, is read a moment later, not at the
next timed read (which stays, for ages and node usage that no watch event announces).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from cockpit.backends.base import (
    NodesReader,
    PodsReader,
    PreviousLogReader,
    WatchChanges,
    WorkloadLogsFollowable,
)
from cockpit.k8smodel import NODE_COLUMNS, PodView
from cockpit.model import ServiceStatus
from cockpit.text import sanitize
from screens.confirm import push_and_wait
from widgets.footer import KeyFooter
from widgets.host import host
from widgets.keyed_table import Col, KeyedTable

REFRESH = 2.0  # s between two reads of the pod / node cache (the watch keeps it current)
WATCH_SETTLE = 0.1  # s: a burst of watch events (a rollout) becomes one read
ALL_CONTAINERS = "\x00all"  # the picker's "every container" choice (never a container name)


class ContainerPicker(ModalScreen[str | None]):
    """Which container: one name, ``ALL_CONTAINERS`` (when offered), or None (cancelled)."""

    DEFAULT_CSS = """
    ContainerPicker { align: center middle; }
    ContainerPicker > Vertical { width: 72; height: auto; max-height: 80%; border: thick $primary;
                                 background: $surface; padding: 1 2; }
    ContainerPicker #prompt { width: 1fr; margin-bottom: 1; }
    ContainerPicker OptionList { height: auto; max-height: 16; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="containers.cancel")]

    def __init__(self, prompt: str, containers: list[str], *, offer_all: bool) -> None:
        super().__init__()
        self.prompt = prompt
        self.containers = containers
        self.offer_all = offer_all

    def compose(self) -> ComposeResult:
        options = [Option(Text(sanitize(c, 200)), id=f"c-{i}") for i, c in enumerate(self.containers)]
        if self.offer_all:
            options.append(Option(Text("all containers"), id="all"))
        with Vertical():
            yield Static(Text(sanitize(self.prompt, 300)), id="prompt")
            yield OptionList(*options, id="containers")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        oid = event.option.id or ""
        self.dismiss(ALL_CONTAINERS if oid == "all" else self.containers[int(oid[2:])])

    def action_cancel(self) -> None:
        self.dismiss(None)


async def choose_container(app: App, prompt: str, containers: list[str], *, offer_all: bool) -> str | None:
    """The container to use: asked only when there is a choice to make."""
    if len(containers) == 1 and not offer_all:
        return containers[0]
    if len(containers) <= 1:
        return ALL_CONTAINERS
    return await push_and_wait(app, ContainerPicker(prompt, containers, offer_all=offer_all))


async def follow_workload_logs(app: Any, source: WorkloadLogsFollowable, record: ServiceStatus) -> None:
    """Ask for a container when the pods have several, then add a follower to the running hub."""
    try:
        containers = await source.workload_containers(record)
    except Exception as e:  # shown, not raised: the user can retry
        app.notify(f"cannot follow {record.name}: {e}", severity="error")
        return
    choice = await choose_container(app, f"Follow the logs of {record.name}: which container?",
                                    containers, offer_all=True)
    if choice is None:
        return
    ls = source.log_source(record, None if choice == ALL_CONTAINERS else choice)
    if app.hub is None or not app.hub.add_log_source(ls):
        await ls.close()  # never started: release what it holds
        app.notify(f"already following {ls.title}", timeout=4)
        return
    app.notify(f"following {ls.title} in the Logs pane (palette: k8s: stop following)", timeout=6)


def stop_following(app: Any, source_id: str) -> None:
    async def stop() -> None:
        if app.hub is not None and await app.hub.remove_log_source(source_id):
            app.notify(f"stopped following {source_id}", timeout=4)

    app.run_worker(stop(), group="k8s-logs", exit_on_error=False)


class _FollowsWatch(Screen):
    """Reads again (``reread``) shortly after the source's watch of ``plural`` saw a change."""

    _stop_watch: Callable[[], None] | None = None
    _settle: Any = None

    def follow_watch(self, source: object, plural: str, reread: Callable[[], Any]) -> None:
        if not isinstance(source, WatchChanges):
            return  # read on the timer only
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # the app's: timers need it

        def changed() -> None:  # the watch's thread
            with contextlib.suppress(RuntimeError):  # the loop closed at exit
                loop.call_soon_threadsafe(self._changed, reread, context=context)

        self._stop_watch = source.watch_changes(plural, changed)

    def _changed(self, reread: Callable[[], Any]) -> None:
        if self._settle is None and self.is_attached:
            self._settle = self.set_timer(WATCH_SETTLE, lambda: self._settled(reread))

    def _settled(self, reread: Callable[[], Any]) -> None:
        self._settle = None
        reread()

    def on_unmount(self) -> None:
        if self._stop_watch is not None:
            self._stop_watch()
            self._stop_watch = None


class WorkloadPodsScreen(_FollowsWatch):
    """One workload's pods; previous log, delete and log following on the focused pod."""

    DEFAULT_CSS = """
    WorkloadPodsScreen #pods { height: auto; max-height: 50%; }
    WorkloadPodsScreen #previous { height: 1fr; border-top: solid $primary; }
    """
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="pods.back"),
        Binding("p", "previous_log", "Previous log", id="pods.previous"),
        Binding("d", "delete_pod", "pod: delete", id="pods.delete"),
        Binding("l", "follow_logs", "Follow workload logs", id="pods.follow"),
        Binding("x", "shell", "shell: open", id="pods.shell"),
    ]
    # Pod names are cut in the middle, keeping the hash that tells replicas apart
    # (scanner-wor…-9b0d9); node and age drop out first on a small terminal.
    COLUMNS = (Col("pod", 18, 0, max=48, middle=True), Col("status", 10, 0, max=24), Col("ready", 5, 1),
               Col("restarts", 8, 2), Col("last termination", 16, 3, grow=True), Col("node", 14, 4),
               Col("age", 5, 5))

    def __init__(self, source: PodsReader, record: ServiceStatus, banner: Static) -> None:
        super().__init__()
        self.source = source
        self.record = record
        self.banner = banner
        self.pods: dict[str, PodView] = {}
        self.table = KeyedTable(self.COLUMNS, id="pods")
        self.status = Static(Text("⧗ loading pods…"), id="pods-status")
        self.previous = Static(Text("p: the focused pod's previous container log (kubectl logs --previous)"))

    def compose(self) -> ComposeResult:
        yield self.banner
        yield Static(Text(f"Pods of {sanitize(self.record.name, 200)} ({sanitize(self.record.cluster, 100)})",
                          style="bold"))
        yield self.status
        yield self.table
        with VerticalScroll(id="previous"):
            yield self.previous
        yield KeyFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self.refresh_pods()
        self.set_interval(REFRESH, self.refresh_pods)
        self.follow_watch(self.source, "pods", self.refresh_pods)

    @work(group="pods", exclusive=True, exit_on_error=False)
    async def refresh_pods(self) -> None:
        from cockpit.hub import describe_error

        try:
            pods = await asyncio.wait_for(self.source.workload_pods(self.record), 15)
        except Exception as e:
            message, hint = describe_error(e)
            self.status.update(Text(f"✖ pods unavailable: {message}" + (f" · {hint}" if hint else "")))
            return
        self.status.update(Text(f"{len(pods)} pods · refreshed from the pod watch every {REFRESH:g} s"))
        # Only the cells that changed are sent (KeyedTable), as in the main panes.
        self.table.sync([
            (p.name, [Text(sanitize(c, 300)) for c in
                      (p.name, p.status, p.ready, str(p.restarts), p.last_termination, p.node, p.age)])
            for p in pods
        ])
        self.pods = {p.name: p for p in pods}

    def focused_pod(self) -> PodView | None:
        key = self.table.selected_key
        return self.pods.get(key) if key else None

    def action_delete_pod(self) -> None:
        from cockpit.registry import get_action

        pod = self.focused_pod()
        if pod is None:
            self.app.notify("no pod selected", timeout=3)
            return
        ref = self.source.pod_ref(pod.namespace, pod.name)
        host(self).request_action(get_action("pod.delete"), ref, "pods screen")

    def action_follow_logs(self) -> None:
        start_following(self.app, self.source, self.record)

    @work(group="shell", exclusive=True, exit_on_error=False)
    async def action_shell(self) -> None:
        """`x`: kubectl exec into the focused pod (the container asked when it has several)."""
        from cockpit.shell import SHELL_OPEN

        pod = self.focused_pod()
        if pod is None:
            self.app.notify("no pod selected", timeout=3)
            return
        params = None
        if not getattr(getattr(self.app, "runner", None), "read_only", False):  # refused there, unasked
            container = await choose_container(self.app, f"Shell in which container of {pod.name}?",
                                               list(pod.containers), offer_all=False) if pod.containers else ""
            if container is None:
                return
            params = {"container": container}
        host(self).request_action(SHELL_OPEN, self.source.pod_ref(pod.namespace, pod.name), "pods screen", params)

    @work(group="previous", exclusive=True, exit_on_error=False)
    async def action_previous_log(self) -> None:
        from cockpit.hub import describe_error

        pod = self.focused_pod()
        if pod is None:
            self.app.notify("no pod selected", timeout=3)
            return
        if not isinstance(self.source, PreviousLogReader):
            self.app.notify("previous logs are not available here", timeout=3)
            return
        # Crashed containers first: those are the ones with a previous instance to read.
        choices = list(pod.terminated) + [c for c in pod.containers if c not in pod.terminated]
        if not choices:
            return
        container = await choose_container(self.app, f"Previous log of {pod.name}: which container?",
                                           choices, offer_all=False)
        if container is None:
            return
        command = " ".join(self.source.previous_log_command(pod.namespace, pod.name, container))
        self.previous.update(Text(f"$ {command}\n⧗ reading…"))
        try:
            lines = await asyncio.wait_for(self.source.previous_log(pod.namespace, pod.name, container), 15)
        except Exception as e:
            message, hint = describe_error(e)
            lines = [f"✖ {message}" + (f" · {hint}" if hint else "")]
        body = "\n".join(sanitize(line, 4000) for line in lines) or "(no lines)"
        self.previous.update(Text(f"$ {sanitize(command, 1000)}\n{body}"))


class NodesScreen(_FollowsWatch):
    """Every node of a context: Ready, pressure, cordoned, usage; cordon / uncordon the focused one."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="nodes.back"),
        Binding("c", "cordon", "node: cordon", id="nodes.cordon"),
        Binding("u", "uncordon", "node: uncordon", id="nodes.uncordon"),
    ]

    def __init__(self, source: NodesReader, title: str, banner: Static) -> None:
        super().__init__()
        self.source = source
        self.title_text = title
        self.banner = banner
        self.rows: dict[str, tuple[str, ...]] = {}
        self.table = KeyedTable(list(zip(NODE_COLUMNS, (24, 8, 16, 10, 12, 6, 8, 8), strict=True)), id="nodes")
        self.status = Static(Text("⧗ loading…"), id="nodes-status")

    def compose(self) -> ComposeResult:
        yield self.banner
        yield Static(Text(self.title_text, style="bold"))
        yield self.status
        yield self.table
        yield KeyFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self.refresh_nodes()
        self.set_interval(REFRESH, self.refresh_nodes)
        self.follow_watch(self.source, "nodes", self.refresh_nodes)

    @work(group="nodes", exclusive=True, exit_on_error=False)
    async def refresh_nodes(self) -> None:
        from cockpit.hub import describe_error

        try:
            section = await asyncio.wait_for(self.source.nodes_detail(), 15)
        except Exception as e:
            message, hint = describe_error(e)
            self.status.update(Text(f"✖ {message}" + (f" · {hint}" if hint else "")))
            return
        self.status.update(Text(f"{len(section.rows)} nodes"))
        self.table.sync([(row[0], [Text(sanitize(c, 300)) for c in row]) for row in section.rows])
        self.rows = {row[0]: tuple(row) for row in section.rows}

    def focused_node(self) -> str | None:
        key = self.table.selected_key
        return key if key in self.rows else None

    def _act(self, action_id: str) -> None:
        from cockpit.registry import get_action

        node = self.focused_node()
        if node is None:
            self.app.notify("no node selected", timeout=3)
            return
        ref = self.source.node_ref(node)
        host(self).request_action(get_action(action_id), ref, "nodes screen")

    def action_cordon(self) -> None:
        self._act("node.cordon")

    def action_uncordon(self) -> None:
        self._act("node.uncordon")


def is_workload_source(source: object) -> bool:
    """A source whose rows are Kubernetes workloads with pods and logs to follow."""
    return isinstance(source, PodsReader) and isinstance(source, WorkloadLogsFollowable)


def open_workload_pods(app: Any, source: PodsReader, record: ServiceStatus) -> None:
    app.push_screen(WorkloadPodsScreen(source, record, app.make_banner()))


def start_following(app: Any, source: object, record: ServiceStatus) -> None:
    if not isinstance(source, WorkloadLogsFollowable):
        app.notify("this source has no workload logs to follow", timeout=3)
        return
    app.run_worker(follow_workload_logs(app, source, record), group="k8s-logs", exit_on_error=False)
