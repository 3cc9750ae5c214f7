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


def _rendered(parts: list, width: int = 160) -> str:
    import io

    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    for part in parts:
        console.print(part)
    return console.export_text()


def test_a_detail_sections_title_is_one_line_over_a_narrow_table() -> None:
    """A PagerDuty page's detail titled its on-call table "on call for its" / "escalation
    policy" on two lines: the title was wrapped to the width of the two narrow columns."""
    from cockpit.model import DetailSection
    from screens.detail import render_section

    text = _rendered(render_section(DetailSection(
        "on call for its escalation policy", ("user", "level"), rows=(("Ada Trainee", "1"), ("Grace Lead", "2")))))
    assert "on call for its escalation policy" in text, text


def test_a_detail_sections_title_from_the_estate_is_not_markup() -> None:
    """Section titles carry estate names (a Sentry event's time, a release): shown as typed."""
    from cockpit.model import DetailSection
    from screens.detail import render_section

    text = _rendered(render_section(DetailSection("release [bold]x[/bold] [/oops]", ("a",), rows=(("1",),))))
    assert "release [bold]x[/bold] [/oops]" in text, text
