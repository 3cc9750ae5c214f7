"""`cockpit check` reads Sentry and PagerDuty: their alarms are findings, a refused token is a
blind spot (exit 3) that says how to renew it, and the token itself is never printed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cockpit.check import EXIT_CRITICAL, EXIT_OK, EXIT_UNCHECKED, main_check
from cockpit.lab.incidentapis import PagerDutyServer, SentryServer

TOKEN = "sntrys_check-t0ken-0000000000000"
PD_TOKEN = "pd-check-t0ken-11111111"


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SentryServer, PagerDutyServer]]:
    monkeypatch.setenv("CHECK_SENTRY_TOKEN", TOKEN)
    monkeypatch.setenv("CHECK_PD_TOKEN", PD_TOKEN)
    sentry = SentryServer(TOKEN, "acme").start()
    pd = PagerDutyServer(PD_TOKEN)
    pd.add_user("PU1", "Ada Oncall", "ada@example.com")
    pd.add_service("PSVC1", "checkout", "PPOL1", [["PU1"]], "rk")
    pd.start()
    yield sentry, pd
    sentry.stop()
    pd.stop()


def _check(tmp_path: Path, sentry: SentryServer, pd: PagerDutyServer) -> tuple[int, str, str]:
    config = tmp_path / "profiles.yaml"
    config.write_text(f"""\
profiles:
  ops:
    timeout: 5
    sentry:
      - {{name: main, url: "{sentry.url}", org: acme, projects: [api], token: "env:CHECK_SENTRY_TOKEN"}}
    pagerduty:
      url: "{pd.url}"
      token: env:CHECK_PD_TOKEN
      services: [PSVC1]
""")
    out, err = io.StringIO(), io.StringIO()
    code = main_check(["--config", str(config), "--profile", "ops", "--format", "json"], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_quiet_sentry_and_pagerduty_are_checked_and_clear(servers, tmp_path: Path) -> None:
    code, out, _ = _check(tmp_path, *servers)
    report = json.loads(out)
    assert code == EXIT_OK, out
    assert set(report["checked"]) == {"sentry:main", "pagerduty"}


def test_a_page_and_a_spike_are_critical_findings(servers, tmp_path: Path) -> None:
    sentry, pd = servers
    sentry.add_issue("api", "OperationalError: db refused", first_seen=datetime.now(UTC) - timedelta(days=2),
                     hourly=[0] * 23 + [400])
    pd.add_incident("PSVC1", "checkout errors")
    code, out, _ = _check(tmp_path, sentry, pd)
    assert code == EXIT_CRITICAL, out
    names = {f["name"] for f in json.loads(out)["problems"]}
    assert {"API-1 OperationalError: db refused", "#1001 checkout errors"} <= names


def test_a_bad_token_is_a_blind_spot_that_says_how_to_renew_it(servers, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECK_SENTRY_TOKEN", "revoked-" + TOKEN)
    monkeypatch.setenv("CHECK_PD_TOKEN", "revoked-" + PD_TOKEN)
    code, out, err = _check(tmp_path, *servers)
    assert code == EXIT_UNCHECKED, out
    unchecked = {u["source"]: u for u in json.loads(out)["unchecked"]}
    assert set(unchecked) == {"sentry:main", "pagerduty"}
    assert "token was refused (HTTP 401)" in unchecked["sentry:main"]["message"]
    assert "Auth Tokens" in unchecked["sentry:main"]["hint"]
    assert "API Access Keys" in unchecked["pagerduty"]["hint"]
    for secret in (TOKEN, PD_TOKEN):
        assert secret not in out and secret not in err
