"""RDS instances -> ``DatabaseSnapshot`` rows; their detail; take a manual snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.backends.aws import AwsContext, utc
from cockpit.errors import BackendError
from cockpit.model import DatabaseSnapshot, DetailSection, PaneKind, Severity

DETAIL_SNAPSHOTS = 5
GIB = 1024**3
# FreeStorageSpace is a 1-minute metric (5 minutes without enhanced monitoring): the newest
# 5-minute average of the last half hour is "now" without reading the whole series.
FREE_WINDOW = timedelta(minutes=30)

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


def to_snapshot(db: dict[str, Any], *, source: str, estate: str = "") -> DatabaseSnapshot:
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
        estate=estate,
    )


class RdsSource:
    min_interval = 30.0  # instance status, class and storage change in minutes
    pane = PaneKind.DATABASE

    def __init__(self, ctx: AwsContext, instances: tuple[str, ...]) -> None:
        self.ctx = ctx
        self.instances = instances
        self.id = f"aws:rds{ctx.tag}"
        self.title = f"RDS{ctx.suffix}"
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
                        estate=self.ctx.estate,
                    )
                )
                continue
            for db in resp.get("DBInstances", []):
                rows.append(to_snapshot(db, source=self.id, estate=self.ctx.estate))
        return rows

    def explain_command(self) -> list[str]:
        args = ["rds", "describe-db-instances"]
        if len(self.instances) == 1:
            args += ["--db-instance-identifier", self.instances[0]]
        return self.ctx.cli(*args)

    # --- DetailProvider -------------------------------------------------------------

    async def detail(self, record: Any) -> list[DetailSection]:
        if not isinstance(record, DatabaseSnapshot) or record.status == "not found":
            return []
        return await self.ctx.run(f"details of {record.name}", self._detail_sync, record.name)

    def _detail_sync(self, ident: str) -> list[DetailSection]:
        rds = self.client
        try:
            dbs = rds.describe_db_instances(DBInstanceIdentifier=ident).get("DBInstances", [])
        except rds.exceptions.DBInstanceNotFoundFault as e:
            raise BackendError(
                f"RDS instance {ident} not found", "it may have been deleted or renamed"
            ) from e
        if not dbs:
            raise BackendError(f"RDS instance {ident} not found")
        db = dbs[0]
        sections = [self._instance_section(db, self._free_storage(ident))]
        try:
            sections.append(self._snapshots_section(ident))
        except Exception as e:  # the instance facts are still worth showing
            err = self.ctx.translate(e, "snapshots")
            sections.append(
                DetailSection("Snapshots", lines=tuple(x for x in (err.message, err.hint) if x))
            )
        return sections

    def _free_storage(self, ident: str) -> float | str:
        """Bytes free (the newest FreeStorageSpace average), or why there is no figure."""
        end = datetime.now(UTC)
        try:
            resp = self.ctx.client("cloudwatch").get_metric_data(
                MetricDataQueries=[
                    {
                        "Id": "free",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/RDS",
                                "MetricName": "FreeStorageSpace",
                                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": ident}],
                            },
                            "Period": 300,
                            "Stat": "Average",
                        },
                    }
                ],
                StartTime=end - FREE_WINDOW,
                EndTime=end,
                ScanBy="TimestampDescending",
            )
        except Exception as e:  # storage use is one line of the detail, not the detail
            return f"cannot read FreeStorageSpace: {self.ctx.translate(e, 'metrics').message}"
        for result in resp.get("MetricDataResults", []):
            points = sorted(
                zip(result.get("Timestamps", []), result.get("Values", []), strict=False),
                key=lambda p: p[0],
            )
            if points:
                return float(points[-1][1])
        # Aurora instances have no FreeStorageSpace (the cluster volume grows by itself).
        return "no FreeStorageSpace data in the last 30 minutes"

    @staticmethod
    def _instance_section(db: dict[str, Any], free: float | str) -> DetailSection:
        ep = db.get("Endpoint") or {}
        allocated = db.get("AllocatedStorage")
        rows: list[tuple[str, str]] = [
            ("status", str(db.get("DBInstanceStatus", ""))),
            ("class", str(db.get("DBInstanceClass", ""))),
            ("engine", f"{db.get('Engine', '')} {db.get('EngineVersion', '')}".strip()),
            ("multi-AZ", "yes" if db.get("MultiAZ") else "no"),
        ]
        if db.get("AvailabilityZone"):
            az = str(db["AvailabilityZone"])
            if db.get("SecondaryAvailabilityZone"):
                az += f" (standby {db['SecondaryAvailabilityZone']})"
            rows.append(("availability zone", az))
        if ep.get("Address"):
            rows.append(("endpoint", f"{ep['Address']}:{ep.get('Port', '')}".rstrip(":")))
        if allocated is not None:
            storage = f"{allocated} GiB"
            if db.get("StorageType"):
                storage += f" {db['StorageType']}"
            if db.get("MaxAllocatedStorage"):
                storage += f", autoscaling to {db['MaxAllocatedStorage']} GiB"
            rows.append(("storage allocated", storage))
        if isinstance(free, float) and allocated:
            total = float(allocated) * GIB
            used = max(total - free, 0.0)
            rows.append(
                (
                    "storage used",
                    f"{used / GIB:.1f} GiB of {allocated} GiB ({used / total:.0%}), "
                    f"{free / GIB:.1f} GiB free",
                )
            )
        elif isinstance(free, float):
            rows.append(("storage free", f"{free / GIB:.1f} GiB"))
        else:
            rows.append(("storage used", free))
        if db.get("BackupRetentionPeriod") is not None:
            rows.append(("backup retention", f"{db['BackupRetentionPeriod']} days"))
        restorable = utc(db.get("LatestRestorableTime"))
        if restorable is not None:
            rows.append(("latest restorable", restorable.strftime("%Y-%m-%d %H:%M:%S")))
        return DetailSection("Instance", ("field", "value"), tuple(rows))

    def _snapshots_section(self, ident: str) -> DetailSection:
        snaps: list[dict[str, Any]] = []
        pages = self.client.get_paginator("describe_db_snapshots").paginate(
            DBInstanceIdentifier=ident
        )
        for page in pages:
            snaps += page.get("DBSnapshots", [])
        far_future = datetime.max.replace(tzinfo=UTC)
        # A snapshot still being created has no SnapshotCreateTime yet: it is the newest.
        snaps.sort(key=lambda s: utc(s.get("SnapshotCreateTime")) or far_future, reverse=True)
        rows = []
        for s in snaps[:DETAIL_SNAPSHOTS]:
            created = utc(s.get("SnapshotCreateTime"))
            status = str(s.get("Status", ""))
            if status != "available" and s.get("PercentProgress") is not None:
                status += f" {s['PercentProgress']}%"
            rows.append(
                (
                    str(s.get("DBSnapshotIdentifier", "")),
                    str(s.get("SnapshotType", "")),
                    status,
                    created.strftime("%Y-%m-%d %H:%M:%S") if created else "",
                    f"{s['AllocatedStorage']} GiB" if s.get("AllocatedStorage") else "",
                )
            )
        title = f"Latest snapshots ({len(rows)} of {len(snaps)})"
        lines = () if snaps else ("no snapshots: take one with `database: snapshot`",)
        return DetailSection(
            title, ("snapshot", "type", "status", "created", "size"), tuple(rows), lines
        )

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
