"""`cockpit check`: the start-of-shift health check without the UI, for cron and CI.

One refresh of every configured source, all at once, each under the profile's timeout; then
one report of what needs attention — services not at their desired count, alarms firing,
queue and dead-letter depths, database connection ratio and blocked sessions, failing health
checks — and an exit code a script can act on:

    0 all clear · 1 warnings · 2 critical · 3 some sources could not be checked (listed)

3 wins over 2: a report with a blind spot must not pass for a complete one. Log sources are
not read (a check is a snapshot, not a tail).

A check reports what it measures: alarm damping (``thresholds.hold``) is for a cockpit that
refreshes for hours, and one refresh under it would see nothing fire. So that the measured
host CPU is the host's and not the check's own start-up (the lab, SDK imports, connects),
hosts are measured last, once every other source has answered: over ``CPU_WINDOW_S`` while
the check waits, as ``vmstat 1 2``'s second line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from cockpit.errors import CockpitError
from cockpit.model import Alarm, DatabaseSnapshot, QueueStatus, ServiceStatus, Severity
from cockpit.profile import Profile
from cockpit.text import EstateText, sanitize

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNCHECKED = 0, 1, 2, 3
CPU_WINDOW_S = 1.0
Format = Literal["text", "json", "markdown"]
FailOn = Literal["warning", "critical"]


@dataclass(frozen=True)
class Finding(EstateText):
    """One line of the report. OK findings are figures worth printing anyway (DLQ depth)."""

    _free_text = ("text",)

    severity: Severity
    kind: str  # "service" | "alarm" | "queue" | "database" | "health"
    name: str
    text: str  # estate text (alarm reasons) made safe, as in records
    source: str = ""

    @property
    def problem(self) -> bool:
        # No data is not "fine": an alarm in INSUFFICIENT_DATA is shown as a warning.
        return self.severity >= Severity.WARNING


@dataclass(frozen=True)
class Unchecked(EstateText):
    _free_text = ("message", "hint")

    source: str
    title: str
    message: str
    hint: str = ""


@dataclass
class CheckReport:
    profile: str
    started: datetime
    duration_s: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    unchecked: list[Unchecked] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # source ids that answered
    services_ok: int = 0  # services at their desired count (not listed one by one)

    @property
    def worst(self) -> Severity:
        # UNKNOWN sorts above CRITICAL in the enum; for the exit code it is a warning.
        levels = [
            Severity.WARNING if f.severity is Severity.UNKNOWN else f.severity
            for f in self.findings
        ]
        return max(levels, default=Severity.OK)

    @property
    def status(self) -> str:
        if self.unchecked:
            return "incomplete"
        worst = self.worst
        if worst >= Severity.CRITICAL:
            return "critical"
        if worst >= Severity.WARNING:
            return "warning"
        return "ok"

    def exit_code(self, fail_on: FailOn = "warning") -> int:
        if self.unchecked:
            return EXIT_UNCHECKED
        worst = self.worst
        if worst >= Severity.CRITICAL:
            return EXIT_CRITICAL
        if worst >= Severity.WARNING and fail_on == "warning":
            return EXIT_WARNING
        return EXIT_OK

    def problems(self) -> list[Finding]:
        order = {Severity.CRITICAL: 0, Severity.UNKNOWN: 1, Severity.WARNING: 2}
        return sorted(
            (f for f in self.findings if f.problem),
            key=lambda f: (order.get(f.severity, 3), f.kind, f.name),
        )

    def figures(self) -> list[Finding]:
        return [f for f in self.findings if not f.problem]


# --- records -> findings (pure) -----------------------------------------------------------


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def findings_for(record: Any) -> list[Finding]:
    """What a record contributes to the report (pure; the tests feed it records directly)."""
    if isinstance(record, ServiceStatus):
        if record.running == record.desired and record.status < Severity.WARNING:
            # A host's figures (cpu, memory, disk) are worth printing: compare with vmstat.
            return [Finding(Severity.OK, "host", record.name, record.deployment, record.source)] \
                if record.backend == "host" and record.deployment else []  # fmt: skip
        severity = record.status if record.status >= Severity.WARNING else Severity.WARNING
        text = f"{record.status_text}: running {record.running}/{record.desired}"
        if record.pending:
            text += f", {record.pending} pending"
        if record.deployment:
            text += f"; deployment {record.deployment}"
        return [Finding(severity, "service", record.name, text, record.source)]
    if isinstance(record, Alarm):
        if record.severity < Severity.WARNING:
            return []
        text = record.state + (f": {record.reason}" if record.reason else "")
        if record.reason.startswith(f"{record.state}:"):  # a stack's reason leads with its state
            text = record.reason
        return [Finding(record.severity, "alarm", record.name, text, record.source)]
    if isinstance(record, QueueStatus):
        parts = [f"depth {record.depth}" if record.depth is not None else record.note or "depth unknown"]
        if record.in_flight is not None:
            parts.append(f"in flight {record.in_flight}")
        if record.dlq_name or record.dlq_depth is not None:
            parts.append(f"dead letters {record.dlq_depth if record.dlq_depth is not None else '?'}"
                         + (f" ({record.dlq_name})" if record.dlq_name else ""))
        return [Finding(record.severity, "queue", record.name, ", ".join(parts), record.source)]
    if isinstance(record, DatabaseSnapshot):
        parts = []
        if record.connections is not None and record.max_connections:
            parts.append(
                f"connections {record.connections}/{record.max_connections} "
                f"({_pct(record.connections, record.max_connections)})"
            )
        if record.blocked is not None:
            parts.append(f"blocked sessions {record.blocked}")
        if record.idle_in_transaction:
            parts.append(f"idle in transaction {record.idle_in_transaction}")
        if record.status and not parts:
            parts.append(f"status {record.status}")
        text = ", ".join(parts) or "no figures"
        return [Finding(record.severity, "database", record.name, text, record.source)]
    return []


# --- running the check --------------------------------------------------------------------

Progress = Callable[[str], None]


async def run_check(
    profile: Profile,
    notes: dict[str, str] | None = None,
    *,
    progress: Progress | None = None,
) -> CheckReport:
    """One concurrent refresh of every source of ``profile`` (already pointed at a lab)."""
    from cockpit.hub import describe_error
    from cockpit.sources import build_sources

    say = progress or (lambda _msg: None)
    report = CheckReport(profile.name, datetime.now(UTC))
    started = time.monotonic()
    profile = replace(profile, thresholds=replace(profile.thresholds, hold=0))
    sources = build_sources(profile, notes).sources

    async def one(src: Any) -> None:
        try:
            records = await asyncio.wait_for(src.fetch(), profile.timeout)
        except Exception as e:  # every failure is a blind spot, reported by name
            if isinstance(e, TimeoutError):
                message, hint = f"no answer within {profile.timeout:g} s", "check the network"
            else:
                message, hint = describe_error(e)
            report.unchecked.append(Unchecked(src.id, src.title, message, hint))
            say(f"  {src.title}: not checked ({message})")
            return
        finally:
            with contextlib.suppress(Exception):
                await src.close()
        report.checked.append(src.id)
        for record in records:
            if isinstance(record, ServiceStatus) and not any(f.problem for f in findings_for(record)):
                report.services_ok += 1
            report.findings.extend(findings_for(record))
        say(f"  {src.title}: ok")

    say(f"checking {len(sources)} sources of {profile.name}")
    def on_host(src: Any) -> bool:
        return callable(getattr(getattr(src, "host", None), "measure", None))

    measured: list[Any] = [s for s in sources if on_host(s)]  # host sources (checked above)
    hosts = {id(s.host): s.host for s in measured}
    await asyncio.gather(
        *(one(s) for s in sources if not on_host(s)),
    )
    if hosts:
        # A failed measurement is reported by the host's own fetch just after.
        await asyncio.gather(
            *(asyncio.wait_for(h.measure(CPU_WINDOW_S), profile.timeout) for h in hosts.values()),
            return_exceptions=True,
        )
        await asyncio.gather(*(one(s) for s in sources if on_host(s)))
    report.unchecked.sort(key=lambda u: u.source)
    report.checked.sort()
    report.duration_s = time.monotonic() - started
    return report


# --- rendering ----------------------------------------------------------------------------

_LABEL = {
    Severity.CRITICAL: "CRITICAL",
    Severity.UNKNOWN: "NO DATA",
    Severity.WARNING: "WARNING",
    Severity.INFO: "info",
    Severity.OK: "ok",
}


def _headline(report: CheckReport) -> str:
    problems = report.problems()
    crit = sum(1 for f in problems if f.severity is Severity.CRITICAL)
    warn = len(problems) - crit
    parts = [f"{crit} critical", f"{warn} warning{'s' if warn != 1 else ''}"]
    if report.unchecked:
        n = len(report.unchecked)
        parts.append(f"{n} source{'s' if n != 1 else ''} not checked")
    when = report.started.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{report.profile}: {report.status.upper()} — {', '.join(parts)} ({when}, {report.duration_s:.1f} s)"


def render_text(report: CheckReport) -> str:
    lines = [f"cockpit check {_headline(report)}"]
    problems = report.problems()
    if problems:
        lines.append("")
        w = max(len(f.name) for f in problems)
        for f in problems:
            lines.append(f"{_LABEL[f.severity]:<8}  {f.kind:<8}  {f.name:<{w}}  {f.text}")
    if report.unchecked:
        lines += ["", "not checked:"]
        for u in report.unchecked:
            lines.append(f"  {u.title} ({u.source}): {u.message}" + (f" — {u.hint}" if u.hint else ""))
    lines += ["", f"services at desired count: {report.services_ok}"]
    for f in report.figures():
        lines.append(f"{f.kind:<8}  {f.name}: {f.text}")
    return "\n".join(lines) + "\n"


def render_json(report: CheckReport, fail_on: FailOn = "warning") -> str:
    def finding(f: Finding) -> dict[str, Any]:
        d = asdict(f)
        d["severity"] = f.severity.label if f.severity is not Severity.UNKNOWN else "no-data"
        return d

    out = {
        "profile": report.profile,
        "time": report.started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_s": round(report.duration_s, 3),
        "status": report.status,
        "exit_code": report.exit_code(fail_on),
        "problems": [finding(f) for f in report.problems()],
        "figures": [finding(f) for f in report.figures()],
        "services_ok": report.services_ok,
        "unchecked": [asdict(u) for u in report.unchecked],
        "checked": report.checked,
    }
    return json.dumps(out, ensure_ascii=False, indent=2) + "\n"


def _md(text: str) -> str:
    # Cells are estate text: keep a pipe or a newline from breaking the table.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(report: CheckReport) -> str:
    lines = [f"# Health check: {_headline(report)}", ""]
    problems = report.problems()
    if problems:
        lines += ["## Needs attention", "", "| severity | kind | name | detail |", "|---|---|---|---|"]
        lines += [
            f"| {_LABEL[f.severity]} | {f.kind} | {_md(f.name)} | {_md(f.text)} |" for f in problems
        ]
        lines.append("")
    else:
        lines += ["Nothing needs attention.", ""]
    if report.unchecked:
        lines += ["## Not checked", ""]
        lines += [
            f"- **{_md(u.title)}** (`{u.source}`): {_md(u.message)}" + (f" — {_md(u.hint)}" if u.hint else "")
            for u in report.unchecked
        ]
        lines.append("")
    lines += ["## Figures", "", f"- services at desired count: {report.services_ok}"]
    lines += [f"- {f.kind} **{_md(f.name)}**: {_md(f.text)}" for f in report.figures()]
    return "\n".join(lines) + "\n"


def render(report: CheckReport, fmt: Format, fail_on: FailOn = "warning") -> str:
    if fmt == "json":
        return render_json(report, fail_on)
    if fmt == "markdown":
        return render_markdown(report)
    return render_text(report)


# --- `cockpit check` ----------------------------------------------------------------------


class _DaemonExecutor(ThreadPoolExecutor):
    """One daemon thread per blocking SDK call.

    A timed-out call cannot be cancelled inside its thread (boto3 may keep retrying for
    half a minute); the default executor would hold ``asyncio.run`` and the interpreter's
    exit until it gives up. The check has already reported that source as not checked.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as e:  # handed to the awaiting coroutine
                future.set_exception(e)

        threading.Thread(target=run, name="check-call", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None  # nothing pooled; running calls are daemons on purpose


async def _check_detached(profile: Profile, notes: dict[str, str], progress: Progress) -> CheckReport:
    asyncio.get_running_loop().set_default_executor(_DaemonExecutor())
    return await run_check(profile, notes, progress=progress)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit check",
        description="One refresh of every source; report what needs attention. "
        "Exit 0 all clear, 1 warnings, 2 critical, 3 some sources could not be checked.",
    )
    p.add_argument("--profile", help="profile name (default: the file's `default`)")
    p.add_argument("--config", metavar="PATH", help="profiles.yaml to use")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument(
        "--fail-on",
        choices=("warning", "critical"),
        default="warning",
        help="lowest severity that makes the exit code non-zero (default: warning)",
    )
    p.add_argument("--lab-env", metavar="FILE", help="check a lab started by `cockpit lab up`")
    return p


def main_check(
    argv: Sequence[str],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    args = _parser().parse_args(list(argv))
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    tty = err.isatty()

    def progress(msg: str) -> None:
        if tty:  # cron mails whatever reaches stderr: keep it quiet there
            print(sanitize(msg), file=err, flush=True)

    from cockpit.labenv import headless_profile

    try:
        with headless_profile(args.config, args.profile, args.lab_env, progress) as (profile, notes):
            report = asyncio.run(_check_detached(profile, notes, progress))
    except CockpitError as e:
        # An error can quote the estate (a name, a server's answer): printed safe.
        print(f"cockpit check: {sanitize(e.message)}", file=err)
        if e.hint:
            print(f"  {sanitize(e.hint)}", file=err)
        return EXIT_UNCHECKED
    except KeyboardInterrupt:
        return 130
    out.write(render(report, args.format, args.fail_on))
    out.flush()
    return report.exit_code(args.fail_on)
