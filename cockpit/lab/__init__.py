"""The embedded lab: a small production-like estate on the user's machine, nothing to set up.

``start_lab()`` starts moto's server in a child process (``cockpit.lab.server``) that seeds
the estate and keeps it moving, and, in parallel, a private PostgreSQL and Redis with
generated activity when their binaries are installed. ``Lab.profile()`` points a profile
at all of it. Everything the lab started stops in ``Lab.stop()``, at interpreter exit, and
even when the cockpit is SIGKILLed: the child exits when its stdin pipe from the cockpit
closes, and then stops the servers listed in ``watch.json``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cockpit.errors import CockpitError
from cockpit.profile import (
    AlarmFilter,
    AlertmanagerConfig,
    AwsConfig,
    DatabaseConfig,
    EcsCluster,
    HealthCheck,
    HostConfig,
    KubernetesConfig,
    PagerDutyConfig,
    Profile,
    PrometheusConfig,
    RedisConfig,
    SecretRef,
    SentryConfig,
    SqsQueue,
    UnitConfig,
)

log = logging.getLogger("cockpit.lab")

READY_TIMEOUT = 30.0  # a cold start is ~1.7 s; a loaded CI box can be much slower
STOP_TIMEOUT = 3.0
LOG_GROUP = "/ecs/api-production"
PIDS_DIR = "pids"  # <state dir>/pids/<server>.pid: the servers the lab started
# Keyed like a real application's (cockpit/lab/activity.py writes them); auto finds the
# Celery, RQ and BullMQ queues.
REDIS_QUEUES = ("jobs:email", "orders:events", "jobs:email:scheduled", "auto")

__all__ = ["Lab", "LabError", "start_lab"]


class LabError(CockpitError):
    """The lab's AWS server did not come up."""


LAB_INSTALL = "pip install 'ops-cockpit[lab]'"


def require_lab_extra() -> None:
    """Refuse, with the command that fixes it, when the lab's moto server is not installed.

    moto (and the cfn-lint, sympy and flask it pulls in) is an extra, so that a bastion's
    install carries no lab.
    """
    import importlib.util

    if importlib.util.find_spec("moto") is None:
        raise LabError(
            "the lab is not installed (moto's server is an extra)",
            f"install it with: {LAB_INSTALL}  (from a clone: pip install -e '.[lab]')",
        )


