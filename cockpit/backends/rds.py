"""RDS instances -> ``DatabaseSnapshot`` rows; take a manual snapshot."""

from __future__ import annotations

from typing import Any

from cockpit.backends.aws import AwsContext
from cockpit.model import DatabaseSnapshot, PaneKind, Severity

# DBInstanceStatus values, grouped by how worried the on-call engineer should be.
_CRITICAL = frozenset(
    {
        "failed",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
        "incompatible-network",
        "incompatible-option-group",
        "incompatible-parameters",
        "incompatible-restore",
        "insufficient-capacity",
        "restore-error",
        "storage-full",
        "deleting",
    }
)
_WARNING = frozenset({"stopped", "stopping", "rebooting", "starting", "storage-optimization"})


def severity_of(status: str) -> Severity:
    if status == "available":
        return Severity.OK
    if status in _CRITICAL:
        return Severity.CRITICAL
    if status in _WARNING:
        return Severity.WARNING
    return Severity.INFO  # backing-up, modifying, maintenance, upgrading, creating, ...


def to_snapshot(db: dict[str, Any], *, source: str) -> DatabaseSnapshot:
    status = str(db.get("DBInstanceStatus", ""))
    ep = db.get("Endpoint") or {}
    detail: list[tuple[str, str]] = [
        ("engine", f"{db.get('Engine', '')} {db.get('EngineVersion', '')}".strip()),
        ("class", str(db.get("DBInstanceClass", ""))),
    ]
    if ep.get("Address"):
        detail.append(("endpoint", f"{ep['Address']}:{ep.get('Port', '')}".rstrip(":")))
    if db.get("AllocatedStorage") is not None:
        detail.append(("storage", f"{db['AllocatedStorage']} GiB"))
    detail.append(("multi-az", "yes" if db.get("MultiAZ") else "no"))
    return DatabaseSnapshot(
        name=str(db.get("DBInstanceIdentifier", "")),
        backend="rds",
        source=source,
        status=status,
        severity=severity_of(status),
        detail=tuple(detail),
    )


class RdsSource:
    pane = PaneKind.DATABASE

    def __init__(self, ctx: AwsContext, instances: tuple[str, ...]) -> None:
        self.ctx = ctx
        self.instances = instances
        self.id = "aws:rds"
        self.title = "RDS"
        ctx.acquire(self)

    @property
    def client(self) -> Any:
        return self.ctx.client("rds")

    async def fetch(self) -> list[DatabaseSnapshot]:
        return await self.ctx.run("RDS instances", self._fetch_sync)

    def _fetch_sync(self) -> list[DatabaseSnapshot]:
        rds = self.client
        rows = []
        for ident in self.instances:
            try:
                resp = rds.describe_db_instances(DBInstanceIdentifier=ident)
            except rds.exceptions.DBInstanceNotFoundFault:
                # A configured instance that is gone is itself news: show it.
                rows.append(
                    DatabaseSnapshot(
                        name=ident,
                        backend="rds",
                        source=self.id,
                        status="not found",
                        severity=Severity.UNKNOWN,
                    )
                )
                continue
            for db in resp.get("DBInstances", []):
                rows.append(to_snapshot(db, source=self.id))
        return rows

    def explain_command(self) -> list[str]:
        args = ["rds", "describe-db-instances"]
        if len(self.instances) == 1:
            args += ["--db-instance-identifier", self.instances[0]]
        return self.ctx.cli(*args)

    # --- Snapshottable -------------------------------------------------------------

    def snapshot_command(self, target: DatabaseSnapshot, snapshot_id: str) -> list[str]:
        return self.ctx.cli(
            "rds",
            "create-db-snapshot",
            "--db-instance-identifier",
            target.name,
            "--db-snapshot-identifier",
            snapshot_id,
        )

    async def snapshot(self, target: DatabaseSnapshot, snapshot_id: str) -> str:
        def call() -> str:
            resp = self.client.create_db_snapshot(
                DBSnapshotIdentifier=snapshot_id, DBInstanceIdentifier=target.name
            )
            status = resp.get("DBSnapshot", {}).get("Status", "creating")
            return f"snapshot {snapshot_id} of {target.name}: {status}"

        return await self.ctx.run(f"snapshot {target.name}", call)

    async def close(self) -> None:
        await self.ctx.release(self)
