"""The incident timeline as the on-call engineer reads it after a drill: what trying the merged
PagerDuty work on the lab showed to be out of order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cockpit.audit import AlarmTracker, AuditLog, parse_time
from cockpit.model import Alarm, Severity


def _page(state: str, since: datetime) -> Alarm:
    return Alarm(name="#1001 api-service-down", source="pagerduty", severity=Severity.CRITICAL,
                 state=state, reason="high urgency, assigned to Ada Trainee", since=since)


def test_a_page_acknowledged_later_is_dated_when_it_was_seen_acknowledged(tmp_path: Path) -> None:
    """A PagerDuty incident keeps its creation time through every state: its acknowledgement
    was dated then, so the timeline showed it before the drill that paged (and before the
    `pagerduty: acknowledge` action that made it)."""
    audit = AuditLog(tmp_path / "audit.jsonl", profile="lab")
    tracker = AlarmTracker(audit, "lab")
    created = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    (first,) = tracker.observe("pagerduty", [_page("triggered", created)])
    assert parse_time(first["time"]) == created  # first seen: its own time
    seen = datetime.now(UTC)
    (ack,) = tracker.observe("pagerduty", [_page("acknowledged", created)])
    assert parse_time(ack["time"]) >= seen - timedelta(seconds=1), ack["time"]


def test_an_alarm_whose_source_dates_each_change_keeps_its_own_time(tmp_path: Path) -> None:
    """CloudWatch dates every state change itself (StateUpdatedTimestamp): kept as it is."""
    audit = AuditLog(tmp_path / "audit.jsonl", profile="lab")
    tracker = AlarmTracker(audit, "lab")
    t0 = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    t1 = t0 + timedelta(minutes=3)
    cw = Alarm(name="api-cpu", source="cw", severity=Severity.WARNING, state="INSUFFICIENT_DATA",
               reason="", since=t0)
    tracker.observe("cw", [cw])
    (alarm,) = tracker.observe("cw", [Alarm(name="api-cpu", source="cw", severity=Severity.CRITICAL,
                                            state="ALARM", reason="", since=t1)])
    assert parse_time(alarm["time"]) == t1


def test_help_says_the_posted_report_is_in_slacks_formatting() -> None:
    """The report goes to Slack in Slack's own formatting (bold lines, bullets); help and the
    palette said "the timeline's Markdown", which is what the channel no longer shows."""
    from cockpit.registry import INCIDENT_POST_REPORT

    assert "Markdown" not in INCIDENT_POST_REPORT.description
    assert "Slack's own formatting" in INCIDENT_POST_REPORT.description


def test_the_alarms_estate_column_shows_an_estate_whole_in_a_grid_pane() -> None:
    """On lab-two-regions at 160x48 the Alarms pane (71 cells) showed Kubernetes rows' estate
    `lab-simulated` as `lab-si`: a name the profile does not have, and two estates that share
    their first letters (prod-eu-west-1, prod-eu-west-2) could not be told apart."""
    from widgets.alarms import AlarmsPane
    from widgets.columns import fit_columns
    from widgets.pane import ESTATE_COL

    cols = list(AlarmsPane.columns)
    cols.insert(AlarmsPane.estate_at or 0, ESTATE_COL)
    prefs = [15, 60, len("lab-simulated"), 12, 120]  # the widest cell of each column so far
    widths = fit_columns(cols, prefs, 69)
    assert widths[2] == len("lab-simulated"), widths
    assert widths[1] is not None and widths[1] >= 20  # the alarm's name keeps its minimum


def test_cockpit_check_says_a_stacks_state_once() -> None:
    """`cockpit check --profile lab` printed "UPDATE_ROLLBACK_FAILED: UPDATE_ROLLBACK_FAILED:
    The following resource(s)...": the CloudFormation reason already leads with the state."""
    from cockpit.check import findings_for

    stack = Alarm(name="stack app-queues", source="stacks", severity=Severity.CRITICAL,
                  state="UPDATE_ROLLBACK_FAILED",
                  reason="UPDATE_ROLLBACK_FAILED: The following resource(s) failed to update: [JobsQueue].")
    (finding,) = findings_for(stack)
    assert finding.text == stack.reason
    cw = Alarm(name="api-cpu", source="cw", severity=Severity.CRITICAL, state="ALARM", reason="Threshold Crossed")
    (finding,) = findings_for(cw)
    assert finding.text == "ALARM: Threshold Crossed"


def test_explain_of_the_alarms_pane_names_what_fills_it() -> None:
    """A trainee pressing `e` on the lab's Alarms pane read that it shows "CloudWatch alarms
    ... and the cockpit's own threshold alarms", beside a Sentry spike and a PagerDuty page."""
    from cockpit.explain import PANES
    from cockpit.model import PaneKind

    what, replaces = PANES[PaneKind.ALARMS]
    for source in ("CloudWatch", "Kubernetes", "Alertmanager", "Prometheus", "Sentry", "PagerDuty"):
        assert source in what, source
    assert "sentry-cli" in replaces and "pagerduty" in replaces.lower()
