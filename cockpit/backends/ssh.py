"""Run commands on a host: OpenSSH's own ``ssh`` client, or this machine (``local: true``).

The user's ``ssh`` is used as a subprocess, not a Python SSH library, so ``~/.ssh/config``,
ProxyJump bastions, agents and hardware keys work exactly as in their shell. Every host gets
one ControlMaster (multiplexed connection) whose socket lives in a private, short directory
(unix socket paths are limited to ~104 bytes); ``close()`` ends the master and removes the
directory. ``BatchMode=yes``: a host that wants a password fails at once and says so
instead of blocking on a prompt nobody sees.

Commands are argv lists. ssh joins its arguments with spaces for the remote shell, so the
transport hands it one string made with ``shlex.join``; names that come from the profile
are also validated (``check_unit``, ``check_path``) so nothing reaches a remote shell
unquoted. A bounded pool (``Pool``) caps how many hosts are asked at once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cockpit.errors import BackendError, ConfigError

CONNECT_TIMEOUT_S = 5
COMMAND_TIMEOUT_S = 8.0
CONTROL_PERSIST_S = 60
DEFAULT_POOL = 10

# The same set cockpit.config.validators refuses: each would mean something to a remote shell.
_SHELL_META = set(";|&$`<>'\"\n\r\0\\*?[]{}()~#!")
_UNIT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_.@-]*\Z")


def check_unit(name: str) -> str:
    """A systemd unit / process name safe to put on a command line; ``ConfigError`` if not."""
    if not _UNIT_RE.match(name or ""):
        raise ConfigError(
            f"unit name {name!r} is not allowed",
            "use letters, digits and : _ . @ - only (no spaces or shell metacharacters)",
        )
    return name


def check_path(path: str) -> str:
    """A log file path: spaces are fine (it is quoted), metacharacters and options are not."""
    bad = sorted(set(path) & _SHELL_META)
    if not path or bad or path.startswith("-") or any(ord(c) < 32 for c in path):
        shown = " ".join(repr(c) for c in bad) or "an empty value, a leading '-' or a control character"
        raise ConfigError(f"log path {path!r} is not allowed: {shown}", "give a plain file path")
    return path


def check_command(argv: Sequence[str], what: str = "check command") -> tuple[str, ...]:
    """A command from the profile (a named check): every word is quoted on its own, so a
    metacharacter could never do what it seems to (a pipe, a glob): refuse it instead."""
    words = tuple(argv)
    for word in words:
        bad = sorted(set(word) & _SHELL_META)
        if bad or any(ord(c) < 32 for c in word):
            shown = " ".join(repr(c) for c in bad) or "a control character"
            raise ConfigError(
                f"{what} {shlex.join(words)!r} is not allowed: {shown}",
                "give one plain command; for pipes or globs, install a script on the host",
            )
    if not words or words[0].startswith("-"):
        raise ConfigError(f"{what} {shlex.join(words)!r} is not allowed", "give a command name first")
    return words


def check_target(target: str) -> str:
    if not target or target.startswith("-") or set(target) & (_SHELL_META | {" ", "\t"}):
        raise ConfigError(f"ssh target {target!r} is not allowed", "use a ~/.ssh/config alias or user@host")
    return target


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")

    @property
    def error_text(self) -> str:
        """ssh's / the command's message: its stderr without ssh's chatter, one line."""
        return first_line(self.stderr.decode(errors="replace"))


def first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # "Warning: Permanently added ..." and mux chatter precede the real message.
    useful = [ln for ln in lines if not ln.startswith(("Warning: Permanently added", "mux_client"))]
    return (useful or lines or [""])[-1][:300]


class Pool:
    """At most ``size`` hosts asked at once, so 50 hosts do not start 50 ssh at a time."""

    def __init__(self, size: int = DEFAULT_POOL) -> None:
        self.size = size
        self._sem: asyncio.Semaphore | None = None

    @property
    def sem(self) -> asyncio.Semaphore:
        # Created lazily: the semaphore belongs to the loop that first uses it.
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.size)
        return self._sem


def _unreachable_hint(host: str, target: str) -> str:
    return (
        f"check `ssh {target}` works from this shell; the cockpit uses BatchMode, "
        "so a password prompt fails"
    )


# ssh's own words for a host key it does not know, and for one that changed.
_UNKNOWN_KEY_RE = re.compile(r"No \S+ host key is known for (\S+) and")
_CHANGED_KEY_RE = re.compile(r"Host key for (\S+) has changed")
_FINGERPRINT_RE = re.compile(r"^(SHA256:[A-Za-z0-9+/=]+)\.?\r?$", re.MULTILINE)
_REMOVE_RE = re.compile(r'^\s*(ssh-keygen -f "[^"`$\\\r\n]+" -R "[^"`$\\\r\n]+")\s*$', re.MULTILINE)


