"""The Services pane's CPU column: a sparkline of the last hour from ``ServiceStatus.metrics``."""

from __future__ import annotations

from cockpit.model import ServiceStatus, Severity
from cockpit.units import BLOCKS, sparkline
from widgets.services import ServicesPane, metric_cell


def test_sparkline_scales_buckets_and_edges() -> None:
    assert sparkline([0, 100], width=2, lo=0, hi=100) == "▁█"
    # 12 values into 6 buckets of 2, averaged: 5, 25, 45, 65, 85, 100 on a 0..100 scale
    values = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 100]
    assert sparkline(values, width=6, lo=0, hi=100) == "▁▃▄▆▇█"
    assert sparkline([46.0] * 60, width=6, lo=0, hi=100) == "▄▄▄▄▄▄"  # a flat 46 % looks like 46 %
    assert sparkline([3, 3, 3]) == "▅▅▅"  # no range of its own: middle, not bottom
    assert sparkline([1, 2]) == "▁█" and len(sparkline(list(range(60)), width=6)) == 6
    assert sparkline([]) == "" and sparkline([1.0], width=0) == ""
    assert sparkline([150, 50], width=2, lo=0, hi=100) == "█▃"  # above hi widens the scale
    assert set(sparkline([x % 17 for x in range(200)], width=20)) <= set(BLOCKS)


def row(metrics: tuple) -> ServiceStatus:
    return ServiceStatus(
        name="api", backend="ecs", source="aws:ecs:production", status=Severity.OK,
        status_text="healthy", running=2, desired=2, metrics=metrics,
    )  # fmt: skip


def test_cpu_cell_fits_its_fixed_column() -> None:
    width = {c.label: c.min for c in ServicesPane.columns}["cpu% 1h"]
    cell = metric_cell(row((("cpu", tuple(float(v) for v in range(40, 100))), ("mem", (1.0,)))))
    assert cell.endswith("  99") and len(cell) <= width
    assert metric_cell(row((("cpu", (100.0,) * 60),))) == "██████ 100"
    assert len(metric_cell(row((("cpu", (100.0,) * 60),)))) <= width
    assert metric_cell(row(())) == ""  # no datapoints: blank, never a fake zero
