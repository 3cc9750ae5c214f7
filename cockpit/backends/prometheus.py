"""Prometheus -> alarms (scrape targets that are down, PromQL metrics over their threshold)
and the metric series themselves, for sparklines and the detail screen.

Each refresh runs, concurrently and under one deadline, ``/api/v1/targets`` and one
``/api/v1/query_range`` per expression in the profile's ``metrics:``. The records are
``Alarm`` rows for the alarms pane; the series of the last refresh stay on the source
(``series`` / ``series_for(name)``) and are shown by ``detail()``.

Units follow Prometheus' own convention: ``error_rate``, ``cpu``, ``memory`` and ``disk``
are 0-1 ratios (shown and compared as %, against ``thresholds`` in %), ``p95_ms`` is in
milliseconds; any other metric is shown as it comes and raises no alarm.

Threshold alarms are damped (``thresholds.hold``, cockpit/damping.py) and say since when the
series has been above (traced back past the window when it fills it); a down target says
since its first failing scrape. Both times are kept across refreshes.

``HttpApi`` is the small JSON client both this module and ``alertmanager`` use: urllib3 in threads (httpclient.py) with
TLS verification on (a CA file option), bearer/basic auth resolved from env:/file:
references, an overall deadline, and errors turned into ``BackendError`` with a hint.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from urllib3.util import make_headers

from cockpit.backends.httpclient import HttpClient, HttpConnectError, HttpRequestError, HttpTimeout
from cockpit.damping import Clock, Damper, utc_now
from cockpit.errors import BackendError, CockpitError, CredentialsError
from cockpit.masking import mask_url
from cockpit.model import Alarm, DetailSection, PaneKind, ServiceStatus, Severity
from cockpit.profile import AlertmanagerConfig, Profile, PrometheusConfig, SecretRef, Thresholds
from cockpit.units import sparkline

# Labels that name what a series or an alert is about, most specific first.
RESOURCE_LABELS = ("service", "app", "deployment", "job", "container", "pod", "instance",
                   "namespace")  # fmt: skip
RATIO_METRICS = ("error_rate", "cpu", "memory", "disk")
WINDOW_S = 900.0  # the sparkline window
STEP_S = 30.0
LOOKBACK_S = 86_400.0  # how far back a breach that fills the window is traced to its start
LOOKBACK_STEP_S = 300.0
DOWN_EXPR = "1 - up"
CONNECT_TIMEOUT_S = 3.0


def utc_from_rfc3339(text: str | None) -> datetime | None:
    """Prometheus/Alertmanager timestamps (nanoseconds, ``Z``) as aware UTC; None if unset."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)  # 3.11 reads Z and truncates nanoseconds
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC) if value.year > 1 else None  # 0001-01-01: "never"


def _resolve(ref: SecretRef | str | None) -> str | None:
    if ref is None:
        return None
    return ref.resolve() if isinstance(ref, SecretRef) else str(ref)


def _first_line(text: str, limit: int = 200) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line[:limit]


