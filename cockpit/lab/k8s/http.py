"""The HTTP face of the double: the REST paths, watch streams, patches, logs, discovery and
metrics a client (the cockpit, the official client, kubectl) calls; starting it and
writing a kubeconfig for it.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cockpit.lab.k8s.builders import METRICS_GV, RESOURCES, _status, now_iso
from cockpit.lab.k8s.discovery import (
    AUTHZ_GV,
    OPENAPI_PATH,
    PATHS,
    discovery,
    openapi_v2,
)
from cockpit.lab.k8s.patch import _matches_fields, _matches_labels, json_patch, merge_patch
from cockpit.lab.k8s.store import K8sState
from cockpit.lab.k8s.tables import table, wants_table

# --- HTTP --------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: K8sState


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        return None

    # --- plumbing ------------------------------------------------------------------------

    @property
    def state(self) -> K8sState:
        return self.server.state

    def _send_json(self, code: int, body: Any) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, reason: str, message: str, **details: Any) -> None:
        self._send_json(code, _status(code, reason, message, details))

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _read_body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else None

    def _route(self) -> tuple[str, str, str, str, dict[str, str]] | None:
        """(plural, namespace, name, subresource, query) or None for a non-resource path."""
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segs = [unquote(s) for s in parts.path.strip("/").split("/") if s]
        if segs[:2] == ["api", "v1"]:
            rest = segs[2:]
        elif len(segs) >= 3 and segs[0] == "apis":
            rest = segs[3:]
            gv = f"{segs[1]}/{segs[2]}"
            if gv == METRICS_GV:
                q["_metrics"] = "1"
        else:
            return None
        ns = ""
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
            ns, rest = rest[1], rest[2:]
        if not rest:
            return None
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        return plural, ns, name, sub, q

    def _log_request(self, body: Any = None) -> None:
        with self.state.cond:
            self.state.requests.append({
                "method": self.command,
                "path": urlsplit(self.path).path,
                "query": {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()},
                "content_type": self.headers.get("Content-Type", ""),
                "body": body,
            })

    # --- verbs ---------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._log_request()
        path = urlsplit(self.path).path.rstrip("/")
        if path in PATHS:
            return self._discovery(path)
        if path == OPENAPI_PATH:
            data = openapi_v2()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        r = self._route()
        if r is None:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, sub, q = r
        if q.get("_metrics"):
            return self._metrics(plural, ns, name, q)
        if plural not in RESOURCES:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        if not name:
            if q.get("watch") in ("true", "1"):
                return self._watch(plural, ns, q)
            return self._list(plural, ns, q)
        if sub == "log":
            return self._log(ns, name, q)
        obj = self.state.get(plural, ns, name)
        if obj is None:
            return self._not_found(plural, name)
        if sub == "scale":
            return self._send_json(200, _scale_of(obj))
        if wants_table(self.headers.get("Accept", "")):
            return self._send_json(200, table(plural, [obj], include=q.get("includeObject", "")))
        return self._send_json(200, obj)

    def do_PATCH(self) -> None:  # noqa: N802
        body = self._read_body()
        self._log_request(body)
        r = self._route()
        if r is None or not r[2] or r[0] not in RESOURCES:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, sub, q = r
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in ("application/strategic-merge-patch+json", "application/merge-patch+json",
                         "application/json-patch+json"):
            return self._error(415, "UnsupportedMediaType",
                               f"the body of the request was in an unknown format - accepted "
                               f"media types include: application/json-patch+json, "
                               f"application/merge-patch+json, "
                               f"application/apply-patch+yaml, "
                               f"application/strategic-merge-patch+json (got {ctype})")
        if self.state.get(plural, ns, name) is None:
            return self._not_found(plural, name)

        def apply(doc: dict[str, Any]) -> dict[str, Any]:
            if ctype == "application/json-patch+json":
                return json_patch(doc, body or [])
            return merge_patch(doc, body or {},
                               strategic=ctype == "application/strategic-merge-patch+json")

        dry = _dry_run(q)
        try:
            if sub == "scale":
                def fn(o: dict[str, Any]) -> None:
                    o["spec"]["replicas"] = int(apply(_scale_of(o))["spec"]["replicas"])

                obj = self.state.modify(plural, ns, name, fn, dry_run=dry)
                return self._send_json(200, _scale_of(obj))
            obj = self._replace(plural, ns, name, apply, dry)
        except (KeyError, ValueError, IndexError, TypeError) as e:
            return self._error(422, "Invalid", f"patch could not be applied: {e}")
        self._send_json(200, obj)

    def _replace(self, plural: str, ns: str, name: str,
                 apply: Callable[[dict[str, Any]], dict[str, Any]], dry: bool) -> dict[str, Any]:
        def fn(o: dict[str, Any]) -> None:
            new = apply(o)
            o.clear()
            o.update(new)

        before = self.state.get(plural, ns, name)
        obj = self.state.modify(plural, ns, name, fn, dry_run=dry)
        if not dry and plural in ("statefulsets", "daemonsets") and before is not None and \
                before["spec"].get("template") != obj["spec"].get("template"):
            # What the StatefulSet / DaemonSet controller does at once for a new template.
            self.state.record_revision(plural, ns, name)
            obj = self.state.get(plural, ns, name) or obj
        return obj

    def do_PUT(self) -> None:  # noqa: N802
        body = self._read_body()
        self._log_request(body)
        r = self._route()
        if r is None or not r[2] or r[0] not in RESOURCES or not isinstance(body, dict):
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, sub, q = r
        old = self.state.get(plural, ns, name)
        if old is None:
            return self._not_found(plural, name)
        want = str((body.get("metadata") or {}).get("resourceVersion") or "")
        if want and want != old["metadata"]["resourceVersion"]:
            return self._error(409, "Conflict", f'Operation cannot be fulfilled on {plural} '
                               f'"{name}": the object has been modified; please apply your '
                               f"changes to the latest version and try again")
        dry = _dry_run(q)
        try:
            if sub == "scale":
                replicas = int((body.get("spec") or {}).get("replicas", 0))
                obj = self.state.modify(plural, ns, name,
                                        lambda o: o["spec"].update(replicas=replicas), dry_run=dry)
                return self._send_json(200, _scale_of(obj))

            def put(o: dict[str, Any]) -> dict[str, Any]:
                new = copy.deepcopy(body)
                new["metadata"] = {**new.get("metadata", {}), "uid": o["metadata"]["uid"],
                                   "creationTimestamp": o["metadata"]["creationTimestamp"],
                                   "generation": o["metadata"].get("generation", 1)}
                new["status"] = o.get("status", {})  # status is the controllers' to write
                return new

            obj = self._replace(plural, ns, name, put, dry)
        except (KeyError, ValueError, TypeError) as e:
            return self._error(422, "Invalid", f"update could not be applied: {e}")
        self._send_json(200, obj)

    def do_POST(self) -> None:  # noqa: N802
        body = self._read_body()
        self._log_request(body)
        path = urlsplit(self.path).path.rstrip("/")
        if path == f"/apis/{AUTHZ_GV}/selfsubjectaccessreviews" and isinstance(body, dict):
            # The lab's user is its cluster's admin: every review is allowed.
            return self._send_json(201, {**body, "metadata": body.get("metadata") or {},
                                         "status": {"allowed": True,
                                                    "reason": "the lab's user is an admin"}})
        if path == f"/apis/{AUTHZ_GV}/selfsubjectrulesreviews" and isinstance(body, dict):
            return self._send_json(201, {**body, "metadata": body.get("metadata") or {},
                                         "status": {"resourceRules": [{"verbs": ["*"],
                                                                       "apiGroups": ["*"],
                                                                       "resources": ["*"]}],
                                                    "nonResourceRules": [{"verbs": ["*"],
                                                                          "nonResourceURLs": ["*"]}],
                                                    "incomplete": False}})
        r = self._route()
        if r is None or r[2] or r[0] not in RESOURCES or not isinstance(body, dict):
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, _, _, q = r
        group, kind, namespaced = RESOURCES[plural]
        obj = copy.deepcopy(body)
        obj.update(kind=kind, apiVersion=group)
        meta = obj.setdefault("metadata", {})
        if namespaced:
            meta["namespace"] = ns or meta.get("namespace") or "default"
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            return self._error(422, "Invalid", f"{kind} is invalid: metadata.name: Required value")
        if self.state.get(plural, meta.get("namespace", ""), meta["name"]) is not None:
            what = f"{plural}.{group.split('/')[0]}" if "/" in group else plural
            return self._error(409, "AlreadyExists", f'{what} "{meta["name"]}" already exists',
                               name=meta["name"], kind=plural)
        for k in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            meta.pop(k, None)
        obj.setdefault("status", {})
        self._send_json(201, self.state.put(obj, dry_run=_dry_run(q)))

    def do_DELETE(self) -> None:  # noqa: N802
        body = self._read_body()
        self._log_request(body)
        r = self._route()
        if r is None or not r[2] or r[0] not in RESOURCES:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, _, q = r
        dry = _dry_run(q) or (isinstance(body, dict) and "All" in (body.get("dryRun") or []))
        obj = self.state.get(plural, ns, name) if dry else self.state.delete(plural, ns, name)
        if obj is None:
            return self._not_found(plural, name)
        self._send_json(200, obj)

    # --- handlers ------------------------------------------------------------------------

    def _not_found(self, plural: str, name: str) -> None:
        group = RESOURCES.get(plural, ("v1",))[0]
        g = group.split("/")[0] if "/" in group else ""
        what = f"{plural}.{g}" if g else plural
        self._error(404, "NotFound", f'{what} "{name}" not found', name=name, kind=plural,
                    group=g)

    def _discovery(self, path: str) -> None:
        found = discovery(path, metrics=self.state.metrics)
        if found is None:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        self._send_json(*found)

    def _select(self, plural: str, ns: str, q: dict[str, str]) -> list[dict[str, Any]]:
        ls, fs = q.get("labelSelector", ""), q.get("fieldSelector", "")
        st = self.state
        # Sorted by namespace and name, the order etcd keys list in.
        return [
            o for (p, n, _), o in sorted(st.objects.items(), key=lambda kv: kv[0])
            if p == plural and (not ns or n == ns) and _matches_labels(o, ls)
            and (not fs or _matches_fields(o, fs))
        ]

    def _list(self, plural: str, ns: str, q: dict[str, str]) -> None:
        group, kind, _ = RESOURCES[plural]
        st = self.state
        with st.cond:
            st.list_calls[plural] = st.list_calls.get(plural, 0) + 1
            items = self._select(plural, ns, q)
            rv = str(st.rv)
            start = int(q.get("continue") or 0)
            limit = int(q.get("limit") or 0)
            page = items[start:start + limit] if limit else items[start:]
            cont = str(start + limit) if limit and start + limit < len(items) else None
            # Serialise under the lock: objects are replaced, never mutated, outside it.
            meta: dict[str, Any] = {"resourceVersion": rv}
            if cont:
                meta["continue"] = cont
                meta["remainingItemCount"] = len(items) - start - limit
            if wants_table(self.headers.get("Accept", "")):
                doc = table(plural, page, include=q.get("includeObject", ""), list_meta=meta)
            else:
                doc = {"kind": f"{kind}List", "apiVersion": group, "metadata": meta, "items": page}
            body = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _watch(self, plural: str, ns: str, q: dict[str, str]) -> None:
        st = self.state
        ls, fs = q.get("labelSelector", ""), q.get("fieldSelector", "")
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        deadline = time.monotonic() + timeout
        rv_param = q.get("resourceVersion", "")
        self._start_chunked("application/json")

        as_table = wants_table(self.headers.get("Accept", ""))

        def send(etype: str, obj: dict[str, Any]) -> None:
            if as_table and etype in ("ADDED", "MODIFIED", "DELETED"):
                # kubectl get -w: each event's object is a one-row Table.
                obj = table(plural, [obj], include=q.get("includeObject", ""),
                            list_meta={"resourceVersion": obj["metadata"]["resourceVersion"]})
            self._chunk(json.dumps({"type": etype, "object": obj},
                                   separators=(",", ":")).encode() + b"\n")

        try:
            with st.cond:
                drops = st.drops
                if rv_param in ("", "0"):
                    initial = [copy.deepcopy(o) for o in self._select(plural, ns, q)]
                    last = st.rv
                else:
                    last = int(rv_param)
                    initial = []
                    if last < st.floor:
                        gone = _status(410, "Expired",
                                       f"too old resource version: {last} ({st.floor})")
                        send("ERROR", gone)
                        self._end_chunks()
                        return
            for o in initial:
                send("ADDED", o)
            while True:
                with st.cond:
                    batch = [e for e in st.events_since(last)]
                    if not batch:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or st.stopping or st.drops != drops:
                            break
                        st.cond.wait(min(remaining, 1.0))
                        batch = [e for e in st.events_since(last)]
                    if st.drops != drops or st.stopping:
                        break
                for rv, p, n, etype, obj in batch:
                    last = rv
                    if p != plural or (ns and n != ns):
                        continue
                    if not _matches_labels(obj, ls) or (fs and not _matches_fields(obj, fs)):
                        continue
                    send(etype, obj)
                if time.monotonic() >= deadline:
                    break
            if st.drops != drops or st.stopping:
                # A dropped connection ends without the closing chunk, like a cut TCP stream.
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if bookmarks:
                send("BOOKMARK", {"kind": RESOURCES[plural][1], "apiVersion": RESOURCES[plural][0],
                                  "metadata": {"resourceVersion": str(last)}})
            self._end_chunks()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _log(self, ns: str, name: str, q: dict[str, str]) -> None:
        st = self.state
        pod = st.get("pods", ns, name)
        if pod is None:
            return self._not_found("pods", name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = q.get("container") or (names[0] if len(names) == 1 else "")
        if not container:
            return self._error(400, "BadRequest",
                               f"a container name must be specified for pod {name}, "
                               f"choose one of: [{' '.join(names)}]")
        if container not in names:
            return self._error(400, "BadRequest",
                               f"container {container} is not valid for pod {name}")
        previous = q.get("previous") in ("true", "1")
        key = (ns, name, container, previous)
        if previous and key not in st.logs:
            return self._error(400, "BadRequest",
                               f'previous terminated container "{container}" in pod "{name}" '
                               f"not found")
        follow = q.get("follow") in ("true", "1") and not previous
        stamps = q.get("timestamps") in ("true", "1")
        since = q.get("sinceTime")
        since_t = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        if since_t is None and q.get("sinceSeconds"):
            since_t = datetime.now(UTC) - timedelta(seconds=int(q["sinceSeconds"]))
        tail = int(q["tailLines"]) if q.get("tailLines") else None

        def fmt(t: datetime, text: str) -> bytes:
            prefix = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ ") if stamps else ""
            return (prefix + text + "\n").encode()

        with st.cond:
            lines = list(st.logs.get(key, []))
            drops = st.drops
        sent = len(lines)
        if since_t is not None:
            lines = [ln for ln in lines if ln[0] >= since_t]
        if tail is not None:
            lines = lines[-tail:] if tail else []
        budget = int(q["limitBytes"]) if q.get("limitBytes") else None

        def send(data: bytes) -> bool:
            """Send within ``limitBytes``; False once the limit is reached."""
            nonlocal budget
            if budget is not None:
                data, budget = data[:budget], budget - len(data[:budget])
            if data:
                self._chunk(data)
            return budget is None or budget > 0

        self._start_chunked("text/plain")
        try:
            if lines and not send(b"".join(fmt(t, x) for t, x in lines)):
                follow = False
            while follow:
                with st.cond:
                    cur = st.logs.get(key, [])
                    if st.drops != drops:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if len(cur) <= sent:
                        if st.stopping or (("pods", ns, name) not in st.objects):
                            break
                        st.cond.wait(1.0)
                        continue
                    new = cur[sent:]
                    sent = len(cur)
                if new and not send(b"".join(fmt(t, x) for t, x in new)):
                    break
            self._end_chunks()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _metrics(self, plural: str, ns: str, name: str, q: dict[str, str]) -> None:
        st = self.state
        if not st.metrics:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        if plural == "pods":
            items = []
            with st.cond:
                pods = [copy.deepcopy(p) for p in self._select("pods", ns, q)]
            for pod in pods:
                m = pod["metadata"]
                cpu, mem = st.pod_metrics.get((m["namespace"], m["name"]), ("1m", "10Mi"))
                items.append({"metadata": {"name": m["name"], "namespace": m["namespace"],
                                           "labels": m.get("labels", {})},
                              "timestamp": now_iso(), "window": "15s",
                              "containers": [{"name": c["name"],
                                              "usage": {"cpu": cpu, "memory": mem}}
                                             for c in pod["spec"]["containers"]]})
            return self._send_json(200, {"kind": "PodMetricsList", "apiVersion": METRICS_GV,
                                         "metadata": {}, "items": items})
        if plural == "nodes":
            items = [{"metadata": {"name": n["metadata"]["name"]}, "timestamp": now_iso(),
                      "window": "15s", "usage": {"cpu": "250m", "memory": "2Gi"}}
                     for n in self.state.items("nodes")]
            return self._send_json(200, {"kind": "NodeMetricsList", "apiVersion": METRICS_GV,
                                         "metadata": {}, "items": items})
        return self._error(404, "NotFound", "the server could not find the requested resource")


def _dry_run(q: dict[str, str]) -> bool:
    """``?dryRun=All``: validate and answer as if written, store nothing."""
    return q.get("dryRun") == "All"


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj["metadata"]
    sel = ",".join(f"{k}={v}" for k, v in obj["spec"]["selector"].get("matchLabels", {}).items())
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                         "resourceVersion": m["resourceVersion"],
                         "creationTimestamp": m["creationTimestamp"]},
            "spec": {"replicas": int(obj["spec"].get("replicas", 1))},
            "status": {"replicas": int(obj.get("status", {}).get("replicas", 0)),
                       "selector": sel}}


def start_double(state: K8sState | None = None) -> tuple[str, Callable[[], None], K8sState]:
    """Serve ``state`` on 127.0.0.1 (a free port). Returns (base_url, stop, state)."""
    state = state or K8sState()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="k8s-double", daemon=True)
    thread.start()
    host, port = str(server.server_address[0]), server.server_address[1]

    def stop() -> None:
        with state.cond:
            state.stopping = True
            state.cond.notify_all()
        server.shutdown()
        server.server_close()
        thread.join(5)

    return f"http://{host}:{port}", stop, state


def write_kubeconfig(path: Path, base_url: str, context: str = "lab",
                     namespace: str = "default") -> Path:
    """A kubeconfig with one cluster/user/context pointing at ``base_url`` (a bearer token)."""
    import yaml

    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": base_url}}],
        "users": [{"name": context, "user": {"token": "lab-double"}}],
        "contexts": [{"name": context,
                      "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
