"""A cockpit's ActionRunner in a process of its own, for tests that kill it or starve its disk.

``python -m tests.audit_child AUDIT [--fsize BYTES] -- CHECK ARGV...`` runs ``host: run check``
with CHECK ARGV on a local host through the real runner and the real audit log, then prints
the outcome as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys

from cockpit.actions import HOST_RUN_CHECK, ActionRunner
from cockpit.audit import AuditLog
from cockpit.backends.hosts import build_host_sources
from cockpit.model import ServiceStatus, Severity
from cockpit.profile import HostConfig, Profile


async def main(audit: str, argv: list[str]) -> dict:
    cfg = HostConfig("box", local=True, checks=(("probe", tuple(argv)),))
    profile = Profile(name="lab", hosts=(cfg,))
    (services, alarms), _ = build_host_sources(profile)

    async def confirm(req):  # type: ignore[no-untyped-def]
        return True

    runner = ActionRunner(
        profile=profile, audit=AuditLog(audit), confirm=confirm,
        resolve_backend=lambda sid: {services.id: services}[sid],
    )  # fmt: skip
    row = ServiceStatus("box", "host", services.id, Severity.OK, "", 1, 1)
    try:
        outcome = await runner.request(HOST_RUN_CHECK, row, {"check": "probe"})
    finally:
        await services.host.close()
    return {"status": outcome.status, "message": outcome.message, "audited": outcome.audited}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("audit")
    p.add_argument("--fsize", type=int, default=None)
    p.add_argument("check", nargs="+")
    args = p.parse_args()
    if args.fsize is not None:
        # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, as on a full disk.
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.fsize, args.fsize))
    print(json.dumps(asyncio.run(main(args.audit, args.check))), flush=True)
    sys.exit(0)