class HttpApi:
    """One lazily built ``HttpClient`` for one configured server, JSON in and out."""

    def __init__(
        self, kind: str, cfg: PrometheusConfig | AlertmanagerConfig, timeout: float
    ) -> None:
        self.kind = kind  # "Prometheus" / "Alertmanager", for messages
        self.cfg = cfg
        self.timeout = timeout
        self._client: HttpClient | None = None
        self._url = ""

    @property
    def url(self) -> str:
        """The base URL (resolved from its reference once), without a trailing slash."""
        if not self._url:
            url = (_resolve(self.cfg.url) or "").rstrip("/")
            if not url.startswith(("http://", "https://")):
                raise BackendError(
                    f"{self.kind} {self.cfg.name}: url {mask_url(url)!r} is not an http(s) URL",
                    "check its url in profiles.yaml",
                )
            self._url = url
        return self._url

    @property
    def shown_url(self) -> str:
        try:
            return mask_url(self.url)
        except CockpitError:
            return str(self.cfg.url)  # the reference itself, e.g. env:PROMETHEUS_URL

    def client(self) -> HttpClient:
        if self._client is None:
            headers = {"Accept": "application/json", "User-Agent": "ops-cockpit"}
            token = _resolve(self.cfg.token)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            if self.cfg.username is not None:
                userpass = f"{self.cfg.username}:{_resolve(self.cfg.password) or ''}"
                headers["Authorization"] = make_headers(basic_auth=userpass)["authorization"]
            context: ssl.SSLContext | None = None
            if self.cfg.verify and self.cfg.ca_file:
                try:
                    context = ssl.create_default_context(cafile=self.cfg.ca_file)
                except (OSError, ssl.SSLError) as e:
                    raise BackendError(
                        f"cannot load CA file {self.cfg.ca_file}: {e}",
                        "check ca_file in profiles.yaml",
                    ) from e
            self._client = HttpClient(headers=headers, verify=self.cfg.verify, ssl_context=context)
        return self._client

    async def request(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        hint: str = "",
    ) -> Any:
        """The parsed JSON answer (None for an empty body); any failure -> BackendError."""
        where = f"{self.kind} {self.cfg.name}"
        try:
            client = self.client()
            # urllib3 times the connection and each read; the overall deadline also bounds a
            # server that trickles.
            resp = await asyncio.wait_for(
                client.request(
                    method, self.url + path, params=params, json=json, timeout=self.timeout,
                    connect_timeout=min(self.timeout, CONNECT_TIMEOUT_S),
                ),
                self.timeout,
            )  # fmt: skip
        except CockpitError:
            raise
        except (TimeoutError, HttpTimeout) as e:
            raise BackendError(
                f"{doing}: {where} at {self.shown_url} did not answer within {self.timeout:g} s",
                f"is {self.kind} up and reachable? a firewall that drops packets looks like this",
            ) from e
        except HttpConnectError as e:
            raise BackendError(
                f"{doing}: cannot connect to {where} at {self.shown_url}: {_first_line(str(e))}",
                f"is {self.kind} running? check the url (and ca_file/verify for https)",
            ) from e
        except HttpRequestError as e:
            raise BackendError(
                f"{doing}: {where} at {self.shown_url}: {_first_line(str(e))}",
                "check the url; will retry",
            ) from e
        if resp.status_code in (401, 403):
            raise CredentialsError(
                f"{doing}: {where} refused the credentials (HTTP {resp.status_code})",
                "check token (or username/password) in profiles.yaml and the variable or "
                "file it names",
            )
        body: Any = None
        if resp.content:
            try:
                body = resp.json()
            except ValueError:
                body = None
                if resp.is_success:
                    raise BackendError(
                        f"{doing}: {where} answered with something that is not JSON",
                        f"is {self.shown_url} really {self.kind}? check the url",
                    ) from None
        if not resp.is_success:
            detail = ""
            if isinstance(body, dict):
                detail = str(body.get("error") or body.get("message") or "")
            elif resp.text:
                detail = resp.text
            raise BackendError(
                f"{doing}: {where} answered HTTP {resp.status_code}"
                + (f": {_first_line(detail)}" if detail else ""),
                hint or "check the url and the server's log",
            )
        return body

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


# --- records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSeries:
    """One series of one configured expression over the sparkline window."""

    metric: str  # the profile's name for the expression, e.g. "error_rate"
    labels: tuple[tuple[str, str], ...]
    points: tuple[tuple[float, float], ...]  # (unix time, value), oldest first; no NaN

    @property
    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None

    def label(self, name: str) -> str:
        return dict(self.labels).get(name, "")

    @property
    def resource(self) -> str:
        """What the series is about: its service/job/... label, "" for an aggregate."""
        return next((v for k in RESOURCE_LABELS if (v := self.label(k))), "")

    @property
    def selector(self) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.metric}{{{inner}}}" if inner else self.metric

    def values(self) -> list[float]:
        return [v for _, v in self.points]


