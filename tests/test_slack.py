"""Slack incoming webhooks: the lab's loopback server (Slack's documented answers) and the
cockpit's client against it: ok, invalid_payload, no_service, 429 with Retry-After, 5xx."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from cockpit.errors import BackendError
from cockpit.integrations.slack import SlackNotifier, shown_url, slack_escape
from cockpit.lab.slacklab import SlackLab
from cockpit.profile import NotifyConfig, SecretRef


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
