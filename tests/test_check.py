"""`cockpit check` against the running lab: what cron sees (output and exit code)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.check import CheckReport, Finding, findings_for, main_check
from cockpit.lab import Lab, start_lab
from cockpit.lab.seed import ALARMS
from cockpit.model import Alarm, DatabaseSnapshot, QueueStatus, ServiceStatus, Severity

from .conftest import skip_or_fail
from .fixtures.moto import aws_client, drain_queue

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = start_lab(with_servers=True)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(autouse=True)
def _lab_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # The profiles below are not `lab: true`, so boto3 reads keys from the environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _config(
    tmp_path: Path, endpoint: str, dsn: str | None, redis_url: str | None, timeout: float = 4
) -> Path:
    lines = [
        "default: estate",
        "profiles:",
        "  estate:",
        f"    timeout: {timeout}",
        "    aws:",
        "      region: us-east-1",
        f"      endpoint_url: {endpoint}",
        "      ecs: [{cluster: production}]",
        "      alarms: {states: [ALARM, INSUFFICIENT_DATA]}",
        "      sqs: [{queue: jobs, dlq: jobs-dlq}]",
        "      rds: [prod-postgresql]",
    ]
    if dsn:
        lines.append(f"    databases: [{{name: main, dsn: '{dsn}'}}]")
    if redis_url:
        lines.append(f"    redis: [{{name: cache, url: '{redis_url}'}}]")
    path = tmp_path / "profiles.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _calm(lab: Lab) -> None:
    """Every alarm OK and the dead-letter queue empty: the estate on a good morning."""
    cw = aws_client(lab.aws_endpoint, "cloudwatch")
    for alarm in ALARMS:
        cw.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="OK", StateReason="calm")
    sqs = aws_client(lab.aws_endpoint, "sqs")
    drain_queue(sqs, sqs.get_queue_url(QueueName="jobs-dlq")["QueueUrl"])


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main_check(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _need_servers(lab: Lab) -> None:
    if not lab.postgres_dsn or not lab.redis_url:
        skip_or_fail(f"the lab has no PostgreSQL/Redis here: {lab.notes}")


def test_all_clear_exits_0_in_every_format(lab: Lab, tmp_path: Path) -> None:
    _need_servers(lab)
    _calm(lab)
    cfg = str(_config(tmp_path, lab.aws_endpoint, lab.postgres_dsn, lab.redis_url))

    code, text, err = _run("--config", cfg, "--format", "text")
    assert code == 0, text
    assert "estate: OK" in text and "0 critical, 0 warnings" in text
    assert "dead letters 0 (jobs-dlq)" in text
    assert "main: connections" in text and "blocked sessions 0" in text
    assert err == ""  # stderr is not a TTY: no progress

    code, out, _ = _run("--config", cfg, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "ok" and doc["exit_code"] == 0 and doc["problems"] == []
    assert doc["unchecked"] == []
    assert doc["services_ok"] == 2
    queue = next(f for f in doc["figures"] if f["kind"] == "queue" and f["name"] == "jobs")
    assert "dead letters 0" in queue["text"]

    code, md, _ = _run("--config", cfg, "--format", "markdown")
    assert code == 0
    assert md.startswith("# Health check: estate: OK")
    assert "Nothing needs attention." in md


def test_alarm_firing_exits_2_and_dlq_messages_exit_1(lab: Lab, tmp_path: Path) -> None:
    _calm(lab)
    cfg = str(_config(tmp_path, lab.aws_endpoint, lab.postgres_dsn, lab.redis_url))
    sqs = aws_client(lab.aws_endpoint, "sqs")
    dlq = sqs.get_queue_url(QueueName="jobs-dlq")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"failed job {i}")

    code, text, _ = _run("--config", cfg)
    assert code == 1, text
    assert "WARNING" in text and "dead letters 3 (jobs-dlq)" in text
    # warnings do not fail a check that only cares about critical
    assert _run("--config", cfg, "--fail-on", "critical")[0] == 0

    cw = aws_client(lab.aws_endpoint, "cloudwatch")
    cw.set_alarm_state(AlarmName="api-high-cpu", StateValue="ALARM", StateReason="CPU 97 %")
    try:
        code, out, _ = _run("--config", cfg, "--format", "json", "--fail-on", "critical")
        assert code == 2
        doc = json.loads(out)
        assert doc["status"] == "critical"
        firing = [p for p in doc["problems"] if p["kind"] == "alarm"]
        assert firing == [
            {"severity": "critical", "kind": "alarm", "name": "api-high-cpu",
             "text": "ALARM: CPU 97 %", "source": firing[0]["source"]}
        ]
        code, md, _ = _run("--config", cfg, "--format", "markdown")
        assert code == 2
        assert "| CRITICAL | alarm | api-high-cpu | ALARM: CPU 97 % |" in md
    finally:
        cw.set_alarm_state(AlarmName="api-high-cpu", StateValue="OK", StateReason="calm")
        drain_queue(sqs, dlq)


def test_unreachable_sources_exit_3_and_are_listed(lab: Lab, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    cfg = str(_config(tmp_path, f"http://127.0.0.1:{closed}", None, None, timeout=1.5))
    # the database is unreachable too; the AWS sources are all on the closed port
    text = Path(cfg).read_text() + f"    databases: [{{name: main, dsn: 'postgresql://x@127.0.0.1:{closed}/x'}}]\n"
    Path(cfg).write_text(text)
    code, out, _ = _run("--config", cfg)
    assert code == 3, out
    assert "INCOMPLETE" in out and "not checked:" in out
    listed = out.split("not checked:")[1]
    for what in ("(aws:", "main"):
        assert what in listed

    code, out, _ = _run("--config", cfg, "--format", "json")
    doc = json.loads(out)
    assert code == 3 and doc["status"] == "incomplete" and doc["checked"] == []
    assert {u["source"].split(":")[0] for u in doc["unchecked"]} >= {"aws", "pg"}


def test_lab_profile_starts_and_stops_its_own_lab() -> None:
    # The seeded lab has its error-rate alarm firing; stderr (a pipe, not a TTY) stays quiet.
    proc = subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "check", "--profile", "lab", "--format", "json"],
        capture_output=True, text=True, timeout=90, cwd=ROOT,
    )
    assert proc.returncode in (2, 3), proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert any(p["name"] == "api-5xx-error-rate" for p in doc["problems"])
    assert proc.stderr == ""
    if proc.returncode == 3:  # only when PostgreSQL/Redis are not installed
        assert all(u["source"].startswith("lab:") for u in doc["unchecked"])


def test_findings_from_records() -> None:
    svc = ServiceStatus("api", "ecs", "s", Severity.CRITICAL, "down", 0, 2)
    assert findings_for(svc)[0].text == "down: running 0/2"
    assert findings_for(ServiceStatus("api", "ecs", "s", Severity.OK, "healthy", 2, 2)) == []
    assert findings_for(Alarm("a", "s", Severity.OK, "OK", "")) == []
    nodata = findings_for(Alarm("p95", "s", Severity.UNKNOWN, "INSUFFICIENT_DATA", ""))[0]
    q = findings_for(QueueStatus("jobs", "sqs", "s", 5, 0, "jobs-dlq", 0))[0]
    assert not q.problem and "dead letters 0" in q.text
    db = findings_for(DatabaseSnapshot("m", "postgres", "s", 80, 100, blocked=2, severity=Severity.WARNING))[0]
    assert db.text == "connections 80/100 (80 %), blocked sessions 2"

    report = CheckReport("p", started=__import__("datetime").datetime.now())
    report.findings.append(nodata)
    assert report.exit_code() == 1 and report.exit_code("critical") == 0  # no data is a warning
    report.findings.append(Finding(Severity.CRITICAL, "health", "api", "HTTP 503"))
    assert report.exit_code("critical") == 2


def test_a_plain_install_asks_for_the_lab_extra() -> None:
    # moto is the [lab] extra: without it the lab profile says the command that installs it.
    code = (
        "import sys; sys.modules['moto'] = None\n"
        "from cockpit.cli import main\n"
        "sys.exit(main(['check', '--profile', 'lab']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode != 0
    assert "pip install 'ops-cockpit[lab]'" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
