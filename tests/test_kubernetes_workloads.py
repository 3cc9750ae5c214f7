"""Kubernetes: StatefulSet / DaemonSet rollback from ControllerRevisions, one workload's pods
as rows (delete, previous log), one workload's logs with a container choice added to a running
hub. Against the in-repo API double over HTTP through the official client."""

from __future__ import annotations

from typing import Any

import pytest

from cockpit.actions import available_actions, get_action
from cockpit.backends.kubernetes import (
    KubeContext,
    KubernetesAlarmsSource,
    KubernetesServicesSource,
)
from cockpit.backends.kubernetes.history import rollback_choice, selector_string
from cockpit.errors import CockpitError
from tests.fixtures.kubernetes import K8sDouble
from tests.test_kubernetes import NS, _runner, rows_by_name, until


@pytest.fixture
async def services(k8s: K8sDouble):
    src = KubernetesServicesSource(KubeContext(k8s.context), NS)
    yield src
    await src.close()


def _image(obj: dict[str, Any]) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


# --- rollback of StatefulSets and DaemonSets -------------------------------------------------


@pytest.mark.parametrize(("plural", "kind"), [("statefulsets", "statefulset"), ("daemonsets", "daemonset")])
async def test_rollback_patches_the_previous_controller_revision_data(
    k8s: K8sDouble, services: KubernetesServicesSource, tmp_path, plural: str, kind: str
):
    st = k8s.state
    if plural == "statefulsets":
        st.add_statefulset(NS, "db", image="registry.example/db:1")
    else:
        st.add_daemonset(NS, "db", desired=2, image="registry.example/db:1")
    st.add_statefulset(NS, "unrelated")  # its revisions match no selector of db
    st.set_template_image(plural, NS, "db", "registry.example/db:2")
    revisions = st.controller_revisions(plural, NS, "db")
    assert [r["revision"] for r in revisions] == [1, 2]
    target = rows_by_name(await services.fetch())[f"{kind}/db"]
    assert target.task_definition == "db:2"
    st.requests.clear()

    asked: list = []
    runner = _runner(services, tmp_path=tmp_path)

    async def confirm(req):
        asked.append(req)
        return req.expected

    runner.confirm = confirm
    outcome = await runner.request(get_action("service.rollback"), target)
    assert outcome.ok, outcome.message
    assert outcome.command == f"kubectl --context double -n {NS} rollout undo {kind}/db"
    assert outcome.message == f"{kind}/db: rolled back from revision 2 to 1"
    # The confirmation said where it goes before anything ran.
    assert asked[0].params == {"from": "revision 2 (db:2)", "to": "revision 1 (db:1)"}

    # What kubectl reads: the revisions matching the object's selector, then one PATCH.
    (listed,) = [r for r in st.requests if r["path"].endswith("/controllerrevisions")
                 and r["method"] == "GET" and "watch" not in r["query"]]
    assert listed["path"] == f"/apis/apps/v1/namespaces/{NS}/controllerrevisions"
    assert listed["query"]["labelSelector"] == "app=db"
    (patch,) = st.mutations()
    assert patch["method"] == "PATCH" and patch["path"] == f"/apis/apps/v1/namespaces/{NS}/{plural}/db"
    assert patch["content_type"] == "application/strategic-merge-patch+json"
    assert patch["body"] == revisions[0]["data"], "the previous revision's data, verbatim"
    assert patch["body"]["spec"]["template"]["$patch"] == "replace"
    assert _image(st.get(plural, NS, "db")) == "registry.example/db:1"
    # The controller renumbers the restored template as the newest revision, as a real one does.
    assert [(r["revision"], _image(r["data"])) for r in st.controller_revisions(plural, NS, "db")] == [
        (2, "registry.example/db:2"), (3, "registry.example/db:1")]


