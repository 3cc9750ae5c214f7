"""``file:`` secret references: a small regular file is read; a device, a FIFO or a huge file
is refused at once with its path named, and `cockpit check` never hangs on one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cockpit.errors import ConfigError
from cockpit.profile import SecretRef

ROOT = Path(__file__).resolve().parent.parent


def test_a_small_regular_file_is_read_and_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "redis-url"
    secret.write_text("redis://:pw@127.0.0.1:6379/0\n")
    assert SecretRef(f"file:{secret}").resolve() == "redis://:pw@127.0.0.1:6379/0"
    link = tmp_path / "link"
    link.symlink_to(secret)  # mounted secrets are often symlinks to the real file
    assert SecretRef(f"file:{link}").resolve() == "redis://:pw@127.0.0.1:6379/0"


def test_dev_zero_is_refused_without_reading_it() -> None:
    # Run apart, under a memory cap: the unbounded read grew to gigabytes, then MemoryError.
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from cockpit.errors import ConfigError\n"
        "from cockpit.profile import SecretRef\n"
        "try:\n"
        "    SecretRef('file:/dev/zero').resolve()\n"
        "except ConfigError as e:\n"
        "    print(e.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-300:]
    assert out.stdout.strip() == "/dev/zero is a character device, not a regular file"


def _resolve_within(ref: SecretRef, seconds: float) -> str | BaseException:
    """What ``ref.resolve()`` gave, or a failed test when it did not return in time."""
    got: list[str | BaseException] = []

    def run() -> None:
        try:
            got.append(ref.resolve())
        except BaseException as e:
            got.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if not got:
        pytest.fail(f"resolving {ref} hung ({seconds:g} s)")
    return got[0]


def test_a_fifo_and_a_big_file_are_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    error = _resolve_within(SecretRef(f"file:{fifo}"), 3)
    assert isinstance(error, ConfigError) and error.message == f"{fifo} is a FIFO, not a regular file"
    big = tmp_path / "big"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    with pytest.raises(ConfigError, match="at most 64 KB"):
        SecretRef(f"file:{big}").resolve()
    with pytest.raises(ConfigError, match="is a directory"):
        SecretRef(f"file:{tmp_path}").resolve()


def test_cockpit_check_does_not_hang_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "redis-url"
    os.mkfifo(fifo)
    config = tmp_path / "profiles.yaml"
    config.write_text(
        "default: estate\nprofiles:\n  estate:\n    timeout: 2\n"
        f"    redis: [{{name: cache, url: 'file:{fifo}'}}]\n"
    )
    try:
        out = subprocess.run([sys.executable, "-m", "cockpit.cli", "check", "--config", str(config)],
                             capture_output=True, text=True, timeout=30, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("cockpit check hung on a FIFO given as file: (30 s)")
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"{fifo} is a FIFO, not a regular file" in out.stdout
