"""`cockpit serve`: the shared cockpit in a browser, one read-only watcher per visitor.

textual-serve starts one app process per browser visitor; each is `cockpit attach` on the
driver's stream, so visitors cost the estate nothing. The server binds loopback only: reach
it through an SSH tunnel (`ssh -L 8080:127.0.0.1:8080 bastion`). It runs in its own process
group, which is killed as a whole on exit so no visitor's app outlives it.

Tokens travel by environment, never in arguments (``ps`` shows those to every local user):
the server process reads the visitors' token from ``$COCKPIT_SERVE_TOKEN``, and each
visitor's ``cockpit attach`` finds a TCP driver's token in ``$COCKPIT_SHARE_TOKEN``.
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


SERVE_TOKEN_ENV = "COCKPIT_SERVE_TOKEN"

# The server runs in its own process (textual-serve's aiohttp loop); this is its source.
# A visitor must bring the token once (?token=...), then a cookie carries it to the
# websocket and the static files. Popped: the visitors' apps have no use for it.
_SERVER = """
import logging, os, secrets
from aiohttp import web
from textual_serve.server import Server

TOKEN = os.environ.pop({env!r})
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
    p.add_argument("--token-file", metavar="PATH",
                   help="a 0600 file holding the token visitors must bring (else $COCKPIT_SERVE_TOKEN, "
                   "else the driver's TCP token, else a new random one)")
    p.add_argument("--driver-token-file", metavar="PATH",
                   help="a 0600 file holding a TCP driver's token (as `cockpit attach --token-file`)")
    p.add_argument("--token", help=argparse.SUPPRESS)  # refused below, with the way to do it
    args = p.parse_args(argv)
    import secrets

    from cockpit.errors import CockpitError
    from cockpit.secretfile import read_secret_file
    from cockpit.share import TOKEN_ENV, parse_target, watcher_token

    if args.token is not None:
        print("cockpit serve: a token in a command's arguments can be read by every local user (ps)\n"
              f"  give it in ${SERVE_TOKEN_ENV} or in a file only you can read (--token-file)", file=sys.stderr)
        return 2
    try:
        target = args.target or f"unix:{parse_target('', args.profile).path}"
        driver_token = watcher_token(parse_target(target, args.profile), args.driver_token_file)
        token = (read_secret_file(args.token_file, private=True, max_bytes=4096) if args.token_file
                 else os.environ.get(SERVE_TOKEN_ENV) or driver_token or secrets.token_urlsafe(24))
    except CockpitError as e:
        print(f"cockpit serve: {e.message}" + (f"\n  {e.hint}" if e.hint else ""), file=sys.stderr)
        return 2
    env = {**os.environ, SERVE_TOKEN_ENV: token}
    if driver_token:
        env[TOKEN_ENV] = driver_token  # each visitor's `cockpit attach` reads it from there
    code = _SERVER.format(env=SERVE_TOKEN_ENV, command=serve_command(target, args.theme), port=args.port)
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, env=env)

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
