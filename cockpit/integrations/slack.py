"""Incident updates to Slack through an incoming webhook (profile key ``notify:``).

The webhook URL is the secret (whoever has it can post to the channel): it is resolved from
``env:``/``file:`` only when a post goes, never shown (the equivalent command shows
``https://host/***``), and kept out of every error (``WebAPI(secret_url=True)``, and the
text of an error is masked once more here). A post is one ``POST`` of ``{"text": ...}``:
not repeated after a 5xx (it may have landed), tried again after a 429 as Slack asks
(``Retry-After``) and after a refused connection (nothing was sent).

Posts a person sends (``incident: post update``, ``incident: post report``) are limited to
one per ``notify.min_interval`` seconds here, before the confirmation, so a double Enter or
a stuck key cannot flood the channel; the automatic posts of ``incident: start``/``resolve``
are neither held back by it nor count for it (an update right after the start goes).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from cockpit.errors import BackendError, CockpitError
from cockpit.masking import MASK, mask_text
from cockpit.profile import NotifyConfig

NOTIFY_SOURCE = "notify:slack"
MAX_TEXT = 40_000  # Slack truncates a message's text past this many characters


@dataclass(frozen=True)
class SlackChannel:
    """What a post acts on: the channel the profile names (``notify.channel_hint``).

    ``report`` and ``events`` carry an incident report, made once before its confirmation,
    so the text confirmed is the text sent.
    """

    name: str
    source: str = NOTIFY_SOURCE
    key: str = NOTIFY_SOURCE
    report: str = ""
    events: int = 0


@runtime_checkable
class SlackPostable(Protocol):
    """The capability of ``incident: post update`` / ``post report``: a configured notifier."""

    channel: str

    def post_command(self, text: str) -> list[str]: ...

    def report_command(self) -> list[str]: ...

    async def post(self, text: str, *, by_person: bool = True) -> str: ...

    def wait_reason(self) -> str | None: ...

    def too_long(self, text: str) -> str | None: ...


def slack_escape(text: str) -> str:
    """Text as Slack's message formatting wants it: ``&``, ``<`` and ``>`` as entities, so
    the channel shows what was typed and ``<!channel>`` or ``<url|label>`` stay plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def from_markdown(markdown: str) -> str:
    """The timeline's Markdown report in Slack's own formatting (mrkdwn), which has no
    headings, bold with one star and no backslash escapes: a heading becomes a bold line,
    ``**x**`` becomes ``*x*``, list items get a bullet. The report's estate text is already
    inert (``md_text``: entities for ``&`` and ``<``); ``>`` becomes an entity too, so no line
    turns into a quote."""
    out = []
    for line in markdown.split("\n"):
        line = line.replace(">", "&gt;")
        line = re.sub(r"\\([\\\[\]])", r"\1", line)
        if m := re.match(r"#{1,6} (.*)", line):
            line = f"*{m.group(1)}*"
        line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", line)
        if line.startswith("- [ ] "):
            line = "• ☐ " + line[6:]
        elif line.startswith("- "):
            line = "• " + line[2:]
        out.append(line)
    return "\n".join(out)


