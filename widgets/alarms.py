"""Alarms pane: what is firing now, worst first (critical, warning, no data, ok), then the
oldest first; "since" carries a date when it is not today."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType

from cockpit.model import Alarm, PaneKind, Severity
from widgets.keyed_table import Col
from widgets.pane import TablePane, action_bindings, plain

_STATE_LABELS = {"ALARM": "alarm", "INSUFFICIENT_DATA": "no data", "OK": "ok"}
# A CloudFormation state is up to 44 characters: the column says it in a readable word and
# the backend puts the exact AWS state first in the reason (and the detail lists it), so a
# whole status word leaves the alarm name its room at 120 columns.
_IN_PROGRESS = {"CREATE": "creating", "UPDATE": "updating", "DELETE": "deleting",
                "ROLLBACK": "rolling back", "UPDATE_ROLLBACK": "rolling back",
                "IMPORT": "importing", "IMPORT_ROLLBACK": "rolling back", "REVIEW": "in review"}  # fmt: skip


def state_label(state: str) -> str:
    """The status word of an alarm's state, short and whole (``no data``, ``rollback failed``)."""
    if state in _STATE_LABELS:
        return _STATE_LABELS[state]
    if state.isupper() and state.endswith("_IN_PROGRESS"):
        step = state.removesuffix("_IN_PROGRESS")
        if step.endswith("_CLEANUP"):
            return "cleaning up"
        return _IN_PROGRESS.get(step, step.lower().replace("_", " "))
    if state.isupper() and state.endswith("ROLLBACK_FAILED"):
        return "rollback failed"  # UPDATE_, IMPORT_ or the create's own rollback
    return state.lower()
# Severity's own order puts UNKNOWN above CRITICAL (max() of several must not hide "no
# data"); in the pane an alarm that fires comes before one that cannot tell.
_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.UNKNOWN: 2, Severity.INFO: 3,
         Severity.OK: 4}  # fmt: skip
_NEVER = datetime.max.replace(tzinfo=UTC)
_RECENT = timedelta(days=180)


def now() -> datetime:
    """The pane's clock (tests fix it)."""
    return datetime.now(UTC)


def alarm_order(a: Alarm) -> tuple[int, datetime, str]:
    """Sort key: worst first, then the longest standing (no "since": last), then the name."""
    return _RANK.get(a.severity, 5), a.since or _NEVER, a.name


def since_text(since: datetime | None, at: datetime) -> str:
    """``since`` in local time: ``19:28`` today, ``Dec 06 19:28`` within half a year, else
    the full date."""
    if since is None:
        return "–"
    local, today = since.astimezone(), at.astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if abs(at - since) < _RECENT:  # as ls -l: a month and day are clear within half a year
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


class AlarmsPane(TablePane[Alarm]):
    kind = PaneKind.ALARMS
    record_type = Alarm
    title = "Alarms"
    BINDINGS: ClassVar[list[BindingType]] = [*action_bindings(Alarm)]
    noun = "alarms"
    empty = ("no alarm sources: add aws.alarms, prometheus, alertmanager, health, kubernetes or hosts"
             " to the profile")
    estate_at = 2  # after the name, with several estates
    columns = [
        # The whole alarm name first; the reason has what is left (whole in the detail).
        Col("severity", 9, 0, max=18),  # "✖ rollback failed" whole
        Col("alarm", 20, 0, max=60),
        Col("since", 12, 2),  # "Nov 25 03:12" when not today: dropped rather than cut
        Col("reason", 16, 3, grow=True),
    ]
    _day: date | None = None

    def sort(self, records: list[Alarm]) -> list[Alarm]:
        return sorted(records, key=alarm_order)

    def render_records(self, now_s: float | None = None) -> None:
        # Rows are cached by record; "since 19:28" must become "Dec 06 19:28" at midnight
        # although the record is the same.
        day = now().astimezone().date()
        if day != self._day:
            self._day = day
            self._row_cache.clear()
        super().render_records(now_s)

    def row(self, a: Alarm) -> tuple[str, list[Text]]:
        return a.key, [
            self.severity_cell(a.severity, state_label(a.state)),
            plain(a.name, 60),
            Text(since_text(a.since, now())),
            plain(a.reason, 200),
        ]
