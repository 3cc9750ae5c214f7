"""`cockpit lab up` and attaching to a running lab (`cockpit --lab-env FILE`).

`lab up` runs the lab in the foreground and prints the environment a trainee exports to
type the real commands (`aws ecs describe-services`, `psql`, `redis-cli`) against the same
estate the cockpit shows. For `aws` it also writes a `cockpit-lab` profile (config and
credentials files in the lab's state dir) and an `aws` alias that passes `--endpoint-url`:
aws CLIs before 2.13 (Debian 12 ships 2.9) ignore both `AWS_ENDPOINT_URL` and a profile's
`endpoint_url`, and `--endpoint-url` is the one form every version honours. It writes the same lines to a lab-env file (mode 0600), which
`attach_lab(path)` reads to give the cockpit a Lab-like object that does not own the lab:
its ``stop()`` does nothing, and its ``send()`` reaches the lab's controller through a FIFO
that `lab up` reads (drills on an attached lab inject through it).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

from cockpit.lab import Lab, LabError
from cockpit.profile import Profile

LAB_KEY = "testing"  # moto's dummy credentials; never a real key
LAB_REGION = "us-east-1"
AWS_PROFILE_NAME = "cockpit-lab"
CONTROL = "control"  # the FIFO in the lab's state dir
# Not exported to the shell for its own sake: how `attach_lab` finds the rest.
_META = ("COCKPIT_LAB_STATE_DIR", "COCKPIT_LAB_CONTROL", "COCKPIT_LAB_NOTES")


def default_env_path() -> Path:
    """``$XDG_RUNTIME_DIR/cockpit/lab.env`` (a per-user tmpfs), else the state dir."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "cockpit" / "lab.env"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "cockpit" / "lab.env"


def write_aws_profile(state_dir: Path, endpoint: str) -> tuple[Path, Path]:
    """The ``cockpit-lab`` profile as an AWS config and credentials file pair under
    ``state_dir/aws``; returns (config, credentials). ``endpoint_url`` in the profile is
    honoured by aws CLI 2.13+ and current SDKs only: older CLIs need ``--endpoint-url``."""
    directory = state_dir / "aws"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = directory / "config"
    credentials = directory / "credentials"
    files = {
        config: f"[profile {AWS_PROFILE_NAME}]\nregion = {LAB_REGION}\nendpoint_url = {endpoint}\n"
        "output = json\n",
        credentials: f"[{AWS_PROFILE_NAME}]\naws_access_key_id = {LAB_KEY}\n"
        f"aws_secret_access_key = {LAB_KEY}\n",
    }
    for path, text in files.items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    return config, credentials


def lab_environment(lab: Lab) -> dict[str, str]:
    """What to export so the CLIs talk to ``lab``, in the order they are printed (writes
    the AWS profile files the variables name)."""
    config, credentials = write_aws_profile(lab.state_dir, lab.aws_endpoint)
    env = {
        "AWS_PROFILE": AWS_PROFILE_NAME,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_ENDPOINT_URL": lab.aws_endpoint,
        # The dummy keys are exported too: they outrank real keys already in the shell, so an
        # aws command that misses the endpoint fails to sign in rather than reaching an account.
        "AWS_ACCESS_KEY_ID": LAB_KEY,
        "AWS_SECRET_ACCESS_KEY": LAB_KEY,
        "AWS_DEFAULT_REGION": LAB_REGION,
    }
    if lab.postgres_dsn:
        env["DATABASE_URL"] = lab.postgres_dsn
    if lab.redis_url:
        env["REDIS_URL"] = lab.redis_url
    # Hook for the lab's Kubernetes double: a Lab that has a kubeconfig exports it.
    kubeconfig = getattr(lab, "kubeconfig", None)
    if kubeconfig:
        env["KUBECONFIG"] = str(kubeconfig)
    env["COCKPIT_LAB_STATE_DIR"] = str(lab.state_dir)
    control = getattr(lab, "control", None) or (lab.state_dir / CONTROL)
    env["COCKPIT_LAB_CONTROL"] = str(control)
    if lab.notes:
        env["COCKPIT_LAB_NOTES"] = json.dumps(lab.notes, sort_keys=True)
    return env