def format_value(metric: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if metric in RATIO_METRICS:
        return f"{value * 100:.2f} %"
    if metric.endswith("_ms"):
        return f"{value:.0f} ms"
    return f"{value:.4g}"


def threshold_for(metric: str, thresholds: Thresholds) -> float | None:
    """The limit a metric's raw value is compared with (ratios: the % threshold / 100)."""
    if metric in RATIO_METRICS:
        return float(getattr(thresholds, metric)) / 100
    if metric == "p95_ms":
        return float(thresholds.p95_ms)
    return None


def breach_began(s: MetricSeries, limit: float) -> float | None:
    """Unix time of the first point of the run above ``limit`` that reaches the latest point
    (None when the latest point is not above)."""
    began = None
    for t, v in reversed(s.points):
        if not v > limit:
            break
        began = t
    return began


def threshold_alarm(s: MetricSeries, limit: float, source: str) -> Alarm | None:
    """The breach of ``s`` now, ``since`` the first point of the run (undamped)."""
    latest = s.latest
    began = breach_began(s, limit)
    if latest is None or began is None:
        return None
    return Alarm(
        name=s.selector,
        source=source,
        severity=Severity.CRITICAL,
        state="ALARM",
        reason=f"{s.metric} is {format_value(s.metric, latest)}, "
        f"above {format_value(s.metric, limit)}",
        since=datetime.fromtimestamp(began, UTC),
        resource=s.resource,
        threshold=f"{s.metric} > {format_value(s.metric, limit)}",
    )


def target_key(t: dict[str, Any]) -> tuple[str, str]:
    labels = t.get("labels") or {}
    job = str(labels.get("job") or t.get("scrapePool") or "")
    instance = str(labels.get("instance") or t.get("scrapeUrl") or "")
    return job, instance


def target_alarm(t: dict[str, Any], source: str, since: datetime | None = None) -> Alarm:
    """A down target; ``since`` is when it went down (default: its last scrape)."""
    job, instance = target_key(t)
    return Alarm(
        name=f"target down: {job} {instance}".strip(),
        source=source,
        severity=Severity.CRITICAL,
        state="down",
        reason=str(t.get("lastError") or "scrape failed"),
        since=since or utc_from_rfc3339(t.get("lastScrape")),
        resource=job,
        threshold="up == 0",
    )


def matrix_series(metric: str, result: Any) -> list[MetricSeries]:
    out = []
    for item in result or []:
        labels = tuple(sorted((str(k), str(v)) for k, v in (item.get("metric") or {}).items()))
        points = []
        for t, v in item.get("values") or []:
            try:
                value = float(v)
            except (TypeError, ValueError):
                continue
            if not math.isnan(value):  # 0/0 with no traffic: a gap, not a value
                points.append((float(t), value))
        out.append(MetricSeries(metric, labels, tuple(points)))
    out.sort(key=lambda s: s.labels)
    return out


async def gather_all(*calls: Awaitable[Any]) -> list[Any]:
    """Run concurrently; on the first failure cancel the rest and raise that failure itself."""
    try:
        async with asyncio.TaskGroup() as tg:
            tasks: list[asyncio.Task[Any]] = [tg.create_task(c) for c in calls]  # type: ignore[arg-type]
    except BaseExceptionGroup as eg:
        first = eg.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]


# --- the source -------------------------------------------------------------------------


