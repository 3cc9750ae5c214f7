"""Start-up: the first frame is painted before any SDK is imported.

boto3, the kubernetes client, psycopg and redis together cost over a second to import, and
sources are built in a thread that holds the GIL for much of it: built while the first frame
was being painted, they held it back (0.70 s for a one-host profile against a 0.5 s target).
Each check runs in a fresh interpreter, where nothing was imported by another test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDKS = ("boto3", "botocore", "kubernetes", "psycopg", "psycopg_pool", "redis", "moto", "cfnlint")

# A profile whose every source needs an SDK, each pointing at a loopback port nothing serves
# (the sources fail to connect; what matters is when they are built).
PROFILE = """\
default: sdks
profiles:
  sdks:
    refresh: 30
    aws:
      region: us-east-1
      endpoint_url: http://127.0.0.1:9
      ecs: [{cluster: production}]
    databases: [{name: main, dsn: "postgresql://cockpit@127.0.0.1:9/none"}]
    redis: [{name: cache, url: "redis://127.0.0.1:9/0"}]
"""

FIRST_FRAME = """
import asyncio, json, sys, time
from cockpit.config import load_config
from cockpit.app import CockpitApp
from screens.main import CockpitScreen

SDKS = %r
seen = {}

class Probe(CockpitApp):
    def _display(self, screen, renderable):
        if "first_frame" not in seen and isinstance(screen, CockpitScreen) and renderable is not None:
            seen["first_frame"] = [m for m in SDKS if m in sys.modules]
        super()._display(screen, renderable)

async def main():
    app = Probe(load_config(sys.argv[1]).get("sdks"), read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 60  # the sources import their SDK as they start
        while not {"boto3", "psycopg", "redis"} <= set(sys.modules) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        seen["after_boot"] = [m for m in SDKS if m in sys.modules]
    print(json.dumps(seen))

asyncio.run(main())
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_the_modules_before_the_first_frame_import_no_sdk() -> None:
    code = ("import sys, cockpit.cli, cockpit.config, cockpit.app, screens.main\n"
            f"print([m for m in {SDKS!r} if m in sys.modules])")
    assert _python(code).strip() == "[]"


def test_sources_and_their_sdks_come_after_the_first_frame(tmp_path: Path) -> None:
    config = tmp_path / "profiles.yaml"
    config.write_text(PROFILE)
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    seen = json.loads(_python(FIRST_FRAME % (SDKS,), str(config), env=env).strip().splitlines()[-1])
    assert seen["first_frame"] == []
    # The profile does use them: they are imported once its sources are built.
    assert {"boto3", "psycopg", "redis"} <= set(seen["after_boot"])


COLLECTOR = """
import gc, json, sys, time
import cockpit.app
from cockpit.cli import main
from screens.main import CockpitScreen

seen = {}
run = cockpit.app.CockpitApp.run

class Probe(cockpit.app.CockpitApp):
    def _display(self, screen, renderable):
        if "first_frame" not in seen and isinstance(screen, CockpitScreen) and renderable is not None:
            seen["first_frame"] = gc.isenabled()
        super()._display(screen, renderable)

    def run(self, **kwargs):
        seen["start"] = gc.isenabled()  # as cli.main starts the app: imports and config are done
        async def quit_once_collecting(pilot):
            deadline = time.monotonic() + 30
            while not gc.isenabled() and time.monotonic() < deadline:
                await pilot.pause(0.05)
            seen["after_first_frame"] = gc.isenabled()
            self.exit(0)
        result = run(self, headless=True, size=(120, 40), auto_pilot=quit_once_collecting)
        print(json.dumps(seen), flush=True)  # before main, whose sources may still be connecting, exits
        return result

cockpit.app.CockpitApp = Probe
main(["--config", sys.argv[1], "--profile", "sdks", "--read-only"])
"""


def test_the_cyclic_collector_waits_for_the_first_frame_and_comes_back_on(tmp_path: Path) -> None:
    """cli.main builds the app's modules and first screen with the collector off (its ~140
    passes over objects that live all shift were ~45 ms of the first frame); left off, a
    cockpit open all shift would never free a reference cycle again."""
    config = tmp_path / "profiles.yaml"
    config.write_text(PROFILE)
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    seen = json.loads(_python(COLLECTOR, str(config), env=env).strip().splitlines()[-1])
    assert seen == {"start": False, "first_frame": False, "after_first_frame": True}