def aws_alias(endpoint: str) -> str:
    """The shell alias that makes every `aws` in that shell use the lab's endpoint."""
    return f"alias aws={shlex.quote(f'aws --endpoint-url {endpoint}')}"


def format_env(env: dict[str, str]) -> str:
    """``export`` lines, then the `aws` alias when the lab's AWS endpoint is among them."""
    lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    if env.get("AWS_ENDPOINT_URL"):
        lines += aws_alias(env["AWS_ENDPOINT_URL"]) + "\n"
    return lines


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """Write atomically, readable by the owner only (it holds the database URL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file left from a crash
        os.write(fd, format_env(env).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_env_file(path: Path | str) -> dict[str, str]:
    """The ``export K=V`` lines of a lab-env file (anything else is ignored)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text()
    except OSError as e:
        raise LabError(
            f"cannot read the lab-env file {path}: {e.strerror}",
            "start the lab with `cockpit lab up` (it prints where it writes the file)",
        ) from e
    env: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


@dataclass
class AttachedLab(Lab):
    """A lab another process owns: same endpoints and ``profile()``; ``stop()`` is a no-op."""

    control: Path | None = None

    def send(self, command: str) -> None:
        if self.control is None:
            raise LabError("this lab takes no commands", "run the drill from `cockpit lab up`'s lab")
        try:
            # Non-blocking: with nobody reading, fail now instead of hanging the cockpit.
            fd = os.open(self.control, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno in (errno.ENXIO, errno.ENOENT):
                raise LabError(
                    "the attached lab is not running", "start it again with `cockpit lab up`"
                ) from e
            raise LabError(f"cannot reach the lab: {e.strerror}") from e
        try:
            os.write(fd, command.encode() + b"\n")
        finally:
            os.close(fd)

    def stop(self) -> None:
        return None  # `cockpit lab up` owns it; Ctrl+C there stops it


def _answers(url: str, timeout: float = 1.0) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout):
            return True
    except OSError:
        return False


def attach_lab(path: Path | str) -> AttachedLab:
    """The running lab described by a lab-env file; raises ``LabError`` if it is gone."""
    env = read_env_file(path)
    endpoint = env.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise LabError(f"{path} is not a lab-env file (no AWS_ENDPOINT_URL)", "use the file `cockpit lab up` wrote")
    if not _answers(endpoint):
        raise LabError(
            f"the lab in {path} is not running ({endpoint} does not answer)",
            "start it with `cockpit lab up`",
        )
    try:
        notes = json.loads(env.get("COCKPIT_LAB_NOTES") or "{}")
    except ValueError:
        notes = {}
    control = env.get("COCKPIT_LAB_CONTROL")
    state_dir = Path(env.get("COCKPIT_LAB_STATE_DIR") or Path(path).parent)
    try:  # what the lab's process started besides moto (health endpoints, Kubernetes)
        extras = json.loads((state_dir / "ready.json").read_text())
    except (OSError, ValueError):
        extras = {}
    return AttachedLab(
        aws_endpoint=endpoint,
        postgres_dsn=env.get("DATABASE_URL"),
        redis_url=env.get("REDIS_URL"),
        notes={str(k): str(v) for k, v in notes.items()},
        state_dir=state_dir,
        extras=extras,
        control=Path(control) if control else None,
    )


# --- `cockpit lab up` ----------------------------------------------------------------------


