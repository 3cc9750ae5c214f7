"""The seams of the codebase, as the next engineer relies on them.

Screens reach a backend only through the one-verb capability Protocols of
``cockpit/backends/base.py`` (never a backend module, never ``hasattr`` probes); a figure
the user reads in several places (a byte size, an age, a sparkline, a row of the sessions
table) is formatted by one function, so it reads the same everywhere; a PostgreSQL session
is a ``Session`` (``backend`` means a source everywhere else); and every document the code
points at exists in the repository.
"""

from __future__ import annotations

import ast
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_screens_and_widgets_import_no_backend_module() -> None:
    """Seen: screens/database.py imported the postgres backend, screens/k8s.py the
    Kubernetes backend package."""
    offenders = {
        f"{path.relative_to(ROOT)} -> {module}"
        for folder in ("screens", "widgets")
        for path in sorted((ROOT / folder).glob("*.py"))
        for module in _imports(path)
        if module.startswith("cockpit.backends") and module != "cockpit.backends.base"
    }
    assert offenders == set()


def test_screens_ask_sources_for_capabilities_by_protocol_not_by_probing() -> None:
    """Seen: the database screen probed its source with ``hasattr``/``getattr``."""
    probes = []
    for name in ("database.py", "k8s.py"):
        tree = ast.parse((ROOT / "screens" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                "hasattr", "getattr"
            ) and node.args and "source" in ast.unparse(node.args[0]):  # fmt: skip
                probes.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert probes == []


def test_a_postgres_session_is_a_session_not_a_backend() -> None:
    from cockpit import dbmodel

    assert hasattr(dbmodel, "Session") and not hasattr(dbmodel, "Backend")


async def test_the_sessions_table_reads_the_same_on_the_screen_and_in_the_detail() -> None:
    """Seen: screens/database.py and the postgres detail sections each built the rows (the
    detail left the text to be cleaned later). The screen takes any ``ActivityReader``."""
    from textual.app import App
    from textual.widgets import DataTable

    from cockpit import dbmodel
    from screens.database import ActivityScreen

    session = dbmodel.Session(
        pid=7, source="pg:app", user="app", application="billing\x1b[31m", client="local",
        state="active", wait_event="Lock/transactionid", duration_s=75.0,
        query="UPDATE accounts\n   SET balance = 0",
    )  # fmt: skip
    activity = dbmodel.Activity("app", "pg:app", (session,))

    class Reader:
        async def activity(self) -> dbmodel.Activity:
            return activity

    app = App()
    async with app.run_test(size=(200, 30)) as pilot:
        screen = ActivityScreen(Reader(), "app", refresh_s=60)
        await app.push_screen(screen)
        deadline = time.monotonic() + 10
        while not screen.shown:
            assert time.monotonic() < deadline, "the session row"
            await pilot.pause(0.05)
        table = screen.query_one("#sessions", DataTable)
        shown = tuple(str(c) for c in table.get_row_at(0))
        columns = tuple(str(c.label) for c in table.columns.values())
    section = dbmodel.activity_sections(activity)[0]
    assert columns == section.columns
    assert shown == section.rows[0]
    # The name as the estate boundary keeps it: visible, never shortened to another name.
    assert shown[2] == "billing␛[31m" and shown[-1] == "UPDATE accounts SET balance = 0"


def test_one_byte_format_one_age_one_sparkline() -> None:
    """Seen: 1536 bytes read ``1.5 KiB`` on a host, ``1.5KB`` in the Database pane and
    ``1.5 kB`` in its detail; a pod 90 min old was ``90m`` old on the pods screen and ``1h`` in
    the Services pane; two sparklines drew the same flat series ``▄▄▄`` and ``▅▅▅``."""
    from cockpit import units

    defined = {
        f"{path.relative_to(ROOT)}:{node.name}"
        for folder in ("cockpit", "widgets", "screens")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
        and node.name in ("format_bytes", "human_bytes", "age", "sparkline")
    }
    assert defined == {"cockpit/units.py:format_bytes", "cockpit/units.py:age", "cockpit/units.py:sparkline"}
    assert units.format_bytes(1536) == "1.5KB"
    assert units.age(datetime.now(UTC) - timedelta(minutes=90)) == "1h"
    assert units.sparkline([3.0, 3.0, 3.0]) == "▅▅▅"


def test_every_document_the_code_names_is_in_the_repository() -> None:
    """Seen: four files pointed at the team's testing notes, which are not in the repository
    (and two at its notes on moto)."""
    # What git tracks: a build/ or a stray copy beside the checkout is not the repository.
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    tracked = [
        ROOT / name for name in listed.stdout.splitlines()
        if Path(name).suffix in (".py", ".md", ".toml", ".yaml") and "__snapshots__" not in name
    ]  # fmt: skip
    docs = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    missing = {
        f"{p.relative_to(ROOT)}: {name}"
        for p in tracked
        for name in re.findall(r"\b([A-Za-z][\w-]*\.md)\b", p.read_text(errors="replace"))
        if name not in docs
    }
    assert missing == set()
