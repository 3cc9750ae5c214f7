"""Kubernetes next to ECS in the lab: the simulated repo-scanner workloads, their nodes, a restart."""

from __future__ import annotations

from cockpit.app import CockpitApp
from cockpit.lab import start_lab
from cockpit.model import PaneKind
from cockpit.profile import Profile
from screens.confirm import ConfirmScreen
from screens.detail import SectionsScreen

from .helpers import wait_until


async def test_workloads_nodes_and_a_rollout_restart_on_the_lab():
    labs = []

    def starter():
        labs.append(start_lab(with_servers=False))
        return labs[-1]

    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=1), start_lab=starter)
    async with app.run_test(size=(160, 48)) as pilot:
        services = app.cockpit.panes[PaneKind.SERVICES]

        def k8s_rows():
            return {s.name: s for s in services.records.values() if s.backend == "kubernetes"}

        await wait_until(lambda: "deployment/scanner-api" in k8s_rows(), 30)
        row = k8s_rows()["deployment/scanner-api"]
        assert "simulated" in app.backend_for(row).title  # never mistaken for a real cluster

        nodes = next(c for c in app.extra_palette_commands() if c.title.startswith("k8s: nodes"))
        nodes.run()
        await wait_until(lambda: isinstance(app.screen, SectionsScreen), 5)
        await wait_until(lambda: not app.screen.query(".loading") and len(app.screen.body.children) > 1, 10)
        await pilot.press("escape")

        services.focus_body()
        services.table.move_cursor(row=services.table.row_keys.index(row.key))
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        command = str(app.screen.query_one("#command").render())
        assert "kubectl" in command and "rollout restart deployment/scanner-api" in command
        await pilot.press("y")
        await wait_until(lambda: any(e.get("action") == "service.restart" and e.get("outcome") == "ok"
                                     for e in app.runner.audit.read()), 15)

        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=labs[0].kubeconfig)
        dep = client.AppsV1Api(api_client).read_namespaced_deployment("scanner-api", "repo-scanner")
        annotations = dep.spec.template.metadata.annotations or {}
        assert "kubectl.kubernetes.io/restartedAt" in annotations
        await pilot.press("q")
