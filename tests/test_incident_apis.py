"""Sentry and PagerDuty clients against the loopback servers that implement the vendors'
documented API shapes (cockpit/lab/incidentapis.py): pagination, 429 with Retry-After, 5xx,
refused tokens, and the changes the actions make."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from cockpit.backends.pagerduty import PagerDutySource
from cockpit.backends.sentry import SentrySource
from cockpit.errors import ActionRefused, BackendError, CredentialsError
from cockpit.integrations.paging import trigger_incident
from cockpit.lab.incidentapis import PagerDutyServer, SentryServer
from cockpit.model import Severity
from cockpit.profile import PagerDutyConfig, SecretRef, SentryConfig

TOKEN = "sntrys_tok3n-never-shown-0123456789"
PD_TOKEN = "u+pdtok3n-never-shown-9876"
ROUTING = "R0UT1NGKEYnevershown00000000000"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """5xx retries back off by seconds in real life; the tests count them, not wait them."""
    monkeypatch.setattr("cockpit.integrations.webapi._backoff", lambda attempt: 0.0)


@pytest.fixture
def sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[SentryServer]:
    monkeypatch.setenv("TEST_SENTRY_TOKEN", TOKEN)
    srv = SentryServer(TOKEN, "acme").start()
    yield srv
    srv.stop()


@pytest.fixture
def pd(monkeypatch: pytest.MonkeyPatch) -> Iterator[PagerDutyServer]:
    monkeypatch.setenv("TEST_PD_TOKEN", PD_TOKEN)
    monkeypatch.setenv("TEST_PD_ROUTING", ROUTING)
    srv = PagerDutyServer(PD_TOKEN)
    srv.add_user("PU1", "Ada Oncall", "ada@example.com")
    srv.add_user("PU2", "Grace Lead", "grace@example.com")
    srv.add_service("PSVC1", "checkout", "PPOL1", [["PU1"], ["PU2"]], ROUTING)
    srv.add_service("PSVC2", "other team", "PPOL2", [["PU2"]], "other-key")
    srv.start()
    yield srv
    srv.stop()


def _sentry_cfg(srv: SentryServer, **kw: object) -> SentryConfig:
    return SentryConfig("acme", "acme", SecretRef("env:TEST_SENTRY_TOKEN"), url=srv.url,
                        projects=("api",), **kw)  # type: ignore[arg-type]


def _pd_cfg(srv: PagerDutyServer, **kw: object) -> PagerDutyConfig:
    values: dict[str, object] = {"services": ("PSVC1",), "user_email": "ada@example.com", "url": srv.url,
                                 "events_url": srv.url, "routing_key": SecretRef("env:TEST_PD_ROUTING"), **kw}
    return PagerDutyConfig(SecretRef("env:TEST_PD_TOKEN"), **values)  # type: ignore[arg-type]


def _seed_sentry(srv: SentryServer) -> dict[str, str]:
    now = datetime.now(UTC)
    ids = {
        "new": srv.add_issue("api", "KeyError: 'currency'", culprit="api.orders.checkout", count=37, users=12,
                             first_seen=now - timedelta(hours=3), message="KeyError 'currency' in checkout",
                             frame=("api/orders.py", "checkout", 142)),
        "regressed": srv.add_issue("api", "TimeoutError: slow", first_seen=now - timedelta(days=30),
                                   substatus="regressed"),
        "spike": srv.add_issue("api", "OperationalError: db down", first_seen=now - timedelta(days=60),
                               hourly=[1] * 23 + [500], count=900),
        "quiet": srv.add_issue("api", "ValueError: old and quiet", first_seen=now - timedelta(days=60),
                               hourly=[1] * 24),
        "other": srv.add_issue("web", "TypeError: another project", first_seen=now - timedelta(hours=1)),
    }
    for i in range(6):  # more pages of quiet ones
        srv.add_issue("api", f"ValueError: quiet {i}", first_seen=now - timedelta(days=40), hourly=[0] * 24)
    return ids


async def test_sentry_issues_over_every_page_become_alarms(sentry: SentryServer) -> None:
    ids = _seed_sentry(sentry)
    sentry.page_size = 2
    src = SentrySource(_sentry_cfg(sentry, rate_threshold=100))
    try:
        alarms = {a.name: a for a in await src.fetch()}
    finally:
        await src.close()
    cursors = [r["query"].get("cursor") for r in sentry.requests]
    assert len(cursors) == 5 and cursors[0] is None  # 10 api issues, 2 a page: every page read
    first = sentry.requests[0]
    assert first["query"]["query"] == ["is:unresolved"] and first["query"]["statsPeriod"] == ["24h"]
    assert first["query"]["project"] == ["api"]
    assert set(alarms) == {f"API-{ids['new']} KeyError: 'currency'", f"API-{ids['regressed']} TimeoutError: slow",
                           f"API-{ids['spike']} OperationalError: db down"}
    new = alarms[f"API-{ids['new']} KeyError: 'currency'"]
    assert new.state == "new" and new.severity is Severity.WARNING and new.resource == "api"
    assert "37 events, 12 users" in new.reason and "api.orders.checkout" in new.reason
    spike = alarms[f"API-{ids['spike']} OperationalError: db down"]
    assert spike.state == "spike" and spike.severity is Severity.CRITICAL and "last hour 500" in spike.reason
    assert alarms[f"API-{ids['regressed']} TimeoutError: slow"].state == "regressed"


async def test_sentry_waits_out_429_and_retries_5xx_then_gives_up(sentry: SentryServer) -> None:
    _seed_sentry(sentry)
    src = SentrySource(_sentry_cfg(sentry))
    try:
        sentry.fail(429, 2, retry_after="0")
        sentry.fail(502, 1)
        assert len(await src.fetch()) == 3
        assert len(sentry.requests) == 4  # three refusals, then the page
        sentry.fail(503, 10)
        with pytest.raises(BackendError, match="HTTP 503"):
            await src.fetch()
    finally:
        await src.close()


async def test_sentry_refused_token_says_how_to_renew_and_never_shows_it(sentry: SentryServer,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SENTRY_TOKEN", "wrong-" + TOKEN)
    src = SentrySource(_sentry_cfg(sentry))
    try:
        with pytest.raises(CredentialsError) as e:
            await src.fetch()
    finally:
        await src.close()
    assert "HTTP 401" in e.value.message and "env:TEST_SENTRY_TOKEN" in e.value.hint
    assert TOKEN not in str(e.value)


async def test_sentry_detail_shows_latest_event_and_resolve_ignore_change_the_issue(sentry: SentryServer) -> None:
    ids = _seed_sentry(sentry)
    src = SentrySource(_sentry_cfg(sentry))
    try:
        alarms = {a.name: a for a in await src.fetch()}
        new = alarms[f"API-{ids['new']} KeyError: 'currency'"]
        sections = await src.detail(new)
        text = "\n".join([*sections[1].lines, *(" ".join(r) for r in sections[0].rows)])
        assert "KeyError 'currency' in checkout" in text
        assert "api/orders.py:142 in checkout" in text and "users affected 12" in text
        assert f"/organizations/acme/issues/{ids['new']}/" in text  # the link
        argv = src.set_issue_status_command(new, "resolved")
        assert argv[:2] == ["sentry-cli", "--url"] and "$TEST_SENTRY_TOKEN" in argv and TOKEN not in argv
        assert await src.set_issue_status(new, "resolved") == f"API-{ids['new']} resolved in Sentry"
        spike = alarms[f"API-{ids['spike']} OperationalError: db down"]
        await src.set_issue_status(spike, "ignored")
        assert sentry.issues[ids["new"]]["status"] == "resolved"
        assert sentry.issues[ids["spike"]]["status"] == "ignored"
        assert len(await src.fetch()) == 1
    finally:
        await src.close()


async def test_pagerduty_incidents_over_pages_with_oncall_and_escalation_level(pd: PagerDutyServer) -> None:
    pd.max_limit = 2
    for i in range(5):
        pd.add_incident("PSVC1", f"checkout errors {i}", urgency="high" if i % 2 == 0 else "low")
    pd.add_incident("PSVC2", "not ours")
    done = pd.add_incident("PSVC1", "over already")
    pd.incidents[done]["status"] = "resolved"
    src = PagerDutySource(_pd_cfg(pd))
    try:
        alarms = await src.fetch()
    finally:
        await src.close()
    assert len(alarms) == 5
    offsets = [r["query"].get("offset") for r in pd.requests if r["path"] == "/incidents"]
    assert offsets == [["0"], ["2"], ["4"]]
    first = pd.requests[0]
    assert first["query"]["statuses[]"] == ["triggered", "acknowledged"]
    assert first["query"]["service_ids[]"] == ["PSVC1"]
    high = next(a for a in alarms if a.name.endswith("checkout errors 0"))
    assert high.severity is Severity.CRITICAL and high.state == "triggered" and high.resource == "checkout"
    assert "high urgency, assigned to Ada Oncall, escalation level 1" == high.reason
    assert next(a for a in alarms if a.name.endswith("errors 1")).severity is Severity.WARNING
    assert src.oncall_text == "on call: Ada Oncall"


async def test_pagerduty_429_and_5xx_then_a_refused_key(pd: PagerDutyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    pd.add_incident("PSVC1", "checkout errors")
    src = PagerDutySource(_pd_cfg(pd))
    try:
        pd.fail(429, 1, retry_after="0")
        pd.fail(500, 1)
        assert len(await src.fetch()) == 1
        pd.fail(500, 10)
        with pytest.raises(BackendError, match="HTTP 500"):
            await src.fetch()
    finally:
        await src.close()
    pd.faults.clear()
    monkeypatch.setenv("TEST_PD_TOKEN", "nope")
    bad = PagerDutySource(_pd_cfg(pd))
    try:
        with pytest.raises(CredentialsError) as e:
            await bad.fetch()
    finally:
        await bad.close()
    assert "API Access Keys" in e.value.hint and PD_TOKEN not in str(e.value)


async def test_pagerduty_acknowledge_resolve_and_note_with_from(pd: PagerDutyServer) -> None:
    iid = pd.add_incident("PSVC1", "checkout errors")
    src = PagerDutySource(_pd_cfg(pd))
    try:
        (alarm,) = await src.fetch()
        argv = src.set_page_status_command(alarm, "acknowledged")
        assert "From: ada@example.com" in argv and "Authorization: Token token=$TEST_PD_TOKEN" in argv
        assert await src.set_page_status(alarm, "acknowledged") == "#1001 acknowledged in PagerDuty"
        assert pd.incidents[iid]["status"] == "acknowledged"
        put = next(r for r in pd.requests if r["method"] == "PUT")
        assert put["headers"]["From"] == "ada@example.com"
        assert put["body"] == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
        await src.add_page_note(alarm, "rolling back the 14:02 deploy")
        assert [n["content"] for n in pd.notes[iid]] == ["rolling back the 14:02 deploy"]
        (alarm,) = await src.fetch()
        assert alarm.state == "acknowledged" and alarm.severity is Severity.WARNING
        await src.set_page_status(alarm, "resolved")
        assert pd.incidents[iid]["status"] == "resolved" and await src.fetch() == []
    finally:
        await src.close()
    nobody = PagerDutySource(_pd_cfg(pd, user_email=""))
    iid2 = pd.add_incident("PSVC1", "again")
    try:
        (alarm,) = await nobody.fetch()
        with pytest.raises(ActionRefused, match="login email"):
            await nobody.set_page_status(alarm, "acknowledged")
    finally:
        await nobody.close()
    assert pd.incidents[iid2]["status"] == "triggered"


async def test_events_api_trigger_is_retried_on_5xx_and_opens_one_incident(pd: PagerDutyServer) -> None:
    cfg = _pd_cfg(pd)
    pd.fail(502, 1)
    key = await trigger_incident(cfg, "api down", "critical", "cockpit-incident-1")
    assert key == "cockpit-incident-1"
    await trigger_incident(cfg, "api down", "critical", "cockpit-incident-1")  # same key: same incident
    opened = [i for i in pd.incidents.values() if i["incident_key"] == "cockpit-incident-1"]
    assert len(opened) == 1 and opened[0]["status"] == "triggered" and opened[0]["service"]["id"] == "PSVC1"
    assert all(ROUTING not in str(r) for r in pd.requests)


async def test_hostile_text_from_sentry_and_pagerduty_is_made_safe(sentry: SentryServer, pd: PagerDutyServer) -> None:
    evil = "Boom\x1b[2J\x1b]0;pwned\x07 [/x] \u202egnp.exe"
    sentry.add_issue("api", f"ValueError: {evil}", culprit=evil, message=evil, frame=(evil, evil, 3))
    pd.add_user("PU9", evil, "evil@example.com")
    pd.policies["PPOL1"][0].append("PU9")
    pd.add_incident("PSVC1", evil)
    src, pages = SentrySource(_sentry_cfg(sentry)), PagerDutySource(_pd_cfg(pd))
    try:
        (issue,) = await src.fetch()
        detail = await src.detail(issue)
        (page,) = await pages.fetch()
    finally:
        await src.close()
        await pages.close()
    shown = [issue.name, issue.reason, page.name, page.reason, pages.oncall_text,
             *(line for s in detail for line in s.lines), *(c for s in detail for r in s.rows for c in r)]
    for text in shown:
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, text
    assert "[/x]" in issue.name  # kept as text: nothing parses it as markup


async def test_faults_can_be_asked_for_over_http_from_another_process(sentry: SentryServer) -> None:
    from cockpit.lab.incidentlab import lab_control, lab_state

    _seed_sentry(sentry)
    assert lab_control(sentry.url, {"do": "fail", "status": 429, "times": 2, "retry_after": "0"}) == {"faults": 2}
    src = SentrySource(_sentry_cfg(sentry))
    try:
        assert len(await src.fetch()) == 3
    finally:
        await src.close()
    assert [r["query"].get("cursor") for r in sentry.requests][:3] == [None, None, None]
    assert lab_state(sentry.url)["issues"]["1"]["status"] == "unresolved"
