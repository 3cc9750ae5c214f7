"""Several estates, the pure parts: the ``/estate:`` filter's words, the timeline and explain
naming a row's estate, and each Kubernetes context becoming an estate of its own."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cockpit.backends.aws import AwsContext
from cockpit.backends.kubernetes import build_kubernetes_sources
from cockpit.explain import explain
from cockpit.model import PaneKind, ServiceStatus, Severity
from cockpit.profile import AwsConfig, KubernetesConfig, Profile
from cockpit.timeline import build_timeline
from widgets.pane import split_estate_filter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (None, "")),
        ("API", (None, "api")),
        ("estate:prod-US", ("prod-us", "")),
        ("estate:prod-us api", ("prod-us", "api")),
        ("worker estate:prod-eu", ("prod-eu", "worker")),
    ],
)
def test_estate_filter_words(text: str, expected: tuple[str | None, str]) -> None:
    assert split_estate_filter(text) == expected


def test_timeline_names_the_estate_of_an_action() -> None:
    (event,) = build_timeline([{"type": "action", "time": "2026-12-07T05:00:00Z", "action": "service.restart",
                                "target": "api", "estate": "prod-us", "user": "ana", "outcome": "ok",
                                "phase": "finished"}])
    assert "api in prod-us" in event.summary, event.summary


def test_explain_names_the_estate_and_account_only_with_several_estates() -> None:
    ctx = AwsContext(AwsConfig(name="prod-us", profile="prod-us-admin", region="us-east-1"), several=True)
    ctx.learn_account("arn:aws:ecs:us-east-1:210987654321:service/production/api")
    backend = SimpleNamespace(ctx=ctx)
    row = ServiceStatus("api", "ecs", "aws:ecs:production@prod-us", Severity.OK, "healthy", 1, 1,
                        cluster="production", estate="prod-us")
    lines = [line for s in explain(PaneKind.SERVICES, [], row, backend, "p", estates=True) for line in s.lines]
    assert "estate: prod-us · account 210987654321 · us-east-1 · AWS profile prod-us-admin" in lines
    lines = [line for s in explain(PaneKind.SERVICES, [], row, backend, "p") for line in s.lines]
    assert not any(line.startswith("estate:") for line in lines)


def test_account_is_learnt_from_an_arn_or_a_queue_url() -> None:
    ctx = AwsContext(AwsConfig(name="a"))
    ctx.learn_account("http://127.0.0.1:5000/123456789012/jobs")
    assert ctx.account == "123456789012"


def test_each_kubernetes_context_is_an_estate() -> None:
    profile = Profile(name="p", kubernetes=(KubernetesConfig(context="eks-eu"),
                                            KubernetesConfig(context="eks-us", name="k8s-us")))
    assert profile.several_estates
    sources, logs = build_kubernetes_sources(profile)
    assert {s.ctx.estate for s in sources} == {"eks-eu", "k8s-us"}
    assert {s.ctx.describe_estate()["context"] for s in sources} == {"eks-eu", "eks-us"}


async def test_kubernetes_rows_and_alarms_carry_their_contexts_estate(k8s) -> None:
    from cockpit.sources import build_sources

    k8s.state.add_deployment("a", "api")
    profile = Profile(name="p", kubernetes=(KubernetesConfig(context=k8s.context, namespaces=("a",),
                                                             name="k8s-eu"),))
    built = build_sources(profile)
    try:
        services, alarms = built.sources
        assert [(r.name, r.estate) for r in await services.fetch()] == [("deployment/api", "k8s-eu")]
        assert {a.estate for a in await alarms.fetch()} <= {"k8s-eu"}
    finally:
        for s in [*built.sources, *built.log_sources]:
            await s.close()


async def test_cockpit_run_asks_which_estate_when_two_have_the_target_and_takes_estate() -> None:
    from cockpit.registry import get_action
    from cockpit.run import RunError, find_target

    from .fakes import ListSource

    def api(estate: str) -> ServiceStatus:
        return ServiceStatus("api", "ecs", f"aws:ecs:production@{estate}", Severity.OK, "healthy", 1, 1,
                             cluster="production", estate=estate)

    sources = [ListSource(f"aws:ecs:production@{e}", PaneKind.SERVICES, [api(e)]) for e in ("prod-eu", "prod-us")]
    spec = get_action("service.restart")
    with pytest.raises(RunError) as err:
        await find_target(spec, "api", sources, 5)
    assert err.value.hint == "say which with --estate (prod-eu, prod-us)"
    assert (await find_target(spec, "api", sources, 5, "prod-us")).estate == "prod-us"