def _host_and_port(known_as: str | None, target: str) -> tuple[str, str | None]:
    """``[h]:p`` (known_hosts' form for a port other than 22) or ``h``; else the target's host."""
    if known_as:
        m = re.fullmatch(r"\[([^\]]+)\]:(\d+)", known_as)
        return (m.group(1), m.group(2)) if m else (known_as, None)
    return target.rpartition("@")[2], None


def host_key_failure(host: str, target: str, stderr: str) -> BackendError | None:
    """The error for a host key ssh refused (unknown, or changed), with a hint that fits it:
    a BatchMode ssh cannot ask "are you sure?", and a changed key may be an attacker."""
    changed = "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr or _CHANGED_KEY_RE.search(stderr)
    unknown = _UNKNOWN_KEY_RE.search(stderr)
    if not (changed or unknown or "Host key verification failed" in stderr):
        return None
    if changed:
        m = _CHANGED_KEY_RE.search(stderr)
        known_as = m.group(1) if m else target.rpartition("@")[2]
        fp = _FINGERPRINT_RE.search(stderr)
        sent = f"it now sends {fp.group(1)}" if fp else "it now sends another key"
        remove = _REMOVE_RE.search(stderr)
        command = remove.group(1) if remove else f"ssh-keygen -R {shlex.quote(known_as)}"
        return BackendError(
            f"cannot reach {host}: REMOTE HOST IDENTIFICATION HAS CHANGED, so ssh refused it "
            "(Host key verification failed.)",
            f"{sent}, not the key in known_hosts: a reinstalled host, or someone in the middle. "
            f"Verify that fingerprint with the host's owner first, then remove the stale key with "
            f"`{command}` and accept the new one with `ssh {target}`",
        )
    name, port = _host_and_port(unknown.group(1) if unknown else None, target)
    scan = shlex.join(["ssh-keyscan", *(["-p", port] if port else []), "-H", name])
    if not unknown:  # ssh said only "Host key verification failed." (LogLevel quiet)
        return BackendError(
            f"cannot reach {host}: Host key verification failed.",
            f"check known_hosts: `ssh-keygen -F {shlex.quote(name)}` shows its entry. If there is "
            f"none, check the host's fingerprint with its owner and add it with `{scan} >> "
            f"~/.ssh/known_hosts`; if it changed, verify the new one, then `ssh-keygen -R "
            f"{shlex.quote(name)}`",
        )
    return BackendError(
        f"cannot reach {host}: Host key verification failed. (no host key is known for "
        f"{unknown.group(1)})",
        f"its host key is not in known_hosts and the cockpit's ssh cannot ask (BatchMode): check "
        f"the fingerprint with the host's owner, then add it with `{scan} >> ~/.ssh/known_hosts` "
        f"(or connect once with `ssh {target}` and accept it)",
    )


class Transport:
    """Runs argv lists on one host. Subclasses: ``SshTransport``, ``LocalTransport``."""

    host: str  # the profile's name for the host

    def __init__(self, host: str, *, pool: Pool | None = None, timeout: float = COMMAND_TIMEOUT_S) -> None:
        self.host = host
        self.pool = pool or Pool()
        self.timeout = timeout

    def argv(self, command: Sequence[str]) -> list[str]:
        """The argv this machine executes to run ``command`` on the host."""
        raise NotImplementedError

    def display(self, command: Sequence[str]) -> list[str]:
        """The argv a user could paste into their shell to do the same by hand."""
        raise NotImplementedError

    def describe_failure(self, result: Result) -> BackendError | None:
        """A ``BackendError`` when the transport itself failed (not the remote command)."""
        return None

    async def run(self, command: Sequence[str], *, timeout: float | None = None) -> Result:
        """Run ``command``; the remote command's own exit code is in the result.

        Raises ``BackendError`` when the host cannot be reached or does not answer in time.
        """
        timeout = self.timeout if timeout is None else timeout
        async with self.pool.sem:
            proc = await self._spawn(command, stdin=subprocess.DEVNULL)
            try:
                out, err = await asyncio.wait_for(proc.communicate(), timeout)
            except TimeoutError:
                await terminate(proc)
                raise BackendError(
                    f"cannot reach {self.host}: no answer within {timeout:g} s",
                    "the host or its network hangs; will retry",
                ) from None
            except BaseException:
                await terminate(proc)
                raise
        result = Result(proc.returncode or 0, out, err)
        failure = self.describe_failure(result)
        if failure is not None:
            raise failure
        return result

    async def spawn(self, command: Sequence[str]) -> asyncio.subprocess.Process:
        """A long-lived command (a log follower): stdin, stdout and stderr are pipes.

        Closing its stdin tells a follower built by ``follow_script`` to stop.
        """
        return await self._spawn(command, stdin=subprocess.PIPE)

    async def _spawn(self, command: Sequence[str], *, stdin: int) -> asyncio.subprocess.Process:
        argv = self.argv(command)
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                limit=1 << 20,
                start_new_session=True,  # a Ctrl-C in the cockpit's terminal is not theirs
            )
        except OSError as e:
            raise BackendError(
                f"cannot run {argv[0]} for {self.host}: {e.strerror}",
                "install openssh-client" if argv[0] == "ssh" else "check the command exists",
            ) from e

    async def close(self) -> None:
        return None