class _ControlReader:
    """Forwards lines written to the FIFO to the lab's controller (one writer at a time)."""

    def __init__(self, lab: Lab, path: Path) -> None:
        self.lab = lab
        self.path = path
        self._stop = threading.Event()
        os.mkfifo(path, 0o600)

    def start(self) -> None:
        threading.Thread(target=self._run, name="lab-control", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with open(self.path, encoding="utf-8") as fifo:  # blocks until a writer opens
                    for line in fifo:
                        if line.strip() and not self._stop.is_set():
                            with contextlib.suppress(LabError):
                                self.lab.send(line.strip())
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        # Unblock the open() above with a writer of our own, then remove the FIFO.
        with contextlib.suppress(OSError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        with contextlib.suppress(OSError):
            self.path.unlink()


def _up(env_file: Path, with_servers: bool, out: TextIO, err: TextIO) -> int:
    from cockpit.lab import start_lab

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    lab: Lab | None = None
    reader: _ControlReader | None = None
    try:
        print("starting the lab…", file=err, flush=True)
        lab = start_lab(with_servers=with_servers)
        reader = _ControlReader(lab, lab.state_dir / CONTROL)
        reader.start()
        env = lab_environment(lab)
        write_env_file(env_file, env)
        shown = {k: v for k, v in env.items() if k not in _META}
        out.write("# the lab is up; paste these lines into another shell:\n")
        out.write(format_env(shown))
        out.write(
            "# aws CLIs before 2.13 (Debian 12 ships 2.9) ignore AWS_ENDPOINT_URL and the profile's\n"
            "# endpoint_url; the alias passes it, or type it (scripts do not expand aliases):\n"
            f"#   aws --endpoint-url {lab.aws_endpoint} ecs describe-services --cluster production\n"
        )
        out.write(f"# the same lines are in {env_file} (source it, or `cockpit --lab-env {env_file}`)\n")
        if lab.extras.get("slack_page"):
            out.write(f"# the lab's Slack channel (what `incident: post update` posts): {lab.extras['slack_page']}\n")
        for pane, note in lab.notes.items():
            out.write(f"# {pane}: {note}\n")
        out.write("# Ctrl+C stops the lab and everything it started\n")
        out.flush()
        proc = lab._proc
        while not stop.wait(0.5):
            if proc is not None and proc.poll() is not None:
                print(f"cockpit lab: the lab's AWS server exited (code {proc.returncode}); "
                      f"see {lab.state_dir / 'lab.log'}", file=err)
                return 1
        return 0
    except LabError as e:
        print(f"cockpit lab: {e.message}", file=err)
        if e.hint:
            print(f"  {e.hint}", file=err)
        return 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if reader is not None:
            reader.stop()
        with contextlib.suppress(OSError):
            env_file.unlink()
        if lab is not None:
            lab.stop()
            print("lab stopped", file=err, flush=True)


def main_lab(argv: Sequence[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cockpit lab", description="Run the embedded lab on its own.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the lab in the foreground and print the environment to export")
    up.add_argument(
        "--env-file",
        type=Path,
        default=None,
        help=f"where to write the environment (default {default_env_path()})",
    )
    up.add_argument("--no-servers", action="store_true", help="AWS only: no PostgreSQL or Redis")
    args = parser.parse_args(list(argv))
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    env_file = (args.env_file or default_env_path()).expanduser()
    return _up(env_file, not args.no_servers, out, err)


@contextlib.contextmanager
def headless_profile(
    config: str | None, name: str | None, lab_env: str | None, progress: Any = None
) -> Iterator[tuple[Profile, dict[str, str]]]:
    """The profile a command without the UI works on (``cockpit check``, ``cockpit run``):
    read from profiles.yaml, with the lab it needs attached (``--lab-env``) or started for
    the command, and stopped on the way out, whatever happens."""
    from cockpit.config import find_config_path, load_config

    profile = load_config(find_config_path(config, environ=os.environ)).get(name)
    lab: Any = None
    try:
        if lab_env:
            lab = attach_lab(lab_env)
        elif profile.lab:
            from cockpit.lab import start_lab

            if progress is not None:
                progress("starting the lab…")
            lab = start_lab(with_servers=True)
        notes: dict[str, str] = {}
        if lab is not None:
            profile = lab.profile(profile)
            notes = dict(lab.notes)
        yield profile, notes
    finally:
        if lab is not None:
            lab.stop()
