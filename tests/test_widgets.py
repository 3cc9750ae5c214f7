"""Panes repaint only what changed: the bandwidth contract, checked without a terminal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from cockpit.model import LogLevel, LogRecord
from widgets.keyed_table import KeyedTable
from widgets.logview import LogView

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


class TableApp(App):
    CSS = "KeyedTable { height: 8; }"  # in a pane, as in the cockpit, not the whole screen

    def compose(self) -> ComposeResult:
        yield KeyedTable([("name", 10), ("value", 10)])
        yield Static("below")


def rows(*pairs):
    return [(k, [Text(k), Text(v)]) for k, v in pairs]


async def test_one_changed_value_repaints_one_cell_not_the_table(monkeypatch):
    from textual.widgets import DataTable

    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        assert table.sync(rows(("a", "1"), ("b", "2"), ("c", "3"))) == -1  # first fill: rebuild
        await pilot.pause()
        refreshed: list = []
        original = DataTable.refresh

        def spy(self, *regions, **kw):  # what reaches Textual, after KeyedTable's filter
            refreshed.append(regions)
            return original(self, *regions, **kw)

        monkeypatch.setattr(DataTable, "refresh", spy)
        assert table.sync(rows(("a", "1"), ("b", "20"), ("c", "3"))) == 1
        assert refreshed and all(regions for regions in refreshed), "a whole-table repaint was asked for"
        assert table.get_row_at(1)[1].plain == "20"
        assert table.sync(rows(("a", "1"), ("b", "20"), ("c", "3"))) == 0  # nothing changed, nothing drawn


async def test_rows_added_or_removed_rebuild_and_keep_the_cursor_on_its_row():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync(rows(("a", "1"), ("b", "2"), ("c", "3")))
        await pilot.pause()
        table.move_cursor(row=2)
        table.sync(rows(("0", "0"), ("a", "1"), ("c", "3")))
        assert table.selected_key == "c"


async def test_rows_that_move_repaint_only_cells_whose_text_changed(monkeypatch):
    from textual.widgets import DataTable

    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync(rows(("a", "1"), ("b", "2"), ("c", "2")))
        await pilot.pause()
        table.move_cursor(row=2)
        refreshed: list = []
        original = DataTable.refresh

        def spy(self, *regions, **kw):
            refreshed.append(regions)
            return original(self, *regions, **kw)

        monkeypatch.setattr(DataTable, "refresh", spy)
        # "a" clears and "x" arrives at the end: same row count, records shift up.
        assert table.sync(rows(("b", "2"), ("c", "2"), ("x", "9"))) == 5  # all but row 1's unchanged "2"
        assert refreshed and all(regions for regions in refreshed), "a whole-table repaint was asked for"
        assert table.selected_key == "c" and table.cursor_row == 1, "the cursor stays on its record"
        assert [table.get_row_at(i)[0].plain for i in range(3)] == ["b", "c", "x"]


class LogApp(App):
    def compose(self) -> ComposeResult:
        yield LogView(capacity=100)


def recs(start: int, n: int, step: float = 1.0):
    return [LogRecord(T0 + timedelta(seconds=(start + i) * step), "api", LogLevel.INFO, f"line {start + i}")
            for i in range(n)]


async def test_log_view_jump_scrolls_instead_of_repainting_every_line():
    app = LogApp()
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        for i in range(10):  # fills the 10-row view line by line: one row each
            view.add_records(recs(i, 1))
        assert view.repaints == 0 and view.line_refreshes == 10
        for i in range(10, 30):  # 20 more lines: a jump every half page (5 rows)
            view.add_records(recs(i, 1))
        assert view.repaints <= 5
        assert view.lines[-1].text == "line 29"


async def test_log_view_scroll_home_and_scroll_end_go_to_the_oldest_line_and_follow():
    app = LogApp()
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        view.add_records(recs(0, 30))
        await pilot.pause()
        view.scroll_home()  # was: TypeError, _scroll_to() got an unexpected keyword argument 'animate'
        await pilot.pause()
        assert not view.follow and view.position_text().startswith("paused · line 1 of 30")
        assert "line 0" in view.render_line(0).text
        view.scroll_end(animate=False)
        await pilot.pause()
        assert view.follow and "line 29" in view.render_line(9).text


async def test_log_ring_is_bounded_and_late_records_are_placed_by_time():
    app = LogApp()
    async with app.run_test(size=(80, 10)):
        view = app.query_one(LogView)
        view.add_records(recs(0, 500))
        assert view.total <= 110  # capacity 100 plus the trimming slack
        assert view.lines[-1].text == "line 499"
        late = LogRecord(T0 + timedelta(seconds=495.5), "api", LogLevel.WARN, "late")
        view.add_records([late])
        texts = [ln.text for ln in view.lines[-6:]]
        assert texts == ["line 495", "late", "line 496", "line 497", "line 498", "line 499"]


async def test_hostile_log_text_reaches_the_screen_as_plain_text():
    app = LogApp()
    async with app.run_test(size=(120, 10)) as pilot:
        view = app.query_one(LogView)
        evil = "[link=http://x]click[/link] \x1b]52;c;ZXZpbA==\x07\x1b[31mred\x1b[0m \x1b]8;;http://e\x1b\\x\u202e"
        view.add_records([LogRecord(T0, "api", LogLevel.INFO, evil)])
        await pilot.pause()
        # Colour dropped; the OSC sequences shown (␛), so the attempt is seen, never acted on.
        assert view.lines[0].text == "[link=http://x]click[/link] ␛]52;c;ZXZpbA==␇red ␛]8;;http://e␛\\x\ufffd"
        strip = view.render_line(0)
        assert "\x1b" not in strip.text and "[link=http://x]" in strip.text


async def test_a_record_a_second_late_repaints_only_the_last_rows():
    app = LogApp()
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        view.add_records(recs(0, 5))
        repaints, refreshed = view.repaints, view.line_refreshes
        late = LogRecord(T0 + timedelta(seconds=3.5), "worker", LogLevel.INFO, "late by a second")
        view.add_records([late])
        assert [ln.text for ln in view.lines[-3:]] == ["line 3", "late by a second", "line 4"]
        assert view.repaints == repaints  # no whole-view repaint
        assert view.line_refreshes - refreshed == 2  # the late line's row and the one it pushed down


async def test_a_flood_past_the_ring_keeps_the_newest_line_on_screen():
    app = LogApp()  # capacity 100
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        for start in range(0, 2000, 250):  # batches bigger than the whole ring
            view.add_records(recs(start, 250))
        await pilot.pause()
        assert view.lines[-1].text == "line 1999"
        shown = [view.render_line(y).text for y in range(10)]
        assert any("line 1999" in row for row in shown), shown


async def test_a_row_added_or_removed_repaints_that_row_not_the_table(monkeypatch):
    from textual import _compositor

    from widgets.output import install

    install()
    spans: list = []
    original = _compositor.ChopsUpdate.__init__

    def spy(self, chops, update_spans, chop_ends):
        spans.extend(update_spans)
        original(self, chops, update_spans, chop_ends)

    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync(rows(("a", "1"), ("b", "2")))
        await pilot.pause()
        monkeypatch.setattr(_compositor.ChopsUpdate, "__init__", spy)
        table.sync(rows(("a", "1"), ("b", "2"), ("c", "3")))
        await pilot.pause()
        await pilot.pause()
        assert spans and {y for y, _, _ in spans} == {3}, "only the new row (below the header and two rows)"
        spans.clear()
        table.sync(rows(("a", "1"), ("b", "2")))
        await pilot.pause()
        await pilot.pause()
        ys = {y for y, _, _ in spans}
        assert 3 in ys and 2 not in ys, "the row that went blank, not row b (the cursor's row may repaint)"
        assert table.row_count == 2


async def test_a_change_past_the_columns_edge_is_not_sent():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync(rows(("a", "back-off restarting failed container, pod scanner-worker-7d9 (x3)")))
        await pilot.pause()
        assert table.sync(rows(("a", "back-off restarting failed container, pod scanner-worker-7d9 (x4)"))) == 0
        assert table.get_row_at(0)[1].plain.endswith("(x4)"), "the table still holds the new text"


def test_errors_cell_shows_the_latest_error_rate_and_p95_from_either_source():
    from cockpit.model import ServiceStatus, Severity
    from widgets.services import errors_cell

    def svc(**metrics):
        return ServiceStatus(name="api", backend="ecs", source="s", status=Severity.OK, status_text="healthy",
                             running=2, desired=2, metrics=tuple(metrics.items()))

    assert errors_cell(svc(**{"5xx%": (0.1, 0.84), "p95ms": (200.0, 243.4)})) == " 0.8%  243"
    assert errors_cell(svc(error_rate=(1.5,), p95_ms=(12_400.0,))) == " 1.5%  12s"
    assert errors_cell(svc(cpu=(40.0,))) == ""


async def test_cached_lines_never_show_stale_text():
    """Lines are cached by row content: a changed, removed-then-re-added or scrolled row
    must show its current text, with the cursor on the right row."""
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)

        def shown() -> list[str]:
            return [table.render_line(y).text.split() for y in range(1, table.size.height)]

        table.sync(rows(*[(f"r{i}", str(i)) for i in range(20)]))
        await pilot.pause()
        assert shown()[:3] == [["r0", "0"], ["r1", "1"], ["r2", "2"]]
        table.sync(rows(*[(f"r{i}", str(i * 10)) for i in range(20)]))
        assert shown()[:3] == [["r0", "0"], ["r1", "10"], ["r2", "20"]]
        table.sync(rows(("r0", "0")))  # rows 1.. go away, then come back with other text
        await pilot.pause()
        table.sync(rows(*[(f"r{i}", f"new{i}") for i in range(20)]))
        await pilot.pause()
        assert shown()[:3] == [["r0", "new0"], ["r1", "new1"], ["r2", "new2"]]
        for _ in range(10):  # past the bottom: the table scrolls by a row at a time
            await pilot.press("down")
        await pilot.pause()
        assert table.cursor_row == 10 and table.scroll_offset.y > 0
        top = table.scroll_offset.y
        assert shown()[0] == [f"r{top}", f"new{top}"]
        cursor_line = table.render_line(1 + table.cursor_row - top)
        other_line = table.render_line(1 + table.cursor_row - top - 1)
        assert cursor_line.text.split() == ["r10", "new10"]
        assert cursor_line != other_line and cursor_line.render(app.console) != other_line.render(app.console)


async def test_fast_cell_rendering_matches_datatables_own():
    from textual.widgets import DataTable

    texts = [
        Text("plain"), Text("42", justify="right"), Text("a reason far longer than its column"),
        Text("ellipsis past the edge", overflow="ellipsis"), Text("日本語のテキスト"), Text("🚀 ok"),
        Text.assemble(("● ", "green"), ("healthy", "bold")), Text(""), Text("centred", justify="center"),
    ]
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(str(i), [t, Text("x")]) for i, t in enumerate(texts)])
        await pilot.pause()
        table._pseudo_class_state = table.get_pseudo_class_state()
        for row in range(len(texts)):
            for width in (3, 7, 12):
                for cursor, hover in ((False, False), (True, False), (False, True)):
                    args = (row, 0, table.rich_style, width, cursor, hover)
                    table._cell_render_cache.clear()
                    ours = table._render_cell(*args)
                    table._cell_render_cache.clear()
                    theirs = DataTable._render_cell(table, *args)
                    assert ours == theirs, (texts[row].plain, width, cursor, hover)


async def test_fast_line_rendering_matches_datatables_own():
    import functools

    from rich.style import Style
    from textual.coordinate import Coordinate
    from textual.widgets import DataTable

    texts = [Text.assemble(("● ", "green"), ("healthy", "bold")), Text("42", justify="right"), Text(""),
             Text("a reason far longer than its column"), Text("日本語のテキスト"),
             # Equal text in other colours (cells are shared by content), and a cell whose own
             # meta must win over the row's and column's.
             Text("ok", style="green"), Text("ok", style="red"), Text("ok", style="green"),
             Text.assemble(("open", Style(meta={"@click": "app.bell", "row": 99})))]
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(str(i), [t, Text(str(i))]) for i, t in enumerate(texts)])
        await pilot.pause()
        table._pseudo_class_state = table.get_pseudo_class_state()
        base = table.rich_style

        def theirs(y: int, x1: int, x2: int):
            plain = {"_render_line_in_row": functools.partial(DataTable._render_line_in_row, table),
                     "_render_cell": functools.partial(DataTable._render_cell, table)}
            vars(table).update(plain)
            try:
                table._clear_caches()
                return DataTable._render_line(table, y, x1, x2, base)
            finally:
                for name in plain:
                    del vars(table)[name]
                table._clear_caches()

        table._show_hover_cursor = True
        for cursor_row in (0, 2, 7):
            table.move_cursor(row=cursor_row, animate=False)
            await pilot.pause()
            for hover_row in (-1, 1, cursor_row):  # -1: the mouse on the header
                table.hover_coordinate = Coordinate(hover_row, 0)
                for x1, x2 in ((0, table.size.width), (3, 20)):
                    # All of ours first: rows share what they render (theirs empties the caches).
                    ours = [table._render_line(y, x1, x2, base) for y in range(len(texts) + 1)]
                    for y, line in enumerate(ours):  # the header, then each row
                        assert list(line) == list(theirs(y, x1, x2)), (y, x1, x2, cursor_row, hover_row)


async def other_theme(app: App, pilot) -> None:
    app.theme = "textual-light" if app.theme != "textual-light" else "nord"
    await pilot.pause()


def painted_both_ways(widget) -> tuple[list, list]:
    """The widget's lines as it paints them, and as Textual's own StylesCache paints them."""
    from textual._styles_cache import StylesCache

    region = widget.size.region
    ours = widget.render_lines(region)
    memo, widget._styles_cache = widget._styles_cache, StylesCache()
    try:
        theirs = widget.render_lines(region)
    finally:
        widget._styles_cache = memo
    return [list(s) for s in ours], [list(s) for s in theirs]


async def test_painting_matches_textuals_own_through_scrolls_hover_focus_and_theme():
    """The styled lines kept by content (LineMemoStylesCache) and the scrollbar kept while its
    segments stay (SteadyScrollBar) give what Textual's own StylesCache and ScrollBar give."""
    from textual.scrollbar import ScrollBar

    from widgets.paint import LineMemoStylesCache, SteadyScrollBar

    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync(rows(*[(f"r{i}", str(i)) for i in range(60)]))
        table.focus()
        await pilot.pause()
        assert isinstance(table._styles_cache, LineMemoStylesCache)
        bar = table.vertical_scrollbar
        assert isinstance(bar, SteadyScrollBar)
        thumbs: set = set()

        def same_as_textual(step: str) -> None:
            ours, theirs = painted_both_ways(table)
            assert ours == theirs, step
            drawn = bar.render_lines(bar.size.region)
            assert [list(s) for s in drawn] == [list(s) for s in ScrollBar.render_lines(bar, bar.size.region)], step
            thumbs.add(tuple(s.text for s in drawn))

        same_as_textual("start")
        for press in range(40):  # past the view: each Down scrolls by a row
            await pilot.press("down")
            await pilot.pause()
            same_as_textual(f"down {press}")
        assert len(thumbs) > 1, "the scrollbar's thumb never moved"
        await pilot.press("pageup")
        await pilot.pause()
        same_as_textual("page up")
        await pilot.hover(KeyedTable, offset=(2, 0))  # the header
        await pilot.pause()
        same_as_textual("hover on the header")
        table.blur()
        await pilot.pause()
        same_as_textual("unfocused")
        await other_theme(app, pilot)
        same_as_textual("another theme")


