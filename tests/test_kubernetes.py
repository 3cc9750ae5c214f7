"""Kubernetes backend against the in-repo API double over HTTP, through the cockpit's REST client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cockpit.backends.kubernetes import (
    KubeContext,
    KubernetesAlarmsSource,
    KubernetesLogSource,
    KubernetesServicesSource,
)
from cockpit.model import ServiceStatus, Severity
from tests.fixtures.kubernetes import K8sDouble

NS = "shop"


async def until(cond: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll ``cond`` (sync or async) until it is truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def rows_by_name(rows: list[ServiceStatus]) -> dict[str, ServiceStatus]:
    return {r.name: r for r in rows}


@pytest.fixture
async def services(k8s: K8sDouble):
    ctx = KubeContext(k8s.context)
    src = KubernetesServicesSource(ctx, NS)
    yield src
    await src.close()


async def test_workloads_become_service_rows(k8s: K8sDouble, services: KubernetesServicesSource):
    st = k8s.state
    st.add_namespace(NS)
    st.add_deployment(NS, "api", replicas=3, image="registry.example/api:1.4")
    st.add_deployment(NS, "worker", replicas=2, ready=0)
    st.add_deployment(NS, "billing", replicas=2, ready=1, stalled=True)
    st.add_statefulset(NS, "db", replicas=1)
    st.add_daemonset(NS, "agent", desired=3, ready=2)

    rows = rows_by_name(await services.fetch())
    assert set(rows) == {"deployment/api", "deployment/worker", "deployment/billing",
                         "statefulset/db", "daemonset/agent"}
    api = rows["deployment/api"]
    assert (api.status, api.status_text, api.running, api.desired) == (Severity.OK, "healthy", 3, 3)
    assert api.backend == "kubernetes" and api.cluster == NS
    assert api.task_definition == "api:1.4"
    assert api.deployment.startswith("complete")
    assert rows["deployment/worker"].status_text == "down"
    billing = rows["deployment/billing"]
    assert (billing.status, billing.status_text) == (Severity.CRITICAL, "stalled")
    assert "ProgressDeadlineExceeded" in billing.deployment
    assert rows["daemonset/agent"].status_text == "degraded"
    assert rows["statefulset/db"].status_text == "healthy"


# --- list + watch ----------------------------------------------------------------------------


async def test_one_list_then_only_watch_events(k8s: K8sDouble, services: KubernetesServicesSource):
    st = k8s.state
    st.add_deployment(NS, "api", replicas=2)
    assert "deployment/api" in rows_by_name(await services.fetch())
    lists = dict(st.list_calls)

    st.add_deployment(NS, "new", replicas=1)
    st.set_workload_status(NS, "api", ready=1)

    async def seen() -> bool:
        rows = rows_by_name(await services.fetch())
        return "deployment/new" in rows and rows["deployment/api"].running == 1

    await until(seen, "the watch to deliver an added and a modified deployment")
    st.delete("deployments", NS, "new")
    await until(lambda: _names(services) is not None and "deployment/new" not in _names(services),
                "the watch to deliver a deletion")
    assert st.list_calls == lists, "refreshes must not relist"


def _names(src: KubernetesServicesSource) -> set[str]:
    inf = src.ctx.informer("deployments", src.namespace)
    return {f"deployment/{o['metadata']['name']}" for o in inf.snapshot()}


async def test_dropped_watch_resumes_from_its_version_without_relisting(
    k8s: K8sDouble, services: KubernetesServicesSource
):
    st = k8s.state
    st.add_deployment(NS, "api")
    await services.fetch()
    inf = services.ctx.informer("deployments", NS)
    lists = st.list_calls["deployments"]

    st.drop_watches()
    # Changes made while the stream is down arrive through the resumed watch.
    st.add_deployment(NS, "during-gap")
    await until(lambda: "deployment/during-gap" in _names(services), "resume after a drop")
    assert inf.resumes >= 1
    assert st.list_calls["deployments"] == lists
    watches = [r for r in st.requests if r["query"].get("watch") == "true"
               and r["path"].endswith("/deployments")]
    assert all(r["query"].get("timeoutSeconds") for r in watches)
    assert watches[-1]["query"]["resourceVersion"] != "0"


async def test_gone_watch_relists(k8s: K8sDouble, services: KubernetesServicesSource):
    st = k8s.state
    st.add_deployment(NS, "api")
    await services.fetch()
    lists = st.list_calls["deployments"]

    st.compact()  # the version the client holds is now too old: 410 Gone on resume
    st.drop_watches()
    st.add_deployment(NS, "after-compaction")
    await until(lambda: "deployment/after-compaction" in _names(services), "a relist after 410")
    assert st.list_calls["deployments"] == lists + 1
    rows = rows_by_name(await services.fetch())
    assert set(rows) == {"deployment/api", "deployment/after-compaction"}


async def test_unreachable_server_is_an_error_with_a_hint(tmp_path, monkeypatch):
    # A port nothing listens on (bound, then closed).
    import socket

    from cockpit.errors import CockpitError
    from cockpit.lab.k8s import write_kubeconfig

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{port}", "gone")))
    src = KubernetesServicesSource(KubeContext("gone"), NS)
    try:
        with pytest.raises(CockpitError) as e:
            await src.fetch()
        assert "cannot reach the API server" in e.value.message
    finally:
        await src.close()


async def test_unknown_context_says_how_to_fix_it(k8s: K8sDouble):
    from cockpit.errors import CredentialsError

    src = KubernetesServicesSource(KubeContext("no-such-context"), NS)
    try:
        with pytest.raises(CredentialsError) as e:
            await src.fetch()
        assert "no-such-context" in e.value.message and "KUBECONFIG" in e.value.hint
    finally:
        await src.close()


# --- alarms ------------------------------------------------------------------------------------


@pytest.fixture
async def alarms(k8s: K8sDouble):
    src = KubernetesAlarmsSource(KubeContext(k8s.context), (NS,))
    yield src
    await src.close()


async def test_pod_node_rollout_and_event_alarms(k8s: K8sDouble, alarms: KubernetesAlarmsSource):
    from datetime import UTC, datetime, timedelta

    st = k8s.state
    st.add_node("node-1")
    st.add_node("node-2", ready=False)
    st.add_node("node-3", pressure=("MemoryPressure",))
    st.add_deployment(NS, "api")
    st.pods_for(NS, "api", 2)  # healthy: no alarm
    st.add_deployment(NS, "worker", ready=0)
    crash = st.pods_for(NS, "worker", 1, waiting="CrashLoopBackOff", restarts=9,
                        last_terminated="OOMKilled", exit_code=137)[0]["metadata"]["name"]
    st.add_pod(NS, "puller", waiting="ImagePullBackOff")
    st.add_pod(NS, "stuck", phase="Pending", node="",
               created=datetime.now(UTC) - timedelta(minutes=20))
    st.add_pod(NS, "young-pending", phase="Pending", node="")
    st.add_pod(NS, "flappy", restarts=12, last_terminated="Error")
    st.add_deployment(NS, "billing", stalled=True, ready=1)
    for _ in range(2):  # the same warning reported twice: one alarm, counts summed
        st.emit_event(NS, kind="Pod", name=crash, reason="BackOff",
                      message="Back-off restarting failed container", count=3)
    st.emit_event(NS, kind="Pod", name="x", reason="Scheduled", message="ok", type="Normal")

    got = {a.name: a for a in await alarms.fetch()}
    loop = got[f"CrashLoopBackOff {NS}/{crash}/app"]
    assert loop.severity is Severity.CRITICAL and loop.resource == f"{NS}/pod/{crash}"
    assert "9 restarts" in loop.reason and "OOMKilled" in loop.reason
    assert got[f"OOMKilled {NS}/{crash}/app"].severity is Severity.WARNING
    assert f"Restarts {NS}/{crash}/app" not in got, "a crash loop is not reported twice"
    assert "registry.example/missing" in got[f"ImagePullBackOff {NS}/puller/app"].reason
    assert "Insufficient cpu" in got[f"Pending {NS}/stuck"].reason
    assert f"Pending {NS}/young-pending" not in got
    assert "12 times" in got[f"Restarts {NS}/flappy/app"].reason
    assert got["NotReady node/node-2"].severity is Severity.CRITICAL
    assert got["MemoryPressure node/node-3"].resource == "node/node-3"
    assert "node/node-1" not in {a.resource for a in got.values()}
    stalled = got[f"Rollout stalled {NS}/deployment/billing"]
    assert stalled.severity is Severity.CRITICAL and "ProgressDeadlineExceeded" in stalled.reason
    warn = got[f"BackOff {NS}/pod/{crash}"]
    assert "(x6, last seen" in warn.reason and warn.since is not None
    assert not any(a.name.startswith("Scheduled") for a in got.values())
    assert not any("api" in a.resource for a in got.values())
    # Worst first.
    sev = [a.severity for a in await alarms.fetch()]
    assert sev == sorted(sev, reverse=True)


async def test_alarm_detail_shows_the_pod_and_its_previous_log(k8s: K8sDouble,
                                                              alarms: KubernetesAlarmsSource):
    st = k8s.state
    st.add_deployment(NS, "worker", ready=0)
    pod = st.pods_for(NS, "worker", 1, waiting="CrashLoopBackOff", restarts=4,
                      last_terminated="OOMKilled", exit_code=137)[0]["metadata"]["name"]
    st.append_log(NS, pod, "ERROR out of memory", previous=True)
    st.set_pod_metrics(NS, pod, "250m", "255Mi")
    got = {a.name: a for a in await alarms.fetch()}
    sections = await alarms.detail(got[f"CrashLoopBackOff {NS}/{pod}/app"])
    pods = sections[0]
    row = dict(zip(pods.columns, pods.rows[0], strict=True))
    assert row["status"] == "CrashLoopBackOff" and row["restarts"] == "4"
    assert row["last termination"] == "OOMKilled (exit 137)"
    assert (row["cpu"], row["memory"]) == ("250m", "255Mi")
    prev = sections[-1]
    assert "--previous" in prev.title and prev.lines == ("ERROR out of memory",)


async def test_nodes_view_without_metrics_server(k8s: K8sDouble, alarms: KubernetesAlarmsSource):
    k8s.state.metrics = False
    k8s.state.add_node("node-1", unschedulable=True, pressure=("DiskPressure",))
    section = await alarms.nodes_detail()
    row = dict(zip(section.columns, section.rows[0], strict=True))
    assert row["scheduling"] == "cordoned" and row["pressure"] == "DiskPressure"
    assert row["cpu"] == "metrics-server not installed"


# --- detail -------------------------------------------------------------------------------


async def test_workload_detail_lists_its_pods_and_revisions(k8s: K8sDouble,
                                                          services: KubernetesServicesSource):
    st = k8s.state
    st.metrics = False
    st.add_deployment(NS, "api", replicas=2)
    st.pods_for(NS, "api", 2)
    st.add_deployment(NS, "other")
    st.pods_for(NS, "other", 3)
    rows = rows_by_name(await services.fetch())
    sections = await services.detail(rows["deployment/api"])
    pods, revisions = sections
    assert pods.title == "pods (2)"
    assert all(r[0].startswith("api-") and r[1] == "Running" and r[2] == "1/1" for r in pods.rows)
    assert pods.rows[0][pods.columns.index("cpu")] == "metrics-server not installed"
    assert revisions.rows[0][1] == "PRIMARY"


# --- logs -----------------------------------------------------------------------------------


async def _collect(agen, into: list) -> None:
    async for batch in agen:
        into.extend(batch)


async def test_follows_every_pod_of_a_workload_as_pods_join_and_leave(k8s: K8sDouble):
    st = k8s.state
    st.add_deployment(NS, "api", replicas=2)
    first, second = (p["metadata"]["name"] for p in st.pods_for(NS, "api", 2))
    st.add_deployment(NS, "other")
    other = st.pods_for(NS, "other", 1)[0]["metadata"]["name"]
    st.append_log(NS, first, "INFO before the follow started")
    ctx = KubeContext(k8s.context)
    services = KubernetesServicesSource(ctx, NS)
    api = rows_by_name(await services.fetch())["deployment/api"]
    src = services.log_source(api)
    got: list = []
    task = asyncio.create_task(_collect(src.follow(), got))
    texts = lambda: [(r.source, r.text) for r in got]  # noqa: E731
    try:
        await until(lambda: (f"api/{first}", "INFO before the follow started") in texts(),
                    "the existing tail")
        st.append_log(NS, first, "ERROR first says")
        st.append_log(NS, second, "INFO second says")
        st.append_log(NS, other, "INFO not followed")
        await until(lambda: (f"api/{second}", "INFO second says") in texts(), "both pods")
        assert (f"api/{first}", "ERROR first says") in texts()

        third = st.pods_for(NS, "api", 1)[0]["metadata"]["name"]
        await until(lambda: (f"api/{third}", f"+ api/{third} joined") in texts(), "a new pod joins")
        st.append_log(NS, third, "INFO third says")
        await until(lambda: (f"api/{third}", "INFO third says") in texts(), "the new pod's lines")

        st.delete("pods", NS, first)
        await until(lambda: (f"api/{first}", f"- api/{first} left") in texts(), "a pod leaves")
        assert all("not followed" not in t for _, t in texts())
        levels = {r.text: r.level.name for r in got}
        assert levels["ERROR first says"] == "ERROR"
        assert len([t for t in texts() if t[1] == "ERROR first says"]) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await src.close()
        await services.close()


async def test_a_dropped_log_stream_resumes_without_repeating_lines(k8s: K8sDouble):
    st = k8s.state
    st.add_pod(NS, "solo")
    src = KubernetesLogSource(KubeContext(k8s.context), NS)
    got: list = []
    task = asyncio.create_task(_collect(src.follow(), got))
    try:
        st.append_log(NS, "solo", "one")
        await until(lambda: any(r.text == "one" for r in got), "the first line")
        requests = len([r for r in st.requests if r["path"].endswith("/solo/log")])
        st.drop_watches()  # cuts log streams too
        st.append_log(NS, "solo", "two")
        await until(lambda: any(r.text == "two" for r in got), "the line after the drop")
        assert [r.text for r in got if r.text in ("one", "two")] == ["one", "two"]
        resumed = [r for r in st.requests if r["path"].endswith("/solo/log")][requests:]
        assert resumed and "sinceSeconds" in resumed[0]["query"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await src.close()


async def test_log_buffer_is_bounded_and_says_what_it_dropped(k8s: K8sDouble):
    st = k8s.state
    st.add_pod(NS, "noisy")
    src = KubernetesLogSource(KubeContext(k8s.context), NS, buffer=100)
    agen = src.follow()
    try:
        st.append_log(NS, "noisy", "ready")
        seen: list = []
        while not any(r.text == "ready" for r in seen):  # the stream is connected
            seen += await asyncio.wait_for(agen.__anext__(), 10)
        assert any("joined" in r.text for r in seen)
        for i in range(1000):  # nobody reads meanwhile
            st.append_log(NS, "noisy", f"line {i}")
        await until(lambda: src._dropped >= 900, "the stream to deliver the flood")
        batch = await asyncio.wait_for(agen.__anext__(), 10)
        assert len(batch) == 101
        assert batch[-2].text == "line 999"
        assert batch[-1].text == "... 900 log lines dropped: the reader fell behind"
    finally:
        await agen.aclose()
        await src.close()


# --- actions ----------------------------------------------------------------------------------


def _runner(src: Any, *, read_only: bool = False, production: bool = False, tmp_path=None):
    from cockpit.actions import ActionRunner
    from cockpit.audit import AuditLog
    from cockpit.profile import Profile

    async def confirm(req):
        return req.expected if req.typed else True

    return ActionRunner(
        profile=Profile(name="k8s", read_only=read_only, production=production),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        resolve_backend=lambda sid: {src.id: src}[sid],
        confirm=confirm,
    )


async def test_restart_sends_what_kubectl_rollout_restart_sends(
    k8s: K8sDouble, services: KubernetesServicesSource, tmp_path
):
    from cockpit.actions import get_action

    k8s.state.add_deployment(NS, "api")
    target = rows_by_name(await services.fetch())["deployment/api"]
    outcome = await _runner(services, tmp_path=tmp_path).request(get_action("service.restart"), target)
    assert outcome.ok, outcome.message
    assert outcome.command == f"kubectl --context double -n {NS} rollout restart deployment/api"
    (req,) = k8s.state.mutations()
    assert req["method"] == "PATCH"
    assert req["path"] == f"/apis/apps/v1/namespaces/{NS}/deployments/api"
    assert req["content_type"] == "application/strategic-merge-patch+json"
    ann = req["body"]["spec"]["template"]["metadata"]["annotations"]
    assert list(ann) == ["kubectl.kubernetes.io/restartedAt"]
    assert list(req["body"]) == ["spec"]
    dep = k8s.state.get("deployments", NS, "api")
    assert dep["metadata"]["generation"] == 2, "a template change starts a rollout"


async def test_scale_patches_the_scale_subresource(k8s: K8sDouble, services: KubernetesServicesSource,
                                                  tmp_path):
    from cockpit.actions import get_action

    k8s.state.add_statefulset(NS, "db", replicas=1)
    target = rows_by_name(await services.fetch())["statefulset/db"]
    outcome = await _runner(services, tmp_path=tmp_path).request(
        get_action("service.scale"), target, {"desired": 3})
    assert outcome.ok, outcome.message
    assert outcome.command == f"kubectl --context double -n {NS} scale statefulset/db --replicas=3"
    (req,) = k8s.state.mutations()
    assert (req["path"], req["content_type"], req["body"]) == (
        f"/apis/apps/v1/namespaces/{NS}/statefulsets/db/scale",
        "application/merge-patch+json",
        {"spec": {"replicas": 3}},
    )
    assert k8s.state.get("statefulsets", NS, "db")["spec"]["replicas"] == 3


async def test_daemonset_scale_is_refused_before_anything_runs(
    k8s: K8sDouble, services: KubernetesServicesSource, tmp_path
):
    from cockpit.actions import get_action

    k8s.state.add_daemonset(NS, "agent")
    target = rows_by_name(await services.fetch())["daemonset/agent"]
    outcome = await _runner(services, tmp_path=tmp_path).request(
        get_action("service.scale"), target, {"desired": 3})
    assert outcome.status == "refused" and "one pod per matching node" in outcome.message
    assert k8s.state.mutations() == []


async def test_rollback_restores_the_previous_replicaset_template(
    k8s: K8sDouble, services: KubernetesServicesSource, tmp_path
):
    from cockpit.actions import get_action

    st = k8s.state
    st.add_deployment(NS, "api", image="registry.example/api:1")
    st.modify("deployments", NS, "api", lambda d: d["spec"]["template"]["spec"]["containers"][0]
              .update(image="registry.example/api:2"))
    st.reconcile(NS, "api")  # the controller creates revision 2
    target = rows_by_name(await services.fetch())["deployment/api"]
    assert target.task_definition == "api:2"
    st.requests.clear()

    outcome = await _runner(services, tmp_path=tmp_path).request(get_action("service.rollback"), target)
    assert outcome.ok, outcome.message
    assert outcome.command == f"kubectl --context double -n {NS} rollout undo deployment/api"
    assert "revision 2 to 1" in outcome.message
    (req,) = st.mutations()
    assert req["content_type"] == "application/json-patch+json"
    template, annotations = req["body"]
    assert template["op"] == "replace" and template["path"] == "/spec/template"
    assert template["value"]["metadata"]["labels"] == {"app": "api"}, "no pod-template-hash"
    assert template["value"]["spec"]["containers"][0]["image"] == "registry.example/api:1"
    assert annotations == {"op": "replace", "path": "/metadata/annotations",
                           "value": {"deployment.kubernetes.io/revision": "2"}}
    dep = st.get("deployments", NS, "api")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/api:1"


async def test_read_only_refuses_and_sends_nothing(k8s: K8sDouble, services: KubernetesServicesSource,
                                                   tmp_path):
    from cockpit.actions import get_action

    k8s.state.add_deployment(NS, "api")
    target = rows_by_name(await services.fetch())["deployment/api"]
    runner = _runner(services, read_only=True, tmp_path=tmp_path)
    for action, params in (("service.restart", None), ("service.scale", {"desired": 0}),
                           ("service.rollback", None)):
        outcome = await runner.request(get_action(action), target, params)
        assert outcome.status == "refused" and "read-only" in outcome.message
    assert k8s.state.mutations() == []


async def test_delete_pod_and_cordon_send_what_kubectl_sends(k8s: K8sDouble,
                                                            alarms: KubernetesAlarmsSource):
    from cockpit.backends.base import Cordonable, PodDeletable

    st = k8s.state
    st.add_node("node-2", ready=False)
    st.add_pod(NS, "crashy", waiting="CrashLoopBackOff", restarts=6)
    got = {a.name: a for a in await alarms.fetch()}
    pod_alarm, node_alarm = got[f"CrashLoopBackOff {NS}/crashy/app"], got["NotReady node/node-2"]
    assert isinstance(alarms, PodDeletable) and isinstance(alarms, Cordonable)

    assert alarms.delete_pod_command(pod_alarm) == ["kubectl", "--context", "double", "-n", NS,
                                                    "delete", "pod", "crashy"]
    assert await alarms.delete_pod(pod_alarm) == 'pod "crashy" deleted'
    assert alarms.cordon_command(node_alarm) == ["kubectl", "--context", "double", "cordon", "node-2"]
    await alarms.cordon(node_alarm)
    assert st.get("nodes", "", "node-2")["spec"]["unschedulable"] is True
    await alarms.uncordon(node_alarm)
    assert "unschedulable" not in st.get("nodes", "", "node-2")["spec"]
    delete, cordon, uncordon = st.mutations()
    assert (delete["method"], delete["path"], delete["body"]) == (
        "DELETE", f"/api/v1/namespaces/{NS}/pods/crashy", {"propagationPolicy": "Background"})
    assert (cordon["path"], cordon["content_type"], cordon["body"]) == (
        "/api/v1/nodes/node-2", "application/strategic-merge-patch+json",
        {"spec": {"unschedulable": True}})
    assert uncordon["body"] == {"spec": {"unschedulable": None}}
    from cockpit.errors import CockpitError

    with pytest.raises(CockpitError, match="does not concern a node"):
        alarms.cordon_command(pod_alarm)


# --- profile, lab and pure mapping --------------------------------------------------------


async def test_profile_builds_services_alarms_and_logs_per_context(k8s: K8sDouble):
    from cockpit.profile import KubernetesConfig, Profile
    from cockpit.sources import build_sources

    k8s.state.add_deployment("a", "api")
    k8s.state.add_deployment("b", "web")
    profile = Profile(name="p", kubernetes=(KubernetesConfig(context=k8s.context, namespaces=("a", "b")),))
    built = build_sources(profile)
    try:
        ids = [s.id for s in built.sources]
        assert ids == ["k8s:double:a", "k8s:double:b", "k8s:double:alarms"]
        assert [s.id for s in built.log_sources] == ["k8s:double:a:logs", "k8s:double:b:logs"]
        rows = await built.sources[1].fetch()
        assert [(r.cluster, r.name) for r in rows] == [("b", "deployment/web")]
        assert built.sources[0].explain_command() == [
            "kubectl", "--context", "double", "get", "deployments,statefulsets,daemonsets",
            "-n", "a", "-o", "wide"]
    finally:
        for s in [*built.sources, *built.log_sources]:
            await s.close()


async def test_lab_namespace_shows_a_healthy_and_a_crash_looping_deployment(tmp_path, monkeypatch):
    from cockpit.lab.k8s import LAB_NAMESPACE, lab_kubernetes

    kubeconfig, context, stop = lab_kubernetes(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    ctx = KubeContext(context)
    services = KubernetesServicesSource(ctx, LAB_NAMESPACE)
    alarms = KubernetesAlarmsSource(ctx, (LAB_NAMESPACE,))
    try:
        assert "simulated" in services.title
        rows = rows_by_name(await services.fetch())
        assert rows["deployment/scanner-api"].status_text == "healthy"
        assert rows["deployment/scanner-worker"].status_text == "down"
        assert rows["statefulset/scanner-cache"].status_text == "healthy"
        names = [a.name for a in await alarms.fetch()]
        assert any(n.startswith("CrashLoopBackOff repo-scanner/scanner-worker-") for n in names)
        assert any(n.startswith("OOMKilled") for n in names)
        assert "FailedCreate repo-scanner/deployment/scanner-worker" in names

        from datetime import UTC, datetime

        started = datetime.now(UTC)
        logs = KubernetesLogSource(ctx, LAB_NAMESPACE, workload="deployment/scanner-api")
        got: list = []
        task = asyncio.create_task(_collect(logs.follow(), got))
        try:  # the lab is alive: new request lines keep coming
            await until(lambda: any(r.text.startswith(("INFO GET", "WARN GET")) and r.time >= started
                                    for r in got), "a live line from the lab")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await logs.close()
    finally:
        await services.close()
        await alarms.close()
        stop()


def test_rollout_states_follow_kubectl_rollout_status():
    from cockpit.backends.kubernetes import rollout_state

    def dep(status, gen=1, observed=1, replicas=3, conditions=()):
        return {"metadata": {"generation": gen}, "spec": {"replicas": replicas},
                "status": {"observedGeneration": observed, **status, "conditions": list(conditions)}}

    full = {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
    assert rollout_state("deployments", dep(full))[0] == "complete"
    assert rollout_state("deployments", dep(full, gen=2))[0] == "progressing"
    assert rollout_state("deployments", dep({"updatedReplicas": 1}))[1] == "1 of 3 updated"
    assert "old replicas" in rollout_state("deployments", dep({**full, "replicas": 4}))[1]
    assert rollout_state("deployments", dep({**full, "availableReplicas": 2}))[1] == "2 of 3 available"
    stalled = dep(full, conditions=[{"type": "Progressing", "status": "False",
                                       "reason": "ProgressDeadlineExceeded"}])
    assert rollout_state("deployments", stalled) == ("stalled", "ProgressDeadlineExceeded")
    sts = {"metadata": {"generation": 1}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 1,
                      "currentRevision": "db-1", "updateRevision": "db-2"}}
    assert rollout_state("statefulsets", sts)[0] == "progressing"


async def test_the_hub_polls_the_caches_and_follows_the_logs(k8s: K8sDouble):
    from cockpit.hub import Hub
    from cockpit.profile import KubernetesConfig, Profile
    from cockpit.sources import build_sources

    st = k8s.state
    st.add_deployment(NS, "api")
    pod = st.pods_for(NS, "api", 1)[0]["metadata"]["name"]
    built = build_sources(Profile(name="p", kubernetes=(KubernetesConfig(k8s.context, (NS,)),)))
    updates: dict[str, Any] = {}
    lines: list = []
    hub = Hub(built.sources, built.log_sources, on_update=lambda u: updates.__setitem__(u.source_id, u),
              on_logs=lambda b: lines.extend(b.records), interval=0.2, log_flush_interval=0.05)
    hub.start()
    try:
        await until(lambda: updates.get(f"k8s:double:{NS}") and updates[f"k8s:double:{NS}"].records,
                    "services rows through the hub")
        assert updates[f"k8s:double:{NS}"].error is None
        st.append_log(NS, pod, "INFO through the hub")
        await until(lambda: any(r.text == "INFO through the hub" for r in lines), "a log line")
        assert updates["k8s:double:alarms"].error is None
    finally:
        await hub.stop()


async def test_pod_delete_and_cordon_through_the_action_runner(k8s: K8sDouble,
                                                              alarms: KubernetesAlarmsSource, tmp_path):
    from cockpit.actions import available_actions, get_action

    st = k8s.state
    st.add_node("node-2", ready=False)
    st.add_pod(NS, "crashy", waiting="CrashLoopBackOff", restarts=6)
    got = {a.name: a for a in await alarms.fetch()}
    pod_alarm, node_alarm = got[f"CrashLoopBackOff {NS}/crashy/app"], got["NotReady node/node-2"]
    assert {"pod.delete", "node.cordon", "node.uncordon"} <= {
        s.id for s in available_actions(pod_alarm, alarms)}
    asked: list = []

    async def confirm(req):
        asked.append(req)
        return req.expected if req.typed else True

    runner = _runner(alarms, tmp_path=tmp_path)
    runner.confirm = confirm
    outcome = await runner.request(get_action("pod.delete"), pod_alarm)
    assert outcome.ok, outcome.message
    assert asked[-1].typed and asked[-1].expected == "crashy", "type the pod's name, not the alarm's"
    assert outcome.command == f"kubectl --context double -n {NS} delete pod crashy"
    assert st.get("pods", NS, "crashy") is None

    outcome = await runner.request(get_action("node.cordon"), node_alarm)
    assert outcome.ok and outcome.command == "kubectl --context double cordon node-2"
    assert st.get("nodes", "", "node-2")["spec"]["unschedulable"] is True
    # An alarm about a node offers no pod to delete: refused before anything is sent.
    outcome = await runner.request(get_action("pod.delete"), node_alarm)
    assert outcome.status == "refused" and "does not concern a pod" in outcome.message
    assert [r["method"] for r in st.mutations()] == ["DELETE", "PATCH"]