def shown_url(url: str) -> str:
    """The webhook as it may be shown: scheme and host, the secret path masked."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/{MASK}"


class SlackNotifier:
    """Posts to the profile's webhook; one per profile, owned by the app."""

    def __init__(
        self,
        cfg: NotifyConfig,
        *,
        webhook: str | None = None,  # the lab's, when the profile leaves slack_webhook out
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: Any = None,
    ) -> None:
        self.cfg = cfg
        self.channel = cfg.channel_hint
        self.min_interval = cfg.min_interval
        self._webhook = webhook
        self._clock = clock
        self._sleep = sleep
        self._transport = transport
        self._api: Any = None
        self.last_post: float | None = None

    # --- where it goes ---------------------------------------------------------------------

    def url(self) -> str:
        """The webhook URL (a secret: for the request only). Raises a CockpitError saying
        which reference is missing, never its value."""
        if self._webhook:
            return self._webhook
        ref = self.cfg.slack_webhook
        if ref is None:
            raise CockpitError("notify has no slack_webhook", "set notify.slack_webhook: env:SLACK_WEBHOOK")
        url = ref.resolve().strip()
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise CockpitError(f"{ref} does not hold a webhook URL",
                               "it should hold https://hooks.slack.com/services/...")
        return url

    def where(self) -> str:
        """The webhook as shown: ``https://hooks.slack.com/***``, else the reference's name."""
        try:
            return shown_url(self.url())
        except CockpitError:
            return f"<{self.cfg.slack_webhook}>"

    def post_command(self, text: str) -> list[str]:
        """The equivalent curl command, as Slack's documentation writes it (the URL masked)."""
        return ["curl", "-X", "POST", "-H", "Content-type: application/json",
                "--data", json.dumps(self.payload(text), ensure_ascii=False), self.where()]

    def report_command(self) -> list[str]:
        return ["curl", "-X", "POST", "-H", "Content-type: application/json",
                "--data", "@incident-report.json", self.where()]

    @staticmethod
    def payload(text: str) -> dict[str, Any]:
        return {"text": text}

    @staticmethod
    def too_long(text: str) -> str | None:
        if len(text) <= MAX_TEXT:
            return None
        return (f"the text is {len(text):,} characters; Slack shows at most {MAX_TEXT:,} of a "
                "message: post less (the timeline screen's m exports the whole report to a file)")

    # --- the limit -------------------------------------------------------------------------

    def wait_reason(self) -> str | None:
        """Why a person's post is refused now (too soon after the last one), else None."""
        if self.last_post is None or self.min_interval <= 0:
            return None
        since = self._clock() - self.last_post
        left = self.min_interval - since
        if left <= 0:
            return None
        return (f"one post per {self.min_interval:g} s to {self.channel}: the last went "
                f"{since:.0f} s ago; try again in {max(1, round(left))} s")

    # --- posting ---------------------------------------------------------------------------

    async def post(self, text: str, *, by_person: bool = True) -> str:
        """Post ``text`` (already in Slack's formatting); the outcome line, or a BackendError
        that says what Slack answered and what to do. ``by_person``: it starts the wait."""
        from cockpit.integrations.webapi import HTTPStatusError, WebAPI

        if (reason := self.too_long(text)) is not None:
            raise CockpitError(reason)  # a cut message would not be the text confirmed
        url = self.url()
        if self._api is None:
            self._api = WebAPI("Slack webhook", url, secret_url=True, retries=2, max_wait=30.0,
                               transport=self._transport, sleep=self._sleep)
        try:
            await self._api.request("POST", url, json=self.payload(text),
                                    headers={"Content-type": "application/json"})
        except HTTPStatusError as e:
            raise _explained(e, url, self.channel) from None
        except CockpitError as e:
            raise BackendError(_scrub(e.message, url), _scrub(e.hint, url)) from None
        if by_person:
            self.last_post = self._clock()
        return f"posted to {self.channel} ({len(text)} characters)"

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()


def _scrub(text: str, url: str) -> str:
    return mask_text(text.replace(url, shown_url(url)))


_ANSWERS = {
    "invalid_payload": "Slack could not read the message (invalid_payload)",
    "no_text": "Slack refused a message with no text (no_text)",
    "invalid_blocks": "Slack refused the message's blocks (invalid_blocks)",
    "no_service": "the webhook is disabled, removed or mistyped (no_service)",
    "channel_not_found": "the webhook's channel no longer exists (channel_not_found)",
    "channel_is_archived": "the webhook's channel is archived (channel_is_archived)",
    "action_prohibited": "a Slack admin blocks posting to that channel (action_prohibited)",
}


def _explained(e: Any, url: str, channel: str) -> BackendError:
    body = str(e.body or "").strip()
    if e.status >= 500:
        return BackendError(f"Slack failed to post to {channel} (HTTP {e.status}); it was not sent again, "
                            "as it may have landed", "look in the channel, then post again if it is not there")
    what = _ANSWERS.get(body, f"Slack refused the post (HTTP {e.status}: {_scrub(body, url)})")
    if body in ("no_service", "channel_not_found", "channel_is_archived") or e.status in (403, 404, 410):
        hint = "make a new incoming webhook in Slack and put its URL where notify.slack_webhook points"
    else:
        hint = "the message was not posted; shorten or simplify it and post again"
    return BackendError(f"{what}: not posted to {channel}", hint)
