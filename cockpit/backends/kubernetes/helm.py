"""Helm releases read from helm's own storage: the release Secrets of a namespace.

Helm 3 keeps every revision of a release as a Secret of type ``helm.sh/release.v1`` named
``sh.helm.release.v1.RELEASE.vN``, labelled ``owner=helm`` with ``name``, ``status`` and
``version``. Its ``release`` data field is (under the Secret's own base64) helm's base64 of
the gzip of the release JSON: name, namespace, version, info (status, first_deployed,
last_deployed, description), chart.metadata (name, version, appVersion), config, manifest.

Everything here is pure (dicts in, records out) and trusts nothing: the encoded field and
the decompressed JSON are capped (a gzip bomb stops at ``MAX_RELEASE_JSON``), a revision that
cannot be decoded is still listed from its labels with the reason, and each record cleans
its text where it is built (``EstateText``). Only what the cockpit shows is kept: the chart,
the app version, the times, the description and the (kind, name) of the objects the
manifest holds; never the values (they often hold secrets) nor the manifest itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cockpit.errors import BackendError
from cockpit.model import DetailSection
from cockpit.text import EstateText

SECRET_TYPE = "helm.sh/release.v1"
LABEL_SELECTOR = "owner=helm"
MAX_ENCODED = 4 * 1024 * 1024  # characters of the Secret's field (the API caps a Secret at 1 MiB)
MAX_RELEASE_JSON = 8 * 1024 * 1024  # bytes of release JSON once decompressed
MAX_OBJECTS = 500  # (kind, name) pairs kept from one manifest
_GZIP_MAGIC = b"\x1f\x8b\x08"
# The two ways the cockpit finds the release of a workload: what helm itself stamps on the
# objects it installs (3.2+), then the chart convention most charts follow.
RELEASE_ANNOTATION = "meta.helm.sh/release-name"
NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
INSTANCE_LABEL = "app.kubernetes.io/instance"


class ReleaseDecodeError(ValueError):
    """The release field cannot be read; ``str()`` says why, in a few words."""


@dataclass(frozen=True)
class HelmRevision(EstateText):
    """One revision of a release, as ``helm history`` lists it."""

    _free_text = ("description", "problem")

    release: str
    namespace: str
    revision: int
    status: str  # deployed, superseded, failed, pending-upgrade, ...
    chart: str = ""  # "NAME-VERSION", as helm history prints it
    app_version: str = ""
    first_deployed: datetime | None = None
    last_deployed: datetime | None = None
    description: str = ""
    owns: tuple[tuple[str, str], ...] = ()  # (kind, name) of the manifest's objects
    problem: str = ""  # why the release field could not be read (labels only then)


def decode_release(field: str | bytes) -> dict[str, Any]:
    """The release JSON of a Secret's ``release`` data field (the API's base64 string).

    Raises ``ReleaseDecodeError`` for anything that is not a bounded, well-formed release.
    """
    if len(field) > MAX_ENCODED:
        raise ReleaseDecodeError(f"release field of {len(field)} characters (over {MAX_ENCODED})")
    try:
        helm_b64 = base64.b64decode(field, validate=True)
        data = base64.b64decode(helm_b64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ReleaseDecodeError(f"bad base64 ({e})") from None
    if data[:3] == _GZIP_MAGIC:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = d.decompress(data, MAX_RELEASE_JSON + 1)
        except zlib.error as e:
            raise ReleaseDecodeError(f"bad gzip ({e})") from None
        if len(data) > MAX_RELEASE_JSON or d.unconsumed_tail:
            raise ReleaseDecodeError(f"release JSON over {MAX_RELEASE_JSON // (1024 * 1024)} MiB "
                                     "once decompressed")
    elif len(data) > MAX_RELEASE_JSON:  # helm also reads uncompressed JSON
        raise ReleaseDecodeError(f"release JSON over {MAX_RELEASE_JSON // (1024 * 1024)} MiB")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise ReleaseDecodeError(f"bad JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict):
        raise ReleaseDecodeError("the release is not a JSON object")
    return doc


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    # Go's RFC 3339 with nanoseconds ("2024-05-01T10:00:00.123456789Z"): Python takes micro.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def manifest_objects(manifest: str) -> tuple[tuple[str, str], ...]:
    """(kind, name) of each document of a rendered manifest, by a line scan (no YAML parser
    on estate text: top-level ``kind:`` and the ``name:`` directly under ``metadata:``)."""
    out: list[tuple[str, str]] = []
    for doc in re.split(r"^---[^\n]*$", manifest, flags=re.M):
        kind = name = ""
        in_meta, indent = False, 0
        for line in doc.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not line[0].isspace():
                in_meta, indent = line.rstrip() == "metadata:", 0
                if line.startswith("kind:"):
                    kind = line[5:].strip().strip("'\"")
            elif in_meta and not name:
                here = len(line) - len(line.lstrip(" "))
                indent = indent or here  # the first key under metadata sets its children's indent
                if here == indent and line.lstrip().startswith("name:"):
                    name = line.split(":", 1)[1].strip().strip("'\"")
        if kind and name:
            out.append((kind, name))
            if len(out) >= MAX_OBJECTS:
                break
    return tuple(out)


def _labels(secret: dict[str, Any]) -> dict[str, str]:
    return (secret.get("metadata") or {}).get("labels") or {}


def _label_revision(secret: dict[str, Any]) -> int:
    try:
        return int(_labels(secret).get("version") or 0)
    except ValueError:
        return 0


def is_release_secret(secret: dict[str, Any]) -> bool:
    return secret.get("type") == SECRET_TYPE and _labels(secret).get("owner") == "helm"


def revision_of_secret(secret: dict[str, Any]) -> HelmRevision | None:
    """One revision from its Secret; None when the Secret is not a helm release."""
    if not is_release_secret(secret):
        return None
    meta, labels = secret.get("metadata") or {}, _labels(secret)
    ns = _str(meta.get("namespace"))
    fallback = HelmRevision(release=_str(labels.get("name")), namespace=ns,
                            revision=_label_revision(secret), status=_str(labels.get("status")))
    field = (secret.get("data") or {}).get("release")
    if not isinstance(field, str):
        return _with(fallback, problem="no release data")
    try:
        doc = decode_release(field)
    except ReleaseDecodeError as e:
        return _with(fallback, problem=f"unreadable release: {e}")
    info, chart = _obj(doc.get("info")), _obj(doc.get("chart"))
    cm = _obj(chart.get("metadata"))
    version = doc.get("version")
    manifest = doc.get("manifest")
    chart_name = _str(cm.get("name"))
    return HelmRevision(
        release=_str(doc.get("name")) or fallback.release,
        namespace=_str(doc.get("namespace")) or ns,
        revision=version if isinstance(version, int) and not isinstance(version, bool) else fallback.revision,
        status=_str(info.get("status")) or fallback.status,
        chart=f"{chart_name}-{_str(cm.get('version'))}" if chart_name else "",
        app_version=_str(cm.get("appVersion")),
        first_deployed=_time(info.get("first_deployed")),
        last_deployed=_time(info.get("last_deployed")),
        description=_str(info.get("description")),
        owns=manifest_objects(manifest) if isinstance(manifest, str) else (),
    )


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _with(rev: HelmRevision, **changes: Any) -> HelmRevision:
    import dataclasses

    return dataclasses.replace(rev, **changes)


def group(revisions: Iterable[HelmRevision | None]) -> dict[tuple[str, str], list[HelmRevision]]:
    """{(namespace, release): its revisions, oldest first}."""
    out: dict[tuple[str, str], list[HelmRevision]] = {}
    for rev in revisions:
        if rev is not None and rev.release:
            out.setdefault((rev.namespace, rev.release), []).append(rev)
    for revs in out.values():
        revs.sort(key=lambda r: r.revision)
    return out


def releases(secrets: list[dict[str, Any]]) -> dict[tuple[str, str], list[HelmRevision]]:
    """{(namespace, release): its revisions, oldest first} of a list of Secrets."""
    return group(revision_of_secret(s) for s in secrets)


def release_of(workload: dict[str, Any], kind: str,
               known: dict[tuple[str, str], list[HelmRevision]]) -> list[HelmRevision]:
    """The revisions of the release that installed ``workload`` (a raw object of ``kind``,
    e.g. ``Deployment``), oldest first; empty when helm did not install it."""
    meta = workload.get("metadata") or {}
    ns, name = _str(meta.get("namespace")), _str(meta.get("name"))
    ann, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    by_annotation = ann.get(RELEASE_ANNOTATION)
    if by_annotation:
        found = known.get((_str(ann.get(NAMESPACE_ANNOTATION)) or ns, _str(by_annotation)))
        if found:
            return found
    if labels.get(INSTANCE_LABEL) and (ns, _str(labels[INSTANCE_LABEL])) in known:
        return known[(ns, _str(labels[INSTANCE_LABEL]))]
    for (rns, _), revs in sorted(known.items()):
        if rns == ns and (kind, name) in revs[-1].owns:
            return revs
    return []


def rollback_choice(revs: list[HelmRevision]) -> tuple[HelmRevision, HelmRevision]:
    """(current, target) of ``helm rollback RELEASE`` with no revision: the latest revision
    and the one numbered just below it. Raises ``BackendError`` when there is none."""
    if not revs:
        raise BackendError("no helm release installed it", "helm list -n NAMESPACE shows releases")
    current = revs[-1]
    target = next((r for r in revs if r.revision == current.revision - 1), None)
    if target is None:
        raise BackendError(f"helm release {current.release} has no previous revision to roll back to",
                           f"helm history {current.release} shows its revisions")
    return current, target


def shown(rev: HelmRevision) -> str:
    """``3 (repo-scanner-0.3.0, app 2.4.1)`` for a confirmation."""
    parts = [p for p in (rev.chart, f"app {rev.app_version}" if rev.app_version else "") if p]
    return f"{rev.revision} ({', '.join(parts)})" if parts else str(rev.revision)


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else "-"


def history_section(revs: list[HelmRevision]) -> DetailSection:
    """The release's revisions, newest first, as ``helm history`` shows them."""
    if not revs:
        return DetailSection("helm release", lines=("not installed by helm",))
    last = revs[-1]
    return DetailSection(
        f"helm release {last.release} (helm history; {len(revs)} revision{'s' if len(revs) != 1 else ''})",
        ("revision", "status", "chart", "app version", "last deployed", "description"),
        tuple((str(r.revision), r.status or "-", r.chart or "-", r.app_version or "-",
               _when(r.last_deployed), r.problem or r.description or "-") for r in reversed(revs)),
    )
