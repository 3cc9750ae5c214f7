"""The private servers the lab and the tests run: they start, answer, and stop cleanly."""

from __future__ import annotations

import pwd
import socket
import subprocess
from pathlib import Path

import pytest

from cockpit.lab import servers
from cockpit.lab.servers import (
    PostgresServer,
    RedisServer,
    ServerUnavailable,
    SshdServer,
    free_port,
)
from tests.helpers import wait_until_sync

pytestmark = pytest.mark.servers


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_postgres_answers_sql_with_pg_stat_statements(postgres_server: PostgresServer) -> None:
    import psycopg

    with psycopg.connect(postgres_server.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        (n,) = conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()  # type: ignore[misc]
        (addr,) = conn.execute("SELECT inet_server_addr()::text").fetchone()  # type: ignore[misc]
    assert n >= 0
    assert addr.startswith("127.0.0.1")
    assert "password" not in postgres_server.dsn


def test_redis_answers_commands(redis_url: str) -> None:
    import redis

    r = redis.Redis.from_url(redis_url, socket_timeout=3)
    r.rpush("queue:default", "a", "b")
    assert r.llen("queue:default") == 2
    r.close()


def test_ssh_runs_a_command_as_the_throwaway_user(sshd_server: SshdServer) -> None:
    out = subprocess.run(
        sshd_server.ssh_argv("echo", "hello"), capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello\n"
    assert out.stderr == ""  # no motd, no "could not chdir" noise for the SSH host work
    who = subprocess.run(
        sshd_server.ssh_argv("id", "-un"), capture_output=True, text=True, timeout=30
    )
    assert who.stdout.strip() == sshd_server.user


def test_a_second_postgres_starts_and_stop_is_idempotent(tmp_path: Path) -> None:
    try:
        pg = servers.start_postgres(tmp_path)
    except ServerUnavailable as e:
        from tests.conftest import skip_or_fail

        skip_or_fail(str(e))
        raise
    assert _port_open(pg.port)
    pg.stop()
    pg.stop()
    assert not _port_open(pg.port)
    assert pg._child is not None and pg._child.proc.returncode is not None


def test_redis_stops_and_frees_its_port(tmp_path: Path) -> None:
    try:
        r: RedisServer = servers.start_redis(tmp_path)
    except ServerUnavailable as e:
        from tests.conftest import skip_or_fail

        skip_or_fail(str(e))
        raise
    assert _port_open(r.port)
    r.stop()
    r.stop()
    wait_until_sync(lambda: not _port_open(r.port), timeout=5)


def test_sshd_stop_removes_the_throwaway_user(tmp_path: Path) -> None:
    try:
        s = servers.start_sshd(tmp_path)
    except ServerUnavailable as e:
        from tests.conftest import skip_or_fail

        skip_or_fail(str(e))
        raise
    created = s.user != pwd.getpwuid(0).pw_name and servers._is_root()
    s.stop()
    s.stop()
    assert not _port_open(s.port)
    if created:
        with pytest.raises(KeyError):
            pwd.getpwnam(s.user)
    assert not s.key_path.exists()


def test_missing_binaries_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "_PG_GLOB", "/nonexistent/*/bin")
    monkeypatch.setattr(servers.shutil, "which", lambda _name: None)
    monkeypatch.setattr(servers.Path, "exists", lambda _self: False)
    with pytest.raises(ServerUnavailable) as pg:
        servers.start_postgres(Path("/nonexistent"))
    assert pg.value.hint == "apt-get install postgresql"
    with pytest.raises(ServerUnavailable) as rd:
        servers.start_redis(Path("/nonexistent"))
    assert rd.value.hint == "apt-get install redis-server"
    with pytest.raises(ServerUnavailable) as ssh:
        servers.start_sshd(Path("/nonexistent"))
    assert "apt-get install openssh-server" in ssh.value.hint


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
