"""What reaches the terminal: a changed cell is sent alone, with fewer style codes, and the
screen a terminal shows is exactly the same as with Textual's own output."""

from __future__ import annotations

import random

import pyte
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate
from textual.strip import Strip

from widgets.output import compact_sgr, install

STYLES = [
    Style(color="color(188)", bgcolor="color(235)"),
    Style(color="color(72)", bgcolor="color(235)"),
    Style(bold=True, color="color(179)", bgcolor="color(16)"),
    Style(reverse=True, color="color(23)", bgcolor="color(16)"),
    Style(),
]


def console() -> Console:
    return Console(color_system="256", force_terminal=True, width=80, legacy_windows=False)


def screen_of(data: str) -> list[list[tuple[str, str, str, bool, bool]]]:
    screen = pyte.Screen(80, 6)
    pyte.Stream(screen).feed(data)
    return [
        [(c.data, c.fg, c.bg, c.bold, c.reverse) for c in (screen.buffer[y][x] for x in range(80))]
        for y in range(6)
    ]


def test_compacted_output_draws_the_same_screen_with_fewer_bytes():
    rng = random.Random(7)
    con = console()
    for _ in range(50):
        parts = []
        for y in range(6):
            parts.append(f"\x1b[{y + 1};{rng.randint(1, 5)}H")
            for _ in range(rng.randint(1, 8)):
                text = rng.choice(["ab", " ", "● up", "12 ", "  –  ", "▃▅"])
                parts.append(rng.choice(STYLES).render(text, color_system=con._color_system))
        data = "".join(parts)
        compact = compact_sgr(data)
        assert screen_of(compact) == screen_of(data)
        assert len(compact) <= len(data)


def test_a_row_of_cells_in_one_style_sends_the_style_once():
    style = STYLES[0]
    cells = "".join(style.render(t, color_system=console()._color_system) for t in (" api ", " 2/2 ", " ecs "))
    compact = compact_sgr("\x1b[4;1H" + cells)
    assert compact.count("38;5;188") == 1
    assert compact.endswith("\x1b[0m"), "the terminal is left with no style set"


def test_a_changed_cell_is_sent_from_its_own_column_not_the_widgets_left_edge():
    install()
    style = STYLES[0]
    row = Strip([Segment(f" cell{i}    ", style) for i in range(5)])  # five 10-cell columns
    update = ChopsUpdate([{0: row}], [(0, 30, 40)], [[50]])
    out = update.render_segments(console())
    assert out.startswith("\x1b[1;31H"), "written from the changed cell's column"
    assert "cell3" in out
    assert not any(f"cell{i}" in out for i in (0, 1, 2, 4))
