"""Text from the estate reaches the screen and the CLI as plain, safe text.

Hostile names and bodies (markup, OSC title/clipboard/hyperlink, CSI, DCS, APC, C1, bidi
overrides, lone surrogates, a megabyte) go through every place that shows text: records,
the palette, notices, the confirm and parameter dialogs, watcher and replay events, and the
`cockpit check` / `cockpit timeline` printers.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from cockpit.actions import ActionOutcome, get_action
from cockpit.app import CockpitApp
from cockpit.check import CheckReport, Finding, Unchecked, findings_for, render
from cockpit.model import Alarm, DetailSection, LogLevel, LogRecord, PaneKind, QueueStatus, Severity
from cockpit.text import sanitize, sanitize_block

from .fakes import T0
from .helpers import wait_until
from .hostile import CORPUS, DLQ_BODY, HUGE, every_hostile, hostile_app, unsafe

# --- the boundary ------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*CORPUS, "huge"])
def test_sanitize_leaves_nothing_a_terminal_acts_on(name: str) -> None:
    text = CORPUS.get(name, HUGE)
    for clean in (sanitize(text), sanitize_block(text)):
        assert not unsafe(clean.replace("\n", "")), (name, clean)
        clean.encode("utf-8")  # a lone surrogate would raise here, on the way to the terminal
        assert len(clean) < 20_000


def test_what_was_removed_stays_visible() -> None:
    # An operator sees that a name carried an escape: the attack is shown, not hidden.
    assert sanitize("\x1b]2;X\x1b\\") == "␛]2;X␛\\"
    assert sanitize("a\x00b\x7f") == "a␀b␡"
    assert sanitize("abc\u202edcba") == "abc\ufffddcba"
    assert sanitize("a\udc80b") == "a\ufffdb"
    assert sanitize("\x1b[31mred\x1b[0m") == "red"  # colour from a program's output: dropped
    assert sanitize("[/x] [bold red]boom[/]") == "[/x] [bold red]boom[/]"  # markup is just text
    cut = sanitize(HUGE)
    kept = cut.index(" …")
    assert len(cut) <= 2000 and cut.endswith(f" …[+{1_000_000 - kept} chars]")  # marker included
    assert sanitize(cut) == cut  # clean text stays as it is, cut or not
    assert sanitize_block("line 1\r\nline\x1b]0;t\x07 2") == "line 1\nline␛]0;t␇ 2"


def test_records_hold_only_safe_text() -> None:
    for text in every_hostile():
        records = [
            Alarm(text, "src", Severity.CRITICAL, "ALARM", text, resource=text, threshold=text),
            QueueStatus(text, "redis", "src", 3, dlq_name=text),
            LogRecord(T0, text, LogLevel.ERROR, text),
            DetailSection(text, (text,), ((text, text), (1, text)), (text,)),  # a row can start with a pid
            ActionOutcome("ok", f"peeked:\n{text}", text, 0.1),
            Finding(Severity.CRITICAL, "alarm", text, text, text),
            Unchecked(text, text, text, text),
        ]
        for rec in records:
            shown = repr(rec)  # every field, nested tuples included
            for field in vars(rec).values():
                for s in _strings(field):
                    assert not unsafe(s.replace("\n", "")), (type(rec).__name__, s[:80])
            assert "\\x1b" not in shown and "\\udc80" not in shown


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple):
        return [s for v in value for s in _strings(v)]
    return []


# --- the app ------------------------------------------------------------------------------


async def _palette_prompts(app: CockpitApp, pilot, query: str) -> list[str]:
    from textual.command import CommandList, CommandPalette

    await pilot.press("ctrl+p")
    await wait_until(lambda: isinstance(app.screen, CommandPalette), 5)
    await pilot.press(*query)
    commands = app.screen.query_one(CommandList)
    await wait_until(lambda: commands.option_count > 0, 10)
    return [commands.get_option_at_index(i).prompt for i in range(commands.option_count)]


async def test_a_closing_tag_in_an_alert_or_queue_name_shows_in_the_palette_literally():
    app = hostile_app(["[/x]", "[bold red]disk[/]"], ["[/x]", "celery[/q]"])
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: app.cockpit.panes[PaneKind.ALARMS].row_count() == 2, 5)
        await wait_until(lambda: app.cockpit.panes[PaneKind.QUEUES].row_count() == 2, 5)
        prompts = await _palette_prompts(app, pilot, "silence")
        shown = [str(p).split("\n")[0] for p in prompts]
        assert "alert: silence [/x]" in shown and "alert: silence [bold red]disk[/]" in shown, shown
        red = next(p for p in prompts if "disk" in str(p))
        assert not any("red" in str(s.style) for s in getattr(red, "spans", [])), red
        await pilot.press("escape")
        prompts = await _palette_prompts(app, pilot, "peek")
        assert any("[/x]" in str(p) for p in prompts) and any("celery[/q]" in str(p) for p in prompts)
        await pilot.press("escape")
        assert app.is_running


async def test_an_alertmanager_alert_and_a_celery_queue_named_closing_tag_then_ctrl_p(
    alertmanager_server, redis_url: str
) -> None:
    """The report as seen: real Alertmanager and Redis, an alert and a Celery queue named [/x]."""
    import redis

    from cockpit.profile import AlertmanagerConfig, Profile, RedisConfig, SecretRef

    from .test_alertmanager import post_alerts

    post_alerts(alertmanager_server.url, {"labels": {"alertname": "[/x]", "severity": "critical"},
                                          "annotations": {"description": DLQ_BODY}})
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=3)
    try:
        client.rpush("[/x]", "{}")
        client.sadd("_kombu.binding.[/x]", "[/x]\x06\x16\x06\x16[/x]")
    finally:
        client.close()
    profile = Profile(
        name="t", refresh=0.5,
        alertmanager=(AlertmanagerConfig("main", SecretRef(alertmanager_server.url)),),
        redis=(RedisConfig("cache", SecretRef(redis_url), ("auto",)),),
    )  # fmt: skip
    app = CockpitApp(profile)
    async with app.run_test(size=(160, 48)) as pilot:
        alarms, queues = app.cockpit.panes[PaneKind.ALARMS], app.cockpit.panes[PaneKind.QUEUES]
        await wait_until(lambda: any(a.name == "[/x]" for a in alarms.records.values()), 20)
        await wait_until(lambda: any(q.name == "[/x]" for q in queues.records.values()), 20)
        prompts = [str(p).split("\n")[0] for p in await _palette_prompts(app, pilot, "[/x]")]
        assert "alert: silence [/x]" in prompts, prompts
        assert any(p.startswith("queue: ") and p.endswith(" [/x]") for p in prompts), prompts
        await pilot.press("escape")
        assert app.is_running


async def test_a_peeked_dead_letter_body_reaches_the_notice_as_visible_text():
    app = hostile_app(["a"], ["jobs"])
    async with app.run_test(size=(160, 48)) as pilot:
        queues = app.cockpit.panes[PaneKind.QUEUES]
        await wait_until(lambda: queues.row_count() == 1, 5)
        rec = next(iter(queues.records.values()))
        app.request_action(get_action("queue.peek_dlq"), rec)
        await wait_until(lambda: any("1 message" in n.message for n in app._notifications), 5)
        note = next(n for n in app._notifications if "1 message" in n.message)
        assert not unsafe(note.message.replace("\n", "")), note.message
        assert "␛]52;c;ZWNobwo=" in note.message  # shown, so the operator sees the attempt
        await pilot.pause()


async def test_notices_from_screens_and_titles_never_carry_markup_or_escapes():
    app = hostile_app(["a"], ["jobs"])
    async with app.run_test(size=(160, 48)) as pilot:
        for text in every_hostile():
            # Screen.notify passes markup=True: the app's notices ignore it.
            app.screen.notify(text, title=text)
            app.notify(text, title=text, markup=True)
        await pilot.pause()
        for note in app._notifications:
            assert not note.markup
            assert not unsafe(note.message.replace("\n", "")) and not unsafe(note.title)
        assert app.is_running


async def test_watcher_and_replay_events_show_safe_notices():
    app = hostile_app(["a"], ["jobs"])
    async with app.run_test(size=(160, 48)) as pilot:
        for text in every_hostile():
            app.apply_stream_output({"kind": "action", "entry": {"title": text, "target": text, "outcome": text}})
        await pilot.pause()
        assert app._notifications
        for note in app._notifications:
            assert not unsafe(note.message.replace("\n", "")) and not unsafe(note.title)


async def test_confirm_and_parameter_dialogs_show_hostile_names_as_text():
    from screens.confirm import ConfirmScreen, ParamsScreen

    name = "[/x]" + CORPUS["osc2-title"] + CORPUS["c1-osc"]
    app = hostile_app([name], [name])
    async with app.run_test(size=(160, 48)) as pilot:
        queues = app.cockpit.panes[PaneKind.QUEUES]
        alarms = app.cockpit.panes[PaneKind.ALARMS]
        await wait_until(lambda: queues.row_count() == 1 and alarms.row_count() == 1, 5)
        app.request_action(get_action("queue.purge_dlq"), next(iter(queues.records.values())))
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        hint = str(app.screen.query_one("#typed-hint", Static).render())
        placeholder = app.screen.query_one("#typed", Input).placeholder
        assert "[/x]" in hint and "[/x]" in str(placeholder)
        assert not unsafe(hint) and not unsafe(str(placeholder)), (hint, placeholder)
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, ConfirmScreen), 5)

        app.request_action(get_action("alert.silence"), next(iter(alarms.records.values())))
        await wait_until(lambda: isinstance(app.screen, ParamsScreen), 5)
        title = str(app.screen.query_one(".title", Static).render())
        assert "[/x]" in title and not unsafe(title), title
        await pilot.press("escape")


# --- the CLI printers ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_cockpit_check_prints_no_escape(fmt: str) -> None:
    report = CheckReport("test", datetime.now(UTC))
    for text in every_hostile():
        report.findings += findings_for(Alarm(text, "src", Severity.CRITICAL, "ALARM", text))
        report.unchecked.append(Unchecked("src", text, text, text))
    out = render(report, fmt)  # type: ignore[arg-type]
    assert not unsafe(out.replace("\n", "")), [c for c in unsafe(out.replace("\n", ""))][:5]
    assert "[/x]" in out


def test_cockpit_timeline_prints_no_escape(tmp_path: Path, monkeypatch, capsys) -> None:
    from cockpit.timeline import main_timeline

    log = tmp_path / "audit.jsonl"
    lines = []
    for text in every_hostile():
        lines.append({"type": "alarm", "time": "2026-11-25T03:12:00Z", "profile": "test", "name": text,
                      "from": "OK", "to": "ALARM", "reason": text, "resource": text})
        lines.append({"type": "action", "time": "2026-11-25T03:13:00Z", "profile": "test",
                      "action": "queue.peek_dlq", "target": text, "resource": text, "params": {"x": text},
                      "command": text, "outcome": "ok", "error": text, "actor": text})
    log.write_text("".join(json.dumps(e) + "\n" for e in lines))
    for fmt in ("md", "json"):
        monkeypatch.setattr("sys.stdout", io.StringIO())
        code = main_timeline(["--audit", str(log), "--since", "100000d", "--format", fmt, "--all"])
        out = __import__("sys").stdout.getvalue()
        assert code == 0, out
        assert "Alarm" in out or "alarm" in out
        assert not unsafe(out.replace("\n", "")), (fmt, unsafe(out.replace("\n", ""))[:5])


# --- the bytes a terminal receives ---------------------------------------------------------

# Hostile sequences as they would arrive at the terminal (UTF-8 for C1 and bidi).
ON_THE_WIRE = (b"\x1b]", b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX", b"\x07", b"\x00",
               "\x9b".encode(), "\x9d".encode(), "\x90".encode(), "\u202e".encode(), "\u2066".encode(),
               b"ZWNobwo=\x1b", b"\x1b[2J\x1b[31mred")


def test_the_real_app_in_a_pty_writes_no_hostile_sequence(tmp_path: Path) -> None:
    import os
    import sys

    from .test_terminal import Terminal

    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "COLUMNS", "LINES", "TEXTUAL_DRIVER")}
    env.update(TERM="xterm-256color", LANG="C.UTF-8", HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    term = Terminal([sys.executable, "-m", "tests.hostile"], env)
    wire = bytearray()
    feed = term.stream.feed
    term.stream.feed = lambda data: (wire.extend(data), feed(data))[1]  # type: ignore[method-assign]

    def step(keys: bytes, shown: str, gone: str = "") -> None:
        term.send(keys)
        assert term.wait_for(lambda s: shown in s and not (gone and gone in s), 30), (shown, term.text())
        assert term.proc.poll() is None, term.text()

    try:
        assert term.wait_for(lambda s: "␛]2;X␛" in s and "[/x]" in s, 30), term.text()
        step(b"\x10", "Search for commands")  # ctrl+p: the palette, with every row's actions
        step(b"silence", "alert: silence [/x]")
        step(b"\x1b", "Services", gone="alert: silence [/x]")
        step(b"\x1b[15~", "1 message")  # F5: peek, the dead letter's body in a notice
        step(b"\x1b[17~", "Confirm queue: purge")  # F6: purge, typed confirmation naming the DLQ
        step(b"\x1b", "Services", gone="Confirm queue: purge")
        step(b"\x1b[18~", "alert: silence: ")  # F7: the parameter screen's title
        step(b"\x1b", "Services", gone="alert: silence: ")
        step(b"\x1b[19~", "corpus done")  # F8: notices from the app, a screen, a watcher
        step(b"\t\r", "Services")  # a row's detail screen
        assert b"\x1b[?1049h" in wire  # the app's own sequences do reach the terminal
        # Textual's own OSC: the mouse pointer's shape (OSC 22), never estate text.
        own = re.sub(rb"\x1b\]22;[a-z-]+\x07", b"", bytes(wire))
        found = [seq for seq in ON_THE_WIRE if seq in own]
        assert not found, found
    finally:
        term.close()
