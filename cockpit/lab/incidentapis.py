"""Loopback Sentry and PagerDuty servers for the tests and the lab: in memory, one thread each.

They answer the request and response shapes of the vendors' documented web APIs, written
from their API references (not from a recording of real traffic), for the calls the cockpit
makes:

- Sentry web API (docs.sentry.io/api/): ``GET /api/0/organizations/{org}/issues/`` (``project``,
  ``query``, ``statsPeriod``, ``groupStatsPeriod``, ``cursor``; pages said in a ``Link`` header
  with ``rel``, ``results`` and ``cursor``), ``GET /api/0/issues/{id}/events/latest/``,
  ``PUT /api/0/issues/{id}/`` and ``PUT /api/0/organizations/{org}/issues/?id=…`` with
  ``{"status": "resolved" | "ignored" | "unresolved"}``; auth ``Authorization: Bearer TOKEN``.
- PagerDuty REST API v2 (developer.pagerduty.com/api-reference/): ``GET /incidents``
  (``service_ids[]``, ``statuses[]``, ``offset``/``limit``/``more``), ``PUT /incidents/{id}``
  (``From:`` header, ``{"incident": {"type": "incident_reference", "status": …}}``),
  ``POST /incidents/{id}/notes``, ``GET /services/{id}``, ``GET /oncalls``; auth
  ``Authorization: Token token=TOKEN``, ``Accept: application/vnd.pagerduty+json;version=2``.
- PagerDuty Events API v2: ``POST /v2/enqueue`` (``routing_key``, ``event_action`` trigger /
  acknowledge / resolve, ``dedup_key``) answers 202; on this server it opens, acknowledges or
  resolves an incident on the service whose integration has that routing key.

Faults on demand (``fail(status, times, retry_after)``, or ``{"do": "fail", ...}`` posted to
``/_lab/control``): the next requests answer 429 with ``Retry-After`` or a 5xx. ``state()`` (and ``GET /_lab/state``) shows everything, for the
tests and the lab; ``POST /_lab/control`` drives the lab's drills across processes.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

Reply = tuple[int, Any, dict[str, str]]


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def _do(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        code, payload, headers = self.server.handle(self.command, parts.path, query, dict(self.headers), body)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _do


class ApiServer(ThreadingHTTPServer):
    """A JSON API on 127.0.0.1 with a token, fault injection and a request log."""

    daemon_threads = True
    vendor = "api"

    def __init__(self, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.lock = threading.RLock()
        self.faults: list[tuple[int, str]] = []  # (status, Retry-After) for the next requests
        self.requests: list[dict[str, Any]] = []  # method, path, query, headers (auth masked)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, name=f"lab-{self.vendor}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def fail(self, status: int, times: int = 1, retry_after: str = "0") -> None:
        """The next ``times`` API requests answer ``status`` (429 carries ``Retry-After``)."""
        with self.lock:
            self.faults += [(status, retry_after)] * times

    def authorized(self, headers: dict[str, str]) -> bool:
        raise NotImplementedError

    def route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
              body: Any) -> Reply:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        return {}

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> Reply:
        with self.lock:
            if path == "/_lab/state":
                return 200, self.state(), {}
            if path == "/_lab/control" and method == "POST":
                body = body or {}
                if body.get("do") == "fail":  # e.g. {"do": "fail", "status": 429, "times": 3}
                    self.fail(int(body.get("status", 503)), int(body.get("times", 1)),
                              str(body.get("retry_after", "1")))
                    return 200, {"faults": len(self.faults)}, {}
                return 200, self.control(body), {}
            shown = {k: ("***" if k.lower() == "authorization" else v) for k, v in headers.items()}
            self.requests.append({"method": method, "path": path, "query": query, "headers": shown,
                                  "body": body})
            if self.faults:
                status, wait = self.faults.pop(0)
                extra = {"Retry-After": wait} if status == 429 else {}
                return status, {"error": f"injected HTTP {status}"}, extra
            if not self.authorized(headers):
                return 401, self.unauthorized(), {}
            return self.route(method, path, query, headers, body)

    def unauthorized(self) -> Any:
        return {"detail": "Invalid token"}


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


# --- Sentry ----------------------------------------------------------------------------------


class SentryServer(ApiServer):
    vendor = "sentry"
    page_size = 25

    def __init__(self, token: str, org: str = "lab") -> None:
        super().__init__(token)
        self.org = org
        self.issues: dict[str, dict[str, Any]] = {}
        self.latest: dict[str, dict[str, Any]] = {}
        self._next = 1

    def authorized(self, headers: dict[str, str]) -> bool:
        return _header(headers, "Authorization") == f"Bearer {self.token}"

    def add_issue(self, project: str, title: str, *, culprit: str = "", count: int = 1, users: int = 1,
                  first_seen: datetime | None = None, last_seen: datetime | None = None,
                  substatus: str = "ongoing", level: str = "error", hourly: list[int] | None = None,
                  message: str = "", frame: tuple[str, str, int] = ("app.py", "handler", 1)) -> str:
        """An unresolved issue and its latest event; returns its id."""
        with self.lock:
            iid = str(self._next)
            self._next += 1
            now = now_utc()
            first = first_seen or now
            last = last_seen or now
            stats = hourly if hourly is not None else [0] * 23 + [count]
            hour0 = int(now.timestamp()) // 3600 * 3600 - 23 * 3600
            self.issues[iid] = {
                "id": iid,
                "shortId": f"{project.upper()}-{iid}",
                "title": title,
                "culprit": culprit,
                "permalink": f"{self.url}/organizations/{self.org}/issues/{iid}/",
                "level": level,
                "status": "unresolved",
                "substatus": substatus,
                "isUnhandled": True,
                "count": str(count),  # Sentry sends counts as strings
                "userCount": users,
                "firstSeen": iso(first),
                "lastSeen": iso(last),
                "project": {"id": str(abs(hash(project)) % 1000), "name": project, "slug": project},
                "metadata": {"type": title.partition(":")[0], "value": title.partition(":")[2].strip()},
                "stats": {"24h": [[hour0 + 3600 * i, n] for i, n in enumerate(stats[-24:])]},
                "type": "error",
            }
            exc_type, _, exc_value = title.partition(":")
            filename, function, line = frame
            self.latest[iid] = {
                "id": f"{iid}0" * 4,
                "eventID": f"{int(iid):032x}",
                "groupID": iid,
                "title": title,
                "message": message or title,
                "dateCreated": iso(last),
                "platform": "python",
                "entries": [{"type": "exception", "data": {"values": [{
                    "type": exc_type, "value": exc_value.strip(), "module": None,
                    "stacktrace": {"frames": [
                        {"filename": "site-packages/framework/app.py", "function": "dispatch",
                         "lineNo": 901, "inApp": False, "context": []},
                        {"filename": filename, "function": function, "lineNo": line, "inApp": True,
                         "context": [[line, f"    raise {exc_type}(...)"]]},
                    ]},
                }]}}],
                "tags": [{"key": "environment", "value": "production"}],
            }
            return iid

    def spike(self, iid: str, per_hour: int) -> None:
        with self.lock:
            issue = self.issues[iid]
            buckets = issue["stats"]["24h"]
            buckets[-1][1] = per_hour
            issue["count"] = str(int(issue["count"]) + per_hour)
            issue["lastSeen"] = iso(now_utc())
            issue["substatus"] = "escalating"

    def state(self) -> dict[str, Any]:
        return {"issues": {i: {k: v[k] for k in ("shortId", "title", "status", "substatus", "count")}
                           for i, v in self.issues.items()}}

    def route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
              body: Any) -> Reply:
        segs = [s for s in path.split("/") if s]
        if segs[:3] == ["api", "0", "organizations"] and len(segs) == 5 and segs[4] == "issues":
            if segs[3] != self.org:
                return 404, {"detail": "The requested resource does not exist"}, {}
            if method == "GET":
                return self._list(query)
            if method == "PUT":
                return self._bulk(query.get("id", []), body)
        if segs[:3] == ["api", "0", "issues"] and len(segs) >= 4:
            iid = segs[3]
            if iid not in self.issues:
                return 404, {"detail": "The requested resource does not exist"}, {}
            if segs[4:] == ["events", "latest"] and method == "GET":
                return 200, self.latest[iid], {}
            if len(segs) == 4 and method == "PUT":
                return self._bulk([iid], body, single=True)
            if len(segs) == 4 and method == "GET":
                return 200, self.issues[iid], {}
        return 404, {"detail": "The requested resource does not exist"}, {}

    def _list(self, query: dict[str, list[str]]) -> Reply:
        projects = set(query.get("project", []))
        q = " ".join(query.get("query", []))
        period = (query.get("statsPeriod") or ["24h"])[0]
        since = now_utc() - _period(period)
        rows = [i for i in self.issues.values()
                if (not projects or i["project"]["slug"] in projects or i["project"]["id"] in projects)
                and ("is:unresolved" not in q or i["status"] == "unresolved")
                and datetime.fromisoformat(i["lastSeen"]) >= since]
        rows.sort(key=lambda i: i["lastSeen"], reverse=True)
        cursor = (query.get("cursor") or ["0:0:0"])[0]
        offset = int(cursor.split(":")[1]) if cursor.count(":") == 2 else 0
        page = rows[offset:offset + self.page_size]
        more = offset + self.page_size < len(rows)
        base = {k: v for k, v in query.items() if k != "cursor"}

        def link(off: int, rel: str, results: bool) -> str:
            c = f"0:{off}:{1 if rel == 'previous' else 0}"
            url = f"{self.url}/api/0/organizations/{self.org}/issues/?{urlencode({**base, 'cursor': c}, doseq=True)}"
            return f'<{url}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{c}"'

        header = ", ".join((link(max(0, offset - self.page_size), "previous", offset > 0),
                            link(offset + self.page_size, "next", more)))
        return 200, page, {"Link": header}

    def _bulk(self, ids: list[str], body: Any, single: bool = False) -> Reply:
        status = (body or {}).get("status")
        if status not in ("resolved", "ignored", "unresolved", "resolvedInNextRelease"):
            return 400, {"status": [f"\"{status}\" is not a valid choice."]}, {}
        if not ids:
            return 400, {"detail": "You must specify a list of IDs for this operation"}, {}
        for iid in ids:
            if iid in self.issues:
                self.issues[iid]["status"] = "resolved" if status == "resolvedInNextRelease" else status
        if single:
            return 200, self.issues[ids[0]], {}
        return 200, {"status": status, "statusDetails": {}}, {}

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("do") == "spike":
            project = str(body.get("project", "api"))
            title = str(body.get("title", "OperationalError: connection to database failed"))
            found = next((i for i, v in self.issues.items()
                          if v["title"] == title and v["status"] == "unresolved"), None)
            if found is None:
                found = self.add_issue(project, title, culprit=str(body.get("culprit", "")), count=0,
                                       users=int(body.get("users", 40)), substatus="new",
                                       message=str(body.get("message", "")),
                                       frame=("api/db.py", "connect", 88))
            self.spike(found, int(body.get("per_hour", 1200)))
            return {"issue": found}
        return {}


def _period(text: str) -> timedelta:
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}.get(text[-1:], 3600)
    try:
        return timedelta(seconds=int(text[:-1]) * unit)
    except ValueError:
        return timedelta(hours=24)


# --- PagerDuty ---------------------------------------------------------------------------------


class PagerDutyServer(ApiServer):
    """REST API v2 and Events API v2 on one port (the real ones are two hosts)."""

    vendor = "pagerduty"
    max_limit = 100  # the API's cap on limit=

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.users: dict[str, dict[str, Any]] = {}  # id -> user
        self.services: dict[str, dict[str, Any]] = {}
        self.routing: dict[str, str] = {}  # integration routing key -> service id
        self.policies: dict[str, list[list[str]]] = {}  # policy id -> user ids per level
        self.incidents: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []  # every Events API v2 event accepted
        self._number = 1000

    def authorized(self, headers: dict[str, str]) -> bool:
        return _header(headers, "Authorization") == f"Token token={self.token}"

    def unauthorized(self) -> Any:
        return {"error": {"message": "Unauthorized", "code": 2006}}

    def add_user(self, uid: str, name: str, email: str) -> None:
        self.users[uid] = {"id": uid, "type": "user", "name": name, "email": email,
                           "summary": name, "html_url": f"{self.url}/users/{uid}"}

    def add_service(self, sid: str, name: str, policy: str, levels: list[list[str]], routing_key: str) -> None:
        self.services[sid] = {
            "id": sid, "type": "service", "name": name, "summary": name, "status": "active",
            "escalation_policy": {"id": policy, "type": "escalation_policy_reference", "summary": f"{name} policy"},
            "html_url": f"{self.url}/service-directory/{sid}",
        }
        self.policies[policy] = levels
        self.routing[routing_key] = sid

    def add_incident(self, sid: str, title: str, *, urgency: str = "high", status: str = "triggered",
                     dedup_key: str = "") -> str:
        with self.lock:
            self._number += 1
            iid = f"Q{self._number:06d}LAB"
            service = self.services[sid]
            first = self.policies[service["escalation_policy"]["id"]][0][0]
            now = iso(now_utc())
            self.incidents[iid] = {
                "id": iid, "type": "incident", "summary": f"[#{self._number}] {title}",
                "incident_number": self._number, "title": title, "created_at": now, "updated_at": now,
                "status": status, "urgency": urgency, "incident_key": dedup_key or iid,
                "html_url": f"{self.url}/incidents/{iid}",
                "service": {"id": sid, "type": "service_reference", "summary": service["name"]},
                "escalation_policy": service["escalation_policy"],
                "assignments": [] if status == "resolved" else [
                    {"at": now, "assignee": self._user_ref(first)}],
                "acknowledgements": [],
                "last_status_change_at": now,
            }
            self.notes[iid] = []
            return iid

    def _user_ref(self, uid: str) -> dict[str, Any]:
        u = self.users[uid]
        return {"id": uid, "type": "user_reference", "summary": u["name"], "html_url": u["html_url"]}

    def state(self) -> dict[str, Any]:
        return {"incidents": {i: {"status": v["status"], "title": v["title"], "urgency": v["urgency"],
                                  "notes": [n["content"] for n in self.notes[i]]}
                              for i, v in self.incidents.items()},
                "events": self.events}

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> Reply:
        if path == "/v2/enqueue" and method == "POST":  # Events API: the routing key is the auth
            with self.lock:
                self.requests.append({"method": method, "path": path, "query": query, "headers": {},
                                      "body": {**(body or {}), "routing_key": "***"}})
                if self.faults:
                    status, wait = self.faults.pop(0)
                    return status, {"status": "error"}, ({"Retry-After": wait} if status == 429 else {})
                return self._enqueue(body or {})
        return super().handle(method, path, query, headers, body)

    def route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
              body: Any) -> Reply:
        if "application/vnd.pagerduty+json;version=2" not in _header(headers, "Accept"):
            return 406, {"error": {"message": "Not Acceptable", "code": 2000}}, {}
        segs = [s for s in path.split("/") if s]
        if segs == ["incidents"] and method == "GET":
            return self._list_incidents(query)
        if segs[:1] == ["incidents"] and len(segs) >= 2:
            iid = segs[1]
            if iid not in self.incidents:
                return 404, {"error": {"message": "Not Found", "code": 2100}}, {}
            email = _header(headers, "From")
            if method in ("PUT", "POST") and not any(u["email"] == email for u in self.users.values()):
                return 400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                       "errors": ["A valid user email is required in the From header."]}}, {}
            if len(segs) == 2 and method == "PUT":
                return self._update(iid, email, body)
            if segs[2:] == ["notes"] and method == "POST":
                content = str(((body or {}).get("note") or {}).get("content") or "")
                if not content:
                    return 400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                           "errors": ["Note content can't be blank."]}}, {}
                user = next(u for u in self.users.values() if u["email"] == email)
                note = {"id": f"N{len(self.notes[iid]) + 1:05d}", "content": content,
                        "created_at": iso(now_utc()), "user": self._user_ref(user["id"])}
                self.notes[iid].append(note)
                return 201, {"note": note}, {}
        if segs[:1] == ["services"] and len(segs) == 2 and method == "GET":
            if segs[1] not in self.services:
                return 404, {"error": {"message": "Not Found", "code": 2100}}, {}
            return 200, {"service": self.services[segs[1]]}, {}
        if segs == ["oncalls"] and method == "GET":
            return self._oncalls(query)
        return 404, {"error": {"message": "Not Found", "code": 2100}}, {}

    def _page(self, key: str, rows: list[Any], query: dict[str, list[str]]) -> Reply:
        offset = int((query.get("offset") or ["0"])[0])
        limit = min(self.max_limit, int((query.get("limit") or ["25"])[0]))
        page = rows[offset:offset + limit]
        total = len(rows) if (query.get("total") or ["false"])[0] == "true" else None
        return 200, {key: page, "limit": limit, "offset": offset, "more": offset + limit < len(rows),
                     "total": total}, {}

    def _list_incidents(self, query: dict[str, list[str]]) -> Reply:
        services = set(query.get("service_ids[]", []))
        statuses = set(query.get("statuses[]", [])) or {"triggered", "acknowledged"}
        rows = [i for i in self.incidents.values()
                if (not services or i["service"]["id"] in services) and i["status"] in statuses]
        rows.sort(key=lambda i: i["incident_number"])
        return self._page("incidents", rows, query)

    def _update(self, iid: str, email: str, body: Any) -> Reply:
        inc = (body or {}).get("incident") or {}
        status = inc.get("status")
        if inc.get("type") not in ("incident", "incident_reference") or status not in (
                "acknowledged", "resolved"):
            return 400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                   "errors": ["Incident status must be acknowledged or resolved."]}}, {}
        incident = self.incidents[iid]
        user = next(u for u in self.users.values() if u["email"] == email)
        now = iso(now_utc())
        incident["status"] = status
        incident["updated_at"] = incident["last_status_change_at"] = now
        incident["last_status_change_by"] = self._user_ref(user["id"])
        if status == "acknowledged":
            incident["acknowledgements"].append({"at": now, "acknowledger": self._user_ref(user["id"])})
        else:
            incident["assignments"] = []
        return 200, {"incident": incident}, {}

    def _oncalls(self, query: dict[str, list[str]]) -> Reply:
        policies = set(query.get("escalation_policy_ids[]", [])) or set(self.policies)
        rows = []
        for pid in sorted(policies & set(self.policies)):
            for level, uids in enumerate(self.policies[pid], start=1):
                for uid in uids:
                    rows.append({
                        "escalation_policy": {"id": pid, "type": "escalation_policy_reference",
                                              "summary": next((s["escalation_policy"]["summary"]
                                                               for s in self.services.values()
                                                               if s["escalation_policy"]["id"] == pid), pid)},
                        "escalation_level": level, "schedule": None, "user": self._user_ref(uid),
                        "start": None, "end": None,
                    })
        return self._page("oncalls", rows, query)

    def _enqueue(self, body: dict[str, Any]) -> Reply:
        errors = []
        action = body.get("event_action")
        sid = self.routing.get(str(body.get("routing_key") or ""))
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        if sid is None:
            errors.append("'routing_key' is invalid")
        payload = body.get("payload") or {}
        if action == "trigger" and not (payload.get("summary") and payload.get("source")
                                        and payload.get("severity") in ("critical", "error", "warning", "info")):
            errors.append("'payload' is invalid or missing")
        if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
            errors.append("'dedup_key' is required")
        if errors:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, {}
        assert sid is not None
        dedup = str(body.get("dedup_key") or f"{time.time_ns():x}")
        self.events.append({"event_action": action, "dedup_key": dedup, "summary": payload.get("summary", "")})
        open_ = next((i for i, v in self.incidents.items()
                      if v["incident_key"] == dedup and v["status"] != "resolved"), None)
        if action == "trigger" and open_ is None:
            urgency = "high" if payload.get("severity") in ("critical", "error") else "low"
            self.add_incident(sid, str(payload["summary"]), urgency=urgency, dedup_key=dedup)
        elif open_ is not None and action in ("acknowledge", "resolve"):
            self.incidents[open_]["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup}, {}

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("do") == "trigger":
            sid = str(body.get("service") or next(iter(self.services)))
            iid = self.add_incident(sid, str(body.get("title", "api is down")),
                                    urgency=str(body.get("urgency", "high")))
            return {"incident": iid}
        if body.get("do") == "resolve":
            for inc in self.incidents.values():
                if inc["title"] == body.get("title") and inc["status"] != "resolved":
                    inc["status"] = "resolved"
        return {}