class PrometheusSource:
    """Down scrape targets and threshold breaches of the profile's PromQL metrics."""

    min_interval = 15.0  # Prometheus' default scrape interval: asking more often returns the same points
    pane = PaneKind.ALARMS

    def __init__(
        self,
        cfg: PrometheusConfig,
        thresholds: Thresholds | None = None,
        *,
        timeout: float = 8.0,
        window_s: float = WINDOW_S,
        step_s: float = STEP_S,
        clock: Clock = utc_now,
    ) -> None:
        self.cfg = cfg
        self.thresholds = thresholds or Thresholds()
        self.api = HttpApi("Prometheus", cfg, timeout)
        self.window_s = window_s
        self.step_s = step_s
        self.id = f"prometheus:{cfg.name}"
        self.title = f"Prometheus {cfg.name}"
        self.series: dict[str, tuple[MetricSeries, ...]] = {}  # metric name -> last refresh
        self.down_targets: tuple[Alarm, ...] = ()
        self.damper = Damper(self.thresholds.hold, clock)
        self._down_since: dict[tuple[str, str], datetime] = {}

    async def fetch(self) -> list[Alarm]:
        end = self.damper.clock().timestamp()
        names = list(self.cfg.metrics)
        down, *results = await gather_all(
            self._targets(), *(self._query_range(n, self.cfg.metrics[n], end) for n in names)
        )
        self.series = dict(zip(names, results, strict=True))
        lookback: dict[str, list[MetricSeries]] = {}  # expr -> its coarse look further back
        alarms = await self._down_alarms(down, end, lookback)
        self.down_targets = tuple(alarms)
        breaches: dict[str, Alarm] = {}
        for name, series in self.series.items():
            limit = threshold_for(name, self.thresholds)
            if limit is None:
                continue
            for s in series:
                a = threshold_alarm(s, limit, self.id)
                if a is not None and not self.damper.tracked(a.name):
                    began = await self._began(name, self.cfg.metrics[name], s, limit, end, lookback)
                    a = replace(a, since=began or a.since)
                if a is not None:
                    breaches[a.name] = a
        alarms += self.damper.shown(breaches)
        alarms.sort(key=lambda a: (-a.severity, a.name))
        return alarms

    async def _targets(self) -> list[dict[str, Any]]:
        body = await self.api.request(
            "GET", "/api/v1/targets", "scrape targets", params={"state": "active"}
        )
        active = ((body or {}).get("data") or {}).get("activeTargets") or []
        return [t for t in active if t.get("health") == "down"]

    async def _down_alarms(
        self, down: list[dict[str, Any]], end: float, lookback: dict[str, list[MetricSeries]]
    ) -> list[Alarm]:
        """Down targets, each ``since`` its first failing scrape, kept across refreshes."""
        keys = {target_key(t) for t in down}
        self._down_since = {k: v for k, v in self._down_since.items() if k in keys}
        if keys - set(self._down_since):
            try:
                # 1 while a target is down, 0 while up: "above 0" is "down".
                series = await self._query_range("up", DOWN_EXPR, end)
            except CockpitError:
                series = ()  # the last scrape's time stands in; the alarm matters more
            began = {}
            for s in series:
                if breach_began(s, 0) is not None:
                    key = (s.label("job"), s.label("instance"))
                    began[key] = await self._began("up", DOWN_EXPR, s, 0, end, lookback)
            for t in down:
                k = target_key(t)
                if k not in self._down_since:
                    self._down_since[k] = began.get(k) or utc_from_rfc3339(t.get("lastScrape")) \
                        or datetime.now(UTC)  # fmt: skip
        return [target_alarm(t, self.id, self._down_since[target_key(t)]) for t in down]

    async def _began(
        self, name: str, expr: str, s: MetricSeries, limit: float, end: float,
        lookback: dict[str, list[MetricSeries]],
    ) -> datetime | None:
        """When the breach of ``s`` now began: its first point above ``limit`` in the window,
        or, when it fills the window, from a coarse look up to ``LOOKBACK_S`` further back."""
        began = breach_began(s, limit)
        if began is None:
            return None
        if began > end - self.window_s + self.step_s:
            return datetime.fromtimestamp(began, UTC)
        if expr not in lookback:
            params = {
                "query": expr,
                "start": f"{end - LOOKBACK_S:.3f}",
                "end": f"{end - self.window_s:.3f}",
                "step": f"{LOOKBACK_STEP_S:g}",
                "timeout": f"{self.api.timeout:g}s",
            }
            try:
                body = await self.api.request(
                    "GET", "/api/v1/query_range", f"PromQL metric {name}", params=params
                )
                lookback[expr] = matrix_series(name, ((body or {}).get("data") or {}).get("result"))
            except CockpitError:
                lookback[expr] = []
        for older in lookback[expr]:
            last = older.points[-1][0] if older.points else 0
            if older.labels == s.labels and last >= end - self.window_s - LOOKBACK_STEP_S:
                earlier = breach_began(older, limit)
                if earlier is not None:
                    began = min(began, earlier)
        return datetime.fromtimestamp(began, UTC)

    async def _query_range(self, name: str, expr: str, end: float) -> tuple[MetricSeries, ...]:
        params = {
            "query": expr,
            "start": f"{end - self.window_s:.3f}",
            "end": f"{end:.3f}",
            "step": f"{self.step_s:g}",
            "timeout": f"{self.api.timeout:g}s",  # the server gives up when we do
        }
        body = await self.api.request(
            "GET",
            "/api/v1/query_range",
            f"PromQL metric {name}",
            params=params,
            hint=f"check the expression of metrics.{name} in profiles.yaml "
            f"(try it in the Prometheus UI at {self.api.shown_url}/graph)",
        )
        data = (body or {}).get("data") or {}
        return tuple(matrix_series(name, data.get("result")))

    def series_for(self, name: str) -> list[MetricSeries]:
        """Series of the last refresh about ``name`` (a service: its service/job/... label)."""
        return [
            s
            for series in self.series.values()
            for s in series
            if name and any(s.label(k) == name for k in RESOURCE_LABELS)
        ]

    def service_metrics(self, name: str) -> tuple[tuple[str, tuple[float, ...]], ...]:
        """``ServiceStatus.metrics`` entries for service ``name`` from the last refresh:
        (metric, values oldest first) in display units (ratios as %, like the hosts' cpu %).
        A metric with several series for the service (one per instance) names each one."""
        found: dict[str, list[MetricSeries]] = {}
        for s in self.series_for(name):
            found.setdefault(s.metric, []).append(s)
        out = []
        for metric, series in found.items():
            scale = 100.0 if metric in RATIO_METRICS else 1.0
            for s in series:
                label = metric if len(series) == 1 else s.selector
                out.append((label, tuple(v * scale for v in s.values())))
        return tuple(out)

    async def detail(self, record: Any) -> list[DetailSection]:
        if isinstance(record, ServiceStatus):
            chosen = self.series_for(record.name)
        elif isinstance(record, Alarm) and record.resource and record.threshold != "up == 0":
            chosen = [s for s in self.series_for(record.resource)] or self._all()
        else:
            chosen = self._all()
        sections = []
        if chosen:
            sections.append(
                DetailSection(
                    title=f"Prometheus {self.cfg.name}: metrics over {self.window_s / 60:g} min",
                    columns=("series", "now", "min", "max", "trend"),
                    rows=tuple(
                        (
                            s.selector,
                            format_value(s.metric, s.latest),
                            format_value(s.metric, min(s.values(), default=None)),
                            format_value(s.metric, max(s.values(), default=None)),
                            sparkline(s.values()),
                        )
                        for s in chosen
                    ),
                )
            )
        if isinstance(record, Alarm) and record.threshold == "up == 0":
            sections.append(DetailSection(title="last scrape error", lines=(record.reason,)))
        return sections

    def _all(self) -> list[MetricSeries]:
        return [s for series in self.series.values() for s in series]

    def explain_command(self) -> list[str]:
        return ["curl", "-s", f"{self.api.shown_url}/api/v1/targets?state=active"]

    def query_command(self, name: str) -> list[str]:
        """The promtool call that evaluates one configured metric (for the explain layer)."""
        return ["promtool", "query", "range", f"--step={self.step_s:g}s",
                self.api.shown_url, self.cfg.metrics[name]]  # fmt: skip

    async def close(self) -> None:
        await self.api.close()


def build_prometheus_sources(profile: Profile) -> list[PrometheusSource]:
    # Our own deadline fires before the hub's, so the pane shows our message and hint.
    timeout = max(1.0, profile.timeout * 0.8)
    return [
        PrometheusSource(cfg, profile.thresholds, timeout=timeout) for cfg in profile.prometheus
    ]
