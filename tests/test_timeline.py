"""The incident timeline built from a scripted incident written through the real audit log."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cockpit.audit import AuditLog, utc_iso
from cockpit.timeline import (
    build_timeline,
    filter_events,
    main_timeline,
    parse_since,
    to_jsonl,
    to_markdown,
)

T = datetime(2024, 5, 1, 3, 12, 4, tzinfo=UTC)

EXPECTED_MD = """\
# Incident report

**Profile:** lab
**Severity:** critical (highest alarm severity; assess the incident level)
**Start time:** 2024-05-01 03:12 UTC
**End time:** 2024-05-01 03:20 UTC
**Duration:** 8 min

## Summary

1 alarm fired (api-cpu-high); 1 action attempted (1 ok).

## Impact

_To be completed: who and what was affected, and for how long._

## Root cause

_To be completed._

## Timeline

Times are UTC.

- 03:12 - Alarm api-cpu-high fired (OK -> ALARM): Threshold Crossed: CPUUtilization 93.1 > 80
- 03:15 - service: restart api by alice: ok
- 03:20 - Alarm api-cpu-high cleared (ALARM -> OK)

## Resolution

Actions that succeeded: service: restart api (03:15). Every alarm had cleared by 03:20.

## Action items

- [ ] _To be completed._
"""


def script_incident(log: AuditLog, profile: str = "lab", start: datetime = T) -> None:
    """An alarm fires at 03:12, the on-call engineer restarts api at 03:15, it clears at 03:20."""
    log.record_alarm_transition(
        profile,
        "aws:cloudwatch/api-cpu-high",
        "api-cpu-high",
        "OK",
        "ALARM",
        start,
        "Threshold Crossed: CPUUtilization 93.1 > 80",
        severity="critical",
        resource="api",
    )
    log.append(
        {
            "type": "action",
            "time": (start + timedelta(minutes=3, seconds=26)).isoformat(),
            "user": "alice",
            "profile": profile,
            "action": "service.restart",
            "target": "api",
            "resource": "aws:ecs:production/production/api",
            "params": {},
            "command": "aws ecs update-service --cluster production --service api --force-new-deployment",
            "outcome": "ok",
            "error": "",
            "duration_s": 0.41,
            "origin": "palette",
        }
    )
    log.record_alarm_transition(
        profile,
        "aws:cloudwatch/api-cpu-high",
        "api-cpu-high",
        "ALARM",
        "OK",
        start + timedelta(minutes=7, seconds=56),
        "Threshold Crossed: back to normal",
    )


def test_scripted_incident_markdown(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    script_incident(log)
    events = build_timeline(log.read(profile="lab"))
    assert to_markdown(events, "lab") == EXPECTED_MD


def test_events_sorted_by_time_even_when_written_out_of_order(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record_alarm_transition("lab", "a/late", "late", "OK", "ALARM", T + timedelta(hours=1))
    script_incident(log)
    assert [e.subject for e in build_timeline(log.read())][-1] == "late"


def test_ongoing_incident_says_so(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record_alarm_transition("lab", "a/q", "queue-depth", "OK", "ALARM", T, "depth 1500")
    md = to_markdown(build_timeline(log.read()), "lab")
    assert "**End time:** ongoing (queue-depth still firing)" in md
    assert "Still firing: queue-depth." in md


def test_empty_timeline_is_still_a_report() -> None:
    md = to_markdown([], "lab")
    assert md.startswith("# Incident report\n") and "- (no events)" in md


def test_jsonl_fields(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    script_incident(log)
    rows = [json.loads(x) for x in to_jsonl(build_timeline(log.read())).splitlines()]
    assert [r["type"] for r in rows] == ["alarm", "action", "alarm"]
    assert rows[1] == {
        "event_time": "2024-05-01T03:15:30.000Z",
        "type": "action",
        "summary": "service: restart api by alice: ok",
        "actor": "alice",
        "resources": ["aws:ecs:production/production/api"],
        "outcome": "ok",
        "profile": "lab",
    }
    assert rows[0]["resources"] == ["aws:cloudwatch/api-cpu-high", "api"]


def test_filter_by_text(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    script_incident(log)
    events = build_timeline(log.read())
    assert len(filter_events(events, "")) == 3
    assert [e.type for e in filter_events(events, "ALICE")] == ["action"]
    assert len(filter_events(events, "api-cpu")) == 2


def test_parse_since() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2024-05-01T03:00", now) == datetime(2024, 5, 1, 3, 0, tzinfo=UTC)


def test_cli_prints_markdown_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    recent = datetime.now(UTC) - timedelta(minutes=30)
    script_incident(log, start=recent)
    script_incident(log, profile="other", start=recent)
    script_incident(log, start=recent - timedelta(days=2))  # outside --since 2h

    audit = str(tmp_path / "audit.jsonl")
    assert (
        main_timeline(["--since", "2h", "--format", "md", "--profile", "lab", "--audit", audit])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("# Incident report\n") and out.count("service: restart api") == 2

    # Without --profile: the profile `cockpit` opens (the lab); --all: every profile.
    assert main_timeline(["--since", "2h", "--format", "json", "--audit", audit]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and {r["profile"] for r in rows} == {"lab"}
    assert main_timeline(["--since", "2h", "--format", "json", "--all", "--audit", audit]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 6 and {r["profile"] for r in rows} == {"lab", "other"}


def test_cli_bad_since(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main_timeline(["--since", "yesterday", "--audit", str(tmp_path / "a")]) == 2
    assert "--since" in capsys.readouterr().err


# --- the timeline screen -----------------------------------------------------------------


async def test_timeline_screen_filters_and_exports(tmp_path: Path) -> None:
    from textual.app import App
    from textual.widgets import DataTable, Static

    from screens.timeline import TimelineScreen

    from .helpers import wait_until

    log = AuditLog(tmp_path / "audit.jsonl")
    recent = datetime.now(UTC) - timedelta(minutes=30)
    script_incident(log, start=recent)
    script_incident(log, profile="other", start=recent)
    out = tmp_path / "exports"
    out.mkdir()

    class Host(App[None]):
        def compose(self):
            yield Static("cockpit")

    app = Host()
    async with app.run_test() as pilot:
        screen = TimelineScreen(log, "lab", export_dir=out)
        await app.push_screen(screen)
        table = screen.query_one("#timeline", DataTable)
        await wait_until(lambda: table.row_count == 3, 5)
        assert "api-cpu-high fired" in str(table.get_row_at(0)[2])

        await pilot.press("slash", *"alice")
        await wait_until(lambda: table.row_count == 1, 5)
        await pilot.press("enter")  # back to the table, filter kept
        await pilot.press("m")
        await wait_until(lambda: list(out.glob("*.md")), 5)
        await pilot.press("j")
        await wait_until(lambda: list(out.glob("*.jsonl")), 5)

        [md] = out.glob("incident-lab-*.md")
        assert "- " + f"{recent + timedelta(minutes=3, seconds=26):%H:%M}" in md.read_text()
        assert "Alarm" not in md.read_text().split("## Timeline")[1].split("## Resolution")[0]
        [jl] = out.glob("incident-lab-*.jsonl")
        assert [json.loads(x)["actor"] for x in jl.read_text().splitlines()] == ["alice"]

        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not screen


def test_cli_uses_the_profiles_audit_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "prod-audit.jsonl"
    config = tmp_path / "profiles.yaml"
    config.write_text(f"default: prod\nprofiles:\n  prod:\n    audit_log: {audit}\n")
    script_incident(AuditLog(audit), profile="prod", start=datetime.now(UTC) - timedelta(minutes=5))
    argv = ["--since", "1h", "--format", "json", "--profile", "prod", "--config", str(config)]
    assert main_timeline(argv) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main_timeline(["--profile", "nope", "--config", str(config)]) == 2
    assert "unknown profile" in capsys.readouterr().err


# --- estate text in the Markdown export ----------------------------------------------------


def test_markdown_export_escapes_html_and_link_syntax(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record_alarm_transition(
        "lab", "am/x", "<img src=x onerror=alert(1)>", "", "FIRING", T,
        "see [x](javascript:alert(1)) and <script>alert(2)</script>",
    )  # fmt: skip
    md = to_markdown(build_timeline(log.read()), "lab")
    assert "<img" not in md and "<script>" not in md
    assert not re.search(r"(?<!\\)\[x(?<!\\)\]\(", md)  # no link survives
    # Still readable: the characters are escaped, not dropped.
    assert "ongoing (&lt;img src=x onerror=alert(1)> still firing)" in md
    assert r"fired (? -> FIRING): see \[x\](javascript:alert(1)) and &lt;script>" in md


# --- one cockpit's timeline: sessions and profiles -------------------------------------------


def test_alarms_of_another_cockpit_do_not_mix_into_this_ones_timeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    now = datetime.now(UTC)
    # An older lab cockpit saw other pods fire; it never saw them clear (it was closed).
    older = AuditLog(path, session="20261207T010000.000Z-101-aaaa")
    older.record_alarm_transition("lab", "k8s/pod-a", "pod-a", "", "FIRING", now - timedelta(minutes=50))
    older.record_alarm_transition("lab", "k8s/pod-b", "pod-b", "", "FIRING", now - timedelta(minutes=40))
    # This cockpit, started later, sees pod-b (its own estate's) fire; the old one clears it.
    newer = AuditLog(path, session="20261207T020000.000Z-202-bbbb")
    newer.record_alarm_transition("lab", "k8s/pod-b", "pod-b", "", "FIRING", now - timedelta(minutes=20))
    older.record_alarm_transition("lab", "k8s/pod-b", "pod-b", "FIRING", "OK", now - timedelta(minutes=10))
    # Actions of every session of the profile stay: they changed the estate.
    older.append({"type": "action", "phase": "finished", "profile": "lab", "action": "pod.delete",
                  "target": "pod-a", "outcome": "ok", "time": utc_iso(now - timedelta(minutes=45))})

    assert main_timeline(["--since", "2h", "--audit", str(path)]) == 0
    md = capsys.readouterr().out
    assert "**End time:** ongoing (pod-b still firing)" in md
    assert "pod-a still firing" not in md and "pod-a fired" not in md
    assert "pod: delete pod-a" in md
    assert main_timeline(["--since", "2h", "--all", "--format", "json", "--audit", str(path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_every_line_says_its_session_and_old_lines_still_read(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    # Written before lines carried a session or a phase.
    path.write_text(json.dumps({
        "time": "2024-05-01T03:12:00Z", "type": "alarm", "profile": "lab", "alarm": "a/x",
        "name": "x", "from": "OK", "to": "ALARM"}) + "\n" + json.dumps({
        "time": "2024-05-01T03:13:00Z", "type": "action", "profile": "lab", "user": "bob",
        "action": "service.restart", "target": "api", "outcome": "ok"}) + "\n")  # fmt: skip
    log = AuditLog(path)
    events = build_timeline(log.read(profile="lab"))
    assert [e.summary for e in events] == [
        "Alarm x fired (OK -> ALARM)", "service: restart api by bob: ok"
    ]
    # A cockpit's log writes its session and profile on every line (the app passes both).
    written = AuditLog(path, profile="lab").append({"type": "note", "summary": "hello"})
    assert written["session"] == log.session and written["profile"] == "lab"


async def test_timeline_screen_shows_this_cockpits_alarms(tmp_path: Path) -> None:
    from textual.app import App
    from textual.widgets import DataTable, Static

    from screens.timeline import TimelineScreen

    from .helpers import wait_until

    path = tmp_path / "audit.jsonl"
    now = datetime.now(UTC)
    other = AuditLog(path, session="20261207T090000.000Z-9-ffff")  # another cockpit, newer
    other.record_alarm_transition("lab", "k8s/pod-a", "pod-a", "", "FIRING", now - timedelta(minutes=9))
    mine = AuditLog(path, session="20261207T080000.000Z-8-eeee")
    mine.record_alarm_transition("lab", "k8s/pod-b", "pod-b", "", "FIRING", now - timedelta(minutes=5))

    class Host(App[None]):
        def compose(self):
            yield Static("cockpit")

    app = Host()
    async with app.run_test():
        screen = TimelineScreen(mine, "lab", export_dir=tmp_path)
        await app.push_screen(screen)
        table = screen.query_one("#timeline", DataTable)
        await wait_until(lambda: table.row_count >= 1, 5)
        assert [str(table.get_row_at(i)[2]) for i in range(table.row_count)] == [
            "Alarm pod-b fired (? -> FIRING)"
        ]