async def terminate(proc: asyncio.subprocess.Process, grace: float = 1.0) -> None:
    """Stop a child (and what it started in its session) and reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


class LocalTransport(Transport):
    """This machine: the same argv, executed directly (no shell, no ssh)."""

    def argv(self, command: Sequence[str]) -> list[str]:
        return list(command)

    def display(self, command: Sequence[str]) -> list[str]:
        return list(command)


# Every ControlPath directory this process created, removed at exit if close() was missed.
_CONTROL_DIRS: set[Path] = set()


@atexit.register
def _cleanup_control_dirs() -> None:
    for d in list(_CONTROL_DIRS):
        for sock in d.glob("*"):
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "unused"],
                capture_output=True, timeout=3, check=False,
            )  # fmt: skip
        shutil.rmtree(d, ignore_errors=True)
        _CONTROL_DIRS.discard(d)


class SshTransport(Transport):
    """``ssh TARGET -- COMMAND`` with BatchMode, timeouts and a private ControlMaster."""

    def __init__(
        self,
        host: str,
        target: str,
        *,
        pool: Pool | None = None,
        timeout: float = COMMAND_TIMEOUT_S,
        connect_timeout: int = CONNECT_TIMEOUT_S,
        options: Sequence[str] = (),
    ) -> None:
        """``options`` are extra ssh arguments placed before the target (``-F FILE``, ``-p``)."""
        super().__init__(host, pool=pool, timeout=timeout)
        self.target = check_target(target)
        self.connect_timeout = connect_timeout
        self.options = list(options)
        self._dir: Path | None = None

    @property
    def control_dir(self) -> Path:
        if self._dir is None or not self._dir.exists():
            # /tmp, not $TMPDIR: the socket path must stay short.
            self._dir = Path(tempfile.mkdtemp(prefix="ck-", dir="/tmp"))
            self._dir.chmod(0o700)
            _CONTROL_DIRS.add(self._dir)
        return self._dir

    @property
    def control_path(self) -> str:
        return str(self.control_dir / "%C")  # %C: a hash of host, port and user

    def ssh_options(self) -> list[str]:
        return [
            *self.options,
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={self.connect_timeout}",
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self.control_path}",
            "-o", f"ControlPersist={CONTROL_PERSIST_S}",
            # A dead peer is noticed in ~10 s even when no packet says so.
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=2",
            "-T",
        ]  # fmt: skip

    def argv(self, command: Sequence[str]) -> list[str]:
        return ["ssh", *self.ssh_options(), self.target, "--", shlex.join(command)]

    def display(self, command: Sequence[str]) -> list[str]:
        words = list(command)
        if all(shlex.quote(w) == w for w in words):
            return ["ssh", self.target, *words]
        # ssh joins its arguments with spaces: a word that needs quoting is quoted once more.
        return ["ssh", self.target, shlex.join(words)]

    def describe_failure(self, result: Result) -> BackendError | None:
        # 255 is ssh's own failure; a remote command rarely uses it.
        if result.returncode != 255:
            return None
        key_failure = host_key_failure(self.host, self.target, result.stderr.decode(errors="replace"))
        if key_failure is not None:
            return key_failure
        message = result.error_text or "ssh exited with status 255"
        return BackendError(f"cannot reach {self.host}: {message}", _unreachable_hint(self.host, self.target))

    def master_running(self) -> bool:
        """True when this host's ControlMaster is up (``ssh -O check``)."""
        if self._dir is None:
            return False
        r = subprocess.run(
            ["ssh", *self.options, "-o", f"ControlPath={self.control_path}", "-O", "check", self.target],
            capture_output=True, timeout=5, check=False,
        )  # fmt: skip
        return r.returncode == 0

    async def close(self) -> None:
        """End the master connection and remove the socket directory."""
        d = self._dir
        if d is None:
            return
        self._dir = None
        if any(d.iterdir()):
            proc = await asyncio.create_subprocess_exec(
                "ssh", *self.options, "-o", f"ControlPath={d / '%C'}", "-O", "exit", self.target,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                await terminate(proc)
        shutil.rmtree(d, ignore_errors=True)
        _CONTROL_DIRS.discard(d)


def sudo(command: Sequence[str], enabled: bool) -> list[str]:
    """``sudo -n`` in front when the host says so: a sudo that wants a password fails, loudly."""
    return ["sudo", "-n", *command] if enabled else list(command)
