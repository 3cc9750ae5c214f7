"""`cockpit serve`: the shared cockpit in a browser, one read-only watcher per visitor.

textual-serve starts one app process per browser visitor; each is `cockpit attach` on the
driver's stream, so visitors cost the estate nothing. The server binds loopback only: reach
it through an SSH tunnel (`ssh -L 8080:127.0.0.1:8080 bastion`). It runs in its own process
group, which is killed as a whole on exit so no visitor's app outlives it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys


def serve_command(target: str, theme: str | None = None) -> str:
    argv = [sys.executable, "-m", "cockpit.cli", "attach", target]
    if theme:
        argv += ["--theme", theme]
    return shlex.join(argv)


# The server runs in its own process (textual-serve's aiohttp loop); this is its source.
# A visitor must bring the token once (?token=...), then a cookie carries it to the
# websocket and the static files.
_SERVER = """
import logging, secrets
from aiohttp import web
from textual_serve.server import Server

TOKEN = {token!r}
logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


@web.middleware
async def guard(request, handler):
    given = request.query.get("token") or request.cookies.get("cockpit_token") or ""
    if not secrets.compare_digest(given, TOKEN):
        return web.Response(status=403, text="cockpit serve: open the URL with ?token=... that it printed")
    response = await handler(request)
    if request.query.get("token"):
        response.set_cookie("cockpit_token", TOKEN, httponly=True, samesite="Strict")
    return response


class GuardedServer(Server):
    async def _make_app(self):
        app = await super()._make_app()
        app.middlewares.append(guard)
        return app


GuardedServer({command!r}, host="127.0.0.1", port={port}, title="ops cockpit").serve()
"""


def main_serve(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cockpit serve", description=__doc__.splitlines()[0])
    p.add_argument("target", nargs="?", default="", help="the driver's share address (as for attach)")
    p.add_argument("--profile", default="lab", help="the driver's profile, for the default socket")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--theme")
    p.add_argument("--token", help="the token visitors must bring (default: the driver's TCP "
                   "token, else a new random one)")
    args = p.parse_args(argv)
    import secrets

    from cockpit.share import parse_target

    target = args.target or f"unix:{parse_target('', args.profile).path}"
    token = args.token or parse_target(target, args.profile).token or secrets.token_urlsafe(24)
    code = _SERVER.format(token=token, command=serve_command(target, args.theme), port=args.port)
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM ends us the way Ctrl+C does: children killed below

    signal.signal(signal.SIGTERM, _terminate)
    print(f"cockpit: serving watchers of {target} on http://127.0.0.1:{args.port}/?token={token} "
          "(loopback only; tunnel it over SSH). Ctrl+C stops it.", file=sys.stderr)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
