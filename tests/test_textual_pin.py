"""The Textual release widgets/ paints through is the one installed, checked at import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from widgets import textual_pin


def test_the_installed_textual_is_the_verified_one_with_every_private_part() -> None:
    assert textual_pin.mismatches() == []


def test_another_release_is_named_with_the_command_that_fixes_it(monkeypatch) -> None:
    assert textual_pin.mismatches("8.3.0") == [
        "textual 8.3.0 is installed, widgets/ is verified against 8.2.8"
    ]
    monkeypatch.setitem(
        textual_pin.PRIVATE, ("textual._compositor", "Compositor.reflow"), ["self", "parent"]
    )
    monkeypatch.setitem(textual_pin.PRIVATE, ("textual._compositor", "Compositor._gone"), ["self"])
    with pytest.raises(textual_pin.TextualMismatch) as e:
        textual_pin.check()
    text = str(e.value)
    assert "textual._compositor.Compositor.reflow takes ['self', 'parent', 'size']" in text
    assert "textual._compositor.Compositor._gone is gone" in text
    assert "pip install 'textual==8.2.8'" in text


def test_the_cockpit_refuses_to_start_on_a_changed_private_api() -> None:
    # As a changed Textual would: the private method the row-cropped compositor overrides moved.
    code = (
        "import textual._compositor as c; del c.Compositor._get_renders\n"
        "import sys; from cockpit.cli import main; sys.exit(main(['--profile', 'lab']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Compositor._get_renders is gone" in proc.stderr
