"""merge_service_metrics: PromQL series join the Services rows they are about."""

from __future__ import annotations

from cockpit.backends.prometheus import PrometheusSource, matrix_series
from cockpit.enrich import merge_service_metrics
from cockpit.model import ServiceStatus, Severity
from cockpit.profile import PrometheusConfig, SecretRef


def row(name: str, metrics: tuple[tuple[str, tuple[float, ...]], ...] = ()) -> ServiceStatus:
    return ServiceStatus(name, "ecs", "aws:ecs", Severity.OK, "healthy", 2, 2, metrics=metrics)


def prometheus_with(**results: list[dict]) -> PrometheusSource:
    """A source as after a refresh: ``results`` are query_range ``data.result`` lists."""
    src = PrometheusSource(PrometheusConfig("main", SecretRef("http://127.0.0.1:1")))
    src.series = {name: tuple(matrix_series(name, r)) for name, r in results.items()}
    return src


def series(values: list[float], **labels: str) -> dict:
    return {"metric": labels, "values": [[1000 + 15 * i, str(v)] for i, v in enumerate(values)]}


def test_prometheus_series_land_on_the_matching_service_only() -> None:
    src = prometheus_with(
        error_rate=[series([0.001, 0.0095], service="api"), series([0.0, 0.0], service="web")],
        p95_ms=[series([180.0, 420.5], service="api")],
    )
    api, worker = row("api", (("cpu", (40.0, 55.0)),)), row("worker")
    merged = merge_service_metrics([api, worker], [object(), src])  # non-providers ignored
    assert merged[0].metrics == (
        ("cpu", (40.0, 55.0)),  # the record's own first
        ("error_rate", (0.1, 0.95)),  # a ratio, shown in %
        ("p95_ms", (180.0, 420.5)),
    )
    assert merged[0].name == "api" and merged[0].running == 2
    assert merged[1] is worker  # nothing about it: the same object back


def test_names_are_not_duplicated_and_the_first_wins() -> None:
    class Fixed:
        def __init__(self, *metrics: tuple[str, tuple[float, ...]]) -> None:
            self.metrics = metrics

        def service_metrics(self, name: str) -> tuple[tuple[str, tuple[float, ...]], ...]:
            return self.metrics

    class Broken:
        def service_metrics(self, name: str) -> tuple[tuple[str, tuple[float, ...]], ...]:
            raise RuntimeError("boom")

    api = row("api", (("cpu", (1.0,)),))
    [merged] = merge_service_metrics(
        (api,),
        [Broken(), Fixed(("cpu", (99.0,)), ("p95_ms", (1.0, 2.0))), Fixed(("p95_ms", (7.0,)))],
    )
    assert merged.metrics == (("cpu", (1.0,)), ("p95_ms", (1.0, 2.0)))
    # Merging again (the next refresh of the other source) adds nothing twice.
    assert merge_service_metrics([merged], [Fixed(("p95_ms", (3.0,)))])[0] is merged
    assert merge_service_metrics([], [Fixed()]) == ()
