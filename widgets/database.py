"""Database pane: connections, activity and size per database (PostgreSQL, RDS, Redis)."""

from __future__ import annotations

from rich.text import Text

from cockpit.model import DatabaseSnapshot, PaneKind
from widgets.pane import TablePane, action_bindings, human_bytes, num, plain


class DatabasePane(TablePane):
    kind = PaneKind.DATABASE
    title = "Database"
    BINDINGS = action_bindings(DatabaseSnapshot)
    noun = "databases"
    columns = [
        ("", 2),
        ("database", 16),
        ("conns", 9),
        ("active", 6),
        ("idle tx", 7),
        ("blocked", 7),
        ("size", 8),
        ("longest query", 16),
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
            num(d.active),
            num(d.idle_in_transaction),
            num(d.blocked),
            Text(human_bytes(d.size_bytes), justify="right"),
            plain(longest, 120),
        ]
