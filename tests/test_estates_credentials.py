"""Each estate of a profile resolves its own credentials (one boto3 session each): when one
account's session expires, only its rows are marked and its header says to `aws sso login
--profile X`, while the other estate keeps updating.

Two AWS profiles in a private ~/.aws; moto serves both regions. The prod-us estate reaches moto
through a loopback proxy that, once told, answers every call as AWS does for an expired
session token (ExpiredTokenException), the way a real SSO session ends in the middle of a shift.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cockpit.app import CockpitApp
from cockpit.backends.aws import build_aws_sources
from cockpit.errors import CredentialsError
from cockpit.model import PaneKind, Severity
from cockpit.profile import AwsConfig, EcsCluster, Profile

from .fixtures.moto import aws_client
from .helpers import wait_until


@pytest.fixture
def aws_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """~/.aws with profiles prod-eu and prod-us (static keys) and prod-sso (SSO, never logged in)."""
    (tmp_path / "config").write_text(
        "[profile prod-eu]\nregion = eu-west-1\n[profile prod-us]\nregion = us-east-1\n"
        "[profile prod-sso]\nsso_start_url = https://sso.example.com/start\nsso_region = us-east-1\n"
        "sso_account_id = 123456789012\nsso_role_name = oncall\nregion = us-east-1\n")
    (tmp_path / "credentials").write_text(
        "[prod-eu]\naws_access_key_id = AKIAEU\naws_secret_access_key = eu-secret\n"
        "[prod-us]\naws_access_key_id = AKIAUS\naws_secret_access_key = us-secret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))  # no SSO token cache of the developer's own
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def expiring_proxy(moto_endpoint: str) -> Iterator[tuple[str, threading.Event]]:
    """A proxy to moto; once the event is set, every call gets ExpiredTokenException."""
    expired = threading.Event()
    target = urlsplit(moto_endpoint)

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if expired.is_set():
                status, ctype = 400, "application/x-amz-json-1.1"
                out = json.dumps({"__type": "ExpiredTokenException",
                                  "message": "The security token included in the request is expired"}).encode()
            else:
                conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=5)
                conn.request("POST", self.path, body, dict(self.headers.items()))
                resp = conn.getresponse()
                status, ctype, out = resp.status, resp.getheader("Content-Type", ""), resp.read()
                conn.close()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", expired
    finally:
        srv.shutdown()
        srv.server_close()


def _seed(endpoint: str, region: str, services: tuple[str, ...]) -> None:
    ecs = aws_client(endpoint, "ecs", region=region)
    ecs.create_cluster(clusterName="production")
    ecs.register_task_definition(family="app", containerDefinitions=[
        {"name": "app", "image": "registry.local/app:1", "memory": 128}])
    for name in services:
        ecs.create_service(cluster="production", serviceName=name, taskDefinition="app:1", desiredCount=0)


async def test_one_estates_expired_session_marks_only_its_rows_and_the_other_keeps_updating(
    aws_home: Path, moto_endpoint: str, expiring_proxy: tuple[str, threading.Event]
) -> None:
    proxy, expired = expiring_proxy
    _seed(moto_endpoint, "eu-west-1", ("api", "billing"))
    _seed(moto_endpoint, "us-east-1", ("api", "worker"))
    profile = Profile(name="prod", refresh=0.3, timeout=3, aws=AwsConfig(
        name="prod-eu", profile="prod-eu", region="eu-west-1", endpoint_url=moto_endpoint,
        ecs=(EcsCluster("production"),)), aws_more=(AwsConfig(
        name="prod-us", profile="prod-us", region="us-east-1", endpoint_url=proxy,
        ecs=(EcsCluster("production"),)),))
    app = CockpitApp(profile)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]

        def rows() -> dict[tuple[str, str], str]:  # (estate, name) -> the status cell shown
            t = pane.table
            return {(c[2].plain, c[1].plain): c[0].plain for c in (t.get_row_at(i) for i in range(t.row_count))}

        # desired 0: healthy rows, which a failing source must not leave looking healthy
        await wait_until(lambda: set(rows()) == {("prod-eu", "api"), ("prod-eu", "billing"),
                                                 ("prod-us", "api"), ("prod-us", "worker")}, 20)
        assert all(v.startswith(Severity.OK.symbol) for v in rows().values()), rows()
        expired.set()
        await wait_until(lambda: all(v.startswith("?") for k, v in rows().items() if k[0] == "prod-us"), 10)
        header = str(pane.header.render())
        assert "aws sso login --profile prod-us" in " ".join(pane.source_lines()) + header
        failing = [line for line in pane.source_lines() if "expired" in line]
        assert failing and all("(prod-us)" in line for line in failing), failing  # the header names it
        # prod-eu keeps updating: a change there shows, and its rows are not marked.
        aws_client(moto_endpoint, "ecs", region="eu-west-1").update_service(
            cluster="production", service="billing", desiredCount=4)
        await wait_until(lambda: any(r.estate == "prod-eu" and r.name == "billing" and r.desired == 4
                                     for r in pane.records.values()), 10)
        assert not any(v.startswith("?") for k, v in rows().items() if k[0] == "prod-eu")
        # The failing estate's rows stay (its last good data), never shown as healthy.
        assert {k for k in rows() if k[0] == "prod-us"} == {("prod-us", "api"), ("prod-us", "worker")}
        assert Severity.OK.symbol not in "".join(v for k, v in rows().items() if k[0] == "prod-us")
        await pilot.press("q")


async def test_an_estate_whose_sso_session_is_missing_fails_alone_with_its_login_hint(
    aws_home: Path, moto_endpoint: str
) -> None:
    _seed(moto_endpoint, "eu-west-1", ("api",))
    profile = Profile(name="prod", aws=AwsConfig(
        name="prod-eu", profile="prod-eu", region="eu-west-1", endpoint_url=moto_endpoint,
        ecs=(EcsCluster("production"),)), aws_more=(AwsConfig(
        name="prod-us", profile="prod-sso", endpoint_url=moto_endpoint, ecs=(EcsCluster("production"),)),))
    (eu, us), _ = build_aws_sources(profile)
    assert (eu.id, us.id) == ("aws:ecs:production@prod-eu", "aws:ecs:production@prod-us")
    assert eu.ctx is not us.ctx  # one session each
    assert [r.estate for r in await eu.fetch()] == ["prod-eu"]
    with pytest.raises(CredentialsError) as err:
        await us.fetch()
    assert err.value.hint == "run `aws sso login --profile prod-sso`"
    assert [r.name for r in await eu.fetch()] == ["api"]  # the other estate is untouched
    for src in (eu, us):
        await src.close()
