"""The team's own actions (profile key ``actions:``): argv templates turned into ``ActionSpec``s.

A template fills whole argv elements and never reaches a shell: ``{target.FIELD}`` (a field of
the row's record), ``{params.NAME}`` (a declared parameter), ``{source.url}`` (the row's server
URL, resolved from its secret reference; masked wherever it is shown) and
``{cockpit.scripts}`` (the scripts shipped with the cockpit). Placeholders are checked when
the profile loads (``template_problems``) and values when the action runs: a value that starts
with ``-`` would be read as an option, so it is refused unless its parameter allows it.

``on: local`` runs the argv here (``subprocess`` with a list, a timeout); ``on: host`` runs it
on the row's host through the hosts backend's transport, which quotes each word for ssh.
Either way the action goes through ``ActionRunner``: read-only, confirmation, audit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.actions import ActionSpec, Param, Risk
from cockpit.errors import ActionRefused, CockpitError
from cockpit.masking import mask_text
from cockpit.model import Alarm, DatabaseSnapshot, QueueStatus, ServiceStatus
from cockpit.profile import ActionConfig, Profile

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
PANES: dict[str, type] = {
    "services": ServiceStatus,
    "hosts": ServiceStatus,  # a host's rows: services whose backend is "host"
    "alarms": Alarm,
    "queues": QueueStatus,
    "database": DatabaseSnapshot,
}
BACKENDS = ("aws", "ecs", "sqs", "rds", "cloudwatch", "kubernetes", "host", "redis", "postgres",
            "prometheus", "alertmanager", "health")
_AWS = frozenset({"ecs", "sqs", "rds", "cloudwatch", "aws"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
OUTPUT_LIMIT = 8000  # characters of output kept in the outcome (the end: where errors are)


@dataclass(frozen=True)
class NoTarget:
    """The target of an action with no ``applies_to``: the profile itself."""

    name: str
    source: str = ""
    key: str = ""


def target_fields(record_type: type | None) -> set[str]:
    if record_type is None:
        return {"name"}
    return {f.name for f in dataclasses.fields(record_type)}


def template_problems(text: str, record_type: type | None, params: set[str]) -> list[str]:
    """What is wrong with the placeholders of one template string (empty: nothing)."""
    problems = []
    stripped = _PLACEHOLDER.sub("", text)
    if "{" in stripped or "}" in stripped:
        problems.append(f"unbalanced brace in {text!r}")
    for name in _PLACEHOLDER.findall(text):
        space, _, field = name.partition(".")
        if space == "target":
            known = target_fields(record_type)
            if field not in known:
                problems.append(f"{{{name}}}: the target has no field {field!r} "
                                f"(fields: {', '.join(sorted(known))})")
        elif space == "params":
            if field not in params:
                problems.append(f"{{{name}}}: no parameter {field!r} is declared "
                                f"(params: {', '.join(sorted(params)) or 'none'})")
        elif name not in ("source.url", "cockpit.scripts"):
            problems.append(f"unknown placeholder {{{name}}} (use target.FIELD, params.NAME, "
                            "source.url or cockpit.scripts)")
    return problems


def _source_url(backend: Any) -> str:
    conn = getattr(backend, "conn", None)
    url = getattr(conn, "url", None)
    if callable(url):
        return str(url())
    ref = getattr(getattr(backend, "cfg", None), "url", None) or getattr(getattr(backend, "cfg", None), "dsn", None)
    if ref is None:
        raise ActionRefused("this row's source has no server URL for {source.url}")
    return str(ref.resolve()) if hasattr(ref, "resolve") else str(ref)


def _check_value(value: str, what: str, allow_dash: bool = False) -> str:
    if value.startswith("-") and not allow_dash:
        raise ActionRefused(f"{what} {value!r} starts with '-' (it would be read as an option)",
                            "declare the parameter with allow_dash: true if that is meant")
    if "\0" in value or any(ord(c) < 32 and c != "\t" for c in value):
        raise ActionRefused(f"{what} contains a control character")
    return value


def fill(text: str, backend: Any, target: Any, params: dict[str, Any],
         allow_dash: frozenset[str] = frozenset()) -> str:
    """One template string with its placeholders replaced by checked values."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        space, _, field = name.partition(".")
        if name == "cockpit.scripts":
            return str(SCRIPTS_DIR)
        if name == "source.url":
            return _source_url(backend)
        if space == "params":
            if field not in params:
                raise ActionRefused(f"no value for parameter {field}")
            return _check_value(str(params[field]), f"parameter {field}", field in allow_dash)
        got = getattr(target, field, None)
        if got is None or got == "" or isinstance(got, tuple | list | dict):
            raise ActionRefused(f"the row has no {field} to fill {{{name}}}")
        got = got.value if hasattr(got, "value") and not isinstance(got, str) else got
        return _check_value(str(got), f"the row's {field}")

    return _PLACEHOLDER.sub(value, text)


