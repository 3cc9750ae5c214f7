"""What a user sees when AWS cannot be reached or refuses the credentials.

Unreachable: a closed loopback port. Refusals: a stub HTTP server that answers every
request the way AWS does (JSON protocol error body), so botocore parses a real response.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cockpit.backends.aws import build_aws_sources
from cockpit.backends.ecs import EcsServicesSource
from cockpit.errors import BackendError, CredentialsError
from cockpit.profile import AwsConfig, EcsCluster, Profile
from tests.helpers import wait_until


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Stub(BaseHTTPRequestHandler):
    error_type = "ExpiredTokenException"
    status = 400
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).calls += 1
        body = json.dumps(
            {"__type": self.error_type, "message": "The security token included is expired"}
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-ErrorType", self.error_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def stub_server(error_type: str, status: int = 400) -> Iterator[str]:
    handler = type("Handler", (_Stub,), {"error_type": error_type, "status": status})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def aws_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ~/.aws with a profile "ops" (static keys), and no ambient credentials."""
    (tmp_path / "config").write_text("[profile ops]\nregion = eu-west-1\n")
    (tmp_path / "credentials").write_text(
        "[ops]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = secret\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no IMDS probe on loopback-only CI
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def ecs_source(endpoint: str, *, lab: bool, profile: str | None = None) -> EcsServicesSource:
    p = Profile(
        name="t",
        lab=lab,
        aws=AwsConfig(profile=profile, endpoint_url=endpoint, ecs=(EcsCluster("production"),)),
    )
    (src,) = build_aws_sources(p)[0]
    assert isinstance(src, EcsServicesSource)
    return src


async def test_unreachable_endpoint_says_what_and_what_to_do(aws_home: Path) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    src = ecs_source(endpoint, lab=False, profile="ops")
    with pytest.raises(BackendError) as err:
        await src.fetch()
    assert not isinstance(err.value, CredentialsError)
    assert err.value.message == f"cannot reach {endpoint}"
    assert "endpoint_url" in err.value.hint
    assert isinstance(err.value.__cause__, Exception)  # the SDK error is chained, not lost


async def test_unreachable_lab_endpoint() -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(BackendError, match="cannot reach") as err:
        await ecs_source(endpoint, lab=True).fetch()
    assert err.value.hint


async def test_expired_token_gives_credentials_error_with_sso_hint(aws_home: Path) -> None:
    for endpoint in stub_server("ExpiredTokenException"):
        src = ecs_source(endpoint, lab=False, profile="ops")
        with pytest.raises(CredentialsError) as err:
            await src.fetch()
        assert "profile ops" in err.value.message
        assert err.value.hint == "run `aws sso login --profile ops`"
        # the shown commands name the same profile
        assert src.explain_command()[-4:] == ["--profile", "ops", "--endpoint-url", endpoint]


async def test_unrecognized_client_without_profile_says_configure(aws_home: Path) -> None:
    for endpoint in stub_server("UnrecognizedClientException"):
        with pytest.raises(CredentialsError) as err:
            await ecs_source(endpoint, lab=True).fetch()
        assert "configure credentials" in err.value.hint


async def test_throttling_is_a_backend_error_with_a_hint(aws_home: Path) -> None:
    for endpoint in stub_server("ThrottlingException"):
        with pytest.raises(BackendError) as err:
            await ecs_source(endpoint, lab=True).fetch()
        assert not isinstance(err.value, CredentialsError)
        assert "throttled" in err.value.message and err.value.hint


async def test_other_service_errors_are_summarised(aws_home: Path) -> None:
    for endpoint in stub_server("ClusterNotFoundException"):
        with pytest.raises(BackendError) as err:
            await ecs_source(endpoint, lab=True).fetch()
        assert err.value.message.startswith("ECS cluster production: ClusterNotFoundException")


async def test_unknown_aws_profile_is_a_credentials_error(aws_home: Path) -> None:
    with pytest.raises(CredentialsError, match="profile nope is not configured"):
        await ecs_source("http://127.0.0.1:1", lab=False, profile="nope").fetch()


async def test_no_credentials_at_all(aws_home: Path, tmp_path: Path) -> None:
    (aws_home / "credentials").write_text("")
    (aws_home / "config").write_text("[default]\nregion = eu-west-1\n")
    with pytest.raises(CredentialsError) as err:
        await ecs_source("http://127.0.0.1:1", lab=False).fetch()
    assert "configure credentials" in err.value.hint


class _Renewable(BaseHTTPRequestHandler):
    """ECS that refuses the old access key as expired and answers the renewed one."""

    keys_seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("Authorization", "").split("Credential=")[-1].split("/")[0]
        type(self).keys_seen.append(key)
        if key == "AKIAOLD":
            status, body = 400, {"__type": "ExpiredTokenException", "message": "token expired"}
        else:
            status, body = 200, {"serviceArns": []}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


async def test_expired_credentials_recover_by_themselves_once_renewed(aws_home: Path) -> None:
    from cockpit.hub import Hub

    (aws_home / "credentials").write_text(
        "[ops]\naws_access_key_id = AKIAOLD\naws_secret_access_key = secret\n")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Renewable)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{srv.server_address[1]}"
    updates = []
    hub = Hub([ecs_source(endpoint, lab=False, profile="ops")], on_update=updates.append,
              on_logs=lambda b: None, interval=0.1, timeout=10)
    hub.start()
    try:
        await wait_until(lambda: updates and updates[-1].error, 10)
        assert "credentials expired for profile ops" in updates[-1].error
        assert updates[-1].hint == "run `aws sso login --profile ops`"
        # the user renews them in another terminal; the cockpit is not restarted
        (aws_home / "credentials").write_text(
            "[ops]\naws_access_key_id = AKIANEW\naws_secret_access_key = secret\n")
        await wait_until(lambda: updates[-1].error is None and updates[-1].records == (), 15)
        assert "AKIANEW" in _Renewable.keys_seen
    finally:
        await hub.stop()
        srv.shutdown()
        srv.server_close()
