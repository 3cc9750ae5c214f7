"""SQS queues and their dead-letter queues -> ``QueueStatus`` rows; purge the DLQ."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cockpit.backends.aws import AwsContext
from cockpit.errors import BackendError
from cockpit.model import PaneKind, QueueStatus, Severity
from cockpit.profile import SqsQueue, Thresholds


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
        self.id = "aws:sqs"
        self.title = "SQS"
        # Queue URLs never change for a name, so they are looked up once (and again after
        # a failure, in case the queue was recreated).
        self._urls: dict[str, _Urls] = {}
        ctx.acquire(self)

    @property
    def client(self) -> Any:
        return self.ctx.client("sqs")

    async def fetch(self) -> list[QueueStatus]:
        return await self.ctx.run("SQS queues", self._fetch_sync)

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

    async def close(self) -> None:
        await self.ctx.release(self)
