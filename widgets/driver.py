"""A terminal driver whose input thread sleeps until a key comes.

Textual's LinuxDriver reads keys in a thread that wakes ten times a second to look at its
exit flag and the escape-key timer (``select(0.1)``), key or no key: 600 wake-ups a minute,
~0.09 s of CPU a minute measured in the idle lab, ~8 % of the whole cockpit's. Here the
thread blocks on the terminal and a wake-up pipe; it only times out while the parser waits
to tell a lone Esc from the start of a sequence.

It also survives ``App.suspend()`` (a shell on a row, cockpit/shell.py): Textual's suspend
closes the driver (``close``, which closes the wake-up pipe here) and resume starts
application mode again, so the pipe is made again on resume; and the pixel mouse mode
(1016, set when the terminal answers the in-band resize query) is switched off with the
rest of the mouse, or a program run meanwhile that turns mouse reporting on would get
pixel coordinates.
"""

from __future__ import annotations

import contextlib
import os
import selectors
from codecs import getincrementaldecoder

from textual._loop import loop_last
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from widgets import textual_pin  # noqa: F401 (checks the Textual release first)


class QuietInputDriver(LinuxDriver):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def run_input_thread(self) -> None:
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        # Never drained here: once written, select returns at once until the exit flag
        # (set right after the write) is seen, so the thread cannot sleep through it.
        selector.register(self._wake_r, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def process(events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            keys = [(key, mask) for key, mask in events if key.fd == fileno]
            for last, (_key, mask) in loop_last(keys):
                if mask & selectors.EVENT_READ:
                    data = decode(os.read(fileno, 1024 * 4), final=final and last)
                    if not data:
                        break
                    for event in parser.feed(data):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)

        def timeout() -> float | None:
            due = parser._timeout_time  # set while an Esc may still begin a sequence
            return None if due is None else max(0.0, due - get_time())

        try:
            while not self.exit_event.is_set():
                process(selector.select(timeout()))
            selector.unregister(self.fileno)
            process(selector.select(0), final=True)
        finally:
            selector.close()

    def disable_input(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")  # -1 after close: EBADF, suppressed
        super().disable_input()
        with contextlib.suppress(OSError):  # empty again, for input enabled after a suspend
            os.set_blocking(self._wake_r, False)
            while os.read(self._wake_r, 512):
                pass

    def close(self) -> None:
        super().close()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = -1

    def resume_application_mode(self) -> None:
        if self._wake_r < 0:  # closed by the suspend: the input thread needs a new one
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)
        super().resume_application_mode()

    def _disable_mouse_support(self) -> None:
        if self._mouse and self._mouse_pixels:
            self.write("\x1b[?1016l")
            self._mouse_pixels = False  # asked for again by the next start's resize query
        super()._disable_mouse_support()