@dataclass
class Lab:
    aws_endpoint: str
    postgres_dsn: str | None
    redis_url: str | None
    notes: dict[str, str]  # pane ("database", "queues") -> "what is missing: how to get it"
    state_dir: Path
    # What the lab's process started besides moto: health_url, kubeconfig, kube_context.
    extras: dict[str, Any] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    _servers: list[Any] = field(default_factory=list, repr=False, compare=False)
    _activities: list[Any] = field(default_factory=list, repr=False, compare=False)
    _owns_state_dir: bool = field(default=False, repr=False, compare=False)
    _stopped: bool = field(default=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def kubeconfig(self) -> str | None:
        """The simulated cluster's kubeconfig (exported by `cockpit lab up` for kubectl)."""
        return self.extras.get("kubeconfig")

    @property
    def pid(self) -> int | None:
        """The moto child's pid (for tests and ``cockpit check``)."""
        return self._proc.pid if self._proc else None

    def local_profile(self, base: Profile) -> Profile:
        """``base`` with only what runs without the AWS side: the private PostgreSQL and
        Redis and this machine (usable once ``start_lab``'s ``on_servers`` was called)."""
        return dataclasses.replace(
            self.profile(base), aws=None, aws_more=(), kubernetes=(), health=(), prometheus=(),
            alertmanager=(), sentry=(), pagerduty=None,
        )

    def remote_profile(self, base: Profile) -> Profile:
        """The rest of ``profile(base)`` once the AWS side answers: ``local_profile``'s sources
        are running already and are not built a second time."""
        return dataclasses.replace(self.profile(base), databases=(), redis=(), hosts=())

    def profile(self, base: Profile) -> Profile:
        """``base`` pointed at this lab's endpoint, database and Redis."""
        from cockpit.lab.aws_extras import LAB_LOAD_BALANCERS  # the ALB metrics it puts

        aws = AwsConfig(
            endpoint_url=self.aws_endpoint,
            region="us-east-1",
            ecs=(
                EcsCluster(
                    "production", log_groups=(LOG_GROUP,), load_balancers=LAB_LOAD_BALANCERS
                ),
            ),
            alarms=AlarmFilter(states=("ALARM", "INSUFFICIENT_DATA")),
            sqs=(SqsQueue("jobs", "jobs-dlq"),),
            rds=("prod-postgresql",),
        )
        databases = (
            (DatabaseConfig("lab-postgres", SecretRef(self.postgres_dsn)),)
            if self.postgres_dsn
            else ()
        )
        redis = (
            (RedisConfig("lab-redis", SecretRef(self.redis_url), queues=REDIS_QUEUES),)
            if self.redis_url
            else ()
        )
        # This machine, through the hosts backend's local transport: its metrics, the lab's
        # own servers as processes found by the pid files the lab writes (never by name: another
        # user's redis-server is not the lab's), and the Redis log as a followed file.
        units = tuple(UnitConfig(u, pidfile=str(self.state_dir / PIDS_DIR / f"{u}.pid"))
                      for u, on in (("postgres", self.postgres_dsn), ("redis-server", self.redis_url)) if on)
        redis_log = self.state_dir / "redis" / "redis.log"
        hosts = (HostConfig("this-machine", local=True, units=units,
                            logs=(str(redis_log),) if self.redis_url else (),
                            checks=(("disk", ("df", "-h", "/")), ("uptime", ("uptime",)))),)
        extras = self.extras
        if extras.get("health_url"):
            url = extras["health_url"].rstrip("/")
            health = tuple(HealthCheck(name, f"{url}{path}", timeout=timeout)
                           for name, path, timeout in (("api", "/health", 3.0), ("api-deep", "/health/deep", 3.0),
                                                       ("api-db", "/health/db", 3.0)))
        else:
            health = ()
        kubernetes: tuple[KubernetesConfig, ...]
        if extras.get("kubeconfig"):
            kubernetes = (KubernetesConfig(context=extras.get("kube_context"), namespaces=("repo-scanner",),
                                           kubeconfig=extras["kubeconfig"]),)
        else:
            kubernetes = ()
        aws = dataclasses.replace(aws, stacks=("app-*",)) if extras.get("health_url") else aws
        # The lab's Prometheus sums by ``service``, so its series land on the ``api`` row.
        from cockpit.lab.promservers import LAB_METRICS

        prometheus = (
            (PrometheusConfig("lab", SecretRef(extras["prometheus_url"]), metrics=dict(LAB_METRICS)),)
            if extras.get("prometheus_url")
            else ()
        )
        alertmanager = (
            (AlertmanagerConfig("lab", SecretRef(extras["alertmanager_url"])),)
            if extras.get("alertmanager_url")
            else ()
        )
        notify = base.notify
        if notify is not None and notify.slack_webhook is None and extras.get("slack_webhook"):
            # The lab's own Slack (its page: extras["slack_page"]); a profile's own webhook stays.
            notify = dataclasses.replace(notify, slack_webhook=SecretRef(extras["slack_webhook"]))
        aws, aws_more = self._estates(base, aws)
        return dataclasses.replace(base, aws=aws, aws_more=aws_more, databases=databases, redis=redis,
                                   hosts=hosts, health=health, kubernetes=kubernetes,
                                   prometheus=prometheus, alertmanager=alertmanager, notify=notify,
                                   **_incident_apis(extras))

    def _estates(self, base: Profile, aws: AwsConfig) -> tuple[AwsConfig, tuple[AwsConfig, ...]]:
        """A lab profile whose ``aws:`` lists several estates (``lab-two-regions``): the first
        is the whole lab (us-east-1), each other one the small estate the lab seeds in its
        region (``cockpit.lab.second_region``: eu-west-1), all on the lab's endpoint."""
        from cockpit.lab.second_region import SECOND_REGION

        wanted = base.aws_estates
        if len(wanted) < 2:
            return aws, ()
        first = dataclasses.replace(aws, name=wanted[0].estate)
        more = tuple(
            AwsConfig(
                name=e.estate, endpoint_url=self.aws_endpoint, region=e.region or SECOND_REGION,
                ecs=(EcsCluster("production"),), alarms=AlarmFilter(states=("ALARM", "INSUFFICIENT_DATA")),
                sqs=(SqsQueue("jobs", "jobs-dlq"),),
            )
            for e in wanted[1:]
        )
        return first, more

    def send(self, command: str) -> None:
        """A controller command for the child (``fail-next-deployment api``, ``log-rate 5``)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise LabError("the lab is not running", "restart the cockpit")
        try:
            proc.stdin.write(command.encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise LabError("the lab is not running", "restart the cockpit") from e

    def stop(self) -> None:
        """Stop the child, the servers and their activity; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        atexit.unregister(self.stop)
        for activity in self._activities:
            with contextlib.suppress(Exception):
                activity.stop()
        # We stop the servers ourselves: the child must not race us for them.
        with contextlib.suppress(OSError):
            (self.state_dir / "watch.json").unlink()
        if self._proc is not None:
            _stop_child(self._proc)
        _kill_monitoring(self.extras.get("monitoring_pids") or ())
        for server in self._servers:
            with contextlib.suppress(Exception):
                server.stop()
        if self._owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def _incident_apis(extras: dict[str, Any]) -> dict[str, Any]:
    """The lab's Sentry and PagerDuty (cockpit/lab/incidentapis.py), when its process started
    them: a drill's error spike and page show there, and ``incident: start`` pages."""
    if not extras.get("sentry_url") or not extras.get("incident_token_file"):
        return {}
    from cockpit.lab.incidentlab import LAB_ORG, LAB_PROJECTS, LAB_SERVICE, LAB_USER_EMAIL

    token = SecretRef(f"file:{extras['incident_token_file']}")
    pd = extras["pagerduty_url"]
    return {
        "sentry": (SentryConfig("lab", LAB_ORG, token, url=extras["sentry_url"], projects=LAB_PROJECTS),),
        "pagerduty": PagerDutyConfig(token, services=(LAB_SERVICE,), user_email=LAB_USER_EMAIL, url=pd,
                                     events_url=pd, trigger_on_incident=True,
                                     routing_key=SecretRef(f"file:{extras['incident_routing_key_file']}")),
    }


def _stop_child(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError, ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(OSError, ValueError):
        if proc.stdin:
            proc.stdin.close()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError, ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)


def _kill_monitoring(pids: Any) -> None:
    """The child stops its Prometheus and Alertmanager; this covers a child that was killed.

    Only a pid that still runs one of those binaries is killed (pids get reused)."""
    for pid in pids:
        try:
            cmd = Path(f"/proc/{int(pid)}/cmdline").read_bytes().split(b"\0", 1)[0]
        except (OSError, ValueError):
            continue
        if b"prometheus" in cmd or b"alertmanager" in cmd:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)


