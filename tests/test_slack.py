"""Slack incoming webhooks: the lab's loopback server (Slack's documented answers) and the
cockpit's client against it: ok, invalid_payload, no_service, 429 with Retry-After, 5xx."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from cockpit.errors import BackendError, CockpitError
from cockpit.integrations.slack import SlackNotifier, shown_url, slack_escape
from cockpit.lab.slacklab import SlackLab
from cockpit.profile import NotifyConfig, Profile, SecretRef


@pytest.fixture
def slack() -> Iterator[SlackLab]:
    with SlackLab("#incidents") as lab:
        yield lab


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def test_the_lab_webhook_answers_as_slack_documents(slack):
    assert _post(slack.webhook_url, b'{"text": "hello"}')[:2] == (200, "ok")
    status, body, headers = _post(slack.webhook_url, b'{"text": "again"}')
    assert headers["Content-Type"].startswith("text/plain")
    assert _post(slack.webhook_url, b"not json")[:2] == (400, "invalid_payload")
    assert _post(slack.webhook_url, b'{"text": 7}')[:2] == (400, "invalid_payload")
    assert _post(slack.webhook_url, b"{}")[:2] == (400, "no_text")
    assert _post(slack.webhook_url, b'{"blocks": [{"no": "type"}]}')[:2] == (400, "invalid_blocks")
    assert _post(slack.base_url + "/services/T0/B0/wrong", b'{"text": "x"}')[:2] == (404, "no_service")
    form = b"payload=" + urllib.request.quote(json.dumps({"text": "as a form"})).encode()
    assert _post(slack.webhook_url, form, "application/x-www-form-urlencoded")[:2] == (200, "ok")
    assert slack.texts() == ["hello", "again", "as a form"]


def test_the_lab_webhook_limits_bursts_with_retry_after(slack):
    slack.burst = 2
    assert _post(slack.webhook_url, b'{"text": "1"}')[0] == 200
    assert _post(slack.webhook_url, b'{"text": "2"}')[0] == 200
    status, body, headers = _post(slack.webhook_url, b'{"text": "3"}')
    assert (status, body) == (429, "rate_limited")
    assert int(headers["Retry-After"]) >= 1
    assert slack.texts() == ["1", "2"]


def test_the_channel_page_lists_posts_newest_first_escaped(slack):
    _post(slack.webhook_url, json.dumps({"text": "first"}).encode())
    _post(slack.webhook_url, json.dumps({"text": "<script>alert(1)</script> & more"}).encode())
    with urllib.request.urlopen(slack.page_url, timeout=5) as r:
        page = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/html")
    assert "#incidents" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert page.index("&amp; more</pre>") < page.index("<pre>first</pre>")  # newest first
    assert slack.path not in page  # the page never shows the secret URL


def test_a_control_hook_from_another_process_fails_the_next_posts(slack):
    assert _post(slack.base_url + "/_lab/fail?status=503&count=1", b"")[:2] == (200, "ok")
    assert _post(slack.webhook_url, b'{"text": "x"}')[0] == 503
    assert _post(slack.webhook_url, b'{"text": "y"}')[0] == 200


def _notifier(url: str, **kw) -> tuple[SlackNotifier, list[float]]:
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    return SlackNotifier(NotifyConfig(SecretRef("env:SLACK_WEBHOOK"), **kw), sleep=sleep), waits


async def test_the_client_posts_and_waits_out_a_429(slack, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK", slack.webhook_url)
    notifier, waits = _notifier(slack.webhook_url)
    slack.fail_next(429, retry_after=2)
    assert await notifier.post("api is back") == "posted to #incidents (11 characters)"
    assert waits == [2.0]
    assert slack.texts() == ["api is back"]
    assert slack.requests == 2
    await notifier.aclose()


async def test_a_5xx_is_said_and_not_posted_twice(slack, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK", slack.webhook_url)
    notifier, _ = _notifier(slack.webhook_url)
    slack.fail_next(503)
    with pytest.raises(BackendError) as e:
        await notifier.post("maybe twice?")
    assert "HTTP 503" in str(e.value) and "not sent again" in str(e.value)
    assert slack.requests == 1 and slack.texts() == []
    assert slack.path not in str(e.value) and "services" not in str(e.value)
    await notifier.aclose()


async def test_invalid_payload_and_a_removed_webhook_are_said_clearly(slack, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK", slack.webhook_url)
    notifier, _ = _notifier(slack.webhook_url)
    with pytest.raises(BackendError) as e:
        await notifier.post("")  # Slack's no_text
    assert "no_text" in str(e.value) and "not posted to #incidents" in str(e.value)
    monkeypatch.setenv("SLACK_WEBHOOK", slack.base_url + "/services/T0LAB00001/B0LAB00001/gonesecret")
    gone, _ = _notifier("")
    with pytest.raises(BackendError) as e:
        await gone.post("hello")
    assert "no_service" in str(e.value) and "new incoming webhook" in e.value.hint
    assert "gonesecret" not in str(e.value) and "services" not in str(e.value)
    await notifier.aclose()
    await gone.aclose()


async def test_invalid_payload_is_shown_with_slacks_word(slack, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK", slack.webhook_url)
    notifier, _ = _notifier(slack.webhook_url)
    notifier.payload = lambda text: {"text": {"not": "a string"}}  # type: ignore[method-assign]
    with pytest.raises(BackendError) as e:
        await notifier.post("x")
    assert "invalid_payload" in str(e.value)
    await notifier.aclose()


async def test_a_person_may_post_once_per_min_interval(slack, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK", slack.webhook_url)
    now = [100.0]
    notifier = SlackNotifier(NotifyConfig(SecretRef("env:SLACK_WEBHOOK"), min_interval=30),
                             clock=lambda: now[0])
    assert notifier.wait_reason() is None
    await notifier.post("one")
    now[0] += 12
    reason = notifier.wait_reason()
    assert reason == "one post per 30 s to #incidents: the last went 12 s ago; try again in 18 s"
    now[0] += 18
    assert notifier.wait_reason() is None
    await notifier.aclose()


def test_the_command_shown_never_holds_the_webhook(slack, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK", slack.webhook_url)
    notifier, _ = _notifier(slack.webhook_url)
    argv = notifier.post_command("a & b")
    assert argv[-1] == shown_url(slack.webhook_url) and argv[-1].endswith("/***")
    assert json.loads(argv[-2]) == {"text": "a & b"}
    assert slack.path not in " ".join(argv)
    monkeypatch.delenv("SLACK_WEBHOOK")
    assert notifier.where() == "<env:SLACK_WEBHOOK>"


def test_slack_escape_keeps_mentions_and_links_plain():
    assert slack_escape("<!channel> a&b <http://x|y>") == "&lt;!channel&gt; a&amp;b &lt;http://x|y&gt;"


def test_the_page_shows_what_the_channel_shows(slack):
    _post(slack.webhook_url, json.dumps({"text": slack_escape("a & b <!here>")}).encode())
    with urllib.request.urlopen(slack.page_url, timeout=5) as r:
        page = r.read().decode()
    assert "<pre>a &amp; b &lt;!here&gt;</pre>" in page  # as typed, HTML-escaped once


# --- the profile key ---------------------------------------------------------------------

def _load(text: str):
    from pathlib import Path

    from cockpit.config import load_text

    return load_text(text, Path("p.yaml"))


def test_notify_loads_with_its_defaults():
    cfg = _load("profiles:\n  ops:\n    notify: {slack_webhook: env:SLACK_WEBHOOK}\n")
    notify = cfg.get("ops").notify
    assert notify == NotifyConfig(SecretRef("env:SLACK_WEBHOOK"))
    assert (notify.channel_hint, notify.post_on_start, notify.min_interval) == ("#incidents", False, 10.0)


def test_a_literal_webhook_is_refused_with_its_line_and_not_echoed():
    from cockpit.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        _load("profiles:\n  ops:\n    notify:\n      slack_webhook: https://hooks.slack.com/services/T1/B1/SeCrEt\n")
    assert str(e.value).startswith("p.yaml:4: profiles.ops.notify.slack_webhook: a literal webhook URL")
    assert "SeCrEt" not in str(e.value)


def test_the_webhook_is_required_outside_the_lab():
    from cockpit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"p.yaml:3: profiles.ops.notify: missing required key 'slack_webhook'"):
        _load("profiles:\n  ops:\n    notify: {channel_hint: '#ops'}\n")
    assert _load("profiles:\n  lab:\n    lab: true\n    notify: {post_on_start: true}\n").get("lab").notify


def test_a_bad_notify_value_names_its_key():
    from cockpit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"p.yaml:3: profiles.ops.notify.min_interval: must be greater than 0"):
        _load("profiles:\n  ops:\n    notify: {slack_webhook: env:X, min_interval: 0}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'chanel_hint'.*did you mean 'channel_hint'"):
        _load("profiles:\n  ops:\n    notify: {slack_webhook: env:X, chanel_hint: '#ops'}\n")


# --- through the runner ------------------------------------------------------------------

async def test_a_standing_confirmation_is_audited_and_never_covers_a_destructive_action(tmp_path):
    from cockpit.actions import ActionRunner, ActionSpec, Risk
    from cockpit.audit import AuditLog
    from cockpit.integrations.slack import SlackChannel
    from cockpit.registry import INCIDENT_NOTIFY

    class Fake:
        channel = "#incidents"
        posted: list[str] = []

        def post_command(self, text):
            return ["curl", text]

        def report_command(self):
            return ["curl"]

        async def post(self, text, *, by_person=True):
            self.posted.append(text)
            return "posted"

        def wait_reason(self):
            return None

        def too_long(self, text):
            return None

    asked: list = []

    async def confirm(req):
        asked.append(req)
        return False

    fake = Fake()
    runner = ActionRunner(profile=Profile(name="ops"), audit=AuditLog(tmp_path / "a.jsonl"),
                          resolve_backend=lambda s: fake, confirm=confirm)
    target = SlackChannel("#incidents")
    out = await runner.request(INCIDENT_NOTIFY, target, {"text": "started"}, confirmed_by="profile notify.post_on_start")
    assert out.ok and fake.posted == ["started"] and asked == []
    assert '"confirmed_by": "profile notify.post_on_start"' in (tmp_path / "a.jsonl").read_text()
    wipe = ActionSpec("x.wipe", "x: wipe", SlackChannel, object, Risk.DESTRUCTIVE, None, "d",
                      call=lambda b, t, p: b.post("wiped"))
    out = await runner.request(wipe, target, confirmed_by="profile notify.post_on_start")
    assert out.status == "cancelled" and len(asked) == 1 and fake.posted == ["started"]


async def test_a_text_slack_would_cut_is_refused_not_cut(slack, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK", slack.webhook_url)
    notifier, _ = _notifier(slack.webhook_url)
    with pytest.raises(CockpitError, match="40,001 characters"):
        await notifier.post("x" * 40_001)
    assert slack.requests == 0
    await notifier.aclose()


def test_cockpit_check_never_prints_the_webhook(tmp_path, monkeypatch):
    import io

    from cockpit.check import main_check

    secret = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/xYz123SecretToken"
    monkeypatch.setenv("SLACK_WEBHOOK", secret)
    good = tmp_path / "good.yaml"
    good.write_text("profiles:\n  ops:\n    hosts: [{name: here, local: true}]\n"
                    "    notify: {slack_webhook: env:SLACK_WEBHOOK}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"profiles:\n  ops:\n    notify: {{slack_webhook: {secret}}}\n")
    for config in (good, bad):
        for fmt in ("text", "json"):
            out, err = io.StringIO(), io.StringIO()
            main_check(["--config", str(config), "--format", fmt], stdout=out, stderr=err)
            assert "SecretToken" not in out.getvalue() + err.getvalue()
    assert "a literal webhook URL is not allowed" in err.getvalue()


def test_the_report_goes_in_slacks_formatting_and_estate_text_stays_inert():
    from cockpit.integrations.slack import from_markdown
    from cockpit.timeline import md_text

    md = "\n".join(["# Incident report: api down", "**Severity:** P1 (declared)", "## Timeline",
                    f"- 10:01 - {md_text('alarm <!channel> [x](http://evil) > quote & **bold**')}",
                    "- [ ] _To be completed._"])
    out = from_markdown(md).split("\n")
    assert out[0] == "*Incident report: api down*"
    assert out[1] == "*Severity:* P1 (declared)"
    assert out[2] == "*Timeline*"
    # no mention, no link, no quote: Slack shows the estate's text as it was
    assert out[3] == "• 10:01 - alarm &lt;!channel&gt; [x](http://evil) &gt; quote &amp; *bold*"
    assert out[4] == "• ☐ _To be completed._"
