"""Kubernetes at scale: time to first rows and steady-state CPU with 10,000 pods.

The API double runs in a child process (its CPU is not counted) seeded with ``--pods`` pods
across ``--deployments`` deployments in one namespace, then changes ``--rate`` pods a second
(a status flip, or a pod replaced). This process runs what the hub runs: the services and
alarms sources, ``fetch()`` every ``--interval`` seconds. It prints one JSON line:

- ``first_rows_s``: from building the sources to the first services rows and first alarms
  (the one list of every kind, 10,000 pods included);
- ``steady_cpu_pct``: this process's CPU (all threads) over ``--duration`` seconds of churn,
  as % of one core; ``fetch_ms_p50``/``max``: the cost of one refresh of both sources;
- ``lag_events``: how far the pod cache was behind the server when the churn stopped;
- ``relists``: lists beyond the first (0 means the watches alone kept up).

    python bench/k8s_scale.py [--pods 10000 --rate 50 --duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NS = "scale"


def serve(pods: int, deployments: int, rate: float, workdir: Path) -> None:
    """Child process: seed the double, print the kubeconfig path, churn when told."""
    from cockpit.lab.k8s import K8sState, start_double, write_kubeconfig

    _url, _stop, st = start_double(K8sState())
    st.add_namespace(NS)
    for i in range(4):
        st.add_node(f"node-{i}")
    per = max(1, pods // deployments)
    names: list[str] = []
    for d in range(deployments):
        dep = f"svc-{d:03d}"
        st.add_deployment(NS, dep, replicas=per)
        for p in st.pods_for(NS, dep, per, node=f"node-{d % 4}"):
            names.append(p["metadata"]["name"])
    kc = write_kubeconfig(workdir / "kubeconfig", _url, "scale")
    print(json.dumps({"kubeconfig": str(kc), "pods": len(names)}), flush=True)
    sys.stdin.readline()  # "churn"
    rng = random.Random(1)
    period = 1.0 / rate
    changes = 0
    next_at = time.monotonic()
    while True:  # until the parent kills this process
        i = rng.randrange(len(names))
        name = names[i]
        if changes % 10 == 9:  # every tenth change replaces a pod (DELETED + ADDED)
            pod = st.get("pods", NS, name)
            st.delete("pods", NS, name)
            labels = pod["metadata"]["labels"]
            new = st.add_pod(NS, f"{name[:-5]}{rng.randrange(16**5):05x}", labels=labels,
                             restarts=0)
            names[i] = new["metadata"]["name"]
        else:
            def flip(p: dict) -> None:
                cs = p["status"]["containerStatuses"][0]
                cs["restartCount"] = int(cs["restartCount"]) + 1

            st.modify("pods", NS, name, flip)
        changes += 1
        next_at += period
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if changes % max(1, int(rate)) == 0:
            # Report the server's version once a second, for the lag figure.
            try:
                print(json.dumps({"rv": st.rv, "changes": changes}), flush=True)
            except BrokenPipeError:
                return  # the parent has what it needs


async def measure(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="k8s-bench-"))
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--pods", str(args.pods), "--deployments",
         str(args.deployments), "--rate", str(args.rate), "--workdir", str(workdir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        seeded = json.loads(child.stdout.readline())
        os.environ["KUBECONFIG"] = seeded["kubeconfig"]

        t0 = time.perf_counter()
        from cockpit.backends.kubernetes import (
            KubeContext,
            KubernetesAlarmsSource,
            KubernetesServicesSource,
        )

        ctx = KubeContext("scale")
        services = KubernetesServicesSource(ctx, NS)
        alarms = KubernetesAlarmsSource(ctx, (NS,))
        rows = await asyncio.wait_for(services.fetch(), 60)
        t_rows = time.perf_counter() - t0
        first_alarms = await asyncio.wait_for(alarms.fetch(), 60)
        t_alarms = time.perf_counter() - t0
        pods_inf = ctx.informer("pods", NS)

        child.stdin.write("churn\n")
        child.stdin.flush()
        fetch_ms: list[float] = []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        while time.perf_counter() - wall0 < args.duration:
            f0 = time.perf_counter()
            await services.fetch()
            await alarms.fetch()
            fetch_ms.append((time.perf_counter() - f0) * 1000)
            await asyncio.sleep(args.interval)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        child.kill()
        last = {"rv": 0, "changes": 0}
        for line in child.stdout:
            last = json.loads(line)
        lag = max(0, int(last["rv"]) - int(pods_inf.rv or 0))
        result = {
            "pods": seeded["pods"],
            "deployments": len(rows),
            "rate_per_s": args.rate,
            "first_rows_s": round(t_rows, 2),
            "first_alarms_s": round(t_alarms, 2),
            "alarms": len(first_alarms),
            "steady_cpu_pct": round(100 * cpu / wall, 1),
            "fetch_ms_p50": round(statistics.median(fetch_ms), 1),
            "fetch_ms_max": round(max(fetch_ms), 1),
            "changes": last["changes"],
            "lag_events": lag,
            "relists": pods_inf.lists - 1,
            "cached_pods": len(pods_inf.items),
        }
        await services.close()
        await alarms.close()
        return result
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--deployments", type=int, default=200)
    ap.add_argument("--rate", type=float, default=50.0, help="pod changes per second")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of churn measured")
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.pods, args.deployments, args.rate, args.workdir)
        return
    print(json.dumps(asyncio.run(measure(args))))


if __name__ == "__main__":
    main()