@dataclass(frozen=True)
class TextParam(Param):
    """A profile action's parameter: text, checked like any value put into an argv."""

    allow_dash: bool = False

    def validate(self, value: Any) -> Any:
        value = super().validate(value if isinstance(value, str) else str(value))
        return _check_value(value, self.label, self.allow_dash)


@dataclass(frozen=True)
class ProfileAction(ActionSpec):
    """An ``ActionSpec`` from profiles.yaml: offered on the rows ``applies_to`` names."""

    config: ActionConfig | None = None
    env: tuple[tuple[str, str], ...] = ()  # for on: local (the AWS endpoint of the profile)

    def applies_to(self, target: object) -> bool:
        cfg = self.config
        assert cfg is not None
        if cfg.applies_to is None:
            return isinstance(target, NoTarget)
        if not isinstance(target, self.target_type):
            return False
        want = "host" if cfg.applies_to.pane == "hosts" else cfg.applies_to.backend
        if want is None:
            return True
        have = getattr(target, "backend", None) or str(getattr(target, "source", "")).split(":")[0]
        return have == want or (want == "aws" and have in _AWS)


def _build(cfg: ActionConfig, profile: Profile) -> ProfileAction:
    record_type = PANES[cfg.applies_to.pane] if cfg.applies_to else NoTarget
    dash = frozenset(p.name for p in cfg.params if p.allow_dash)

    def default_of(template: str | None) -> Any:
        if template is None:
            return None
        return lambda b, t: fill(template, b, t, {})

    params = tuple(
        TextParam(p.name, p.prompt or p.name, str, default_of(p.default), allow_dash=p.allow_dash)
        for p in cfg.params
    )

    def argv(backend: Any, target: Any, values: dict[str, Any]) -> list[str]:
        words = [fill(w, backend, target, values, dash) for w in cfg.argv]
        if cfg.on == "host":
            transport = _transport(backend)
            return list(transport.display(words))
        return words

    env = []
    if profile.aws is not None:
        for name, value in (("AWS_ENDPOINT_URL", profile.aws.endpoint_url),
                            ("AWS_DEFAULT_REGION", profile.aws.region),
                            ("AWS_PROFILE", profile.aws.profile)):
            if value:
                env.append((name, value))
        if profile.lab:  # moto on loopback: its dummy keys, never the user's real ones
            from cockpit.backends.aws import LAB_KEY

            env += [("AWS_ACCESS_KEY_ID", LAB_KEY), ("AWS_SECRET_ACCESS_KEY", LAB_KEY)]
            env = [(k, v) for k, v in env if k != "AWS_PROFILE"]

    async def call(backend: Any, target: Any, values: dict[str, Any]) -> str:
        words = [fill(w, backend, target, values, dash) for w in cfg.argv]
        if cfg.on == "host":
            result = await _transport(backend).run(words, timeout=cfg.timeout)
            code, out = result.returncode, result.stdout + result.stderr
        else:
            code, out = await run_local(words, cfg.timeout, _estate_env(profile, dict(env), backend))
        text = mask_text(out.decode(errors="replace"))[-OUTPUT_LIMIT:].rstrip()
        if code != 0:
            raise CockpitError(f"exit status {code}" + (f"\n{text}" if text else ""))
        return "exit status 0" + (f"\n{text}" if text else "")

    return ProfileAction(
        id=cfg.id,
        title=cfg.title,
        target_type=record_type,
        capability=object,
        risk=Risk(cfg.risk),
        key=cfg.key,
        description=cfg.explain or f"runs {' '.join(cfg.argv)}",
        params=params,
        argv=argv,
        call=call,
        config=cfg,
        env=tuple(env),
    )


