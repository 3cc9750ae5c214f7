"""Seen item 11 for the Kubernetes screens: the nodes and pods screens follow the watch, so
an action taken from them (cordon, pod delete) shows at once, not at the next timed read.

The screens' timed read is set far away; the API double serves the watch over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual import work
from textual.app import App
from textual.widgets import Static

import screens.k8s as k8s_screens
from cockpit.backends.kubernetes import (
    KubeContext,
    KubernetesAlarmsSource,
    KubernetesServicesSource,
)
from tests.fixtures.kubernetes import K8sDouble
from tests.helpers import wait_until
from tests.test_kubernetes import NS, _runner, rows_by_name


class Harness(App):
    """The hooks the cockpit app gives these screens: ``request_action`` through a runner."""

    def __init__(self, source: Any, tmp_path: Any) -> None:
        super().__init__()
        self.runner = _runner(source, tmp_path=tmp_path)
        self.outcomes: list[Any] = []

    def make_banner(self) -> Static:
        return Static()

    @work(group="actions", exit_on_error=False)
    async def request_action(self, spec: Any, target: Any, origin: str = "palette") -> None:
        self.outcomes.append(await self.runner.request(spec, target, origin=origin))


@pytest.fixture(autouse=True)
def slow_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s_screens, "REFRESH", 600.0)


async def test_a_cordon_from_the_nodes_screen_shows_at_once(k8s: K8sDouble, tmp_path: Any) -> None:
    k8s.state.add_node("node-1")
    src = KubernetesAlarmsSource(KubeContext(k8s.context), (NS,))
    app = Harness(src, tmp_path)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            screen = k8s_screens.NodesScreen(src, "Nodes", Static())
            await app.push_screen(screen)
            await wait_until(lambda: "node-1" in screen.rows, 10)
            assert "cordoned" not in screen.rows["node-1"]
            await pilot.press("c")
            await wait_until(lambda: bool(app.outcomes), 10)
            assert app.outcomes[0].ok, app.outcomes[0].message
            await wait_until(lambda: "cordoned" in " ".join(screen.rows["node-1"]), 5)
            assert screen.focused_node() == "node-1"
    finally:
        await src.close()


async def test_a_pod_deleted_from_the_pods_screen_goes_at_once_and_the_cursor_stays(
    k8s: K8sDouble, tmp_path: Any
) -> None:
    st = k8s.state
    st.add_deployment(NS, "worker")
    pods = sorted(p["metadata"]["name"] for p in st.pods_for(NS, "worker", 3))
    src = KubernetesServicesSource(KubeContext(k8s.context), NS)
    app = Harness(src, tmp_path)
    try:
        row = rows_by_name(await src.fetch())["deployment/worker"]
        async with app.run_test(size=(160, 40)) as pilot:
            screen = k8s_screens.WorkloadPodsScreen(src, row, Static())
            await app.push_screen(screen)
            await wait_until(lambda: sorted(screen.pods) == pods, 10)
            screen.table.move_cursor(row=0)
            await pilot.press("d")
            await wait_until(lambda: bool(app.outcomes), 10)
            assert app.outcomes[0].ok, app.outcomes[0].message
            await wait_until(lambda: pods[0] not in screen.pods, 5)
            await wait_until(lambda: screen.table.row_keys == pods[1:], 5)
    finally:
        await src.close()
