"""The audit log: real files, masked secrets, refusal when it cannot be trusted."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cockpit.audit import AuditLog, default_audit_path, mask_secrets
from cockpit.errors import ActionRefused, CockpitError
from cockpit.profile import Profile


def test_default_path_follows_xdg_and_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_audit_path(Profile(name="lab")) == tmp_path / "state/cockpit/audit.jsonl"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_audit_path(None) == tmp_path / "home/.local/state/cockpit/audit.jsonl"
    custom = Profile(name="prod", audit_log="~/audit/prod.jsonl")
    assert default_audit_path(custom) == tmp_path / "home/audit/prod.jsonl"


def test_append_writes_one_complete_line_with_who_and_where(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "audit.jsonl"
    log = AuditLog(path)
    log.check()  # creates the directory and the file
    log.append({"type": "action", "profile": "lab", "action": "service.restart", "outcome": "ok"})
    log.append({"type": "action", "profile": "lab", "action": "service.scale", "outcome": "ok"})
    raw = path.read_text()
    assert raw.endswith("\n") and raw.count("\n") == 2
    first = json.loads(raw.splitlines()[0])
    assert first["user"] and first["host"] and first["time"].endswith("Z")
    assert datetime.fromisoformat(first["time"]) <= datetime.now(UTC)
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # who did what is not world-readable


def test_masking_covers_dsns_keys_and_query_parameters() -> None:
    masked = mask_secrets(
        {
            "dsn": "postgresql://app:s3cr3t@db.internal:5432/orders",
            "redis": "redis://:redispw@127.0.0.1:6379/0",
            "password": "hunter2",
            "aws_secret_access_key": "wJalr",
            "apiKey": "k-123",
            "Authorization": "Bearer abc",
            "desired": 3,
            "nested": [{"token": "t0k"}, "https://s3/x?X-Amz-Signature=deadbeef&part=1"],
            "command": "psql 'host=db password=pw1 dbname=x' --token=zzz",
        }
    )
    text = json.dumps(masked)
    for secret in (
        "s3cr3t",
        "redispw",
        "hunter2",
        "wJalr",
        "k-123",
        "abc",
        "t0k",
        "deadbeef",
        "pw1",
        "zzz",
    ):
        assert secret not in text, secret
    assert masked["dsn"] == "postgresql://app:***@db.internal:5432/orders"
    assert masked["desired"] == 3
    assert masked["nested"][1] == "https://s3/x?X-Amz-Signature=***&part=1"


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    log.append({"params": {"dsn": "postgres://u:topsecret@h/db"}, "error": "auth ?token=abc123"})
    raw = (tmp_path / "a.jsonl").read_text()
    assert "topsecret" not in raw and "abc123" not in raw


def test_check_refuses_directory_path(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").mkdir()
    with pytest.raises(ActionRefused, match="is a directory"):
        AuditLog(tmp_path / "a.jsonl").check()


def test_check_refuses_unwritable_location(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ActionRefused, match="not writable") as info:
        AuditLog(tmp_path / "file" / "a.jsonl").check()
    assert info.value.hint  # says what to do


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 000")
def test_check_refuses_read_only_directory(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(ActionRefused):
            AuditLog(d / "a.jsonl").check()
    finally:
        d.chmod(0o700)


@pytest.mark.parametrize(
    "content",
    ['{"time": "2024-01-01T00:00:00Z"}\nnot json\n', '{"time": "2024-01-01T00:00:00Z"}\n{"ti'],
)
def test_check_refuses_corrupt_tail(tmp_path: Path, content: str) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(content)
    with pytest.raises(ActionRefused) as info:
        AuditLog(path).check()
    assert "mv " in info.value.hint


def test_append_failure_raises_cockpit_error(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").mkdir()
    with pytest.raises(CockpitError, match="cannot write audit log"):
        AuditLog(tmp_path / "a.jsonl").append({"x": 1})


def test_alarm_transitions_and_read_filters(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    t0 = datetime(2024, 5, 1, 3, 12, tzinfo=UTC)
    log.record_alarm_transition("lab", "cw/api-cpu", "api-cpu", "OK", "ALARM", t0, "CPU 93 > 80")
    log.record_alarm_transition(
        "prod", "cw/db-conn", "db-conn", "OK", "ALARM", t0 + timedelta(minutes=1), ""
    )
    log.record_alarm_transition(
        "lab", "cw/api-cpu", "api-cpu", "ALARM", "OK", t0 + timedelta(minutes=8), ""
    )
    with open(tmp_path / "a.jsonl", "a") as f:
        f.write("garbage\n")  # a reader skips and counts it; only actions refuse on it
    everything = log.read()
    assert [e["to"] for e in everything] == ["ALARM", "ALARM", "OK"]
    assert log.skipped == 1
    assert everything[0] | {"user": "", "host": ""} == {
        "type": "alarm",
        "time": "2024-05-01T03:12:00.000Z",
        "user": "",
        "host": "",
        "profile": "lab",
        "alarm": "cw/api-cpu",
        "name": "api-cpu",
        "from": "OK",
        "to": "ALARM",
        "reason": "CPU 93 > 80",
        "severity": "",
        "resource": "",
    }
    assert [e["name"] for e in log.read(profile="lab")] == ["api-cpu", "api-cpu"]
    assert [e["to"] for e in log.read(since=t0 + timedelta(minutes=5))] == ["OK"]


def test_read_of_missing_file_is_empty(tmp_path: Path) -> None:
    assert AuditLog(tmp_path / "none.jsonl").read() == []


def test_alarm_tracker_records_fire_change_and_clear(tmp_path):
    from datetime import UTC, datetime

    from cockpit.audit import AlarmTracker, AuditLog
    from cockpit.model import Alarm, Severity

    audit = AuditLog(tmp_path / "audit.jsonl")
    tracker = AlarmTracker(audit, "lab")
    t = datetime(2026, 11, 25, 3, 12, tzinfo=UTC)
    firing = Alarm("api-high-cpu", "aws:alarms", Severity.CRITICAL, "ALARM", "CPU 93 > 80", since=t)
    assert [e["to"] for e in tracker.observe("aws:alarms", [firing])] == ["ALARM"]
    assert tracker.observe("aws:alarms", [firing]) == []  # unchanged: nothing written
    cleared = tracker.observe("aws:alarms", [])
    assert [(e["from"], e["to"]) for e in cleared] == [("ALARM", "OK")]
    entries = audit.read()
    assert [e["to"] for e in entries] == ["ALARM", "OK"]
    assert entries[0]["severity"] == "critical" and entries[0]["reason"] == "CPU 93 > 80"


def test_a_restart_does_not_record_a_firing_alarm_again(tmp_path):
    from datetime import UTC, datetime

    from cockpit.audit import AlarmTracker, AuditLog
    from cockpit.model import Alarm, Severity

    audit = AuditLog(tmp_path / "audit.jsonl")
    firing = Alarm("api-high-cpu", "aws:alarms", Severity.CRITICAL, "ALARM", "CPU 93 > 80",
                   since=datetime.now(UTC))
    AlarmTracker(audit, "lab").observe("aws:alarms", [firing])
    # the cockpit restarts: the alarm is still firing, so nothing new is written ...
    assert AlarmTracker(audit, "lab").observe("aws:alarms", [firing]) == []
    # ... and one that cleared while it was down is recorded as cleared
    assert [e["to"] for e in AlarmTracker(audit, "lab").observe("aws:alarms", [])] == ["OK"]
