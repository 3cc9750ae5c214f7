"""Private PostgreSQL, Redis and sshd servers on loopback ports, for the lab and for tests.

Each ``start_*`` returns once the server answers, or raises ``ServerUnavailable`` saying what
is missing (with the apt-get command as the hint) or, when it did not come up, the tail of
its log. Every child runs in its own session, so a Ctrl+C in the user's terminal reaches
the cockpit first and the cockpit decides when its servers stop; ``stop()`` is idempotent
and also registered with ``atexit``.

The recipes (flags, users, signals) are the ones the test fixtures use (tests/fixtures/):
postgres refuses to run as root, so as root it runs as the ``postgres`` user; SIGINT is its
fast shutdown.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.errors import CockpitError

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_PG_GLOB = "/usr/lib/postgresql/*/bin"
# A unix socket path is limited to ~107 bytes; PostgreSQL adds "/.s.PGSQL.NNNNN".
_MAX_SOCKET_DIR = 80


class ServerUnavailable(CockpitError):
    """A private server cannot run here: its binary is missing or it did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (callers retry on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_root() -> bool:
    return os.geteuid() == 0


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class _Child:
    """A server process in its own session, stopped once (by hand or at exit)."""

    def __init__(self, proc: subprocess.Popen[bytes], stop_signal: int, cleanup: Callable[[], None]):
        self.proc = proc
        self.stop_signal = stop_signal
        self._cleanup = cleanup
        self._stopped = False
        atexit.register(self.stop)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        try:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(self.stop_signal)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    # The whole session: postgres' own children go with it.
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(STOP_TIMEOUT)
        finally:
            self._cleanup()


def _wait_ready(
    name: str, proc: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool]
) -> None:
    """Poll ``ready()`` until it holds; raise with the log tail if the process dies or stalls."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise ServerUnavailable(
                f"{name} exited with code {proc.returncode} while starting:\n{_log_tail(log)}",
                f"see {log}",
            )
        if ready():
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ServerUnavailable(
                f"{name} did not answer within {START_TIMEOUT:.0f} s:\n{_log_tail(log)}",
                f"see {log}",
            )
        time.sleep(0.05)


def _with_port_retries(start: Callable[[int], Any], attempts: int = 3) -> Any:
    """free_port() can race with another process; a server that exits at once gets a new port."""
    for attempt in range(attempts):
        try:
            return start(free_port())
        except ServerUnavailable as e:
            if attempt == attempts - 1 or "exited with code" not in e.message:
                raise
    raise AssertionError("unreachable")


# --- PostgreSQL ---------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin holding both initdb and postgres, or None."""

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    candidates = [
        p
        for p in (Path(s) for s in sorted(glob.glob(_PG_GLOB)))
        if (p / "postgres").is_file() and (p / "initdb").is_file()
    ]
    return max(candidates, key=version) if candidates else None


class ChildServer:
    """What every private server shares: its child process, the pid, an idempotent stop."""

    _child: _Child | None

    @property
    def pid(self) -> int | None:
        return self._child.proc.pid if self._child else None

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()


@dataclass
class PostgresServer(ChildServer):
    dsn: str  # postgresql://postgres@127.0.0.1:PORT/postgres (trust auth, no password)
    port: int
    datadir: Path
    _child: _Child | None = field(default=None, repr=False, compare=False)



def _traversable_by(path: Path, uid: int, gid: int) -> bool:
    """Can a process of uid/gid reach ``path`` (x on every ancestor)?"""
    for p in [path, *path.parents]:
        try:
            st = p.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def start_postgres(workdir: Path) -> PostgresServer:
    """initdb a fresh cluster and run it on a free loopback port (user ``postgres``, trust)."""
    bindir = postgres_bindir()
    if bindir is None:
        raise ServerUnavailable(
            f"PostgreSQL server binaries are not installed (no {_PG_GLOB}/postgres)",
            "apt-get install postgresql",
        )
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    as_user: dict[str, Any] = {}
    owner: tuple[int, int] | None = None
    if _is_root():
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailable(
                "PostgreSQL must not run as root and there is no 'postgres' user",
                "apt-get install postgresql",
            ) from None
        owner = (pw.pw_uid, pw.pw_gid)
        as_user = {"user": "postgres", "group": pw.pw_gid, "extra_groups": []}

    datadir = workdir / "pg"
    made_tmp = False
    if (owner and not _traversable_by(workdir, *owner)) or len(str(datadir)) > _MAX_SOCKET_DIR:
        # pytest's temp dirs are 0700 root: the postgres user could not reach them.
        datadir = Path(tempfile.mkdtemp(prefix="cockpit-pg-"))
        made_tmp = True
    else:
        datadir.mkdir(exist_ok=True)
    if owner:
        os.chown(datadir, *owner)
    datadir.chmod(0o700)

    def cleanup() -> None:
        if made_tmp:
            shutil.rmtree(datadir, ignore_errors=True)

    log = workdir / "postgres.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    # cwd: initdb and postgres chdir-check their cwd; the datadir is one they own.
    with open(log, "ab") as out:
        init = subprocess.run(
            [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-sync", "--locale=C"],
            stdout=out, stderr=subprocess.STDOUT, cwd=datadir, env=env, check=False,
            **as_user,
        )  # fmt: skip
    if init.returncode != 0:
        cleanup()
        raise ServerUnavailable(f"initdb failed:\n{_log_tail(log)}", f"see {log}")

    def start(port: int) -> PostgresServer:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(datadir), "-p", str(port), "-k", str(datadir),
                 "-c", "listen_addresses=127.0.0.1",
                 "-c", "shared_preload_libraries=pg_stat_statements",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=datadir,
                env=env, start_new_session=True, **as_user,
            )  # fmt: skip
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"

        def ready() -> bool:
            import psycopg

            try:
                psycopg.connect(dsn, connect_timeout=1).close()
            except psycopg.Error:
                return False
            return True

        _wait_ready("postgres", proc, log, ready)
        return PostgresServer(dsn, port, datadir, _Child(proc, signal.SIGINT, cleanup))

    try:
        return _with_port_retries(start)
    except BaseException:
        cleanup()
        raise


