"""Database pane: connections, throughput, cache, replication lag, activity and size per database
(PostgreSQL, RDS, Redis)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType

from cockpit.model import DatabaseSnapshot, PaneKind
from cockpit.units import format_bytes
from widgets.keyed_table import Col
from widgets.pane import TablePane, action_bindings, num, plain


def _rate(per_s: float | None) -> str:
    if per_s is None:
        return "–"
    return f"{per_s:.1f}" if per_s < 10 else f"{per_s:,.0f}"


def _percent(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    # 99.95 % must not round up to a perfect-looking 100 %.
    return f"{int(ratio * 1000) / 10:.1f}" if ratio < 1 else "100"


def _lag(d: DatabaseSnapshot) -> str:
    """``0s`` caught up, ``3.2s/1.5MB`` behind; ``–`` with no replication to speak of."""
    if d.replication_lag_s is None and d.replication_lag_bytes is None:
        return "–"
    secs = d.replication_lag_s
    if secs is None:
        when = "?"
    elif secs < 10:
        when = f"{secs:.1f}s".replace(".0s", "s")
    else:
        when = f"{secs:.0f}s" if secs < 600 else f"{secs // 60:.0f}m"
    if d.replication_lag_bytes:
        return f"{when}/{format_bytes(d.replication_lag_bytes)}"
    return when


class DatabasePane(TablePane[DatabaseSnapshot]):
    kind = PaneKind.DATABASE
    record_type = DatabaseSnapshot
    title = "Database"
    BINDINGS: ClassVar[list[BindingType]] = [*action_bindings(DatabaseSnapshot)]
    noun = "databases"
    empty = "no database sources: add databases, redis or aws.rds to the profile"
    columns = [
        # Blocked sessions, idle transactions and the longest query stay longest: what a
        # lock incident is about; sizes and rates drop out first.
        Col("", 2, 0),
        Col("database", 12, 0, max=40, middle=True),
        Col("conns", 9, 2),
        Col("tps", 6, 4),
        Col("hit%", 5, 5),
        Col("repl lag", 10, 4),
        Col("active", 6, 3),
        Col("idle tx", 7, 1),
        Col("blocked", 7, 1),
        Col("size", 8, 6),
        Col("rb/s", 5, 6),
        Col("temp", 7, 6),
        Col("longest", 12, 1, grow=True),
    ]

    def sort(self, records: list[DatabaseSnapshot]) -> list[DatabaseSnapshot]:
        return sorted(records, key=lambda d: (d.backend, d.name))

    def row(self, d: DatabaseSnapshot) -> tuple[str, list[Text]]:
        if d.connections is not None:
            conns = f"{d.connections}/{d.max_connections}" if d.max_connections else str(d.connections)
        else:
            conns = d.status or "–"
        if d.longest_query_s is not None:
            longest = f"{d.longest_query_s:.0f}s {d.longest_query}"
        else:
            longest = "–"
        return d.key, [
            Text(d.severity.symbol, style=self.severity_style(d.severity)),
            plain(d.name, 60),
            Text(conns, justify="right"),
            Text(_rate(d.tps), justify="right"),
            Text(_percent(d.cache_hit_ratio), justify="right"),
            Text(_lag(d), justify="right"),
            num(d.active),
            num(d.idle_in_transaction),
            num(d.blocked),
            Text(format_bytes(d.size_bytes), justify="right"),
            Text(_rate(d.rollbacks_per_s), justify="right"),
            Text(format_bytes(d.temp_bytes), justify="right"),
            plain(longest, 120),
        ]
