"""The HTTP face of the double: the REST paths, watch streams, patches, logs, discovery and
metrics a client (the cockpit, the official client, kubectl) calls; starting it and
writing a kubeconfig for it.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cockpit.lab.k8s.builders import METRICS_GV, RESOURCES, _status, now_iso
from cockpit.lab.k8s.patch import _matches_fields, _matches_labels, json_patch, merge_patch
from cockpit.lab.k8s.store import K8sState

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
        if path in ("/api", "/apis", "/version", "/api/v1", "/apis/apps/v1",
                    f"/apis/{METRICS_GV}"):
            return self._discovery(path)
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
        return self._send_json(200, obj)

    def do_PATCH(self) -> None:  # noqa: N802
        body = self._read_body()
        self._log_request(body)
        r = self._route()
        if r is None or not r[2] or r[0] not in RESOURCES:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, sub, _ = r
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

        try:
            if sub == "scale":
                def fn(o: dict[str, Any]) -> None:
                    o["spec"]["replicas"] = int(apply(_scale_of(o))["spec"]["replicas"])

                obj = self.state.modify(plural, ns, name, fn)
                return self._send_json(200, _scale_of(obj))

            def fn2(o: dict[str, Any]) -> None:
                new = apply(o)
                o.clear()
                o.update(new)

            before = self.state.get(plural, ns, name)
            obj = self.state.modify(plural, ns, name, fn2)
            if plural in ("statefulsets", "daemonsets") and before is not None and \
                    before["spec"].get("template") != obj["spec"].get("template"):
                # What the StatefulSet / DaemonSet controller does at once for a new template.
                self.state.record_revision(plural, ns, name)
                obj = self.state.get(plural, ns, name) or obj
        except (KeyError, ValueError, IndexError, TypeError) as e:
            return self._error(422, "Invalid", f"patch could not be applied: {e}")
        self._send_json(200, obj)

    def do_DELETE(self) -> None:  # noqa: N802
        body = self._read_body()
        self._log_request(body)
        r = self._route()
        if r is None or not r[2] or r[0] not in RESOURCES:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, _, _ = r
        obj = self.state.delete(plural, ns, name)
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
        if path == "/version":
            return self._send_json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-double",
                                         "platform": "linux/amd64"})
        if path == "/api":
            return self._send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                         "serverAddressByClientCIDRs": [
                                             {"clientCIDR": "0.0.0.0/0",
                                              "serverAddress": "127.0.0.1:443"}]})
        if path == "/apis":
            groups = [("apps", "v1")] + ([("metrics.k8s.io", "v1beta1")] if self.state.metrics else [])
            return self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                 "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
                for g, v in groups]})
        if path == f"/apis/{METRICS_GV}":
            if not self.state.metrics:
                return self._error(404, "NotFound", "the server could not find the requested resource")
            return self._send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                         "groupVersion": METRICS_GV, "resources": [
                {"name": n, "singularName": "", "namespaced": n == "pods", "kind": k,
                 "verbs": ["get", "list"]} for n, k in (("pods", "PodMetrics"),
                                                        ("nodes", "NodeMetrics"))]})
        gv = "v1" if path == "/api/v1" else "apps/v1"
        resources = []
        for plural, (group, kind, namespaced) in RESOURCES.items():
            if group != gv:
                continue
            resources.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                              "kind": kind, "verbs": ["get", "list", "watch", "patch", "delete"]})
            if plural == "pods":
                resources.append({"name": "pods/log", "singularName": "", "namespaced": True,
                                  "kind": "Pod", "verbs": ["get"]})
            if plural in ("deployments", "statefulsets", "replicasets"):
                resources.append({"name": f"{plural}/scale", "singularName": "",
                                  "namespaced": True, "kind": "Scale",
                                  "group": "autoscaling", "version": "v1",
                                  "verbs": ["get", "patch", "update"]})
        self._send_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                              "resources": resources})

    def _select(self, plural: str, ns: str, q: dict[str, str]) -> list[dict[str, Any]]:
        ls, fs = q.get("labelSelector", ""), q.get("fieldSelector", "")
        st = self.state
        return [
            o for (p, n, _), o in st.objects.items()
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
            body = json.dumps({"kind": f"{kind}List", "apiVersion": group, "metadata": meta,
                               "items": page}, separators=(",", ":")).encode()
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

        def send(etype: str, obj: dict[str, Any]) -> None:
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
        self._start_chunked("text/plain")
        try:
            if lines:
                self._chunk(b"".join(fmt(t, x) for t, x in lines))
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
                if new:
                    self._chunk(b"".join(fmt(t, x) for t, x in new))
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
    host, port = server.server_address[:2]

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
