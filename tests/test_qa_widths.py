"""Columns in a grid pane that scrolls: what the on-call engineer saw cut on the lab."""

from __future__ import annotations

from cockpit.model import Alarm, PaneKind, Severity

from .helpers import wait_until
from .test_widths import T0, filled, lab_app, lab_like, screen_text


async def test_a_pane_that_grows_a_scrollbar_keeps_its_hidden_columns_mark_whole() -> None:
    """The lab's Alarms pane (more alarms than lines: a scrollbar) ended its header with
    `+2 cols` and lost the `→`, and every row's last cell lost a cell: the columns were fitted
    before the scrollbar took its column."""
    estate = lab_like()
    estate.alarms.records = [
        Alarm(f"CrashLoopBackOff repo-scanner/scanner-worker-{i:05d}/app", "fake:alarms", Severity.CRITICAL,
              "firing", "back-off 5m0s restarting failed container", since=T0)
        for i in range(30)
    ]
    app = lab_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        await filled(app, pilot)
        table = app.cockpit.panes[PaneKind.ALARMS].table
        await wait_until(lambda: table.show_vertical_scrollbar, 5)
        await pilot.pause()
        assert table.hidden_columns > 0
        header = next(line for line in screen_text(app).splitlines() if "severity" in line)
        assert f"+{table.hidden_columns} cols →" in header, header
