#!/usr/bin/env python3
"""ECS at lab size: time to first rows and to all rows, and AWS calls per refresh.

Starts the lab with ``COCKPIT_LAB_SERVICES=N`` extra services (default 2,000; no PostgreSQL
or Redis), builds the lab profile's ECS source and refreshes it a few times, the way the hub
does. Prints a table on stderr and one JSON line on stdout.

- ``first_rows_s``: from the start of a refresh to the first DescribeServices answer, i.e.
  when the first 10 rows are known (the pane shows rows when the whole refresh returns);
- ``all_rows_s``: the whole refresh (list, describe, task definitions when new);
- ``calls``: API calls of that refresh by operation (botocore before-call hook,
  ``AwsContext.calls``). Refresh 1 is cold (task definitions looked up); refresh 2 is the
  steady state. Metrics (CPU and memory of every service) are read by a background job
  that rows never wait for: ``metrics_s`` and ``metrics_calls`` are that job's.

Usage: ``python bench/aws_scale.py [--services N] [--runs R]`` (from the repository root).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def refresh(src: Any) -> dict[str, Any]:
    first: list[float] = []
    started = time.monotonic()

    def seen(**_: Any) -> None:
        if not first:
            first.append(time.monotonic() - started)

    events = src.client.meta.events
    events.register("after-call.ecs.DescribeServices", seen)
    try:
        rows = await src.fetch()
    finally:
        events.unregister("after-call.ecs.DescribeServices", seen)
    return {
        "rows": len(rows),
        "with_metrics": sum(1 for r in rows if r.metrics),
        "first_rows_s": round(first[0], 3) if first else None,
        "all_rows_s": round(time.monotonic() - started, 3),
        "calls": dict(sorted(src.ctx.calls[src.id].items())),
    }


async def bench(services: int, runs: int) -> dict[str, Any]:
    os.environ["COCKPIT_LAB_SERVICES"] = str(services)
    import boto3  # noqa: F401 - imported up front: its ~0.5 s is start-up, not a refresh

    from cockpit.backends.aws import build_aws_sources
    from cockpit.backends.ecs import EcsServicesSource
    from cockpit.lab import start_lab
    from cockpit.profile import Profile

    t0 = time.monotonic()
    lab = start_lab(with_servers=False, timeout=120)
    lab_s = time.monotonic() - t0
    try:
        results: list[list[dict[str, Any]]] = []
        for _ in range(runs):
            profile = lab.profile(Profile(name="lab", lab=True))
            sources, _ = build_aws_sources(profile)
            (src,) = [s for s in sources if isinstance(s, EcsServicesSource)]
            started = time.monotonic()
            one = [await refresh(src)]  # cold; starts the metrics job
            await asyncio.to_thread(src.wait_for_metrics, 300)
            metrics_s = time.monotonic() - started
            one.append(await refresh(src))  # steady
            one[0]["metrics_s"] = round(metrics_s, 3)
            one[0]["metrics_calls"] = dict(src.ctx.calls.get(f"{src.id}/metrics", {}))
            one[1]["with_metrics"] = sum(1 for r in await src.fetch() if r.metrics)
            results.append(one)
            for s in sources:
                await s.close()
    finally:
        lab.stop()

    def median(i: int, key: str) -> float:
        return round(statistics.median(r[i][key] for r in results), 3)

    return {
        "services": services + 2,  # the lab's api and worker too
        "runs": runs,
        "lab_start_s": round(lab_s, 2),
        "refreshes": [
            {
                "refresh": name,
                "rows": results[-1][i]["rows"],
                "with_metrics": results[-1][i]["with_metrics"],
                "first_rows_s": median(i, "first_rows_s"),
                "all_rows_s": median(i, "all_rows_s"),
                "calls": results[-1][i]["calls"],
                "calls_total": sum(results[-1][i]["calls"].values()),
            }
            for i, name in enumerate(("cold", "steady"))
        ],
        "metrics_s": median(0, "metrics_s"),
        "metrics_calls": results[-1][0]["metrics_calls"],
        "services_with_metrics": results[-1][1]["with_metrics"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=2000, help="extra lab services")
    ap.add_argument("--runs", type=int, default=3, help="median of R runs (fresh source each)")
    args = ap.parse_args()
    out = asyncio.run(bench(args.services, args.runs))
    print(f"lab with {out['services']} services started in {out['lab_start_s']} s", file=sys.stderr)
    print(f"{'refresh':<16}{'rows':>6}{'first rows':>12}{'all rows':>10}{'calls':>7}  by operation",
          file=sys.stderr)  # fmt: skip
    for r in out["refreshes"]:
        ops = ", ".join(f"{k.split('.')[1]} {v}" for k, v in r["calls"].items())
        print(
            f"{r['refresh']:<16}{r['rows']:>6}{r['first_rows_s']:>11.3f}s{r['all_rows_s']:>9.3f}s"
            f"{r['calls_total']:>7}  {ops}",
            file=sys.stderr,
        )
    print(
        f"metrics job: {out['metrics_s']:.3f}s after the cold refresh started, "
        f"{sum(out['metrics_calls'].values())} GetMetricData for {2 * out['services']} series "
        f"({out['services_with_metrics']} services have datapoints in the lab)",
        file=sys.stderr,
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
