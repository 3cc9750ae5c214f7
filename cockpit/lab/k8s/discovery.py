"""Discovery as kubectl reads it: ``/version``, ``/api``, ``/apis`` and each group's resource
list, with the short names (``deploy``, ``po``, ``ev``), the ``all`` category, the verbs and
the subresources (scale, log) a real API server announces.
"""

from __future__ import annotations

from typing import Any

from cockpit.lab.k8s.builders import METRICS_GV, RESOURCES

AUTHZ_GV = "authorization.k8s.io/v1"
PATHS = ("/api", "/apis", "/version", "/api/v1", "/apis/apps/v1", f"/apis/{METRICS_GV}",
         f"/apis/{AUTHZ_GV}")

SHORT_NAMES: dict[str, list[str]] = {
    "namespaces": ["ns"], "nodes": ["no"], "pods": ["po"], "events": ["ev"],
    "services": ["svc"], "deployments": ["deploy"], "statefulsets": ["sts"],
    "daemonsets": ["ds"], "replicasets": ["rs"],
}
# What `kubectl get all` lists.
ALL = {"pods", "services", "deployments", "statefulsets", "daemonsets", "replicasets"}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def discovery(path: str, *, metrics: bool) -> tuple[int, dict[str, Any]] | None:
    """(status code, body) for a discovery path, or None when ``path`` is not one."""
    if path == "/version":
        return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-double",
                     "platform": "linux/amd64"}
    if path == "/api":
        return 200, {"kind": "APIVersions", "versions": ["v1"],
                     "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                     "serverAddress": "127.0.0.1:443"}]}
    if path == "/apis":
        groups = [("apps", "v1"), ("authorization.k8s.io", "v1")]
        if metrics:
            groups.append(("metrics.k8s.io", "v1beta1"))
        return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
            for g, v in groups]}
    if path == f"/apis/{METRICS_GV}":
        if not metrics:
            return None
        return 200, _list(METRICS_GV, [
            {"name": n, "singularName": "", "namespaced": n == "pods", "kind": k,
             "verbs": ["get", "list"]} for n, k in (("pods", "PodMetrics"), ("nodes", "NodeMetrics"))])
    if path == f"/apis/{AUTHZ_GV}":
        return 200, _list(AUTHZ_GV, [
            {"name": "selfsubjectaccessreviews", "singularName": "", "namespaced": False,
             "kind": "SelfSubjectAccessReview", "verbs": ["create"]},
            {"name": "selfsubjectrulesreviews", "singularName": "", "namespaced": False,
             "kind": "SelfSubjectRulesReview", "verbs": ["create"]}])
    if path not in ("/api/v1", "/apis/apps/v1"):
        return None
    gv = "v1" if path == "/api/v1" else "apps/v1"
    resources: list[dict[str, Any]] = []
    for plural, (group, kind, namespaced) in RESOURCES.items():
        if group != gv:
            continue
        res: dict[str, Any] = {"name": plural, "singularName": kind.lower(),
                               "namespaced": namespaced, "kind": kind, "verbs": VERBS}
        if plural in SHORT_NAMES:
            res["shortNames"] = SHORT_NAMES[plural]
        if plural in ALL:
            res["categories"] = ["all"]
        resources.append(res)
        if plural == "pods":
            resources.append({"name": "pods/log", "singularName": "", "namespaced": True,
                              "kind": "Pod", "verbs": ["get"]})
        if plural in ("deployments", "statefulsets", "replicasets"):
            resources.append({"name": f"{plural}/scale", "singularName": "",
                              "namespaced": True, "kind": "Scale",
                              "group": "autoscaling", "version": "v1",
                              "verbs": ["get", "patch", "update"]})
    return 200, _list(gv, resources)


def _list(gv: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}


# --- /openapi/v2 ---------------------------------------------------------------------------
# kubectl before 1.26 reads the OpenAPI document (protobuf, gnostic's openapi_v2.Document)
# to check that the server supports dry run for a kind before it sends ``--dry-run=server``:
# the kind's operations must carry the ``dryRun`` query parameter. The document holds only
# that: one path per kind, each operation with the kind's GVK and its dryRun parameter.
OPENAPI_PATH = "/openapi/v2"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | str) -> bytes:
    """A length-delimited protobuf field (strings and messages)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def openapi_v2() -> bytes:
    paths = b""
    for plural, (gv, kind, namespaced) in RESOURCES.items():
        group, _, version = gv.rpartition("/")
        prefix = f"/apis/{gv}" if group else "/api/v1"
        path = f"{prefix}/namespaces/{{namespace}}/{plural}/{{name}}" if namespaced \
            else f"{prefix}/{plural}/{{name}}"
        dry_run = _field(8, _field(1, _field(2, _field(3, _field(2, "query") + _field(4, "dryRun")
                                                       + _field(6, "string")))))
        gvk = _field(13, _field(1, "x-kubernetes-group-version-kind") + _field(
            2, _field(2, f"group: {group!r}\nkind: {kind}\nversion: {version}\n")))
        op = dry_run + gvk
        # PathItem: put = 3, post = 4, delete = 5, patch = 8.
        item = b"".join(_field(n, op) for n in (3, 4, 5, 8))
        paths += _field(2, _field(1, path) + _field(2, item))
    return _field(1, "2.0") + _field(2, _field(1, "Kubernetes") + _field(2, "v1.30.0")) + \
        _field(8, paths)
