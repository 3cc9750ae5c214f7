"""Small builders of API objects and their parts: Status errors, conditions, owner
references, pod templates, node info, revisions, helm's release Secrets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# plural -> (group/version prefix, kind, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "namespaces": ("v1", "Namespace", False),
    "nodes": ("v1", "Node", False),
    "pods": ("v1", "Pod", True),
    "events": ("v1", "Event", True),
    "services": ("v1", "Service", True),
    "deployments": ("apps/v1", "Deployment", True),
    "statefulsets": ("apps/v1", "StatefulSet", True),
    "daemonsets": ("apps/v1", "DaemonSet", True),
    "replicasets": ("apps/v1", "ReplicaSet", True),
    "controllerrevisions": ("apps/v1", "ControllerRevision", True),
    "secrets": ("v1", "Secret", True),  # the lab holds only helm's release records
}
METRICS_GV = "metrics.k8s.io/v1beta1"
HISTORY = 50_000  # watch events kept for resuming; older versions get 410 Gone


def now_iso(t: datetime | None = None) -> str:
    return (t or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


def _revision(obj: dict[str, Any] | None) -> int:
    if not obj:
        return 0
    return int((obj["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))


def _plural_of(kind: str) -> str:
    for plural, (_, k, _) in RESOURCES.items():
        if k == kind:
            return plural
    raise KeyError(kind)


def _cond(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    t = now_iso()
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": t, "lastUpdateTime": t}


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj.get("apiVersion", "apps/v1"), "kind": obj["kind"],
            "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _template(labels: dict[str, str], containers: tuple[str, ...], image: str) -> dict:
    return {"metadata": {"labels": dict(labels)},
            "spec": {"containers": [{"name": c, "image": image,
                                     "resources": {"limits": {"memory": "256Mi"}}}
                                    for c in containers],
                     "restartPolicy": "Always"}}


def _node_info() -> dict[str, str]:
    return {"kubeletVersion": "v1.30.0", "kubeProxyVersion": "v1.30.0",
            "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0",
            "containerRuntimeVersion": "containerd://1.7.0", "operatingSystem": "linux",
            "architecture": "amd64", "machineID": "x", "systemUUID": "x", "bootID": "x"}


def _waiting_message(reason: str, pod: str, container: str) -> str:
    if reason == "CrashLoopBackOff":
        return f"back-off 5m0s restarting failed container={container} pod={pod}"
    if reason in ("ImagePullBackOff", "ErrImagePull"):
        return 'Back-off pulling image "registry.example/missing:9.9"'
    return ""


def helm_release_secret(release: dict[str, Any], *, created: datetime | None = None) -> dict[str, Any]:
    """The Secret helm 3 stores one revision of a release in (its ``secrets`` storage driver):
    type ``helm.sh/release.v1``, name ``sh.helm.release.v1.NAME.vN``, labels name/owner/
    status/version, and ``release`` = base64 (the Secret's) of base64 of gzip of the JSON."""
    name, version = release["name"], int(release["version"])
    meta: dict[str, Any] = {
        "name": f"sh.helm.release.v1.{name}.v{version}", "namespace": release["namespace"],
        "labels": {"name": name, "owner": "helm", "status": release["info"]["status"],
                   "version": str(version)},
    }
    if created is not None:
        meta["creationTimestamp"] = now_iso(created)
    return {"kind": "Secret", "apiVersion": "v1", "metadata": meta, "type": "helm.sh/release.v1",
            "data": {"release": encode_release(release)}}


def encode_release(release: dict[str, Any]) -> str:
    """What helm stores (gzip, then base64) as the API returns it (base64 again)."""
    import base64
    import gzip
    import json

    gz = gzip.compress(json.dumps(release, separators=(",", ":")).encode(), compresslevel=9, mtime=0)
    return base64.b64encode(base64.b64encode(gz)).decode()
