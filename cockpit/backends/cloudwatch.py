"""CloudWatch alarms in the configured states -> ``Alarm`` rows (the pane shows problems)."""

from __future__ import annotations

from typing import Any

from cockpit.backends.aws import AwsContext, utc
from cockpit.model import Alarm, PaneKind, Severity
from cockpit.profile import AlarmFilter

_SEVERITY = {
    "ALARM": Severity.CRITICAL,
    "INSUFFICIENT_DATA": Severity.UNKNOWN,
    "OK": Severity.OK,
}
_OPERATORS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside band",
    "LessThanLowerThreshold": "below band",
    "GreaterThanUpperThreshold": "above band",
}
# Dimensions that name what an alarm is about, most specific first.
_RESOURCE_DIMENSIONS = ("ServiceName", "QueueName", "DBInstanceIdentifier", "ClusterName")


def threshold_text(a: dict[str, Any]) -> str:
    """``CPUUtilization > 80`` (metric-math alarms have no MetricName: "expression")."""
    if "Rule" in a:  # composite alarm
        return str(a.get("AlarmRule", ""))
    metric = a.get("MetricName") or "expression"
    op = _OPERATORS.get(str(a.get("ComparisonOperator", "")), str(a.get("ComparisonOperator", "")))
    thr = a.get("Threshold")
    if thr is None:
        return f"{metric} {op}".strip()
    return f"{metric} {op} {thr:g}"


def resource_of(a: dict[str, Any]) -> str:
    dims = {d.get("Name"): d.get("Value") for d in a.get("Dimensions", []) or []}
    for name in _RESOURCE_DIMENSIONS:
        if dims.get(name):
            return str(dims[name])
    return ""


def to_alarm(a: dict[str, Any], *, source: str, estate: str = "") -> Alarm:
    state = str(a.get("StateValue", ""))
    return Alarm(
        name=str(a.get("AlarmName", "")),
        source=source,
        severity=_SEVERITY.get(state, Severity.UNKNOWN),
        state=state,
        reason=str(a.get("StateReason", "") or ""),
        since=utc(a.get("StateUpdatedTimestamp")),
        resource=resource_of(a),
        threshold=threshold_text(a),
        estate=estate,
    )


ONE_PAGE = 100  # DescribeAlarms' largest page


class AlarmsSource:
    # CloudWatch evaluates an alarm once a period: every 60 s, every 10 s at the finest.
    min_interval = 10.0
    pane = PaneKind.ALARMS

    def __init__(self, ctx: AwsContext, alarms: AlarmFilter) -> None:
        self.ctx = ctx
        self.filter = alarms
        self.id = f"aws:alarms{ctx.tag}"
        self.title = "CloudWatch alarms" + (f" {alarms.prefix}*" if alarms.prefix else "") + ctx.suffix
        self._many = False  # more alarms than one page: ask per state (see _fetch_sync)
        ctx.acquire(self)

    @property
    def client(self) -> Any:
        return self.ctx.client("cloudwatch")

    async def fetch(self) -> list[Alarm]:
        return await self.ctx.run("CloudWatch alarms", self._fetch_sync)

    def _fetch_sync(self) -> list[Alarm]:
        cw = self.client
        prefix = self.filter.prefix
        states = set(self.filter.states)
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
        if prefix:
            kwargs["AlarmNamePrefix"] = prefix
        # One call per state lets AWS filter, which pays where most of many alarms are OK.
        # Where every alarm fits in one page, one call for all of them is cheaper than one
        # per state; an estate found larger than that is asked per state from then on. The
        # client-side filter below keeps the result right where a server ignores StateValue
        # next to a prefix (moto does).
        per_state: tuple[str | None, ...] = self.filter.states or (None,)
        if len(per_state) > 1 and not self._many:
            page = cw.describe_alarms(**kwargs, MaxRecords=ONE_PAGE)
            everything = page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
            # A server that ignores MaxRecords (moto) answers in full: used, but noted.
            self._many = bool(page.get("NextToken")) or len(everything) >= ONE_PAGE
            if not page.get("NextToken"):
                per_state = ()
                for a in everything:
                    found[a["AlarmName"]] = a
        for state in per_state:
            state_kwargs = dict(kwargs, StateValue=state) if state else kwargs
            for page in cw.get_paginator("describe_alarms").paginate(**state_kwargs):
                for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    found[a["AlarmName"]] = a
        for a in found.values():
            self.ctx.learn_account(a.get("AlarmArn"))
            break
        alarms = [
            to_alarm(a, source=self.id, estate=self.ctx.estate)
            for a in found.values()
            if (not states or a.get("StateValue") in states)
            and str(a.get("AlarmName", "")).startswith(prefix)
        ]
        # Worst first, then the most recent change first.
        alarms.sort(key=lambda x: (-x.severity, -(x.since.timestamp() if x.since else 0), x.name))
        return alarms

    def explain_command(self) -> list[str]:
        args = ["cloudwatch", "describe-alarms"]
        if len(self.filter.states) == 1:
            args += ["--state-value", self.filter.states[0]]
        if self.filter.prefix:
            args += ["--alarm-name-prefix", self.filter.prefix]
        return self.ctx.cli(*args)

    async def close(self) -> None:
        await self.ctx.release(self)