async def test_rollback_without_history_or_already_there_changes_nothing(
    k8s: K8sDouble, services: KubernetesServicesSource, tmp_path
):
    st = k8s.state
    st.add_statefulset(NS, "db")
    target = rows_by_name(await services.fetch())["statefulset/db"]
    outcome = await _runner(services, tmp_path=tmp_path).request(get_action("service.rollback"), target)
    # Known from the watch caches: refused before any confirmation, rather than failed after it.
    assert outcome.status == "refused" and "no previous revision" in outcome.message
    assert st.mutations() == []

    # Revision 2 holds the template revision 1 had (an edit reverted by hand): kubectl skips.
    st.set_template_image("statefulsets", NS, "db", "registry.example/db:2")
    revisions = st.controller_revisions("statefulsets", NS, "db")
    st.modify("controllerrevisions", NS, revisions[0]["metadata"]["name"],
              lambda o: o.update(data=revisions[1]["data"]))
    # The refusal above came from the watch caches: the second revision reaches them by a watch
    # event, not at once (asked before it arrived, the rollback was refused again: seen in CI).
    await until(lambda: services.revision_change(target, None).get("to"), "the second revision in the caches")
    st.requests.clear()
    outcome = await _runner(services, tmp_path=tmp_path).request(get_action("service.rollback"), target)
    assert outcome.ok and "skipped rollback" in outcome.message
    assert st.mutations() == []


def test_history_choice_follows_kubectl():
    owner = {"metadata": {"uid": "u1"}, "spec": {"template": {"spec": {"containers": [{"image": "b"}]}}}}

    def cr(rev: int, uid: str = "u1", controller: bool = True) -> dict:
        return {"metadata": {"name": f"r{rev}", "ownerReferences": [{"uid": uid, "controller": controller}]},
                "revision": rev, "data": {"spec": {"template": {"$patch": "replace", "rev": rev}}}}

    current, previous = rollback_choice("statefulset/x", owner, [cr(5), cr(2), cr(9, uid="other"),
                                                                  cr(4, controller=False), cr(3)])
    assert (current["revision"], previous["revision"]) == (5, 3)
    with pytest.raises(CockpitError, match="no previous revision"):
        rollback_choice("statefulset/x", owner, [cr(1)])
    sel = {"matchLabels": {"b": "2", "a": "1"},
           "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]},
                                {"key": "legacy", "operator": "DoesNotExist"}]}
    assert selector_string(sel) == "a=1,b=2,!legacy,tier in (api,web)"


# --- pods as rows: delete, previous log ------------------------------------------------------


async def test_workload_pods_delete_and_previous_log(k8s: K8sDouble, services: KubernetesServicesSource,
                                                     tmp_path):
    st = k8s.state
    st.add_deployment(NS, "worker", ready=0, containers=("app", "sidecar"))
    crashed = st.pods_for(NS, "worker", 2, waiting="CrashLoopBackOff", restarts=3,
                          last_terminated="OOMKilled", exit_code=137, containers=("app", "sidecar"))
    st.add_deployment(NS, "other")
    st.pods_for(NS, "other", 1)
    first = sorted(p["metadata"]["name"] for p in crashed)[0]
    st.append_log(NS, first, "ERROR out of memory", container="sidecar", previous=True)
    row = rows_by_name(await services.fetch())["deployment/worker"]

    pods = await services.workload_pods(row)
    assert [p.name for p in pods] == sorted(p["metadata"]["name"] for p in crashed)
    pod = pods[0]
    assert (pod.status, pod.restarts, pod.containers) == ("CrashLoopBackOff", 6, ("app", "sidecar"))
    assert pod.terminated == ("app", "sidecar") and pod.last_termination == "OOMKilled (exit 137)"
    assert await services.workload_containers(row) == ["app", "sidecar"]

    assert services.previous_log_command(NS, first, "sidecar") == [
        "kubectl", "--context", "double", "-n", NS, "logs", first, "-c", "sidecar", "--previous"]
    assert await services.previous_log(NS, first, "sidecar") == ["ERROR out of memory"]
    prev = [r for r in st.requests if r["path"].endswith(f"/pods/{first}/log")][-1]
    assert prev["query"]["previous"] == "true" and prev["query"]["container"] == "sidecar"

    ref = services.pod_ref(NS, first)
    assert "pod.delete" in {s.id for s in available_actions(ref, services)}
    asked: list = []
    runner = _runner(services, tmp_path=tmp_path)

    async def confirm(req):
        asked.append(req)
        return req.expected

    runner.confirm = confirm
    outcome = await runner.request(get_action("pod.delete"), ref)
    assert outcome.ok, outcome.message
    assert asked[0].typed and asked[0].expected == first, "type the pod's name"
    assert outcome.command == f"kubectl --context double -n {NS} delete pod {first}"
    (delete,) = st.mutations()
    assert (delete["method"], delete["path"]) == ("DELETE", f"/api/v1/namespaces/{NS}/pods/{first}")
    await until(lambda: first not in {p["metadata"]["name"] for p in services.ctx.informer("pods", NS).snapshot()},
                "the pod watch to drop the deleted pod")
    assert [p.name for p in await services.workload_pods(row)] == [pods[1].name]
    # Read-only refuses before anything is sent.
    outcome = await _runner(services, read_only=True, tmp_path=tmp_path).request(
        get_action("pod.delete"), services.pod_ref(NS, pods[1].name))
    assert outcome.status == "refused" and len(st.mutations()) == 1


