"""Kubernetes next to ECS in the lab: the simulated repo-scanner workloads, their nodes, a restart."""

from __future__ import annotations

from cockpit.app import CockpitApp
from cockpit.lab import start_lab
from cockpit.model import PaneKind
from cockpit.profile import Profile
from screens.confirm import ConfirmScreen
from screens.k8s import NodesScreen

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
        await wait_until(lambda: isinstance(app.screen, NodesScreen), 5)
        await wait_until(lambda: len(app.screen.rows) == 2, 10)
        await pilot.press("escape")

        before = {p.name for p in await app.backend_for(row).workload_pods(row)}
        assert len(before) == 3
        services.focus_body()
        services.table.move_cursor(row=services.table.row_keys.index(row.key))
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        command = str(app.screen.query_one("#command").render())
        assert "kubectl" in command and "rollout restart deployment/scanner-api" in command
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: any(e.get("action") == "service.restart" and e.get("outcome") == "ok"
                                     for e in app.runner.audit.read()), 15)

        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=labs[0].kubeconfig)
        dep = client.AppsV1Api(api_client).read_namespaced_deployment("scanner-api", "repo-scanner")
        annotations = dep.spec.template.metadata.annotations or {}
        assert "kubectl.kubernetes.io/restartedAt" in annotations

        # The lab's controller rolls it: the row shows the rollout, then it completes.
        seen: set[str] = set()

        def rolled() -> bool:
            r = k8s_rows()["deployment/scanner-api"]
            seen.add(r.status_text)
            return r.deployment.startswith("complete 3 updated") and r.status_text == "healthy" \
                and "deploying" in seen
        await wait_until(rolled, 30)

        # Its pods, from the workload's detail: three new ones, running, none of the old.
        from screens.detail import DetailScreen
        from screens.k8s import WorkloadPodsScreen

        services.focus_body()
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        await pilot.press("p")
        await wait_until(lambda: isinstance(app.screen, WorkloadPodsScreen), 5)
        pods = app.screen
        await wait_until(lambda: len(pods.pods) == 3 and not set(pods.pods) & before
                         and all(v.status == "Running" for v in pods.pods.values()), 15)
        await pilot.press("escape", "escape", "q")


async def test_pods_previous_log_delete_follow_rollback_and_cordon_on_the_lab():
    from cockpit.actions import get_action
    from screens.detail import DetailScreen
    from screens.k8s import ContainerPicker, NodesScreen, WorkloadPodsScreen

    labs = []

    def starter():
        labs.append(start_lab(with_servers=False))
        return labs[-1]

    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=1), start_lab=starter)
    async with app.run_test(size=(160, 48)) as pilot:
        services = app.cockpit.panes[PaneKind.SERVICES]

        def k8s_rows():
            return {s.name: s for s in services.records.values() if s.backend == "kubernetes"}

        def audited(action: str) -> bool:
            return any(e.get("action") == action and e.get("outcome") == "ok" for e in app.runner.audit.read())

        await wait_until(lambda: {"deployment/scanner-worker", "statefulset/scanner-cache"} <= set(k8s_rows()), 30)

        # The crash-looping worker: its detail, its pods, the previous container's last words.
        worker = k8s_rows()["deployment/scanner-worker"]
        services.focus_body()
        services.table.move_cursor(row=services.table.row_keys.index(worker.key))
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        await pilot.press("p")
        await wait_until(lambda: isinstance(app.screen, WorkloadPodsScreen), 5)
        pods = app.screen
        await wait_until(lambda: len(pods.pods) == 2, 10)
        first = sorted(pods.pods)[0]
        await pilot.press("p")  # one container: no picker
        await wait_until(lambda: "out of memory" in str(pods.previous.render()), 10)
        shown = str(pods.previous.render())
        assert f"logs {first} -c app --previous" in shown and "-n repo-scanner" in shown

        # pod: delete on the focused pod, through the typed confirmation.
        await pilot.press("d")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert f"delete pod {first}" in str(app.screen.query_one("#command").render())
        await pilot.press(*first, "enter")
        await wait_until(lambda: audited("pod.delete"), 15)
        await wait_until(lambda: first not in pods.pods, 10)
        await pilot.press("escape", "escape")

        # Follow one container of the two-container StatefulSet from its detail (L).
        cache = k8s_rows()["statefulset/scanner-cache"]
        services.focus_body()
        services.table.move_cursor(row=services.table.row_keys.index(cache.key))
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        await pilot.press("L")
        await wait_until(lambda: isinstance(app.screen, ContainerPicker), 10)
        await pilot.press("down", "enter")  # cache, exporter, all containers
        wanted = "k8s:lab-simulated:repo-scanner:logs:statefulset/scanner-cache:exporter"
        await wait_until(lambda: any(s.id == wanted for s in app.hub.log_sources), 5)
        await pilot.press("escape")
        await wait_until(lambda: any(ln.record.text == "INFO exporter listening on :9121"
                                     for ln in app.cockpit.logs.view.lines), 15)
        assert any(c.title.startswith("k8s: stop following") for c in app.extra_palette_commands())

        # Roll the StatefulSet back: the confirmation names both revisions.
        app.request_action(get_action("service.rollback"), k8s_rows()["statefulset/scanner-cache"], "test")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 10)
        params = str(app.screen.query_one("#params").render())
        assert "scanner-cache:7.2" in params and "scanner-cache:7.0" in params, params
        assert "rollout undo statefulset/scanner-cache" in str(app.screen.query_one("#command").render())
        await pilot.press(*"statefulset/scanner-cache", "enter")
        await wait_until(lambda: audited("service.rollback"), 15)
        await wait_until(lambda: k8s_rows()["statefulset/scanner-cache"].task_definition.startswith(
            "scanner-cache:7.0"), 10)

        # Nodes as rows: cordon the focused one.
        nodes = next(c for c in app.extra_palette_commands() if c.title.startswith("k8s: nodes"))
        nodes.run()
        await wait_until(lambda: isinstance(app.screen, NodesScreen), 5)
        screen = app.screen
        await wait_until(lambda: len(screen.rows) == 2, 10)
        await pilot.press("c")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert "cordon lab-node-1" in str(app.screen.query_one("#command").render())
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: audited("node.cordon"), 15)
        await wait_until(lambda: screen.rows.get("lab-node-1", ("",) * 4)[3] == "cordoned", 10)
        await pilot.press("escape", "q")


def test_pods_and_follow_keys_only_on_kubernetes_workload_details():
    from textual.widgets import Static

    from cockpit.backends.kubernetes import KubeContext, KubernetesServicesSource
    from cockpit.model import ServiceStatus, Severity
    from screens.detail import DetailScreen

    row = ServiceStatus(name="deployment/api", backend="kubernetes", source="k8s:x:ns", status=Severity.OK,
                        status_text="healthy", running=1, desired=1, cluster="ns")
    k8s = KubernetesServicesSource(KubeContext("x"), "ns")  # nothing connects until a fetch
    ecs_like = object()
    for action in ("pods", "follow_logs"):
        assert DetailScreen(row, "t", Static(), provider=k8s).check_action(action, ()) is True
        assert DetailScreen(row, "t", Static(), provider=ecs_like).check_action(action, ()) is False, "hidden, not shown disabled"
        assert DetailScreen(row, "t", Static(), provider=None).check_action(action, ()) is False
