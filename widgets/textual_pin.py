"""The one Textual release widgets/ is verified against, and every private part of it we touch.

To keep bytes over SSH low, widgets/ overrides or patches private Textual code: the output
trimming and reflow patch (output.py), the row-cropped compositor (compositor.py), the line
memo styles cache and the steady scrollbar (paint.py), the input thread (driver.py), the
table's line and cell renderers (keyed_table.py), and the reference repaint of the test hook
(reference.py). A Textual release may change any of them without notice, so pyproject pins
``textual==8.2.8``, and importing this module (each of those modules does) checks the
installed release and the parameters of every private callable listed below. A mismatch stops
the cockpit at start-up, naming what changed, instead of painting a wrong screen. The tests
that prove each override paints what Textual would are in tests/test_output.py,
tests/test_widgets.py and tests/test_integrity.py (the oracle).
"""

from __future__ import annotations

import importlib
import inspect
import os

import textual

from cockpit.errors import CockpitError

VERIFIED = "8.2.8"

# (module, attribute): the parameters it had in VERIFIED.
PRIVATE: dict[tuple[str, str], list[str]] = {
    ("textual._compositor", "ChopsUpdate.__init__"): ["self", "chops", "spans", "chop_ends"],
    ("textual._compositor", "ChopsUpdate.render_segments"): ["self", "console"],
    ("textual._compositor", "LayoutUpdate.render_segments"): ["self", "console"],
    ("textual._compositor", "Compositor.reflow"): ["self", "parent", "size"],
    ("textual._compositor", "Compositor.render_partial_update"): ["self"],
    ("textual._compositor", "Compositor._get_renders"): ["self", "crop"],
    ("textual._styles_cache", "StylesCache.render"): [
        "self", "styles", "size", "base_background", "background", "render_content_line",
        "filters", "border_title", "border_subtitle", "content_size", "padding", "crop",
        "opacity", "ansi_theme", "native_ansi",
    ],
    ("textual._styles_cache", "StylesCache.render_line"): [
        "self", "styles", "y", "size", "content_size", "padding", "base_background",
        "background", "render_content_line", "border_title", "border_subtitle", "opacity",
        "ansi_theme", "native_ansi",
    ],
    ("textual.widgets._data_table", "DataTable._render_cell"): [
        "self", "row_index", "column_index", "base_style", "width", "cursor", "hover",
    ],
    ("textual.widgets._data_table", "DataTable._render_line_in_row"): [
        "self", "row_key", "line_no", "base_style", "cursor_location", "hover_location",
    ],
    ("textual.widgets._data_table", "DataTable._render_line"): ["self", "y", "x1", "x2", "base_style"],
    ("textual.widgets._data_table", "DataTable._update_dimensions"): ["self", "new_rows"],
    ("textual.widgets._data_table", "DataTable._clear_caches"): ["self"],
    ("textual.drivers.linux_driver", "LinuxDriver.run_input_thread"): ["self"],
    ("textual.app", "App._start_widget"): ["self", "parent", "widget"],
    ("textual._xterm_parser", "XTermParser.tick"): ["self"],
}  # fmt: skip


class TextualMismatch(CockpitError):
    """The installed Textual is not the release widgets/ was verified against."""


def installed_version() -> str:
    """Textual's version, read cheaply: ``textual.__version__`` asks importlib.metadata, which
    costs a first frame ~25 ms; the verified release's dist-info beside the package says it."""
    site = os.path.dirname(os.path.dirname(textual.__file__ or ""))
    if os.path.isdir(os.path.join(site, f"textual-{VERIFIED}.dist-info")):
        return VERIFIED
    return str(textual.__version__)


def mismatches(version: str | None = None) -> list[str]:
    """What differs from the verified release: the version, then each private callable."""
    found = []
    version = installed_version() if version is None else version
    if version != VERIFIED:
        found.append(f"textual {version} is installed, widgets/ is verified against {VERIFIED}")
    for (module, attr), params in PRIVATE.items():
        try:
            obj: object = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            got = list(inspect.signature(obj).parameters)  # type: ignore[arg-type]
        except (ImportError, AttributeError, TypeError, ValueError) as e:
            found.append(f"{module}.{attr} is gone ({e})")
            continue
        if got != params:
            found.append(f"{module}.{attr} takes {got}, not {params}")
    return found


def check() -> None:
    problems = mismatches()
    if problems:
        raise TextualMismatch(
            "ops cockpit paints through private Textual code: " + "; ".join(problems),
            f"install the verified release: pip install 'textual=={VERIFIED}'",
        )


check()
