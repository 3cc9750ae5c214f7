"""The lab's child process: moto's server, the seeded estate and the lab controller.

Run as ``python -m cockpit.lab.server --state-dir DIR``. The cockpit starts it with
``start_new_session=True``, stdin a pipe, stdout/stderr to ``DIR/lab.log``; nothing here may
print to the cockpit's terminal. Sequence: start ThreadedMotoServer on 127.0.0.1 port 0,
serialise requests with the controller's lock, seed, write ``DIR/ready.json`` atomically,
then run the controller until the parent is gone (stdin reaches EOF or ``getppid()``
changes) or SIGTERM arrives.

Lines the parent writes on stdin are controller commands (see ``LabController.command``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

READY_FILE = "ready.json"
LOG_FILE = "lab.log"
WATCH_FILE = "watch.json"  # pids of processes to stop if the parent dies (see kill_watched)


def write_atomically(path: Path, text: str) -> None:
    """Readers see the whole file or none of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def install_request_lock(lock: threading.RLock) -> None:
    """Serve every moto request under ``lock`` so lab threads can mutate backends safely.

    ThreadedMotoServer serves each request on its own thread; a lab thread inserting into a
    backend dict while a request iterates it gave HTTP 500s (every list_services call while the
    lab added services; none with this lock).
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication as App

    if getattr(App.__call__, "_cockpit_locked", False):
        return
    call = App.__call__

    def locked(self: Any, environ: Any, start_response: Any) -> Any:
        with lock:
            return call(self, environ, start_response)

    locked._cockpit_locked = True  # type: ignore[attr-defined]
    App.__call__ = locked  # type: ignore[method-assign]


def kill_watched(state_dir: Path, *, remove_state_dir: bool = False) -> None:
    """Stop the private servers the parent recorded, when the parent died without doing so.

    The parent writes ``watch.json`` ({"pids": [...], "dirs": [...]}) after starting
    PostgreSQL and Redis. SIGINT is PostgreSQL's fast shutdown and stops redis-server too;
    the dirs (PostgreSQL's data dir) are removed once the servers are gone.
    """
    try:
        watch = json.loads((state_dir / WATCH_FILE).read_text())
    except (OSError, ValueError):
        watch = {}
    pids = [int(p) for p in watch.get("pids", [])]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:
            pass
    deadline = time.monotonic() + 5.0
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.05)
    for pid in pids:  # ignored SIGINT for 5 s
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for d in watch.get("dirs", []):
        shutil.rmtree(d, ignore_errors=True)
    if remove_state_dir:
        shutil.rmtree(state_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # Our servers are not our children (the dead parent started them); a zombie is
    # reaped by init soon, so treat "Z" as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


class ParentWatch:
    """Sets ``gone`` when the parent process dies; forwards stdin lines as commands."""

    def __init__(self, on_command: Any) -> None:
        self.gone = threading.Event()
        self._ppid = os.getppid()
        self._on_command = on_command

    def start(self) -> None:
        threading.Thread(target=self._read_stdin, name="lab-stdin", daemon=True).start()
        threading.Thread(target=self._poll_ppid, name="lab-ppid", daemon=True).start()

    def _read_stdin(self) -> None:
        # The parent holds the write end; EOF means it closed it or died (even on SIGKILL).
        try:
            for line in sys.stdin:
                line = line.strip()
                if line:
                    try:
                        self._on_command(line)
                    except Exception:  # a bad command must not take the lab down
                        logging.getLogger("cockpit.lab").exception("command %r failed", line)
        except (OSError, ValueError):
            pass
        self.gone.set()

    def _poll_ppid(self) -> None:
        # Belt and braces for a parent that passed no pipe (stdin a tty or /dev/null).
        while not self.gone.wait(1.0):
            if os.getppid() != self._ppid:
                self.gone.set()


def _start_extras(endpoint: str, lock: threading.RLock, state_dir: Path) -> dict[str, Any]:
    """Stuck stacks, health endpoints, the simulated Kubernetes namespace and monitoring.

    They run here, in the lab's process, so the cockpit's own CPU and memory stay what
    they would be against a real estate. A part that fails is logged and left out.
    Prometheus and Alertmanager (``promlab``) start on a thread meanwhile: ~0.3 s that
    would otherwise add to the lab's start.
    """
    from cockpit.lab import promlab

    out: dict[str, Any] = {}
    monitoring: dict[str, Any] = {}
    mon_thread = threading.Thread(
        target=lambda: monitoring.update(promlab.extras(state_dir / "monitoring", endpoint)),
        name="lab-monitoring", daemon=True,
    )  # fmt: skip
    mon_thread.start()
    def second_region() -> None:
        from cockpit.lab.second_region import seed_second_region

        try:
            seed_second_region(endpoint, lock)
        except Exception:
            logging.getLogger("cockpit.lab").exception("the second region (eu-west-1) not seeded")

    # Beside the rest: ~15 calls that would otherwise add to the lab's start.
    region_thread = threading.Thread(target=second_region, name="lab-second-region", daemon=True)
    region_thread.start()
    try:
        from cockpit.lab.aws_extras import seed_extras, start_health_server

        seed_extras(endpoint, lock)
        out["health_url"], _ = start_health_server()
    except Exception:
        logging.getLogger("cockpit.lab").exception("stacks and health endpoints not started")
    try:  # the incident channel a drill's updates go to, and its page for the trainee
        from cockpit.lab.slacklab import start_slack_lab

        slack = start_slack_lab()
        out["slack_webhook"], out["slack_page"] = slack.webhook_url, slack.page_url
    except Exception:
        logging.getLogger("cockpit.lab").exception("the lab's Slack not started")
    try:
        from cockpit.lab.incidentlab import start_lab_incident_apis

        urls, _servers = start_lab_incident_apis(state_dir)
        out.update(urls)
    except Exception:
        logging.getLogger("cockpit.lab").exception("Sentry and PagerDuty servers not started")
    try:
        from cockpit.lab.k8s import lab_kubernetes

        kubeconfig, context, _ = lab_kubernetes(state_dir / "k8s")
        out["kubeconfig"], out["kube_context"] = str(kubeconfig), context
    except Exception:
        logging.getLogger("cockpit.lab").exception("simulated Kubernetes not started")
    mon_thread.join()
    region_thread.join()
    out.update(monitoring)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cockpit.lab.server")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--no-stdin", action="store_true", help="watch getppid() only")
    parser.add_argument(
        "--remove-state-dir", action="store_true", help="remove it if the parent dies"
    )
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    # werkzeug logs every request; moto prints tracebacks for unimplemented actions.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    t0 = time.monotonic()
    from moto.server import ThreadedMotoServer

    from cockpit.lab.controller import LabController
    from cockpit.lab.seed import seed_estate

    lock = threading.RLock()
    install_request_lock(lock)
    from cockpit.lab.livetail import install_live_tail

    install_live_tail(lock)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"

    controller = LabController(endpoint, lock)
    controller.install_patches()

    stop = threading.Event()
    watch = ParentWatch(controller.command)
    if args.no_stdin:
        watch._read_stdin = lambda: None  # type: ignore[method-assign]
    watch.start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    seed_estate(endpoint, lock)
    extras = _start_extras(endpoint, lock, state_dir)
    write_atomically(
        state_dir / READY_FILE,
        json.dumps(
            {
                "endpoint": endpoint,
                "port": port,
                "pid": os.getpid(),
                "startup_s": round(time.monotonic() - t0, 3),
                **extras,
            }
        ),
    )

    controller.start(stop)
    from cockpit.lab.promlab import stop_monitoring

    while not stop.is_set():
        if watch.gone.wait(0.1):
            stop_monitoring()  # before the state dir holding their storage goes
            kill_watched(state_dir, remove_state_dir=args.remove_state_dir)
            break
    stop.set()
    # Prometheus and Alertmanager are our children in their own sessions: os._exit below
    # would leave them running.
    stop_monitoring()
    # Nothing to save: the estate is rebuilt on every start. Exit at once rather than wait
    # for werkzeug's serve loop and the feed threads to notice.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
