"""The lab's AWS settings in one place: its region, moto's dummy credentials, and the boto3
client of its moto server that the lab's seeding, its health checks and the drills use.
"""

from __future__ import annotations

from typing import Any

REGION = "us-east-1"
KEY = "testing"  # moto's dummy credentials; never a real key


def lab_client(endpoint: str, service: str, *, read_timeout: float = 60) -> Any:
    """A boto3 client of the lab's moto: one attempt, no host prefix (moto serves one host),
    bodies sent uncompressed (moto fails to read a gzip-compressed request; botocore
    compresses bodies above 10 KiB, e.g. PutMetricData)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEY,
        aws_secret_access_key=KEY,
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False,
                      disable_request_compression=True, read_timeout=read_timeout),
    )
