"""`cockpit lab up` in the foreground: the real `aws`, `psql` and `redis-cli` answer what the
sources show; `attach_lab` gives the cockpit the same estate; Ctrl+C stops everything."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cockpit.lab import LabError
from cockpit.labenv import attach_lab, read_env_file
from cockpit.profile import Profile
from cockpit.sources import build_sources

from .conftest import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent


def _cli(env: dict[str, str], *argv: str) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


async def _fetch_all(profile: Profile, notes: dict[str, str]) -> dict[str, list]:
    sources = build_sources(profile, notes).sources
    out = {}
    for s in sources:
        try:
            out[s.id] = list(await s.fetch())
        finally:
            await s.close()
    return out


def test_lab_up_env_matches_what_the_cockpit_shows(tmp_path: Path) -> None:
    env_file = tmp_path / "run" / "lab.env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cockpit.cli", "lab", "up", "--env-file", str(env_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "lab up wrote no env file"
            time.sleep(0.05)
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        env = read_env_file(env_file)
        assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")

        lab = attach_lab(env_file)
        profile = lab.profile(Profile(name="lab", lab=True))
        seen = asyncio.run(_fetch_all(profile, lab.notes))

        # aws: ECS counts and firing alarms, as the services and alarms panes show them
        aws = shutil.which("aws")
        if aws is None:
            skip_or_fail("the aws CLI (PyPI awscli) is not installed")
        svc = json.loads(_cli(env, aws, "ecs", "describe-services", "--cluster", "production",
                              "--services", "api", "worker"))["services"]
        shown = {s.name: (s.running, s.desired) for s in seen["aws:ecs:production"]}
        assert {s["serviceName"]: (s["runningCount"], s["desiredCount"]) for s in svc} == shown
        firing = json.loads(_cli(env, aws, "cloudwatch", "describe-alarms", "--state-value", "ALARM"))
        assert sorted(a["AlarmName"] for a in firing["MetricAlarms"]) == sorted(
            a.name for a in seen["aws:alarms"] if a.state == "ALARM"
        )
        # awscli v1's sqs commands ignore AWS_ENDPOINT_URL (a built-in queue.amazonaws.com
        # default): the explain layer's commands carry --endpoint-url, so type that here too.
        url = _cli(env, aws, "sqs", "get-queue-url", "--queue-name", "jobs-dlq",
                   "--endpoint-url", env["AWS_ENDPOINT_URL"], "--output", "text").strip()
        depth = _cli(env, aws, "sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names",
                     "ApproximateNumberOfMessages", "--endpoint-url", env["AWS_ENDPOINT_URL"],
                     "--query", "Attributes.ApproximateNumberOfMessages", "--output", "text")
        jobs = next(q for q in seen["aws:sqs"] if q.name == "jobs")
        assert int(depth) == jobs.dlq_depth

        # psql and redis-cli on DATABASE_URL / REDIS_URL: the same servers the panes read
        if "DATABASE_URL" in env:
            max_conn = _cli(env, "psql", env["DATABASE_URL"], "-Atc", "show max_connections").strip()
            db = seen["pg:lab-postgres"][0]
            assert int(max_conn) == db.max_connections
        if "REDIS_URL" in env:
            maxclients = _cli(env, "redis-cli", "-u", env["REDIS_URL"], "config", "get", "maxclients")
            redis_db = next(r for records in seen.values() for r in records
                            if getattr(r, "backend", "") == "redis" and hasattr(r, "max_connections"))
            assert int(maxclients.split()[-1]) == redis_db.max_connections

        # the attached lab takes controller commands through lab up's FIFO; its stop() is a no-op
        lab.send("stop-service worker")
        lab.stop()
        deadline = time.monotonic() + 10
        while json.loads(_cli(env, aws, "ecs", "describe-services", "--cluster", "production",
                              "--services", "worker"))["services"][0]["runningCount"] != 0:
            assert time.monotonic() < deadline, "stop-service did not reach the lab"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl+C sends
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "export AWS_ENDPOINT_URL=" in out and "export AWS_DEFAULT_REGION=us-east-1" in out
    assert "COCKPIT_LAB" not in out  # attach metadata stays in the file, not on screen
    assert "lab stopped" in err
    assert not env_file.exists()
    with pytest.raises(LabError, match="cannot read the lab-env file"):
        attach_lab(env_file)


def test_attach_to_a_lab_that_is_gone(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env_file = tmp_path / "lab.env"
    env_file.write_text(f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}\n")
    with pytest.raises(LabError) as e:
        attach_lab(env_file)
    assert "not running" in e.value.message and "cockpit lab up" in e.value.hint


def _debian_aws() -> str:
    """The aws CLI a Debian user has (package awscli, 2.9 on Debian 12), not a pip/pyenv one."""
    if not os.access("/usr/bin/aws", os.X_OK):
        skip_or_fail("Debian's aws CLI is not installed (apt-get install -y awscli)")
    return "/usr/bin/aws"


def test_what_lab_up_prints_works_with_debians_aws(tmp_path: Path) -> None:
    """Issue 22 item 4: aws 2.9 ignores AWS_ENDPOINT_URL (and a profile's endpoint_url), so
    the pasted lines alone sent it to ecs.us-east-1.amazonaws.com."""
    _debian_aws()
    env_file = tmp_path / "lab.env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cockpit.cli", "lab", "up", "--no-servers", "--env-file", str(env_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        printed = []
        while not printed or not printed[-1].startswith("# Ctrl+C"):
            line = proc.stdout.readline()  # lab up prints its block, then waits for Ctrl+C
            assert line, proc.stderr.read() if proc.stderr else "lab up exited"
            printed.append(line)
        text = "".join(printed)
        # a shell the user pastes into: a clean HOME, PATH with Debian's aws first
        script = tmp_path / "paste.sh"
        script.write_text("shopt -s expand_aliases\n" + text
                          + "aws ecs describe-services --cluster production --services api\n")
        shell_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
        answer = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                                timeout=60, env=shell_env)
        assert answer.returncode == 0, answer.stderr
        services = json.loads(answer.stdout)["services"]
        assert [s["serviceName"] for s in services] == ["api"]
        assert services[0]["clusterArn"].endswith(":cluster/production")

        # the profile pair: AWS_PROFILE with the two files, and --endpoint-url typed by hand
        env = read_env_file(env_file)
        assert env["AWS_PROFILE"] == "cockpit-lab"
        config = Path(env["AWS_CONFIG_FILE"]).read_text()
        assert "[profile cockpit-lab]" in config and f"endpoint_url = {env['AWS_ENDPOINT_URL']}" in config
        creds = Path(env["AWS_SHARED_CREDENTIALS_FILE"])
        assert "[cockpit-lab]" in creds.read_text() and stat.S_IMODE(creds.stat().st_mode) == 0o600
        profile_only = {**shell_env, **{k: env[k] for k in
                                        ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}}
        assert f"--endpoint-url {env['AWS_ENDPOINT_URL']}" in text
        typed = subprocess.run(
            ["/usr/bin/aws", "--endpoint-url", env["AWS_ENDPOINT_URL"], "ecs", "describe-services",
             "--cluster", "production", "--services", "api"],
            capture_output=True, text=True, timeout=60, env=profile_only,
        )
        assert typed.returncode == 0, typed.stderr
        assert json.loads(typed.stdout)["services"][0]["serviceName"] == "api"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
