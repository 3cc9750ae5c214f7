"""SQS queues and their dead-letter queues -> ``QueueStatus`` rows; purge, peek, redrive.

Redrive uses receive -> send to the source queue -> delete, in batches of 10: moto lacks
StartMessageMoveTask, and the fallback is also what works for FIFO queues. A message is
deleted from the DLQ only after SendMessageBatch acknowledged its copy; when a send fails,
the messages of that batch are made visible again in the DLQ, so nothing is lost and a
second redrive picks up where the first stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cockpit.backends.aws import AwsContext
from cockpit.errors import BackendError
from cockpit.model import DetailSection, PaneKind, QueueStatus, Severity
from cockpit.profile import SqsQueue, Thresholds

PEEK_MAX = 10
PEEK_BODY_CHARS = 2000
REDRIVE_BATCH = 10  # Receive/Send/DeleteMessageBatch take at most 10
REDRIVE_VISIBILITY_S = 60  # long enough to copy a batch; released at once on failure
PEEK_WARNING = (
    "a peek is a receive: each message's receive count went up by one "
    "(and, with a redrive policy on the DLQ itself, it could move on)"
)


@dataclass
class _Urls:
    queue: str
    dlq_name: str = ""
    dlq: str = ""


def dlq_from_redrive(attributes: dict[str, str]) -> tuple[str, str]:
    """(queue name, owner account) of the RedrivePolicy's target, or ("", "")."""
    raw = attributes.get("RedrivePolicy")
    if not raw:
        return "", ""
    try:
        arn = str(json.loads(raw).get("deadLetterTargetArn", ""))
    except (ValueError, AttributeError):
        return "", ""
    parts = arn.split(":")  # arn:aws:sqs:region:account:name
    if len(parts) < 6:
        return "", ""
    return parts[5], parts[4]


