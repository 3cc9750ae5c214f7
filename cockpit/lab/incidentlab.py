"""The lab's Sentry and PagerDuty: seeded like a quiet day, started in the lab's process, and the
hooks that drills and tests use to drive them from the cockpit's process (``/_lab/control``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from cockpit.lab.incidentapis import ApiServer, PagerDutyServer, SentryServer, now_utc

LAB_ORG = "lab"
LAB_PROJECTS = ("api", "worker")
LAB_SERVICE = "PAPI001"
LAB_USER_EMAIL = "trainee@lab.example"
SPIKE_TITLE = "OperationalError: connection to server at \"db\" failed: Connection refused"
PAGE_TITLE = "api-service-down: api running 0/2 (lab drill api-down)"


def lab_servers(token: str, routing_key: str) -> tuple[SentryServer, PagerDutyServer]:
    """The lab's Sentry and PagerDuty, seeded like a quiet day, started."""
    sentry = SentryServer(token, LAB_ORG)
    now = now_utc()
    sentry.add_issue("api", "KeyError: 'currency'", culprit="api.orders.checkout", count=37, users=12,
                     first_seen=now - timedelta(hours=5), last_seen=now - timedelta(minutes=12),
                     substatus="new", hourly=[0] * 19 + [9, 8, 7, 6, 7],
                     frame=("api/orders.py", "checkout", 142))
    sentry.add_issue("worker", "TimeoutError: email provider did not answer in 30 s",
                     culprit="worker.jobs.send_email", count=214, users=0,
                     first_seen=now - timedelta(days=20), last_seen=now - timedelta(minutes=40),
                     substatus="regressed", level="warning", hourly=[4] * 24,
                     frame=("worker/jobs.py", "send_email", 57))
    sentry.add_issue("api", "ValueError: invalid page size", culprit="api.search.list_results",
                     count=3, users=2, first_seen=now - timedelta(days=9), last_seen=now - timedelta(hours=2),
                     substatus="ongoing", hourly=[0] * 22 + [1, 0], frame=("api/search.py", "list_results", 33))
    pd = PagerDutyServer(token)
    pd.add_user("PUSER01", "Ada Trainee", LAB_USER_EMAIL)
    pd.add_user("PUSER02", "Grace Lead", "lead@lab.example")
    pd.add_service(LAB_SERVICE, "api (lab)", "PPOL001", [["PUSER01"], ["PUSER02"]], routing_key)
    return sentry.start(), pd.start()


def lab_control(url: str, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """``POST /_lab/control`` on a lab server (from the cockpit's process: the servers run in
    the lab's)."""
    import urllib.request

    req = urllib.request.Request(f"{url.rstrip('/')}/_lab/control", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (loopback, our server)
        return dict(json.loads(r.read() or b"{}"))


def lab_state(url: str, timeout: float = 5.0) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{url.rstrip('/')}/_lab/state", timeout=timeout) as r:  # noqa: S310
        return dict(json.loads(r.read()))


def api_down_drill(lab: Any, on: bool) -> None:
    """The api-down drill's part here: on start, a Sentry error spike and a triggered
    PagerDuty incident; on stop, the page resolved (the Sentry issue stays for the trainee).
    A lab without these servers is left alone."""
    extras: dict[str, Any] = getattr(lab, "extras", None) or {}
    sentry, pd = extras.get("sentry_url"), extras.get("pagerduty_url")
    if on:
        if sentry:
            lab_control(sentry, {"do": "spike", "project": "api", "title": SPIKE_TITLE,
                                 "culprit": "api.db.connect", "per_hour": 1200, "users": 40,
                                 "message": "connection to server at \"db\" (10.0.3.7), port 5432 failed"})
        if pd:
            lab_control(pd, {"do": "trigger", "service": LAB_SERVICE, "title": PAGE_TITLE})
    elif pd:
        lab_control(pd, {"do": "resolve", "title": PAGE_TITLE})



def start_lab_incident_apis(state_dir: Any) -> tuple[dict[str, str], list[ApiServer]]:
    """Start the lab's Sentry and PagerDuty (in the lab's process); their token and routing key
    go to files only the user can read, which the lab profile names as ``file:`` secrets."""
    import os
    import secrets
    from pathlib import Path

    folder = Path(state_dir) / "incident-apis"
    folder.mkdir(parents=True, exist_ok=True)
    token, routing_key = secrets.token_urlsafe(24), secrets.token_hex(16)
    files = {}
    for name, value in (("token", token), ("routing-key", routing_key)):
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
        files[name] = str(path)
    sentry, pd = lab_servers(token, routing_key)
    return ({"sentry_url": sentry.url, "pagerduty_url": pd.url, "incident_token_file": files["token"],
             "incident_routing_key_file": files["routing-key"]}, [sentry, pd])
