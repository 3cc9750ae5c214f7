"""A hostile estate: names and bodies that try to act on the terminal or parse as markup.

Shared by tests/test_estate_text.py and, run as ``python -m tests.hostile``, the cockpit on this
estate in a real pseudo-terminal (function keys there open each place that shows text).
"""

from __future__ import annotations

from textual.binding import Binding

from cockpit.actions import get_action
from cockpit.app import CockpitApp
from cockpit.model import (
    Alarm,
    DatabaseSnapshot,
    LogLevel,
    LogRecord,
    PaneKind,
    QueueStatus,
    ServiceStatus,
    Severity,
)
from cockpit.profile import Profile
from cockpit.sources import Sources

from .fakes import T0, ListSource, QueueLogs

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



class HostileAlarms(ListSource):
    """Alarms that can be silenced (so the palette lists them), named by the estate."""

    async def silence(self, target: Alarm, duration: str, comment: str) -> str:
        return f"silenced {target.name}"

    def silence_command(self, target: Alarm, duration: str, comment: str) -> list[str]:
        return ["amtool", "silence", "add", f"alertname={target.name}"]


class HostileQueues(ListSource):
    """A queue whose dead letters are hostile; peek returns their bodies, as SQS's does."""

    async def peek_dlq(self, target: QueueStatus) -> str:
        return f"peeked {target.dlq_name}:\n{DLQ_BODY}\n1 message"

    def peek_dlq_command(self, target: QueueStatus) -> list[str]:
        return ["aws", "sqs", "receive-message", "--queue-url", target.dlq_name]

    async def purge_dlq(self, target: QueueStatus) -> str:
        return f"purged {target.dlq_name}"

    def purge_dlq_command(self, target: QueueStatus) -> list[str]:
        return ["aws", "sqs", "purge-queue", "--queue-url", target.dlq_name]


class HostileCockpit(CockpitApp):
    """The cockpit, with keys a pseudo-terminal test presses to open each place showing text."""

    BINDINGS = [
        Binding("f5", "peek", "peek", show=False),
        Binding("f6", "purge", "purge", show=False),
        Binding("f7", "silence", "silence", show=False),
        Binding("f8", "notices", "notices", show=False),
    ]

    def _first(self, pane: PaneKind):  # type: ignore[no-untyped-def]
        records = self.cockpit.panes[pane].records
        return next(iter(records.values()))

    def action_peek(self) -> None:
        self.request_action(get_action("queue.peek_dlq"), self._first(PaneKind.QUEUES))

    def action_purge(self) -> None:
        self.request_action(get_action("queue.purge_dlq"), self._first(PaneKind.QUEUES))

    def action_silence(self) -> None:
        self.request_action(get_action("alert.silence"), self._first(PaneKind.ALARMS))

    def action_notices(self) -> None:
        """Every kind of notice, with every hostile text: the app's, a screen's, a watcher's."""
        for text in every_hostile():
            self.notify(text, title=text, timeout=30)
            self.screen.notify(text, title=text, timeout=30)
            self.apply_stream_output({"kind": "action", "entry": {"title": text, "target": text, "outcome": text}})
        # Once they are painted, out of the way (they overflow the screen), and say so.
        self.call_after_refresh(self._notices_painted)

    def _notices_painted(self) -> None:
        self.clear_notifications()
        self.notify("corpus done", timeout=30)


def hostile_app(alarm_names: list[str], queue_names: list[str], cls: type[CockpitApp] = CockpitApp) -> CockpitApp:
    alarms = HostileAlarms("fake:alarms", PaneKind.ALARMS, [
        Alarm(n, "fake:alarms", Severity.CRITICAL, "firing", n, since=T0, resource=n) for n in alarm_names])
    queues = HostileQueues("fake:queues", PaneKind.QUEUES, [
        QueueStatus(n, "redis", "fake:queues", 3, dlq_name=n + "-dlq", dlq_depth=1) for n in queue_names])
    services = ListSource("fake:services", PaneKind.SERVICES, [
        ServiceStatus(n, "host", "fake:services", Severity.WARNING, n, 1, 2, deployment=n, cluster=n,
                      events=((T0, n),)) for n in alarm_names])
    database = ListSource("fake:db", PaneKind.DATABASE, [
        DatabaseSnapshot(n, "postgres", "fake:db", longest_query=n, status=n, detail=((n, n),))
        for n in alarm_names[:3]])
    logs = QueueLogs()

    def factory(profile: Profile, notes: dict[str, str]) -> Sources:
        for n in alarm_names:
            logs.queue.put_nowait([LogRecord(T0, n, LogLevel.ERROR, n)])
        return Sources([services, alarms, queues, database], [logs])

    return cls(Profile(name="test", description="hostile estate", refresh=0.5), sources_factory=factory)


if __name__ == "__main__":
    hostile_app(every_hostile(), every_hostile(), HostileCockpit).run()