async def test_node_rows_cordon_and_uncordon_through_the_runner(k8s: K8sDouble, tmp_path):
    st = k8s.state
    st.add_node("node-1")
    alarms = KubernetesAlarmsSource(KubeContext(k8s.context), (NS,))
    try:
        section = await alarms.nodes_detail()
        assert [r[0] for r in section.rows] == ["node-1"]
        ref = alarms.node_ref("node-1")
        runner = _runner(alarms, tmp_path=tmp_path)
        outcome = await runner.request(get_action("node.cordon"), ref)
        assert outcome.ok and outcome.command == "kubectl --context double cordon node-1"
        assert st.get("nodes", "", "node-1")["spec"]["unschedulable"] is True
        outcome = await runner.request(get_action("node.uncordon"), ref)
        assert outcome.ok and "unschedulable" not in st.get("nodes", "", "node-1")["spec"]
        assert [r["body"] for r in st.mutations()] == [{"spec": {"unschedulable": True}},
                                                       {"spec": {"unschedulable": None}}]
    finally:
        await alarms.close()


# --- one workload's logs, one container, added to a running hub ----------------------------------


async def test_one_workloads_container_logs_join_a_running_hub(k8s: K8sDouble):
    from cockpit.hub import Hub

    st = k8s.state
    st.add_deployment(NS, "api", replicas=2, containers=("app", "proxy"))
    a, b = (p["metadata"]["name"] for p in st.pods_for(NS, "api", 2, containers=("app", "proxy")))
    ctx = KubeContext(k8s.context)
    services = KubernetesServicesSource(ctx, NS)
    lines: list = []
    hub = Hub([services], [], on_update=lambda u: None, on_logs=lambda batch: lines.extend(batch.records),
              interval=0.2, log_flush_interval=0.05)
    hub.start()
    try:
        row = rows_by_name(await services.fetch())["deployment/api"]
        ls = services.log_source(row, "proxy")
        assert ls.id == f"k8s:double:{NS}:logs:deployment/api:proxy"
        assert ls.explain_command() == ["kubectl", "--context", "double", "-n", NS, "logs", "-f",
                                        "deployment/api", "-c", "proxy", "--prefix", "--timestamps"]
        assert hub.add_log_source(ls)
        again = services.log_source(row, "proxy")
        assert not hub.add_log_source(again), "asking twice never doubles the lines"
        await again.close()
        st.append_log(NS, a, "INFO proxy of a", container="proxy")
        st.append_log(NS, b, "INFO app of b", container="app")
        st.append_log(NS, b, "INFO proxy of b", container="proxy")
        texts = lambda: {(r.source, r.text) for r in lines}  # noqa: E731
        await until(lambda: {(f"api/{a}/proxy", "INFO proxy of a"), (f"api/{b}/proxy", "INFO proxy of b")}
                    <= texts(), "the chosen container of every pod")
        c = st.pods_for(NS, "api", 1, containers=("app", "proxy"))[0]["metadata"]["name"]
        st.append_log(NS, c, "INFO proxy of c", container="proxy")
        await until(lambda: (f"api/{c}/proxy", "INFO proxy of c") in texts(), "a new pod joins")
        assert all(t != "INFO app of b" for _, t in texts()), "only the chosen container"
        assert await hub.remove_log_source(ls.id)
        assert ls.id not in {s.id for s in hub.log_sources}
        assert not ls._streams, "removing it stops every container stream it had"
    finally:
        await hub.stop()
        await services.close()


