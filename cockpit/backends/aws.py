"""AWS: one shared session per profile, error translation, and the source factory.

Every AWS source of a profile shares one ``AwsContext``: it creates the boto3 session and
clients on first use (importing boto3 costs ~0.5 s, which must not delay the first frame),
runs the blocking SDK calls in a thread, turns SDK exceptions into ``CockpitError``s a pane
can show, and builds the CLI argv that is equivalent to a call (with ``--profile``,
``--region`` and ``--endpoint-url`` so a user can paste it as is).
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from cockpit.backends.pools import run_in_pool
from cockpit.errors import BackendError, CockpitError, CredentialsError

if TYPE_CHECKING:
    from cockpit.backends.base import LogSource, Source
    from cockpit.profile import AwsConfig, Profile

T = TypeVar("T")


LAB_REGION = "us-east-1"
LAB_KEY = "testing"

# Error codes that mean "your credentials are no good", whatever the service.
_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
    }
)
_THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)
_ACCESS_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)


class AwsContext:
    """The session, clients and CLI conventions shared by a profile's AWS sources."""

    def __init__(self, aws: AwsConfig, *, lab: bool = False, several: bool = False) -> None:
        self.aws = aws
        self.lab = lab
        # The estate its rows carry; with several estates in the profile, its sources' ids
        # end in ``@estate`` (two accounts may both have a cluster "production").
        self.estate = aws.estate
        self.tag = f"@{self.estate}" if several else ""
        self.suffix = f" ({self.estate})" if several else ""  # in source titles (pane headers)
        self.account = ""  # the account id, learnt from the first ARN a source reads
        self.region: str | None = aws.region or (LAB_REGION if lab else None)
        self._lock = threading.Lock()
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._users: set[int] = set()
        # API calls ("ecs.DescribeServices" -> n), counted by a botocore hook on every client:
        # ``total_calls`` since start, ``calls`` per counter (source id) for its last refresh.
        self.total_calls: Counter[str] = Counter()
        self.calls: dict[str, Counter[str]] = {}
        self._counting = threading.local()
        self._count_lock = threading.Lock()

    # --- clients ------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """The boto3 client for ``service``, created on first use (thread-safe).

        Raises ``CockpitError`` (never an SDK error) when the session cannot be built.
        """
        return self._cached_client(service, service, streaming=False)

    def stream_client(self, service: str) -> Any:
        """A client for long-lived streaming responses (StartLiveTail), created on first use.

        Its own client, because its read timeout must outlast the quiet seconds of a stream
        and retries make no sense for one; it shares the session and the call counting.
        """
        return self._cached_client(f"{service}#stream", service, streaming=True)

    def _cached_client(self, key: str, service: str, *, streaming: bool) -> Any:
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                try:
                    client = self._make_client(service, streaming=streaming)
                except CockpitError:
                    raise
                except Exception as e:
                    raise self.translate(e, f"cannot create the AWS {service} client") from e
                self._clients[key] = client
            return client

    def _make_client(self, service: str, *, streaming: bool = False) -> Any:
        import boto3
        from botocore.config import Config

        if self._session is None:
            if self.lab:
                # The lab is moto on loopback: static dummy keys, never the user's real ones.
                self._session = boto3.Session(
                    aws_access_key_id=LAB_KEY,
                    aws_secret_access_key=LAB_KEY,
                    region_name=self.region,
                )
            else:
                self._session = boto3.Session(
                    profile_name=self.aws.profile, region_name=self.aws.region
                )
                self.region = self._session.region_name
        if self.lab:
            # moto answers unimplemented actions with HTTP 500, which retries would triple;
            # host prefixes (e.g. "streaming-") do not resolve on 127.0.0.1.
            config = Config(
                retries={"max_attempts": 1},
                inject_host_prefix=False,
                connect_timeout=1,
                read_timeout=3,
            )
        else:
            config = Config(
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=3,
                read_timeout=8,
            )
        if streaming:
            config = config.merge(Config(retries={"max_attempts": 1}, read_timeout=60))
        if not self.region:
            raise BackendError(
                "no AWS region configured"
                + (f" for profile {self.aws.profile}" if self.aws.profile else ""),
                "set aws.region in profiles.yaml or region in ~/.aws/config",
            )
        client = self._session.client(
            service, endpoint_url=self.aws.endpoint_url, config=config, region_name=self.region
        )
        # before-call fires once per API operation (retries are not new calls).
        client.meta.events.register("before-call", self._count_call)
        return client

    def _count_call(self, model: Any = None, **_: Any) -> None:
        name = f"{model.service_model.service_name}.{model.name}" if model is not None else "?"
        current = getattr(self._counting, "counter", None)
        with self._count_lock:
            self.total_calls[name] += 1
            if current is not None:
                current[name] += 1

    def in_thread(self, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` for a worker thread, counting its calls where the caller's count."""
        counter = getattr(self._counting, "counter", None)

        def run(*args: Any, **kwargs: Any) -> T:
            self._counting.counter = counter
            try:
                return fn(*args, **kwargs)
            finally:
                self._counting.counter = None

        return run

    # --- running calls --------------------------------------------------------------

    async def run(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        counter: str | None = None,
        **kwargs: Any,
    ) -> T:
        """Run blocking SDK code in a thread; SDK errors come out as ``CockpitError``.

        With ``counter``, the API calls of this run replace ``calls[counter]`` (per refresh).
        """
        if counter is None:
            call = functools.partial(self.guard, what, fn, *args, **kwargs)
        else:
            call = functools.partial(self.counted, counter, what, fn, *args, **kwargs)
        # Not asyncio.to_thread: against a hung endpoint each call holds its thread until the
        # SDK's read timeout, long after the hub gave up on it, and in the default executor
        # (6 threads on 2 cores) they starved every other to_thread of the process: the
        # audit's write before an action, the Kubernetes panes' row building.
        ctx = contextvars.copy_context()
        return await run_in_pool("aws", 16, functools.partial(ctx.run, call))

    def counted(self, counter: str, what: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """``guard`` that records this thread's API calls as ``calls[counter]``."""
        calls: Counter[str] = Counter()
        self._counting.counter = calls
        try:
            return self.guard(what, fn, *args, **kw)
        finally:
            self._counting.counter = None
            with self._count_lock:
                self.calls[counter] = calls

    def guard(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except CockpitError:
            raise
        except Exception as e:
            err = self.translate(e, what)
            if isinstance(err, CredentialsError):
                # The next refresh builds a new session, so credentials renewed meanwhile
                # (`aws sso login`, a rotated key) are picked up without restarting.
                self.reset_session()
            raise err from e

    def reset_session(self) -> None:
        with self._lock:
            self._session = None
            self._clients.clear()

    def where(self) -> str:
        """What we talk to, for "cannot reach ..." messages."""
        if self.aws.endpoint_url:
            return self.aws.endpoint_url
        return f"AWS region {self.region}" if self.region else "AWS"

    def translate(self, e: BaseException, what: str) -> CockpitError:
        """Map an SDK exception to an error a pane can show (message + what to do)."""
        from botocore import exceptions as bx

        prof = self.aws.profile
        if prof:
            renew = f"run `aws sso login --profile {prof}`"
        else:
            renew = "configure credentials (aws configure, AWS_PROFILE or `aws sso login`)"
        whose = f"for profile {prof}" if prof else "(default credential chain)"

        if isinstance(e, bx.ProfileNotFound):
            return CredentialsError(
                f"AWS profile {prof} is not configured",
                f"add it to ~/.aws/config (`aws configure sso --profile {prof}`)",
            )
        if isinstance(e, bx.NoRegionError):
            return BackendError(
                "no AWS region configured", "set aws.region in profiles.yaml or ~/.aws/config"
            )
        sso_errors: tuple[type[BaseException], ...] = tuple(
            getattr(bx, n)
            for n in (
                "SSOTokenLoadError",
                "UnauthorizedSSOTokenError",
                "TokenRetrievalError",
                "SSOError",
            )
            if hasattr(bx, n)
        )
        if isinstance(e, sso_errors):
            return CredentialsError(f"SSO session expired {whose}", renew)
        if isinstance(e, bx.NoCredentialsError | bx.PartialCredentialsError):
            return CredentialsError(f"no AWS credentials {whose}", renew)
        if isinstance(e, bx.EndpointConnectionError | bx.ConnectTimeoutError):
            return BackendError(
                f"cannot reach {self.where()}",
                "the lab's moto server is not answering: restart cockpit"
                if self.lab
                else "check the network / endpoint_url",
            )
        if isinstance(e, bx.ReadTimeoutError | bx.ConnectionClosedError):
            return BackendError(
                f"{what}: {self.where()} did not answer in time",
                "check the network / endpoint_url; the next refresh retries",
            )
        if isinstance(e, bx.ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", "") or "")
            msg = str(err.get("Message", "") or "")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _CREDENTIAL_CODES:
                return CredentialsError(f"credentials expired {whose} ({code})", renew)
            if code in _THROTTLE_CODES or status == 429:
                return BackendError(
                    f"{what}: throttled by AWS ({code})",
                    "refresh less often (profile refresh) or narrow the configured resources",
                )
            if code in _ACCESS_CODES:
                return BackendError(
                    f"{what}: access denied ({msg or code})",
                    "grant this action to the role of "
                    + (f"profile {prof}" if prof else "your credentials"),
                )
            if self.lab and status == 500:
                return BackendError(f"{what}: unsupported in the lab", "this works on real AWS")
            summary = f"{code}: {msg}" if msg else code or str(e)
            return BackendError(f"{what}: {summary}")
        if isinstance(e, bx.BotoCoreError):
            return BackendError(f"{what}: {e}")
        return BackendError(f"{what}: {type(e).__name__}: {e}")

    # --- the estate -----------------------------------------------------------------

    def learn_account(self, arn: object) -> None:
        """Note the account id from an ARN (``arn:aws:ecs:REGION:ACCOUNT:...``) or a queue URL."""
        if self.account or not isinstance(arn, str):
            return
        parts = arn.split(":") if arn.startswith("arn:") else arn.rstrip("/").split("/")[-2:-1]
        account = parts[4] if arn.startswith("arn:") and len(parts) > 4 else (parts[0] if parts else "")
        if account.isdigit():
            self.account = account

    def describe_estate(self) -> dict[str, str]:
        """What a confirmation and the audit say about where an action runs."""
        out = {"estate": self.estate, "account": self.account}
        if self.aws.profile:
            out["aws_profile"] = self.aws.profile
        if self.region:
            out["region"] = self.region
        return {k: v for k, v in out.items() if v}

    # --- CLI equivalents ------------------------------------------------------------

    def cli(self, *args: str) -> list[str]:
        """``aws <args>`` plus the options that make it hit what the cockpit hits."""
        argv = ["aws", *args]
        if self.aws.profile:
            argv += ["--profile", self.aws.profile]
        region = self.aws.region or (LAB_REGION if self.lab else None)
        if region:
            argv += ["--region", region]
        if self.aws.endpoint_url:
            argv += ["--endpoint-url", self.aws.endpoint_url]
        return argv

    # --- lifetime -------------------------------------------------------------------

    def acquire(self, owner: object) -> None:
        self._users.add(id(owner))

    async def release(self, owner: object) -> None:
        """Close the clients once the last source sharing them is closed (idempotent)."""
        self._users.discard(id(owner))
        if self._users:
            return
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()


def utc(value: Any) -> datetime | None:
    """An SDK timestamp as an aware UTC datetime (botocore hands out tzlocal ones)."""
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def build_aws_sources(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    """One source per configured AWS thing of ``profile``; ``([], [])`` without ``aws``."""
    if profile.aws is None:
        return [], []
    from cockpit.backends.cloudformation import StacksSource
    from cockpit.backends.cloudwatch import AlarmsSource
    from cockpit.backends.ecs import EcsServicesSource
    from cockpit.backends.logs import EcsLogSource
    from cockpit.backends.rds import RdsSource
    from cockpit.backends.sqs import SqsSource

    sources: list[Source] = []
    logs: list[LogSource] = []
    several = len(profile.aws_estates) > 1
    # One context (session, credentials, clients) per estate: an expired SSO session of one
    # account fails only that estate's sources.
    for aws in profile.aws_estates:
        ctx = AwsContext(aws, lab=profile.lab, several=several)
        sources += [EcsServicesSource(ctx, c) for c in aws.ecs]
        if aws.alarms is not None:
            sources.append(AlarmsSource(ctx, aws.alarms))
        if aws.sqs:
            sources.append(SqsSource(ctx, aws.sqs, profile.thresholds))
        if aws.rds:
            sources.append(RdsSource(ctx, aws.rds))
        if aws.stacks:
            sources.append(StacksSource(ctx, aws.stacks, aws.stack_stuck_minutes))
        logs += [EcsLogSource(ctx, c) for c in aws.ecs if c.log_groups]
    return sources, logs
