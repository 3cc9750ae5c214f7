"""Browser check for `cockpit serve`: a headless Chromium visitor sees the shared cockpit.

A real lab driver (`cockpit --share unix:PATH`) runs in a pty (bench/tui.py's Session);
`cockpit serve` runs textual-serve on a loopback port in its own process group; Chromium
opens the page and is driven over the DevTools protocol (its `--screenshot` flag captures
only textual-serve's splash, tried on this project's test machine). The terminal is a canvas,
so the assertion is on the screenshot's pixels: a real frame of the panes, not the blank splash.

The DevTools client is aiohttp's websocket client (aiohttp comes with textual-serve), so no
extra package is needed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import skip_or_fail

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--window-size=1400,900",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _killpg(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def _stop_serve(serve: subprocess.Popen) -> None:
    """Stop `cockpit serve` as a user does (Ctrl+C), then kill by pid whatever outlived it.

    textual-serve runs in a session of its own, so a signal to `cockpit serve`'s group does
    not reach it; only serve's own clean-up (on Ctrl+C) stops it. A plain SIGTERM to `cockpit
    serve` would orphan it, hence SIGINT here and the pid sweep as a safety net.
    """
    from tui import descendants  # bench/tui.py

    tree = descendants(serve.pid)
    try:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _killpg(serve)
    for pid in tree[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, pixels) of an 8-bit RGB/RGBA PNG, decoded with zlib alone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), f"unexpected PNG format {depth=} {color=}"
            bpp = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * bpp
    prev, pixels, i = bytearray(stride), [], 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels += [bytes(line[x:x + 3]) for x in range(0, stride, bpp * 4)]  # every 4th pixel
        prev = line
    return width, height, pixels


def looks_like_cockpit(png: bytes) -> tuple[bool, str]:
    """Panes holding rows, not textual-serve's splash nor empty "loading…" panes.

    Measured at 1400x900: the five panes with the lab's rows gave a 160 KB PNG with ~1,500
    colours (anti-aliased text); the same panes all "loading…" 42 KB and ~640 colours.
    """
    if len(png) < 80_000:
        return False, f"{len(png)} bytes"
    _, _, pixels = png_pixels(png)
    counts = Counter(pixels)
    ink = 1 - counts.most_common(1)[0][1] / len(pixels)
    return len(counts) >= 900 and ink > 0.05, f"{len(png)} bytes, {len(counts)} colours, {ink:.0%} not background"


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        skip_or_fail("Chromium is not installed (Debian: apt-get install chromium; tests/run installs it)")
    return path


@pytest.fixture
def driver(tmp_path_factory):
    """The lab driver sharing on a Unix socket, in a 160x48 pty that a thread keeps reading."""
    from tui import LOADING, PANES, Session, find_headers  # bench/tui.py

    tmp = tmp_path_factory.mktemp("drv")
    run = tmp / "run"
    run.mkdir(mode=0o700)
    sock = run / "share.sock"
    env = dict(os.environ, TERM="xterm-256color", XDG_RUNTIME_DIR=str(run), COCKPIT_LAB_LOG_RATE="1")
    for k in ("LINES", "COLUMNS", "TMUX", "NO_COLOR"):
        env.pop(k, None)
    prev = os.getcwd()
    os.chdir(REPO)
    try:
        s = Session([sys.executable, "-m", "cockpit.cli", "--share", f"unix:{sock}"], env, 160, 48)
    finally:
        os.chdir(prev)
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set() and not s.eof:
            s.pump(0.1)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 25
        while not sock.exists() and time.monotonic() < deadline and not s.eof:
            time.sleep(0.05)
        if not sock.exists():
            pytest.fail("the driver did not open its share socket: "
                        + " | ".join(line.strip() for line in s.lines() if line.strip())[:500])
        # A visitor should see data, not "loading…": wait until the driver's own panes hold it.
        while time.monotonic() < deadline and not s.eof:
            headers = find_headers(s.lines())
            if len(headers) == len(PANES) and not any(h.state.startswith(LOADING) for h in headers.values()):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the driver's panes did not load: "
                        + " | ".join(line.strip() for line in s.lines() if line.strip())[:500])
        yield sock
    finally:
        stop.set()
        reader.join(2)
        s.stop()


async def _devtools(port: int, url: str, shot: Path, deadline: float) -> tuple[str, bytes]:
    import aiohttp

    async with httpx.AsyncClient() as http:
        targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
    page = next(t for t in targets if t.get("type") == "page")
    ids = iter(range(1, 10_000))

    async with aiohttp.ClientSession() as session, session.ws_connect(
            page["webSocketDebuggerUrl"], max_msg_size=64 * 2**20) as ws:

        async def call(method: str, **params: object) -> dict:
            mid = next(ids)
            await ws.send_str(json.dumps({"id": mid, "method": method, "params": params}))
            while True:
                msg = json.loads((await ws.receive(timeout=max(1.0, deadline - time.monotonic()))).data)
                if msg.get("id") == mid:
                    if "error" in msg:
                        raise AssertionError(f"{method}: {msg['error']}")
                    return msg["result"]

        await call("Page.enable")
        await call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", url=url)
        body_class = ""
        while time.monotonic() < deadline:
            res = await call("Runtime.evaluate", expression="document.body ? document.body.className : ''")
            body_class = res["result"].get("value", "")
            if "-first-byte" in body_class:
                break
            await asyncio.sleep(0.2)
        assert "-first-byte" in body_class, f"the app never sent its first byte (body class {body_class!r})"
        # The app draws on a canvas: take screenshots until one shows the panes.
        png, why = b"", ""
        while time.monotonic() < deadline:
            png = base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"])
            ok, why = looks_like_cockpit(png)
            if ok:
                break
            await asyncio.sleep(0.5)
        shot.write_bytes(png)
        return why, png


async def test_serve_shows_the_shared_cockpit_in_chromium(chromium, driver, tmp_path):
    t0 = time.monotonic()
    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "cockpit.cli", "serve", f"unix:{driver}", "--port", str(port)],
        env={**os.environ, "COCKPIT_SERVE_TOKEN": "browser-t0ken"},
        cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    browser = None
    try:
        deadline = time.monotonic() + 15
        page = None
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline and serve.poll() is None:
                try:
                    page = await http.get(f"http://127.0.0.1:{port}/?token=browser-t0ken", timeout=1)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        assert page is not None and page.status_code == 200, f"cockpit serve did not answer: {serve.poll()=}"
        assert "textual" in page.text.lower()

        profile = tmp_path / "chromium-profile"
        browser = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                   start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < deadline + 10 and browser.poll() is None, "Chromium did not open DevTools"
            await asyncio.sleep(0.05)
        devtools_port = int(port_file.read_text().split()[0])

        shot = tmp_path / "serve.png"
        why, png = await _devtools(devtools_port, f"http://127.0.0.1:{port}/?token=browser-t0ken", shot, t0 + 38)
        ok, _ = looks_like_cockpit(png)
        assert ok, f"the screenshot {shot} does not show the cockpit: {why}"
    finally:
        if browser is not None:
            _killpg(browser)
        _stop_serve(serve)
