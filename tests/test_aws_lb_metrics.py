"""Load balancer metrics of ECS services (moto's server over HTTP): 5xx error rate and p95
response time join CPU and memory in the one batched GetMetricData, as sparkline series on
the row and a section of the detail; the profile key; the lab's seeded ALB series."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.backends.aws import build_aws_sources
from cockpit.backends.ecs import EcsServicesSource, lb_series
from cockpit.config import load_text
from cockpit.errors import ConfigError
from cockpit.lab.aws_extras import (
    ALB_INCIDENT_MIN,
    API_LOAD_BALANCER,
    lab_client,
    patch_percentiles,
    seed_alb_metrics,
)
from cockpit.profile import AwsConfig, EcsCluster, Profile
from tests.fixtures.moto import aws_client

LB = API_LOAD_BALANCER
DIMS = [
    {"Name": "LoadBalancer", "Value": LB.load_balancer},
    {"Name": "TargetGroup", "Value": LB.target_group},
]


def seed_services(endpoint: str) -> None:
    ecs = aws_client(endpoint, "ecs")
    ecs.create_cluster(clusterName="production")
    ecs.register_task_definition(
        family="api", containerDefinitions=[{"name": "api", "image": "api:1", "memory": 128}]
    )
    for name in ("api", "worker"):
        ecs.create_service(
            cluster="production", serviceName=name, taskDefinition="api:1", desiredCount=1
        )


def source(endpoint: str) -> EcsServicesSource:
    cluster = EcsCluster("production", load_balancers=(LB,))
    profile = Profile(name="lab", lab=True, aws=AwsConfig(endpoint_url=endpoint, ecs=(cluster,)))
    (src,) = [s for s in build_aws_sources(profile)[0] if isinstance(s, EcsServicesSource)]
    src.metrics_interval = 0
    return src


def put_known_minutes(endpoint: str, now: datetime) -> None:
    """10 minutes: 1,000 requests each; 5xx in odd minutes only (20 = 2 %); response times
    0.01 .. 0.20 s (p95 by nearest rank of 20: the 19th, 0.19 s); CPU at 40 %."""
    cw = lab_client(endpoint, "cloudwatch")
    data: list[dict[str, Any]] = []
    for m in range(10, 0, -1):
        ts = now - timedelta(minutes=m)
        data.append({"MetricName": "RequestCount", "Dimensions": DIMS, "Timestamp": ts,
                     "Value": 1000.0, "Unit": "Count"})  # fmt: skip
        if m % 2:
            data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": DIMS,
                         "Timestamp": ts, "Value": 20.0, "Unit": "Count"})  # fmt: skip
        data += [{"MetricName": "TargetResponseTime", "Dimensions": DIMS, "Timestamp": ts,
                  "Value": k / 100, "Unit": "Seconds"} for k in range(1, 21)]  # fmt: skip
    cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)
    cw.put_metric_data(Namespace="AWS/ECS", MetricData=[{
        "MetricName": "CPUUtilization", "Timestamp": now - timedelta(minutes=m), "Value": 40.0,
        "Dimensions": [{"Name": "ClusterName", "Value": "production"},
                       {"Name": "ServiceName", "Value": "api"}],
    } for m in range(10, 0, -1)])  # fmt: skip


async def rows_after_metrics(src: EcsServicesSource) -> dict[str, Any]:
    await src.fetch()  # starts the metrics job; rows never wait for it
    assert await asyncio.to_thread(src.wait_for_metrics)
    src.metrics_interval = 3600  # the next refresh shows what was read, reads nothing
    return {r.name: r for r in await src.fetch()}


async def test_error_rate_and_p95_join_cpu_in_the_same_get_metric_data(
    moto_endpoint: str,
) -> None:
    patch_percentiles()
    seed_services(moto_endpoint)
    put_known_minutes(moto_endpoint, datetime.now(UTC).replace(second=0, microsecond=0))
    src = source(moto_endpoint)
    bodies: list[dict[str, Any]] = []
    src.ctx.client("cloudwatch").meta.events.register(
        "before-call.monitoring.GetMetricData", lambda params, **_: bodies.append(params)
    )
    rows = await rows_after_metrics(src)
    assert src.ctx.calls[f"{src.id}/metrics"] == {"cloudwatch.GetMetricData": 1}
    assert len(bodies) == 1  # one call for both services' CPU/memory and api's ALB series
    api = dict(rows["api"].metrics)
    assert list(api) == ["cpu", "5xx%", "p95ms"]
    assert api["5xx%"] == (0.0, 2.0) * 5  # minutes 10, 9, ... ago: 5xx only in odd ones
    assert api["p95ms"] == (190.0,) * 10
    assert "5xx%" not in dict(rows["worker"].metrics)  # no load balancer configured

    by_title = {s.title: s for s in await src.detail(rows["api"])}
    lb = by_title["Load balancer, last hour (1-minute values)"]
    assert lb.rows == (
        ("target 5xx, % of requests", "0.00", "1.00", "2.00", "2.00", "10"),
        ("p95 response time, ms", "190", "190", "190", "190", "10"),
    )
    assert LB.target_group in lb.lines[0]
    # CPU/memory keep their own percent section, without the ALB series.
    percent = by_title["Metrics, last hour (1-minute averages, %)"]
    assert [r[0] for r in percent.rows] == ["cpu"]
    await src.close()


async def test_a_server_without_percentiles_still_shows_the_error_rate(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.cloudwatch.models import Statistics

    patch_percentiles()
    monkeypatch.setattr(Statistics, "get_statistics_for_type", Statistics._lab_unpatched)
    seed_services(moto_endpoint)
    put_known_minutes(moto_endpoint, datetime.now(UTC).replace(second=0, microsecond=0))
    src = source(moto_endpoint)
    rows = await rows_after_metrics(src)
    # moto fails the whole call over a p95 query: asked again without it, once.
    assert src.ctx.calls[f"{src.id}/metrics"] == {"cloudwatch.GetMetricData": 2}
    assert src.metrics_error == ""
    assert list(dict(rows["api"].metrics)) == ["cpu", "5xx%"]
    src.metrics_interval = 0
    await src.fetch()
    assert await asyncio.to_thread(src.wait_for_metrics)
    assert src.ctx.calls[f"{src.id}/metrics"] == {"cloudwatch.GetMetricData": 1}
    await src.close()


async def test_the_labs_alb_series_show_the_incident(moto_endpoint: str) -> None:
    patch_percentiles()
    seed_services(moto_endpoint)
    cw = lab_client(moto_endpoint, "cloudwatch")
    seed_alb_metrics(cw, datetime.now(UTC).replace(second=0, microsecond=0))
    api = dict((await rows_after_metrics(source(moto_endpoint)))["api"].metrics)
    rate, p95 = api["5xx%"], api["p95ms"]
    # The hour's window holds 59 of the 60 seeded minutes (58 if a minute turned meanwhile).
    assert len(rate) == len(p95) >= 58
    calm, incident = rate[:-ALB_INCIDENT_MIN], rate[-ALB_INCIDENT_MIN:]
    assert max(calm) < 0.5 < min(incident)  # the 0.5 % alarm threshold
    before = p95[:-ALB_INCIDENT_MIN]
    assert sum(p95[-ALB_INCIDENT_MIN:]) / ALB_INCIDENT_MIN > 2 * sum(before) / len(before)


def test_lb_series_rules() -> None:
    t = [datetime(2026, 1, 1, 0, m, tzinfo=UTC) for m in range(4)]
    got = dict(lb_series({
        "req": {t[0]: 200.0, t[1]: 0.0, t[2]: 50.0},  # t[1]: no traffic, t[3]: no point
        "e5": {t[0]: 3.0},
        "p95": {t[2]: 0.25, t[0]: 1.5},
    }))  # fmt: skip
    assert got == {"5xx%": (1.5, 0.0), "p95ms": (1500.0, 250.0)}
    assert lb_series({}) == []


def test_profile_key_and_its_checks(tmp_path: Path) -> None:
    text = """
profiles:
  p:
    aws:
      region: us-east-1
      ecs:
        - cluster: production
          load_balancers:
            - service: api
              load_balancer: %s
              %s
"""
    ok = load_text(text % (LB.load_balancer, f"target_group: {LB.target_group}"), tmp_path / "p")
    assert ok.profiles["p"].aws.ecs[0].load_balancers == (LB,)
    whole = load_text(text % (LB.load_balancer, ""), tmp_path / "p")
    assert whole.profiles["p"].aws.ecs[0].load_balancers[0].target_group == ""
    arn = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/" + LB.load_balancer
    with pytest.raises(ConfigError, match="LoadBalancer dimension app/<name>/<id>"):
        load_text(text % (arn, ""), tmp_path / "p")
    with pytest.raises(ConfigError, match="TargetGroup dimension"):
        load_text(text % (LB.load_balancer, "target_group: api-tg"), tmp_path / "p")