def _spawn(state_dir: Path, *, owns: bool) -> subprocess.Popen[bytes]:
    root = str(Path(__file__).resolve().parent.parent.parent)  # the dir holding cockpit/
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONSTARTUP", None)
    log: IO[bytes]
    with open(state_dir / "lab.log", "ab") as log:
        # Own session: a Ctrl+C in the terminal reaches the cockpit, which stops us in order.
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cockpit.lab.server",
                "--state-dir",
                str(state_dir),
                *(["--remove-state-dir"] if owns else []),
            ],  # fmt: skip
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=state_dir,
            env=env,
            start_new_session=True,
        )


def _log_tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(proc: subprocess.Popen[bytes], state_dir: Path, timeout: float) -> str:
    ready = state_dir / "ready.json"
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(json.loads(ready.read_text())["endpoint"])
        except (OSError, ValueError, KeyError):
            pass
        if proc.poll() is not None:
            raise LabError(
                f"the lab's AWS server exited with code {proc.returncode}:\n"
                f"{_log_tail(state_dir / 'lab.log')}",
                f"see {state_dir / 'lab.log'}; is moto[server] installed?",
            )
        if time.monotonic() > deadline:
            raise LabError(
                f"the lab's AWS server did not answer within {timeout:.0f} s",
                f"see {state_dir / 'lab.log'}",
            )
        time.sleep(0.02)


def _start_server(kind: str, workdir: Path, out: dict[str, Any]) -> None:
    """Runs in a helper thread: start one private server, or record why it cannot run."""
    from cockpit.lab import servers

    try:
        out[kind] = (
            servers.start_postgres(workdir) if kind == "database" else servers.start_redis(workdir)
        )
    except servers.ServerUnavailable as e:
        out[kind] = e
    except Exception as e:  # the lab opens without it; the note says what went wrong
        out[kind] = CockpitError(f"{kind} server failed to start: {e}", "see the lab's state dir")


