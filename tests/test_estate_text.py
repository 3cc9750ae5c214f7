"""Text from the estate reaches the screen and the CLI as plain, safe text.

Hostile names and bodies (markup, OSC title/clipboard/hyperlink, CSI, DCS, APC, C1, bidi
overrides, lone surrogates, a megabyte) go through every place that shows text: records,
the palette, notices, the confirm and parameter dialogs, watcher and replay events, and the
`cockpit check` / `cockpit timeline` printers.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from cockpit.actions import ActionOutcome, get_action
from cockpit.app import CockpitApp
from cockpit.check import CheckReport, Finding, Unchecked, findings_for, render
from cockpit.model import Alarm, DetailSection, LogLevel, LogRecord, PaneKind, QueueStatus, Severity
from cockpit.profile import Profile
from cockpit.sources import Sources
from cockpit.text import sanitize, sanitize_block

from .fakes import T0, ListSource, QueueLogs
from .helpers import wait_until

# The corpus: each entry is something an estate can hold (an alert name, a key, a body).
CORPUS: dict[str, str] = {
    "osc2-title": "\x1b]2;X\x1b\\",
    "osc0-title-bel": "\x1b]0;pwned\x07",
    "osc52-clipboard": "\x1b]52;c;ZWNobwo=\x1b\\",
    "osc8-hyperlink": "\x1b]8;;http://evil.invalid/\x1b\\click\x1b]8;;\x1b\\",
    "csi": "\x1b[2J\x1b[31mred\x1b[0m\x1b[1;1H",
    "dcs": "\x1bPq#0;2;0;0;0#0~~\x1b\\",
    "apc": "\x1b_Gf=100,a=T;AAAA\x1b\\",
    "c1-csi": "\x9b31mC1\x9b0m",
    "c1-osc": "\x9d2;C1 title\x9c",
    "c0": "nul\x00bel\x07bs\x08cr\rdel\x7f",
    "closing-tag": "[/x]",
    "markup": "[bold red]boom[/]",
    "link-markup": "[link=http://evil.invalid]x[/link]",
    "bidi": "abc\u202edcba\u2066x\u2069",
    "surrogate": "a\udc80b",
}
HUGE = "A" * 1_000_000
DLQ_BODY = "\x1b]2;X\x1b\\\x1b]52;c;ZWNobwo=\x1b\\"
# What must never reach a terminal from the estate (the app's own output has other ESCs).
FORBIDDEN = ("\x1b]", "\x1bP", "\x1b_", "\x1b^", "\x1bX", "\x9b", "\x9d", "\x90", "\x9f", "\x07", "\x00",
             "\u202e", "\u2066")


def unsafe(text: str) -> list[str]:
    """What in ``text`` could act on a terminal: any ESC, C0 but newline, C1, bidi, surrogates."""
    bad = [c for c in text if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F
           or 0xD800 <= ord(c) <= 0xDFFF or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
    return bad


def every_hostile() -> list[str]:
    return [*CORPUS.values(), HUGE, DLQ_BODY, "".join(CORPUS.values())]


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
            DetailSection(text, (text,), ((text, text),), (text,)),
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


class HostileAlarms(ListSource):
    """Alarms that can be silenced (so the palette lists them), named by the estate."""

    async def silence(self, target: Alarm, duration: str, comment: str) -> str:
        return f"silenced {target.name}"

    def silence_command(self, target: Alarm, duration: str, comment: str) -> list[str]:
        return ["amtool", "silence", "add", f"alertname={target.name}"]


class HostileQueues(ListSource):
    """A queue whose dead letters are hostile; peek returns their bodies, as SQS's does."""

    async def peek_dlq(self, target: QueueStatus) -> str:
        return f"{target.dlq_name}: 1 message\n{DLQ_BODY}"

    def peek_dlq_command(self, target: QueueStatus) -> list[str]:
        return ["aws", "sqs", "receive-message", "--queue-url", target.dlq_name]

    async def purge_dlq(self, target: QueueStatus) -> str:
        return f"purged {target.dlq_name}"

    def purge_dlq_command(self, target: QueueStatus) -> list[str]:
        return ["aws", "sqs", "purge-queue", "--queue-url", target.dlq_name]


def hostile_app(alarm_names: list[str], queue_names: list[str]) -> CockpitApp:
    alarms = HostileAlarms("fake:alarms", PaneKind.ALARMS, [
        Alarm(n, "fake:alarms", Severity.CRITICAL, "firing", n, since=T0) for n in alarm_names])
    queues = HostileQueues("fake:queues", PaneKind.QUEUES, [
        QueueStatus(n, "redis", "fake:queues", 3, dlq_name=n + "-dlq", dlq_depth=1) for n in queue_names])

    def factory(profile: Profile, notes: dict[str, str]) -> Sources:
        return Sources([alarms, queues], [QueueLogs()])

    return CockpitApp(Profile(name="test", description="hostile estate", refresh=0.2), sources_factory=factory)


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
        code = main_timeline(["--audit", str(log), "--since", "100000d", "--format", fmt])
        out = __import__("sys").stdout.getvalue()
        assert code == 0, out
        assert "Alarm" in out or "alarm" in out
        assert not unsafe(out.replace("\n", "")), (fmt, unsafe(out.replace("\n", ""))[:5])
