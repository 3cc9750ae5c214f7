"""The command line as a user meets it: listing profiles, checking config, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cockpit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cockpit.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_profiles_lists_the_lab_as_default():
    out = cockpit("profiles")
    assert out.returncode == 0
    first = out.stdout.splitlines()[0]
    assert first.startswith("* lab")


def test_unknown_profile_lists_the_known_ones():
    out = cockpit("--profile", "nope", "--check-config")
    assert out.returncode == 2
    assert "unknown profile 'nope'" in out.stderr
    assert "lab" in out.stderr and "Traceback" not in out.stderr


def test_broken_config_names_file_line_and_key(tmp_path):
    bad = tmp_path / "profiles.yaml"
    bad.write_text("default: lab\nprofiles:\n  lab:\n    lab: true\n    refresh: soon\n")
    out = cockpit("--config", str(bad), "--check-config")
    assert out.returncode == 2
    assert f"{bad}:5: profiles.lab.refresh:" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_config_ok_and_version():
    out = cockpit("--check-config")
    assert out.returncode == 0 and "OK" in out.stdout
    assert cockpit("--version").stdout.startswith("cockpit ")


def test_cockpit_config_env_is_used(tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("default: only\nprofiles:\n  only:\n    description: just me\n")
    out = subprocess.run([sys.executable, "-m", "cockpit.cli", "profiles"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60,
                         env={"COCKPIT_CONFIG": str(cfg), "PATH": "/usr/bin:/bin",
                              "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "only" in out.stdout and str(cfg) in out.stdout


def test_importing_the_app_loads_no_backend_sdk():
    # The first frame must not wait for boto3 / kubernetes / psycopg / redis imports.
    code = ("import sys, cockpit.app, cockpit.sources; "
            "print(sorted(m for m in ('boto3', 'kubernetes', 'psycopg', 'redis', 'moto') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_profile_without_kubernetes_never_imports_it():
    code = (
        "import sys\n"
        "from cockpit.profile import Profile, AwsConfig, EcsCluster\n"
        "from cockpit.sources import build_sources\n"
        "build_sources(Profile(name='p', aws=AwsConfig(region='us-east-1', ecs=(EcsCluster('c'),))))\n"
        "print('kubernetes' in sys.modules, 'psycopg' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False False", out.stderr


def test_flags_reach_the_app(monkeypatch, tmp_path, capsys):
    import cockpit.app
    from cockpit import cli

    seen = {}

    class Spy:
        def __init__(self, profile, **kw):
            seen.update(kw, profile=profile)

        def run(self):
            return 0

    monkeypatch.setattr(cockpit.app, "CockpitApp", Spy)
    monkeypatch.setenv("TEXTUAL_FPS", "x")  # recorded, so teardown removes what main() sets
    monkeypatch.delenv("TEXTUAL_FPS")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert cli.main(["--record", str(tmp_path / "r.cz"), "--share", "--read-only", "--war-room",
                     "--theme", "war-room", "--refresh", "2", "--low-bandwidth"]) == 0
    assert seen["record"] == str(tmp_path / "r.cz")
    assert seen["share"] == f"unix:{tmp_path}/cockpit/share-lab.sock"
    assert seen["low_bandwidth"] and os.environ.get("TEXTUAL_FPS") == "10"
    assert seen["read_only"] and seen["war_room"] and seen["theme"] == "war-room" and seen["refresh"] == 2
    assert "cockpit attach" in capsys.readouterr().err
