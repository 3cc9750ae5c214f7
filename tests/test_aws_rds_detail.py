"""RDS detail against moto's server over HTTP: instance facts, storage used from
CloudWatch's FreeStorageSpace, and the newest five snapshots first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.backends.aws import build_aws_sources
from cockpit.backends.base import DetailProvider
from cockpit.backends.rds import RdsSource
from cockpit.model import DatabaseSnapshot
from cockpit.profile import AwsConfig, Profile
from tests.fixtures.moto import ACCOUNT, REGION, aws_client

GIB = 1024**3


def rds_source(endpoint: str, *names: str) -> RdsSource:
    profile = Profile(name="lab", lab=True, aws=AwsConfig(endpoint_url=endpoint, rds=names))
    (src,) = [s for s in build_aws_sources(profile)[0] if isinstance(s, RdsSource)]
    return src


def create_db(endpoint: str, ident: str = "orders-db", **extra: Any) -> Any:
    rds = aws_client(endpoint, "rds")
    rds.create_db_instance(
        DBInstanceIdentifier=ident, DBInstanceClass="db.m6g.large", Engine="postgres",
        EngineVersion="15.4", MasterUsername="admin", MasterUserPassword="secret-password",
        AllocatedStorage=100, MultiAZ=True, **extra,
    )  # fmt: skip
    return rds


def drop_automated_snapshots() -> None:
    """moto takes an automated snapshot of every new instance, whatever its retention."""
    from moto.backends import get_backend

    snaps = get_backend("rds")[ACCOUNT][REGION].database_snapshots
    for key in [k for k in snaps if k.startswith("rds:")]:
        del snaps[key]


def table(section: Any) -> dict[str, str]:
    return dict(section.rows)


async def test_detail_shows_status_class_engine_storage_use_multi_az_and_endpoint(
    moto_endpoint: str,
) -> None:
    create_db(moto_endpoint)
    cw = aws_client(moto_endpoint, "cloudwatch")
    now = datetime.now(UTC)
    # Older point first: the detail must use the newest (25 GiB free), not the first seen.
    for minutes, free in ((12, 40), (2, 25)):
        cw.put_metric_data(Namespace="AWS/RDS", MetricData=[{
            "MetricName": "FreeStorageSpace", "Timestamp": now - timedelta(minutes=minutes),
            "Value": free * GIB, "Unit": "Bytes",
            "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "orders-db"}],
        }])  # fmt: skip
    src = rds_source(moto_endpoint, "orders-db")
    assert isinstance(src, DetailProvider)
    (db,) = await src.fetch()
    instance, snapshots = await src.detail(db)
    facts = table(instance)
    assert facts["status"] == "available"
    assert facts["class"] == "db.m6g.large"
    assert facts["engine"] == "postgres 15.4"
    assert facts["multi-AZ"] == "yes"
    assert facts["endpoint"].startswith("orders-db.") and facts["endpoint"].endswith(":5432")
    assert facts["storage allocated"].startswith("100 GiB")
    assert facts["storage used"] == "75.0 GiB of 100 GiB (75%), 25.0 GiB free"
    # Like AWS with backups on, moto takes an automated snapshot of a new instance.
    ((ident, kind, status, *_),) = snapshots.rows
    assert ident.startswith("rds:orders-db-") and (kind, status) == ("automated", "available")
    await src.close()


async def test_detail_without_storage_metrics_or_snapshots_says_so(moto_endpoint: str) -> None:
    create_db(moto_endpoint, BackupRetentionPeriod=0)
    drop_automated_snapshots()
    src = rds_source(moto_endpoint, "orders-db")
    (db,) = await src.fetch()
    instance, snapshots = await src.detail(db)
    assert table(instance)["storage used"] == "no FreeStorageSpace data in the last 30 minutes"
    assert snapshots.rows == ()
    assert "take one with `database: snapshot`" in snapshots.lines[0]
    # A row of another pane, or a configured instance that is gone: nothing to add.
    assert await src.detail(DatabaseSnapshot(name="x", backend="rds", source=src.id,
                                             status="not found")) == []  # fmt: skip
    await src.close()


async def test_detail_lists_the_five_newest_snapshots_newest_first(moto_endpoint: str) -> None:
    rds = create_db(moto_endpoint, BackupRetentionPeriod=0)
    create_db(moto_endpoint, "other-db")
    for i in range(7):
        rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier=f"snap-{i}")
    rds.create_db_snapshot(DBInstanceIdentifier="other-db", DBSnapshotIdentifier="not-mine")
    drop_automated_snapshots()
    # moto stamps snapshots with the creation time (the same second here): spread them so
    # that the newest is not the last created, as after a copy or a restore.
    from moto.backends import get_backend

    be = get_backend("rds")[ACCOUNT][REGION]
    base = datetime.now(UTC) - timedelta(days=1)
    hours = {0: 5, 1: 1, 2: 6, 3: 2, 4: 4, 5: 3, 6: 0}
    for i, h in hours.items():
        be.database_snapshots[f"snap-{i}"].created = (base + timedelta(hours=h)).isoformat()
    src = rds_source(moto_endpoint, "orders-db")
    (db,) = await src.fetch()
    _, snapshots = await src.detail(db)
    assert snapshots.title == "Latest snapshots (5 of 7)"
    assert [r[0] for r in snapshots.rows] == ["snap-2", "snap-0", "snap-4", "snap-5", "snap-3"]
    assert all(r[1] == "manual" and r[2] == "available" for r in snapshots.rows)
    assert snapshots.rows[0][3] == (base + timedelta(hours=6)).strftime("%Y-%m-%d %H:%M:%S")
    await src.close()


async def test_the_labs_instance_shows_storage_use_and_past_migration_snapshots(
    moto_endpoint: str,
) -> None:
    from cockpit.lab.aws_extras import RDS_INSTANCE, lab_client, seed_rds_extras

    create_db(moto_endpoint, RDS_INSTANCE)
    drop_automated_snapshots()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    seed_rds_extras(lab_client(moto_endpoint, "rds"), lab_client(moto_endpoint, "cloudwatch"), now)
    src = rds_source(moto_endpoint, RDS_INSTANCE)
    (db,) = await src.fetch()
    instance, snapshots = await src.detail(db)
    used = table(instance)["storage used"]
    assert used.startswith("62.") and "of 100 GiB" in used and used.endswith("GiB free")
    assert [r[0] for r in snapshots.rows] == [
        "before-vacuum-full", "pre-migration-0042", "pre-migration-0041",
    ]  # fmt: skip
    await src.close()