# --- Redis --------------------------------------------------------------------------


@dataclass
class RedisServer(ChildServer):
    url: str  # redis://127.0.0.1:PORT/0
    port: int
    _child: _Child | None = field(default=None, repr=False, compare=False)



def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(workdir: Path) -> RedisServer:
    """redis-server on a free loopback port, no persistence, logging into ``workdir``."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server is not installed", "apt-get install redis-server")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "redis.log"

    def start(port: int) -> RedisServer:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir), "--logfile", str(log),
             "--protected-mode", "no", "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=workdir, start_new_session=True,
        )  # fmt: skip
        _wait_ready("redis-server", proc, log, lambda: _redis_pong(port))
        child = _Child(proc, signal.SIGTERM, lambda: None)
        return RedisServer(f"redis://127.0.0.1:{port}/0", port, child)

    return _with_port_retries(start)


# --- OpenSSH ------------------------------------------------------------------------


@dataclass
class SshdServer:
    port: int
    user: str  # a throwaway user with /bin/sh (as root) or the current user
    key_path: Path  # the client's private key, accepted for ``user``
    workdir: Path  # the user's home: short, writable by ``user``, readable by us
    _child: _Child | None = field(default=None, repr=False, compare=False)

    @property
    def pid(self) -> int | None:
        return self._child.proc.pid if self._child else None

    def ssh_argv(self, *command: str) -> list[str]:
        """The client argv that runs ``command`` as ``user`` (no config, no host key check)."""
        return [
            "ssh", "-F", "/dev/null", "-p", str(self.port), "-i", str(self.key_path),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            f"{self.user}@127.0.0.1", *command,
        ]  # fmt: skip

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()


def _ssh_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _kill_uid(uid: int) -> None:
    """SIGKILL every process still running as the throwaway user, so userdel succeeds."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            pass


def start_sshd(workdir: Path) -> SshdServer:
    """A private sshd on a free loopback port accepting one client key for one user.

    As root the user is a throwaway one (``useradd -s /bin/sh -p '*'``; ``*`` because
    ``!`` is refused with UsePAM no), deleted again in ``stop()``. Keys, config and the
    user's home live in a short dir under /tmp: the user must read authorized_keys, and
    ControlPath sockets under it must stay below the unix socket length limit.
    """
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    keygen = shutil.which("ssh-keygen")
    if sshd is None or keygen is None or shutil.which("ssh") is None:
        raise ServerUnavailable(
            "OpenSSH (sshd, ssh, ssh-keygen) is not installed",
            "apt-get install openssh-server openssh-client",
        )
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "sshd.log"
    base = Path(tempfile.mkdtemp(prefix="cksshd-"))
    base.chmod(0o755)
    home = base / "home"
    home.mkdir()
    user = pwd.getpwuid(os.geteuid()).pw_name
    created_user = False

    def cleanup() -> None:
        if created_user:
            uid = pwd.getpwnam(user).pw_uid
            _kill_uid(uid)
            r = subprocess.run(["userdel", user], capture_output=True, check=False)
            if r.returncode != 0:
                subprocess.run(["userdel", "-f", user], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)

    try:
        for name in ("host_key", "client_key"):
            subprocess.run(
                [keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"cockpit-{name}",
                 "-f", str(base / name)],
                check=True, capture_output=True,
            )  # fmt: skip
        authorized = base / "authorized_keys"
        shutil.copy(base / "client_key.pub", authorized)
        authorized.chmod(0o644)
        if _is_root():
            user = f"ck{secrets.token_hex(4)}"
            subprocess.run(
                ["useradd", "-M", "-d", str(home), "-s", "/bin/sh", "-p", "*", user],
                check=True, capture_output=True,
            )  # fmt: skip
            created_user = True
            pw = pwd.getpwnam(user)
            os.chown(home, pw.pw_uid, pw.pw_gid)
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        home.chmod(0o755)
    except (OSError, subprocess.CalledProcessError) as e:
        cleanup()
        detail = getattr(e, "stderr", b"") or b""
        raise ServerUnavailable(
            f"cannot prepare sshd: {e} {detail.decode(errors='replace').strip()}",
            "run the tests as root (CI does) or check useradd/ssh-keygen",
        ) from e

    def start(port: int) -> SshdServer:
        config = base / "sshd_config"
        config.write_text(
            "\n".join([
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {base / 'host_key'}",
                f"PidFile {base / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "UsePAM no",
                "StrictModes no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin no",
                "MaxSessions 50",
                "MaxStartups 50",
                f"AllowUsers {user}",
                "PrintMotd no",
                "Subsystem sftp internal-sftp",
                "",
            ])  # fmt: skip
        )
        check = subprocess.run([sshd, "-t", "-f", str(config)], capture_output=True, check=False)
        if check.returncode != 0:
            raise ServerUnavailable(
                f"sshd rejected its config: {check.stderr.decode(errors='replace').strip()}",
                f"see {config}",
            )
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _wait_ready("sshd", proc, log, lambda: _ssh_banner(port))
        child = _Child(proc, signal.SIGTERM, cleanup)
        return SshdServer(port, user, base / "client_key", home, child)

    try:
        return _with_port_retries(start)
    except BaseException:
        cleanup()
        raise