async def test_log_view_painting_matches_textuals_own_through_jumps_and_the_cursor():
    app = LogApp()
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        view.focus()

        def same_as_textual(step: str) -> None:
            ours, theirs = painted_both_ways(view)
            assert ours == theirs, step
            assert any("line" in "".join(seg.text for seg in line) for line in ours), step

        for batch in range(4):  # past the page: jumps that keep half the lines, at other rows
            view.add_records(recs(batch * 7, 7))
            await pilot.pause()
            same_as_textual(f"batch {batch}")
        await pilot.press("up", "up")  # a cursor line
        await pilot.pause()
        same_as_textual("cursor")
        await other_theme(app, pilot)
        same_as_textual("another theme")


async def test_styled_lines_kept_by_content_follow_the_widgets_look():
    """The same content line, in a widget whose background changed: styled again."""
    from rich.segment import Segment
    from textual.strip import Strip
    from textual.widget import Widget

    from widgets.paint import LineMemoStylesCache

    line = Strip([Segment("abc")])  # shorter than the widget: the rest takes its background

    class Fixed(Widget):
        DEFAULT_CSS = "Fixed { height: 3; background: red; } Fixed.-blue { background: blue; }"

        def __init__(self) -> None:
            super().__init__()
            self._styles_cache = LineMemoStylesCache()

        def render_line(self, y: int) -> Strip:
            return line

    class FixedApp(App):
        def compose(self) -> ComposeResult:
            yield Fixed()

    app = FixedApp()
    async with app.run_test(size=(20, 5)) as pilot:
        widget = app.query_one(Fixed)

        red, theirs = painted_both_ways(widget)
        assert red == theirs
        widget.add_class("-blue")
        await pilot.pause()
        blue, theirs = painted_both_ways(widget)
        assert blue == theirs and blue != red


async def test_cached_log_lines_follow_the_view_and_the_cursor():
    app = LogApp()
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        rows = view.size.height

        def shown() -> list[str]:
            return [(view.render_line(y).text.split() or [""])[-1] for y in range(rows)]

        view.add_records(recs(0, rows))
        assert shown() == [str(i) for i in range(rows)]
        view.add_records(recs(rows, 3))  # following: the view moved, rendered lines are reused
        await pilot.pause()
        top = int(shown()[0])
        assert top > 0 and shown() == [str(i) if i < rows + 3 else "" for i in range(top, top + rows)]
        view.focus()
        await pilot.press("up")  # leaves follow mode: the cursor line looks different
        await pilot.pause()
        y = view._cursor - view._top
        line = view.render_line(y)
        assert line.text.split()[-1] == str(view._cursor)
        cursor = view.get_component_rich_style("logview--cursor")
        assert list(line)[0].style.bgcolor == cursor.bgcolor, "cursor line not highlighted"
        assert list(view.render_line(y - 1))[0].style.bgcolor != cursor.bgcolor
        await pilot.press("up")  # the cursor moves on: the line it left is drawn plain again
        await pilot.pause()
        assert list(view.render_line(y))[0].style.bgcolor != cursor.bgcolor
