"""Plain hosts: systemd units (or processes), host metrics, threshold alarms, logs, restarts.

Per host and refresh there is one round trip (``PROBE_SCRIPT``): whether systemd runs
(``/run/systemd/system``), load, CPU, memory, ``df -P``, and either one ``systemctl show``
for all configured units or, without systemd, ``ps`` (the rows then say "ps, no systemd").
The services source and the alarms source of a host share that probe (``Host``).

Logs: ``tail -F`` for files and ``journalctl -f -o json`` for units, one long-lived
command per source over the host's shared ControlMaster, resuming where it was after a
dropped connection.

The package's rooms: ``probe`` (the probe script and its pure parsers), ``rows`` (a snapshot
-> Services rows, unit rules, threshold breaches), ``host`` (``Host``: transport, shared
probe, ``measure``), ``services`` (the Services source and its actions), ``alarms`` (the
Alarms source, damped), ``logs`` (file and journal followers). This module builds the
sources a profile asks for.
"""

from __future__ import annotations

from typing import Any

from cockpit.backends.hosts.alarms import HostAlarmSource
from cockpit.backends.hosts.host import (  # noqa: F401 (re-exported)
    FIRST_CPU_WINDOW_S,
    HISTORY,
    Host,
    make_transport,
)
from cockpit.backends.hosts.logs import (  # noqa: F401 (re-exported)
    FILE_HISTORY_LINES,
    FOLLOW_FILE_SCRIPT,
    FOLLOW_JOURNAL_SCRIPT,
    MAX_LINE_CHARS,
    READ_CHUNK,
    FileLogSource,
    JournalLogSource,
    parse_journal_entry,
)
from cockpit.backends.hosts.probe import (  # noqa: F401 (re-exported)
    PROBE_SCRIPT,
    SHOW_PROPERTIES,
    Disk,
    HostSnapshot,
    HostTools,
    Process,
    UnitState,
    cpu_percent,
    parse_cpu_line,
    parse_df,
    parse_meminfo,
    parse_pidfiles,
    parse_probe,
    parse_ps,
    parse_systemctl_show,
    split_sections,
)
from cockpit.backends.hosts.rows import (  # noqa: F401 (re-exported)
    ThresholdOverrides,
    has_rule,
    host_row,
    matching_processes,
    metric_breaches,
    metrics_section,
    metrics_text,
    pidfile_pid,
    process_name,
    process_row,
    service_rows,
    unit_row,
    unit_rule,
    unruled_row,
)
from cockpit.backends.hosts.services import (  # noqa: F401 (re-exported)
    CHECK_KEEP_CHARS,
    CHECK_RESULT_CHARS,
    CHECK_TIMEOUT_S,
    RESTART_TIMEOUT_S,
    CheckOutput,
    HostServicesSource,
    check_text,
)
from cockpit.backends.ssh import Pool, Transport
from cockpit.profile import Profile


def build_host_sources(
    profile: Profile,
    *,
    pool: Pool | None = None,
    transports: dict[str, Transport] | None = None,
    tools: HostTools | None = None,
) -> tuple[list[Any], list[Any]]:
    """Services + alarms sources per host, and a log source per file / journal unit.

    ``transports`` (by host name) replaces the ssh/local transport, for tests.
    """
    pool = pool or Pool()
    # Leave the hub's timeout room to report the transport's own, clearer error.
    timeout = max(1.0, profile.timeout * 0.8)
    sources: list[Any] = []
    logs: list[Any] = []
    for cfg in profile.hosts:
        transport = (transports or {}).get(cfg.name) or make_transport(cfg, pool, timeout)
        host = Host(cfg, transport, tools=tools, max_age=min(1.0, profile.refresh / 2))
        # The host's row and its alarms read the same run-time thresholds (a drill's).
        overrides = ThresholdOverrides()
        sources += [
            HostServicesSource(host, profile.thresholds, overrides),
            HostAlarmSource(host, profile.thresholds, overrides=overrides),
        ]
        logs += [FileLogSource(host, p) for p in host.logs]
        logs += [JournalLogSource(host, u) for u in host.journal]
    return sources, logs