async def test_the_namespace_follower_hands_a_focused_workload_over_and_takes_it_back(k8s: K8sDouble):
    """The profile's namespace follower and an added workload follower never show a line twice."""
    from cockpit.backends.kubernetes import KubernetesLogSource
    from cockpit.hub import Hub

    st = k8s.state
    st.add_deployment(NS, "api", replicas=1)
    (pod,) = (p["metadata"]["name"] for p in st.pods_for(NS, "api", 1))
    st.add_deployment(NS, "web", replicas=1)
    (web,) = (p["metadata"]["name"] for p in st.pods_for(NS, "web", 1))
    ctx = KubeContext(k8s.context)
    services = KubernetesServicesSource(ctx, NS)
    namespace_logs = KubernetesLogSource(ctx, NS)
    lines: list = []
    hub = Hub([services], [namespace_logs], on_update=lambda u: None,
              on_logs=lambda batch: lines.extend((batch.source_id, r) for r in batch.records),
              interval=0.2, log_flush_interval=0.05)
    hub.start()

    def seen(text: str) -> list[str]:
        return [sid for sid, r in lines if r.text == text]

    try:
        st.append_log(NS, pod, "INFO one")
        await until(lambda: seen("INFO one"), "the namespace follower's line")
        row = rows_by_name(await services.fetch())["deployment/api"]
        focused = services.log_source(row)
        assert hub.add_log_source(focused)
        await until(lambda: namespace_logs.position((NS, pod, "app")) is None
                    and focused.position((NS, pod, "app")) is not None, "the hand-over")
        st.append_log(NS, pod, "INFO two")
        st.append_log(NS, web, "INFO web")
        await until(lambda: seen("INFO two") and seen("INFO web"), "lines after the hand-over")
        assert seen("INFO two") == [focused.id], "once, from the focused follower"
        assert seen("INFO web") == [namespace_logs.id], "the rest of the namespace is still followed"
        assert seen("INFO one") == [namespace_logs.id], "no history repeated by the taker"

        assert await hub.remove_log_source(focused.id)
        await until(lambda: namespace_logs.position((NS, pod, "app")) is not None
                    or (NS, pod, "app") in namespace_logs._streams, "the stream taken back")
        st.append_log(NS, pod, "INFO three")
        await until(lambda: seen("INFO three"), "the namespace follower's line again")
        for text in ("INFO one", "INFO two", "INFO three"):
            assert len(seen(text)) == 1, (text, seen(text))
    finally:
        await hub.stop()
        await services.close()


async def test_statefulset_detail_lists_its_revisions(k8s: K8sDouble, services: KubernetesServicesSource):
    st = k8s.state
    st.add_statefulset(NS, "db", image="registry.example/db:1")
    st.set_template_image("statefulsets", NS, "db", "registry.example/db:2")
    row = rows_by_name(await services.fetch())["statefulset/db"]
    pods, revisions = await services.detail(row)
    assert revisions.title == "revisions (kubectl rollout history)"
    assert [r[:3] for r in revisions.rows] == [("2", "CURRENT", "db:2"), ("1", "-", "db:1")]
