"""The explain layer: what a pane shows, where it comes from, and the command it replaces.

Generated from the sources (their ``explain_command``) and the action registry (each action's
equivalent command for the focused row), never written per screen, so a new backend or
action explains itself. Headless: the explain panel only renders these sections.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cockpit.masking import mask_argv, shell_join
from cockpit.model import PaneKind

PANES: dict[PaneKind, tuple[str, str]] = {
    PaneKind.SERVICES: (
        "Every running thing with a desired and an actual count: ECS services, Kubernetes "
        "workloads, systemd units. Status is the worst of: nothing running (down), fewer than "
        "desired (degraded), a rollout in progress or failed.",
        "Replaces `aws ecs describe-services`, `kubectl get deploy`, `systemctl status`.",
    ),
    PaneKind.ALARMS: (
        "What is firing now, worst first: CloudWatch alarms in ALARM or without data, stuck "
        "CloudFormation stacks, Kubernetes trouble (CrashLoopBackOff, OOMKilled, Warning events), "
        "Alertmanager alerts, Prometheus targets and thresholds, health checks, Sentry issues "
        "(new, regressed, spiking), open PagerDuty incidents, and the cockpit's own threshold "
        "alarms. `since` is when the state last changed.",
        "Replaces `aws cloudwatch describe-alarms --state-value ALARM`, `amtool alert query`, "
        "`sentry-cli issues list`, PagerDuty's incidents page.",
    ),
    PaneKind.LOGS: (
        "The merged log stream of every followed source, newest at the bottom, kept in a "
        "bounded ring. `/` filters; arrows pause following; `f` follows again.",
        "Replaces `aws logs tail --follow`, `kubectl logs -f`, `tail -F`.",
    ),
    PaneKind.QUEUES: (
        "Queue depth, messages in flight, and the dead-letter queue's depth: messages that "
        "failed processing too many times land there and wait for a human.",
        "Replaces `aws sqs get-queue-attributes`, `redis-cli LLEN`.",
    ),
    PaneKind.DATABASE: (
        "Connections used of the maximum, active and idle-in-transaction sessions, blocked "
        "sessions and the longest running query; RDS instance status.",
        "Replaces `psql -c 'select ... from pg_stat_activity'`, `redis-cli INFO`, "
        "`aws rds describe-db-instances`.",
    ),
}


@dataclass(frozen=True)
class ExplainSection:
    title: str
    lines: tuple[str, ...]


def _command(argv: Iterable[str]) -> str:
    return shell_join(mask_argv(argv))


def explain(pane: PaneKind, sources: Iterable[Any], record: Any = None, backend: Any = None,
            profile_name: str = "", extra: tuple = (), estates: bool = False) -> list[ExplainSection]:
    """Sections for the explain panel: the pane, its sources' commands, the row's actions
    (``estates``: the profile spans several, so say which one the row is in)."""
    from cockpit.actions import estate_of, estate_text, target_name
    from cockpit.registry import available_actions

    what, replaces = PANES[pane]
    out = [ExplainSection(pane.value.capitalize(), (what, replaces))]
    commands = []
    for src in sources:
        cmd = getattr(src, "explain_command", None)
        if callable(cmd):
            try:
                commands.append(f"{src.title}: {_command(cmd())}")
            except Exception as e:  # an explain that fails must not break the panel
                commands.append(f"{src.title}: (no command: {e})")
        else:
            commands.append(f"{src.title}: (read directly; no CLI equivalent)")
    if commands:
        out.append(ExplainSection("Where the data comes from", tuple(commands)))
    if record is not None:
        lines = []
        for spec in available_actions(record, backend, extra):
            try:
                params = spec.resolve_params(backend, record, None)
                argv = spec.command(backend, record, params)
                lines.append(f"{spec.title} ({spec.risk.value}): {_command(argv)}")
            except Exception as e:
                lines.append(f"{spec.title} ({spec.risk.value}): needs input first ({e})")
        name = target_name(record)
        if not lines:
            lines.append("no actions for this row's backend")
        where = estate_text(estate_of(backend, record)) if estates else ""
        if where:
            lines.insert(0, f"estate: {where}")
        out.append(ExplainSection(f"Actions on {name}", tuple(lines)))
    if profile_name:
        out.append(ExplainSection("Profile", (profile_name,)))
    return out
