"""The seams of the codebase, as the next engineer relies on them.

Screens reach a backend only through the one-verb capability Protocols of
``cockpit/backends/base.py`` (never a backend module, never ``hasattr`` probes); a figure
the user reads in several places (a byte size, an age, a sparkline, a row of the sessions
table) is formatted by one function, so it reads the same everywhere; a PostgreSQL session
is a ``Session`` (``backend`` means a source everywhere else); and every document the code
points at exists in the repository.
"""

from __future__ import annotations


def test_a_postgres_session_is_a_session_not_a_backend() -> None:
    from cockpit import dbmodel

    assert hasattr(dbmodel, "Session") and not hasattr(dbmodel, "Backend")
