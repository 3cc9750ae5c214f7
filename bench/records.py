#!/usr/bin/env python3
"""What the estate-text boundary costs per record: records built with and without it.

    python bench/records.py [--n 200000]

Every record type cleans its string fields on construction (``cockpit.text.EstateText``).
This builds ``--n`` log records (plain ASCII lines, as most are; and lines with a colour
code, which take the cleaning path) and 2,000 ECS-like service rows with ten events each,
once with the real classes and once with copies of them that skip the cleaning, and prints
one JSON line: microseconds per record for each, and the difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cockpit.model import LogLevel, LogRecord, ServiceStatus, Severity  # noqa: E402

NOW = datetime(2026, 11, 25, 3, 12, tzinfo=UTC)


def bare(cls: type) -> type:
    """The same frozen dataclass without the cleaning __post_init__."""
    fields = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(f"Bare{cls.__name__}", fields, frozen=True)


def per_record(make, n: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        make(n)
        best = min(best, time.perf_counter() - t)
    return best / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=200_000)
    n = p.parse_args().n
    plain = "2026-11-25T03:12:00Z INFO GET /api/orders/1234 200 12ms user=42 trace=ab12cd34ef56"
    colour = "\x1b[32mINFO\x1b[0m GET /api/orders/1234 200 12ms user=42 trace=ab12cd34ef56"
    BareLog, BareService = bare(LogRecord), bare(ServiceStatus)  # noqa: N806
    events = tuple((NOW, f"(service api) has reached a steady state. {i}") for i in range(10))

    def logs(cls, text):  # type: ignore[no-untyped-def]
        return lambda k: [cls(NOW, "api/ecs-task-1", LogLevel.INFO, text, str(i)) for i in range(k)]

    def services(cls):  # type: ignore[no-untyped-def]
        return lambda k: [cls(f"svc-{i}", "ecs", "aws:ecs:prod", Severity.OK, "healthy", 2, 2,
                              deployment="COMPLETED", task_definition=f"svc-{i}:3", cluster="prod",
                              events=events) for i in range(k)]

    out = {}
    for name, real, base, k in (
        ("log_plain_us", logs(LogRecord, plain), logs(BareLog, plain), n),
        ("log_colour_us", logs(LogRecord, colour), logs(BareLog, colour), n // 4),
        ("service_10_events_us", services(ServiceStatus), services(BareService), 2000),
    ):
        with_boundary, without = per_record(real, k), per_record(base, k)
        out[name] = {"with": round(with_boundary, 3), "without": round(without, 3),
                     "added": round(with_boundary - without, 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
