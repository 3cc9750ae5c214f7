"""Joining one pane's records with what other sources know about the same thing.

Headless (no Textual): the app calls these when a pane's records arrive.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from cockpit.model import PaneRecord, ServiceStatus

log = logging.getLogger(__name__)

__all__ = ["ServiceMetricsProvider", "merge_service_metrics"]


@runtime_checkable
class ServiceMetricsProvider(Protocol):
    """A source that knows metric series per service name (e.g. ``PrometheusSource``)."""

    def service_metrics(self, name: str) -> tuple[tuple[str, tuple[float, ...]], ...]: ...


def merge_service_metrics(
    records: Sequence[PaneRecord], providers: Iterable[object]
) -> tuple[PaneRecord, ...]:
    """``records`` with each provider's ``service_metrics(record.name)`` added to the
    ``metrics`` of each ``ServiceStatus`` among them (other records pass unchanged).

    A metric name the record already has is kept as it is (the record's own source wins,
    then the first provider); records with nothing to add are returned unchanged (the same
    objects). Objects without ``service_metrics`` are ignored, so callers may pass every
    source; a provider that fails is logged and skipped: metrics are decoration, the row
    must still show.
    """
    found = [p for p in providers if isinstance(p, ServiceMetricsProvider)]
    out: list[PaneRecord] = []
    for record in records:
        if not isinstance(record, ServiceStatus):
            out.append(record)
            continue
        metrics = list(record.metrics)
        names = {name for name, _ in metrics}
        for provider in found:
            try:
                extra = provider.service_metrics(record.name)
            except Exception:
                log.exception("service_metrics(%r) failed", record.name)
                continue
            for name, values in extra:
                if name not in names:
                    names.add(name)
                    metrics.append((name, tuple(values)))
        if len(metrics) != len(record.metrics):
            record = dataclasses.replace(record, metrics=tuple(metrics))
        out.append(record)
    return tuple(out)
