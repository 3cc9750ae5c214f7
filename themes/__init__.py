"""Themes as data. Colours live here and nowhere else: widgets use $variables.

``load_theme`` falls back to the default with a one-line warning for an unknown name,
the way posting treats a bad theme: reported once, never fatal.
"""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

DEFAULT_THEME = "cockpit-dark"
CSS_PATH = Path(__file__).with_name("cockpit.tcss")

THEMES: dict[str, Theme] = {
    "cockpit-dark": Theme(
        name="cockpit-dark",
        primary="#4A9EDA",
        secondary="#7FB4C9",
        accent="#58C4DD",
        warning="#E8B339",
        error="#F0544F",
        success="#5FBF77",
        foreground="#D8DEE4",
        background="#14181C",
        surface="#1B2026",
        panel="#242B33",
        dark=True,
    ),
    "cockpit-light": Theme(
        name="cockpit-light",
        primary="#1F5F99",
        secondary="#2F6F86",
        accent="#006C84",
        warning="#8A5A00",
        error="#B3261E",
        success="#1E7A34",
        foreground="#1A1D21",
        background="#F7F8FA",
        surface="#FFFFFF",
        panel="#E3E7EC",
        dark=False,
    ),
    # War room: shared on a call, read from across a room. Maximum contrast, saturated
    # status colours, and (see ``LOUD_THEMES``) status labels in capitals.
    "war-room": Theme(
        name="war-room",
        primary="#FFFFFF",
        secondary="#FFD400",
        accent="#00E5FF",
        warning="#FFD400",
        error="#FF2D2D",
        success="#00FF66",
        foreground="#FFFFFF",
        background="#000000",
        surface="#000000",
        panel="#1C1C1C",
        dark=True,
        luminosity_spread=0.25,
        text_alpha=1.0,
    ),
}

LOUD_THEMES = {"war-room"}


def resolve_theme(name: str | None) -> tuple[str, str | None]:
    """(theme to use, warning or None) for a requested theme name."""
    if not name:
        return DEFAULT_THEME, None
    if name in THEMES:
        return name, None
    known = ", ".join(THEMES)
    return DEFAULT_THEME, f"unknown theme {name!r}; using {DEFAULT_THEME} (known: {known})"
