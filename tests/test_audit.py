"""The audit log: real files, masked secrets, refusal when it cannot be trusted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cockpit.audit import AuditLog, default_audit_path, utc_iso
from cockpit.errors import ActionRefused, CockpitError
from cockpit.masking import mask_secrets
from cockpit.profile import Profile
from cockpit.timeline import build_timeline
from tests.helpers import wait_until_sync

ROOT = Path(__file__).resolve().parent.parent


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


def run_child(audit: Path, *check: str, fsize: int | None = None) -> subprocess.Popen[str]:
    """A cockpit's ActionRunner in its own process group (tests/audit_child.py)."""
    argv = [sys.executable, "-m", "tests.audit_child", str(audit)]
    if fsize is not None:
        argv += ["--fsize", str(fsize)]
    return subprocess.Popen(
        [*argv, "--", *check], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip


def test_a_full_disk_blocks_the_action_before_it_runs(tmp_path: Path) -> None:
    # A file-size limit at the log's current size: opening works, writing fails (EFBIG),
    # exactly like a full disk. Root is not exempt, unlike chmod.
    path = tmp_path / "audit.jsonl"
    AuditLog(path).append({"type": "note", "profile": "lab", "summary": "shift started"})
    before = path.read_bytes()
    marker = tmp_path / "the-action-ran"
    child = run_child(path, "touch", str(marker), fsize=len(before))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    outcome = json.loads(out)
    assert not marker.exists(), "the action ran although its audit line could not be written"
    assert outcome["status"] == "refused" and not outcome["audited"]
    assert "did not run" in outcome["message"]
    assert path.read_bytes() == before


def test_kill_9_during_an_action_leaves_its_started_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    child = run_child(path, "sleep", "15")
    try:
        # The started line is fsynced before the check runs: wait for it, then kill -9.
        wait_until_sync(lambda: path.exists() and b"sleep 15" in path.read_bytes(), 30)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the orphaned sleep, in the child's group
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
    [line] = [json.loads(x) for x in path.read_text().splitlines()]
    assert line["phase"] == "started" and line["action"] == "host.run_check"
    assert line["command"] == "sleep 15" and line["target"] == "box" and line["user"]
    assert line["session"]
    [event] = build_timeline(AuditLog(path).read())
    assert event.outcome == "unknown"
    assert "outcome unknown (the cockpit stopped)" in event.summary
    # The cockpit that is running it (its own timeline screen) says so instead.
    [live] = build_timeline(AuditLog(path).read(), live=line["session"])
    assert "outcome unknown (still running)" in live.summary


def test_a_long_alarm_reason_does_not_make_the_log_look_corrupt(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    reason = "summary " + "x" * 100_000  # an alert summary from the estate, 100 KB
    entry = log.record_alarm_transition("lab", "am/big", "big", "", "FIRING", None, reason)
    log.check()  # actions are still allowed
    assert len(entry["reason"]) <= 4096 + 64
    assert len((tmp_path / "a.jsonl").read_bytes()) < 8192


def test_the_tail_check_reads_a_long_last_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"time": "2024-01-01T00:00:00Z", "note": "y" * 200_000}) + "\n")
    AuditLog(path).check()


def test_a_corrupt_last_line_is_not_healed_by_an_alarm_or_a_note(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"time": "2024-01-01T00:00:00Z"}\n{"ti')
    log = AuditLog(path)
    with pytest.raises(ActionRefused, match="torn line"):
        log.record_alarm_transition("lab", "cw/cpu", "cpu", "OK", "ALARM", None, "")
    with pytest.raises(ActionRefused, match="torn line"):
        log.append({"type": "note", "profile": "lab", "summary": "tick"})
    with pytest.raises(ActionRefused, match="torn line"):
        log.check()  # still refused: nothing papered over the torn line
    assert path.read_text().endswith('{"ti')


def test_a_symlinked_audit_path_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text("")
    (tmp_path / "a.jsonl").symlink_to(elsewhere)
    log = AuditLog(tmp_path / "a.jsonl")
    with pytest.raises(ActionRefused, match="symbolic link"):
        log.check()
    with pytest.raises(CockpitError, match="symbolic link"):
        log.append({"type": "note", "profile": "lab", "summary": "x"})
    assert elsewhere.read_text() == ""


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
    with pytest.raises(CockpitError, match="is a directory"):
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
        "session": log.session,
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


def test_a_rebuilt_tracker_does_not_record_a_firing_alarm_again(tmp_path):
    from datetime import UTC, datetime

    from cockpit.audit import AlarmTracker, AuditLog
    from cockpit.model import Alarm, Severity

    audit = AuditLog(tmp_path / "audit.jsonl")
    firing = Alarm("api-high-cpu", "aws:alarms", Severity.CRITICAL, "ALARM", "CPU 93 > 80",
                   since=datetime.now(UTC))
    AlarmTracker(audit, "lab").observe("aws:alarms", [firing])
    # the same cockpit builds its tracker again: the alarm is still firing, nothing new ...
    assert AlarmTracker(audit, "lab").observe("aws:alarms", [firing]) == []
    # ... and one that cleared meanwhile is recorded as cleared
    assert [e["to"] for e in AlarmTracker(audit, "lab").observe("aws:alarms", [])] == ["OK"]


def test_a_new_cockpit_records_what_it_sees_in_its_own_session(tmp_path):
    from datetime import UTC, datetime, timedelta

    from cockpit.audit import AlarmTracker, AuditLog
    from cockpit.model import Alarm, Severity
    from cockpit.timeline import build_timeline, one_cockpit

    path = tmp_path / "audit.jsonl"
    fired_at = datetime.now(UTC) - timedelta(minutes=20)
    firing = Alarm("api-high-cpu", "aws:alarms", Severity.CRITICAL, "ALARM", "CPU 93 > 80",
                   since=fired_at)
    old = AuditLog(path, session="20261207T010000.000Z-1-aaaa")
    AlarmTracker(old, "lab").observe("aws:alarms", [firing])
    # A cockpit started later (another session) sees the same alarm: it says so in its own
    # session, dated when the alarm fired, so its timeline has it.
    new = AuditLog(path, session="20261207T020000.000Z-2-bbbb")
    [line] = AlarmTracker(new, "lab").observe("aws:alarms", [firing])
    assert line["session"] == new.session and line["to"] == "ALARM"
    assert line["time"] == utc_iso(fired_at)
    [event] = build_timeline(one_cockpit(new.read()))
    assert event.summary.startswith("Alarm api-high-cpu fired")