def _note(e: CockpitError) -> str:
    """``message: hint`` on one line, the form the app splits on the first ": "."""
    first = (e.message.splitlines()[0] if e.message else str(e)).rstrip(":")
    first = first.replace(": ", " - ")
    return f"{first}: {e.hint}" if e.hint else first


def start_lab(
    state_dir: Path | None = None,
    *,
    with_servers: bool = True,
    timeout: float = READY_TIMEOUT,
    on_servers: Callable[[Lab], None] | None = None,
) -> Lab:
    """Start the lab; returns once the seeded AWS estate answers (and the servers, if any).

    ``state_dir`` defaults to a new temp dir, removed on ``stop()``. ``with_servers=False``
    skips PostgreSQL and Redis (fast tests).
    """
    require_lab_extra()
    owns = state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="cockpit-lab-")) if state_dir is None else Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("ready.json", "watch.json"):
        with contextlib.suppress(OSError):
            (state_dir / stale).unlink()
    lab = Lab("", None, None, {}, state_dir, _owns_state_dir=owns)
    atexit.register(lab.stop)
    results: dict[str, Any] = {}
    threads: list[threading.Thread] = []
    try:
        lab._proc = _spawn(state_dir, owns=owns)
        if with_servers:
            # Keyed by the pane that shows the server (and its note when it cannot run).
            for kind, sub in (("database", "postgres"), ("queues", "redis")):
                t = threading.Thread(
                    target=_start_server, args=(kind, state_dir / sub, results),
                    name=f"lab-start-{kind}", daemon=True,
                )  # fmt: skip
                t.start()
                threads.append(t)
        if on_servers is not None:
            # PostgreSQL and Redis are up in about a second, the AWS side in two or three:
            # the caller may show the local panes (databases, queues, this machine) first.
            for t in threads:
                t.join()
            _adopt_servers(lab, results)
            try:
                on_servers(lab)
            except Exception:
                log.exception("on_servers callback failed")
        lab.aws_endpoint = _wait_ready(lab._proc, state_dir, timeout)
        lab.extras = json.loads((state_dir / "ready.json").read_text())
        if lab.extras.get("alarms_note"):  # no Prometheus/Alertmanager: the pane says why
            lab.notes["alarms"] = lab.extras["alarms_note"]
        if on_servers is None:
            for t in threads:
                t.join()
            _adopt_servers(lab, results)
    except BaseException:
        # Servers that came up while the AWS side failed are not the lab's yet: stop them too.
        for t in threads:
            t.join(timeout)
        for result in results.values():
            if not isinstance(result, CockpitError):
                with contextlib.suppress(Exception):
                    result.stop()
        lab.stop()
        raise
    return lab


def _adopt_servers(lab: Lab, results: dict[str, Any]) -> None:
    from cockpit.lab import activity

    watch: dict[str, list[Any]] = {"pids": [], "dirs": []}
    for kind, result in results.items():
        if isinstance(result, CockpitError):
            lab.notes[kind] = _note(result)
            continue
        lab._servers.append(result)
        if result.pid:
            watch["pids"].append(result.pid)
            # The hosts pane finds the lab's own server by this file (the lab is its supervisor).
            pids = lab.state_dir / PIDS_DIR
            pids.mkdir(exist_ok=True)
            name = "postgres" if kind == "database" else "redis-server"
            (pids / f"{name}.pid").write_text(f"{result.pid}\n")
        if kind == "database":
            lab.postgres_dsn = result.dsn
            watch["dirs"].append(str(result.datadir))
        else:
            lab.redis_url = result.url
    if lab.postgres_dsn or lab.redis_url:
        # In a child of its own: the estate's traffic is not the cockpit's CPU or memory.
        lab._activities.append(
            activity.ActivityProcess(lab.postgres_dsn, lab.redis_url, lab.state_dir / "activity.log").start()
        )
    if watch["pids"]:
        from cockpit.lab.server import WATCH_FILE, write_atomically

        write_atomically(lab.state_dir / WATCH_FILE, json.dumps(watch))
