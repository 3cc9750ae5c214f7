"""Finding and loading profiles.yaml: the lookup order, YAML composition with bounds, and the
walk that builds ``Config``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode

from cockpit.config.nodes import _join, _kind, _line, _pairs, _Walk
from cockpit.config.schema import _TOP_KEYS, NAME, PROFILE
from cockpit.errors import ConfigError
from cockpit.profile import (
    Config,
    Profile,
)

# The file shipped in the package, beside this package's folder (cockpit/profiles.yaml).
BUNDLED = Path(__file__).resolve().parent.parent / "profiles.yaml"

# ---------------------------------------------------------------- loading


def load_text(text: str, path: Path) -> Config:
    """Parse and validate profiles.yaml text; ``path`` is only used in messages and ``Config``."""
    w = _Walk(path)
    try:
        return _load(text, w)
    except RecursionError:  # a chain of thousands of << merges; the schema itself is shallow
        w.fail(1, "", "invalid YAML: nested too deeply")


def _compose(text: str) -> Any:
    """libyaml reads a good file ~15x faster (it is read before the first frame); a file it
    refuses is read again by the pure-Python parser, whose errors we word for the user."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _load(text: str, w: _Walk) -> Config:
    path = w.path
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        hint = ""
        if e.context and e.context_mark is not None and e.problem:
            hint = f"{e.context} that starts at line {e.context_mark.line + 1}"
        problem = e.problem or e.context
        if e.context and e.problem and e.problem.startswith("but "):  # half a sentence alone
            problem, hint = f"{e.context}, {e.problem}", ""
        w.fail(line, "", f"invalid YAML: {problem}", hint)
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1 if isinstance(e.position, int) else 1
        w.fail(line, "", f"invalid YAML: {e.reason} (character {e.character!r})")
    except yaml.YAMLError as e:
        w.fail(1, "", f"invalid YAML: {e}")
    except RecursionError:
        w.fail(1, "", "invalid YAML: nested too deeply")
    if root is None:
        w.fail(1, "", "the file is empty: expected a mapping with 'profiles'")
    if not isinstance(root, MappingNode):
        w.fail(_line(root), "", f"expected a mapping with 'profiles' at the top, got {_kind(root)}")

    default: tuple[str, int] | None = None
    profiles: dict[str, Profile] = {}
    profiles_line = 0
    for key, kline, vnode in _pairs(root, w, ""):
        if key == "default":
            default = (NAME.convert(vnode, w, key, kline), kline)
        elif key == "profiles":
            profiles_line = kline
            if not isinstance(vnode, MappingNode):
                PROFILE.expected(vnode, w, key, kline, "a mapping of profile name -> profile")
            for name, pline, pnode in _pairs(vnode, w, key):
                here = _join(key, name)
                if not name:
                    w.fail(pline, key, "a profile name must not be empty")
                w.count(pnode, pline, here)
                profiles[name] = PROFILE.convert(pnode, w, here, pline, name=name)
        else:
            close = difflib.get_close_matches(key, list(_TOP_KEYS), n=1)
            w.fail(
                kline,
                key,
                f"unknown key {key!r} (expected one of: {', '.join(_TOP_KEYS)})",
                f"did you mean {close[0]!r}?" if close else "",
            )
    if not profiles_line:
        w.fail(_line(root), "", "missing required key 'profiles'")
    if not profiles:
        w.fail(profiles_line, "profiles", "no profiles defined", "add at least one profile")
    if default is None:
        return Config(path=path, default=next(iter(profiles)), profiles=profiles)
    if default[0] not in profiles:
        known = ", ".join(profiles)
        w.fail(default[1], "default", f"unknown profile {default[0]!r} (known: {known})")
    return Config(path=path, default=default[0], profiles=profiles)


def load_config(path: Path) -> Config:
    """Read and validate ``path``; every problem is a ConfigError naming file, line and key."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}", "check the path") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text", "save the file as UTF-8") from None
    return load_text(text, path)


def find_config_path(
    cli_path: str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> Path:
    """The profiles.yaml to use: --config, $COCKPIT_CONFIG, ./profiles.yaml,
    $XDG_CONFIG_HOME/cockpit/profiles.yaml (default ~/.config), then the bundled lab file.

    A path the user named explicitly (--config or $COCKPIT_CONFIG) must exist: falling
    through to another file would silently show a different estate.
    """
    for given, origin in (
        (cli_path, "--config"),
        (environ.get("COCKPIT_CONFIG"), "$COCKPIT_CONFIG"),
    ):
        if given:
            p = Path(given).expanduser()
            if not p.is_file():
                raise ConfigError(
                    f"{p}: no such file (from {origin})",
                    "check the path, or leave it out to use the defaults",
                )
            return p
    here = (cwd if cwd is not None else Path.cwd()) / "profiles.yaml"
    if here.is_file():
        return here
    xdg = environ.get("XDG_CONFIG_HOME")
    if xdg:
        base = Path(xdg)
    else:
        home = environ.get("HOME")
        base = (Path(home) if home else Path.home()) / ".config"
    user = base / "cockpit" / "profiles.yaml"
    if user.is_file():
        return user
    return BUNDLED