class SqsSource:
    pane = PaneKind.QUEUES

    def __init__(
        self, ctx: AwsContext, queues: tuple[SqsQueue, ...], thresholds: Thresholds
    ) -> None:
        self.ctx = ctx
        self.queues = queues
        self.thresholds = thresholds
        self.id = f"aws:sqs{ctx.tag}"
        self.title = f"SQS{ctx.suffix}"
        # Queue URLs never change for a name, so they are looked up once (and again after
        # a failure, in case the queue was recreated).
        self._urls: dict[str, _Urls] = {}
        self._peeks: dict[str, DetailSection] = {}  # queue name -> its last DLQ peek
        # (moved, total at start) of the redrive in progress or last finished, per queue
        self.redrive_progress: dict[str, tuple[int, int]] = {}
        ctx.acquire(self)

    @property
    def client(self) -> Any:
        return self.ctx.client("sqs")

    async def fetch(self) -> list[QueueStatus]:
        return await self.ctx.run("SQS queues", self._fetch_sync, counter=self.id)

    def _fetch_sync(self) -> list[QueueStatus]:
        sqs = self.client
        rows = []
        for q in self.queues:
            try:
                rows.append(self._one(sqs, q))
            except Exception:
                self._urls.pop(q.queue, None)
                raise
        return rows

    def _url(self, sqs: Any, name: str, owner: str = "") -> str:
        kwargs = {"QueueName": name}
        if owner:
            kwargs["QueueOwnerAWSAccountId"] = owner
        try:
            return str(sqs.get_queue_url(**kwargs)["QueueUrl"])
        except sqs.exceptions.QueueDoesNotExist as e:
            raise BackendError(
                f"SQS queue {name} does not exist",
                "check the queue name and region in profiles.yaml",
            ) from e

    def _one(self, sqs: Any, q: SqsQueue) -> QueueStatus:
        urls = self._urls.get(q.queue)
        if urls is None:
            urls = _Urls(queue=self._url(sqs, q.queue))
        attrs = sqs.get_queue_attributes(QueueUrl=urls.queue, AttributeNames=["All"])["Attributes"]
        if not urls.dlq:
            if q.dlq:
                urls.dlq_name, urls.dlq = q.dlq, self._url(sqs, q.dlq)
            else:
                name, owner = dlq_from_redrive(attrs)
                if name:
                    urls.dlq_name, urls.dlq = name, self._url(sqs, name, owner)
        self._urls[q.queue] = urls
        self.ctx.learn_account(urls.queue)
        dlq_depth: int | None = None
        if urls.dlq:
            dattrs = sqs.get_queue_attributes(
                QueueUrl=urls.dlq, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            dlq_depth = int(dattrs.get("ApproximateNumberOfMessages", 0))
        depth = int(attrs.get("ApproximateNumberOfMessages", 0))
        in_flight = int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
        warn = (dlq_depth or 0) > 0 or depth > self.thresholds.queue_depth
        return QueueStatus(
            name=q.queue,
            backend="sqs",
            source=self.id,
            depth=depth,
            in_flight=in_flight,
            dlq_name=urls.dlq_name,
            dlq_depth=dlq_depth,
            # ApproximateAgeOfOldestMessage is a CloudWatch metric, not a queue attribute.
            oldest_age_s=None,
            severity=Severity.WARNING if warn else Severity.OK,
            url=urls.queue,
            estate=self.ctx.estate,
        )

    def explain_command(self) -> list[str]:
        name = self.queues[0].queue if self.queues else ""
        if name not in self._urls:  # not fetched yet: the URL is the first thing to look up
            return self.ctx.cli("sqs", "get-queue-url", "--queue-name", name)
        return self.ctx.cli(
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            self._urls[name].queue,
            "--attribute-names",
            "All",
        )

    # --- Purgeable -----------------------------------------------------------------

    def _dlq_url(self, target: QueueStatus) -> str:
        urls = self._urls.get(target.name)
        if urls is None or not urls.dlq:
            raise BackendError(
                f"queue {target.name} has no dead-letter queue",
                "configure dlq: for it or set a RedrivePolicy on the queue",
            )
        return urls.dlq

    def purge_dlq_command(self, target: QueueStatus) -> list[str]:
        return self.ctx.cli("sqs", "purge-queue", "--queue-url", self._dlq_url(target))

    async def purge_dlq(self, target: QueueStatus) -> str:
        url = self._dlq_url(target)
        name = self._urls[target.name].dlq_name

        def call() -> str:
            sqs = self.client
            try:
                sqs.purge_queue(QueueUrl=url)
            except sqs.exceptions.PurgeQueueInProgress as e:
                raise BackendError(
                    f"a purge of {name} is already in progress",
                    "SQS allows one purge a minute per queue: wait and retry",
                ) from e
            before = f" ({target.dlq_depth} messages)" if target.dlq_depth is not None else ""
            return f"purged dead-letter queue {name}{before}"

        return await self.ctx.run(f"purge {name}", call)

    # --- DeadLetterPeekable --------------------------------------------------------------

    def peek_dlq_command(self, target: QueueStatus) -> list[str]:
        return self.ctx.cli(
            "sqs",
            "receive-message",
            "--queue-url",
            self._dlq_url(target),
            "--max-number-of-messages",
            str(PEEK_MAX),
            "--visibility-timeout",
            "0",
            "--attribute-names",
            "All",
            "--message-attribute-names",
            "All",
        )

    async def peek_dlq(self, target: QueueStatus) -> str:
        """Up to 10 messages as plain text (also kept as a detail section of the row)."""
        section = await self.peek_dlq_section(target)
        head = f"{section.title}\n{PEEK_WARNING}"
        if not section.rows:
            return head
        shown = [
            f"{i + 1}. [{r[2]} receives, sent {r[1]}] {r[3]}" for i, r in enumerate(section.rows)
        ]
        return head + "\n" + "\n".join(shown)

    async def peek_dlq_section(self, target: QueueStatus) -> DetailSection:
        url = self._dlq_url(target)
        name = self._urls[target.name].dlq_name

        def call() -> DetailSection:
            # VisibilityTimeout=0: the messages stay available to a redrive right away.
            resp = self.client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=PEEK_MAX,
                VisibilityTimeout=0,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            return peek_section(name, resp.get("Messages", []))

        section = await self.ctx.run(f"peek {name}", call)
        self._peeks[target.name] = section
        return section

    # --- DeadLetterRedrivable ------------------------------------------------------------

    def redrive_dlq_command(self, target: QueueStatus) -> list[str]:
        # The native equivalent (a message move task); the cockpit's own fallback does
        # receive -> send -> delete, which this endpoint or a FIFO queue may need.
        dlq_arn = self._arn(target, self._dlq_url(target), self._urls[target.name].dlq_name)
        return self.ctx.cli("sqs", "start-message-move-task", "--source-arn", dlq_arn)

    def _arn(self, target: QueueStatus, url: str, name: str) -> str:
        # https://sqs.<region>.amazonaws.com/<account>/<name> (moto: http://host/<account>/<name>)
        account = url.rstrip("/").split("/")[-2] if url.count("/") >= 4 else ""
        return f"arn:aws:sqs:{self.ctx.region or ''}:{account}:{name}"

    async def redrive_dlq(self, target: QueueStatus) -> str:
        dlq_url = self._dlq_url(target)
        urls = self._urls[target.name]
        return await self.ctx.run(
            f"redrive {urls.dlq_name}", self._redrive_sync, target.name, urls.queue, dlq_url
        )

    def _redrive_sync(self, queue: str, queue_url: str, dlq_url: str) -> str:
        sqs = self.client
        total = int(
            sqs.get_queue_attributes(
                QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"].get("ApproximateNumberOfMessages", 0)
        )
        fifo = queue_url.endswith(".fifo")
        moved = 0
        self.redrive_progress[queue] = (0, total)
        # Bounded by the count at the start: messages that fall back into the DLQ while we
        # work wait for the next redrive instead of looping forever.
        while moved < total:
            resp = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=min(REDRIVE_BATCH, total - moved),
                VisibilityTimeout=REDRIVE_VISIBILITY_S,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = resp.get("Messages", [])
            if not messages:
                break
            entries = [_send_entry(str(i), m, fifo) for i, m in enumerate(messages)]
            try:
                sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except Exception:
                self._release(sqs, dlq_url, messages)
                raise
            ok = {e["Id"] for e in sent.get("Successful", [])}
            done = [m for i, m in enumerate(messages) if str(i) in ok]
            failed = [m for i, m in enumerate(messages) if str(i) not in ok]
            if done:
                # A copy is acknowledged: only now may the original go.
                sqs.delete_message_batch(
                    QueueUrl=dlq_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
                moved += len(done)
                self.redrive_progress[queue] = (moved, total)
            if failed:
                self._release(sqs, dlq_url, failed)
                reasons = "; ".join(
                    sorted({str(f.get("Message") or f.get("Code")) for f in sent.get("Failed", [])})
                )
                raise BackendError(
                    f"redrive stopped after {moved} of {total}: {len(failed)} messages were "
                    f"not accepted by {queue} ({reasons})",
                    "they are still in the dead-letter queue; fix the cause and redrive again",
                )
        return f"redrove {moved} messages from the dead-letter queue to {queue}"

    @staticmethod
    def _release(sqs: Any, dlq_url: str, messages: list[dict[str, Any]]) -> None:
        """Make received messages visible again at once (best effort: else the timeout)."""
        try:
            sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(messages)
                ],
            )
        except Exception:  # noqa: S110 - they reappear after REDRIVE_VISIBILITY_S anyway
            pass

    # --- DetailProvider -------------------------------------------------------------------

    async def detail(self, record: Any) -> list[DetailSection]:
        """The last peek of the row's DLQ (opening a detail never receives anything)."""
        if not isinstance(record, QueueStatus):
            return []
        sections = []
        progress = self.redrive_progress.get(record.name)
        if progress is not None:
            sections.append(
                DetailSection("Redrive", lines=(f"moved {progress[0]} of {progress[1]}",))
            )
        peek = self._peeks.get(record.name)
        if peek is not None:
            sections.append(peek)
        elif record.dlq_name:
            sections.append(
                DetailSection(
                    f"Dead letters of {record.dlq_name}",
                    lines=(
                        "not peeked yet: use `queue: peek dead letters` (" + PEEK_WARNING + ")",
                    ),
                )
            )
        return sections

    async def close(self) -> None:
        await self.ctx.release(self)


def _send_entry(entry_id: str, message: dict[str, Any], fifo: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message["Body"]}
    attrs = message.get("MessageAttributes")
    if attrs:
        entry["MessageAttributes"] = attrs
    if fifo:
        sys_attrs = message.get("Attributes", {})
        entry["MessageGroupId"] = sys_attrs.get("MessageGroupId", "redrive")
        entry["MessageDeduplicationId"] = sys_attrs.get(
            "MessageDeduplicationId", message["MessageId"]
        )
    return entry


def peek_section(dlq_name: str, messages: list[dict[str, Any]]) -> DetailSection:
    """Peeked messages as a plain-text table (bodies raw: the screen sanitises them)."""
    rows = []
    for m in messages:
        attrs = m.get("Attributes", {})
        sent = attrs.get("SentTimestamp", "")
        when = (
            datetime.fromtimestamp(int(sent) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
            if str(sent).isdigit()
            else ""
        )
        body = str(m.get("Body", ""))
        if len(body) > PEEK_BODY_CHARS:
            body = body[:PEEK_BODY_CHARS] + "…"
        user_attrs = ", ".join(
            f"{k}={v.get('StringValue', v.get('DataType', ''))}"
            for k, v in sorted((m.get("MessageAttributes") or {}).items())
        )
        rows.append(
            (
                str(m.get("MessageId", "")),
                when,
                str(attrs.get("ApproximateReceiveCount", "")),
                body,
                user_attrs,
            )
        )
    return DetailSection(
        f"{len(rows)} messages peeked from {dlq_name}" + (" (at most 10)" if rows else ""),
        ("message id", "sent", "receives", "body", "attributes"),
        tuple(rows),
        (PEEK_WARNING,),
    )
