"""The README's key reference is the schema's own, and its quick start is the real one."""

from __future__ import annotations

import re
from pathlib import Path

from cockpit.config import schema_reference

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_key_reference_matches_schema():
    block = re.search(r"<!-- schema-reference:start -->\n(.*?)\n<!-- schema-reference:end -->", README, re.S)
    assert block, "README lost its key reference block"
    assert block.group(1).strip() == schema_reference().strip(), (
        "README key reference is out of date: paste schema_reference() between the markers"
    )


def test_quick_start_names_the_test_command_ci_runs():
    assert "tests/run" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "tests/run" in ci
