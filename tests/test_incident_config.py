"""profiles.yaml's sentry: and pagerduty: sections: typed records, and mistakes named by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.config import load_config
from cockpit.errors import ConfigError
from cockpit.profile import SecretRef

GOOD = """\
profiles:
  p:
    sentry:
      - {name: main, org: acme, projects: [api, web], token: "env:SENTRY_AUTH_TOKEN", window: 14d,
         rate_threshold: 50}
    pagerduty:
      token: file:/run/secrets/pd
      services: [PABC123]
      user_email: oncall@example.com
      trigger_on_incident: true
      routing_key: env:PD_ROUTING_KEY
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "profiles.yaml"
    path.write_text(text)
    return load_config(path).get("p")


def test_sentry_and_pagerduty_load_into_typed_records(tmp_path: Path) -> None:
    p = _load(tmp_path, GOOD)
    (s,) = p.sentry  # type: ignore[attr-defined]
    assert (s.name, s.org, s.projects, s.window, s.rate_threshold, s.url) == (
        "main", "acme", ("api", "web"), "14d", 50, "https://sentry.io")
    assert s.token == SecretRef("env:SENTRY_AUTH_TOKEN")
    pd = p.pagerduty  # type: ignore[attr-defined]
    assert pd.url == "https://api.pagerduty.com" and pd.events_url == "https://events.pagerduty.com"
    assert pd.services == ("PABC123",) and pd.trigger_on_incident and pd.routing_key == SecretRef("env:PD_ROUTING_KEY")


@pytest.mark.parametrize(("edit", "message"), [
    (("token: \"env:SENTRY_AUTH_TOKEN\"", "token: sntrys_literal"),
     "{p}:4: profiles.p.sentry[0].token: a literal token is not allowed: use env:NAME or file:PATH"),
    (("window: 14d", "window: yesterday"),
     "{p}:4: profiles.p.sentry[0].window: expected a period like 24h or 14d (a number and m, h, d or w), "
     "got 'yesterday'"),
    (("      routing_key: env:PD_ROUTING_KEY\n", ""),
     "{p}:7: profiles.p.pagerduty: trigger_on_incident needs routing_key"),
    (("user_email: oncall@example.com", "user_email: oncall"),
     "{p}:7: profiles.p.pagerduty.user_email: expected an email address, got 'oncall'"),
    (("services: [PABC123]", "servics: [PABC123]"),
     "{p}:8: profiles.p.pagerduty.servics: unknown key 'servics' (expected one of: url, events_url, token, "
     "services, user_email, trigger_on_incident, routing_key)"),
])
def test_mistakes_are_named_with_file_and_line(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, GOOD.replace(*edit))
    assert e.value.message == message.format(p=tmp_path / "profiles.yaml")