def _estate_env(profile: Profile, env: dict[str, str], backend: Any) -> dict[str, str]:
    """With several AWS estates, a local command on a row runs in that row's estate (its
    endpoint, region and AWS profile), not the first one's: the same queue name in another
    region is another queue."""
    from cockpit.profile import AwsConfig

    ctx = getattr(backend, "ctx", None)
    aws = getattr(ctx, "aws", None)
    if not profile.aws_more or not isinstance(aws, AwsConfig):
        return env
    for name, value in (("AWS_ENDPOINT_URL", aws.endpoint_url),
                        ("AWS_DEFAULT_REGION", getattr(ctx, "region", None) or aws.region),
                        ("AWS_PROFILE", None if profile.lab else aws.profile)):
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    return env


def _transport(backend: Any) -> Any:
    transport = getattr(getattr(backend, "host", None), "transport", None)
    if transport is None:
        raise ActionRefused("on: host needs a row from the hosts backend")
    return transport


async def run_local(argv: list[str], timeout: float, env: dict[str, str]) -> tuple[int, bytes]:
    """Run ``argv`` here (no shell), its output and exit status; killed after ``timeout``."""
    from cockpit.backends.ssh import terminate

    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, **env}, start_new_session=True,
        )
    except OSError as e:
        raise CockpitError(f"cannot run {argv[0]}: {e.strerror}", "check the command exists") from e
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        await terminate(proc)
        raise CockpitError(f"{argv[0]} did not finish within {timeout:g} s; it was stopped") from None
    except BaseException:
        await terminate(proc)
        raise
    return proc.returncode or 0, out


def profile_actions(profile: Profile) -> tuple[ActionSpec, ...]:
    """The profile's own actions as ``ActionSpec``s (validated when profiles.yaml loaded)."""
    return tuple(_build(cfg, profile) for cfg in profile.actions)


def outcome_view(spec: ActionSpec, target: Any, outcome: Any) -> tuple[str, Any] | None:
    """A profile action's result as a screen's title and sections loader: the command, the
    exit status and the output, plain text (None for built-ins and actions that did not run)."""
    from cockpit.model import DetailSection

    if getattr(spec, "config", None) is None or outcome.status not in ("ok", "failed"):
        return None
    head, _, output = outcome.message.partition("\n")
    sections = [
        DetailSection(f"{outcome.status}: {head}", lines=(f"$ {outcome.command}",)),
        DetailSection("output", lines=tuple(output.splitlines()) or ("(no output)",)),
    ]

    async def load() -> list[Any]:
        return sections

    return f"{spec.title} {getattr(target, 'name', '')}".strip(), load


def row_keys(specs: tuple[ActionSpec, ...], pane: str) -> list[tuple[str, str, str]]:
    """(key, action id, title) of the profile actions with a row key on ``pane``'s rows."""
    out = []
    for spec in specs:
        cfg = getattr(spec, "config", None)
        if spec.key and cfg is not None and cfg.applies_to is not None:
            on = "services" if cfg.applies_to.pane == "hosts" else cfg.applies_to.pane
            if on == str(pane):
                out.append((spec.key, spec.id, spec.title))
    return out


def no_target(profile: Profile) -> NoTarget:
    return NoTarget(profile.name, "", f"profile:{profile.name}")
