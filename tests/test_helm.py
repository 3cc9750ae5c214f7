"""Issue 24: helm as a first-class reader and ``helm: rollback``.

Releases are read from helm's own storage (the ``owner=helm`` Secrets) through the
Kubernetes backend; the lab's double holds ``repo-scanner`` with three revisions, which the
real ``kubectl`` lists too. helm has no Debian package: a recording stub ``helm`` on PATH
stands for it, so the tests check the exact argv that ran.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from cockpit.backends.kubernetes.helm import (
    MAX_RELEASE_JSON,
    history_section,
    manifest_objects,
    release_of,
    releases,
    revision_of_secret,
    rollback_choice,
)
from cockpit.errors import BackendError
from cockpit.lab.k8s import LAB_NAMESPACE, K8sState, seed_repo_scanner
from cockpit.lab.k8s.builders import encode_release, helm_release_secret

NS = LAB_NAMESPACE


def _release(version: int = 1, **info: Any) -> dict[str, Any]:
    return {"name": "shop", "namespace": "apps", "version": version,
            "info": {"status": "deployed", "first_deployed": "2024-05-01T10:00:00.123456789Z",
                     "last_deployed": "2024-05-02T11:30:00Z", "description": "Upgrade complete",
                     **info},
            "chart": {"metadata": {"name": "shop", "version": "1.2.3", "appVersion": "4.5"}},
            "config": {"password": "hunter2"},
            "manifest": "---\n# Source: shop/templates/deploy.yaml\napiVersion: apps/v1\n"
                        "kind: Deployment\nmetadata:\n  name: shop-web\n  labels:\n    name: nope\n"
                        "spec:\n  template:\n    metadata:\n      name: not-this\n"}


def _secret(field: str, version: int = 1, status: str = "deployed") -> dict[str, Any]:
    return {"kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.shop.v{version}", "namespace": "apps",
                         "labels": {"name": "shop", "owner": "helm", "status": status,
                                    "version": str(version)}},
            "data": {"release": field}}


def _wrap(raw: bytes) -> str:
    """helm's base64 of ``raw``, under the Secret's own base64."""
    return base64.b64encode(base64.b64encode(raw)).decode()


# --- decoding ---------------------------------------------------------------------------------


def test_a_release_secret_decodes_to_its_revision():
    rev = revision_of_secret(_secret(encode_release(_release())))
    assert rev is not None
    assert (rev.release, rev.namespace, rev.revision, rev.status) == ("shop", "apps", 1, "deployed")
    assert (rev.chart, rev.app_version, rev.description) == ("shop-1.2.3", "4.5", "Upgrade complete")
    assert rev.last_deployed is not None and rev.last_deployed.isoformat() == "2024-05-02T11:30:00+00:00"
    assert rev.first_deployed is not None and rev.first_deployed.microsecond == 123456  # Go's nanoseconds
    assert rev.owns == (("Deployment", "shop-web"),)
    assert rev.problem == ""
    assert "hunter2" not in repr(rev)  # the values are never kept


def test_uncompressed_release_json_is_read_as_helm_reads_it():
    rev = revision_of_secret(_secret(_wrap(json.dumps(_release(2)).encode()), 2))
    assert rev is not None and rev.revision == 2 and rev.chart == "shop-1.2.3"


def test_a_gzip_bomb_stops_at_the_cap_and_the_revision_is_listed_from_its_labels():
    bomb = gzip.compress(b"{" + b" " * (MAX_RELEASE_JSON + 1024) + b"}", compresslevel=9)
    assert len(bomb) < 64 * 1024  # small on the wire, 8 MiB once decompressed
    rev = revision_of_secret(_secret(_wrap(bomb), 7, "superseded"))
    assert rev is not None
    assert (rev.release, rev.revision, rev.status) == ("shop", 7, "superseded")
    assert "MiB" in rev.problem and "unreadable" in rev.problem


@pytest.mark.parametrize(("field", "why"), [
    ("!!! not base64 !!!", "bad base64"),
    (base64.b64encode(b"%%% not base64 either").decode(), "bad base64"),
    (_wrap(b"\x1f\x8b\x08 truncated gzip"), "bad gzip"),
    (_wrap(b"[1, 2, 3]"), "not a JSON object"),
    (_wrap(b"{not json"), "bad JSON"),
    (_wrap(b"[" * 100_000 + b"]" * 100_000), "bad JSON"),
])
def test_a_broken_release_field_says_why_and_keeps_the_labels(field: str, why: str):
    rev = revision_of_secret(_secret(field, 3, "failed"))
    assert rev is not None and (rev.revision, rev.status) == (3, "failed")
    assert why in rev.problem


def test_markup_and_escapes_in_a_release_are_made_safe_where_the_record_is_built():
    hostile = _release(description="[bold red]pwned[/] \x1b]0;title\x07\x1b[2J done\u202e",
                       status="deployed\x1b[31m")
    hostile["name"] = "shop[/x]"
    rev = revision_of_secret(_secret(encode_release(hostile)))
    assert rev is not None
    for text in (rev.description, rev.status, rev.release):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "[bold red]pwned[/]" in rev.description  # literal text, never parsed as markup
    assert rev.release == "shop[/x]"
    section = history_section([rev])
    assert all("\x1b" not in cell for row in section.rows for cell in row)


def test_secrets_that_are_not_helm_releases_are_ignored():
    opaque = {"kind": "Secret", "type": "Opaque", "metadata": {"name": "db", "namespace": "apps",
                                                                "labels": {"owner": "helm"}},
              "data": {"release": encode_release(_release())}}
    assert revision_of_secret(opaque) is None
    assert releases([opaque]) == {}


def test_manifest_objects_reads_top_level_kind_and_metadata_name_only():
    manifest = ("---\nkind: Service\nmetadata:\n  labels:\n    name: x\n  name: 'web'\n"
                "---\n# comment\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                "---\nkind: ConfigMap\n")
    assert manifest_objects(manifest) == (("Service", "web"), ("Deployment", "web"))


# --- which release installed a workload, and where a rollback goes ------------------------------


def _revisions(n: int) -> dict[tuple[str, str], list[Any]]:
    secrets = [_secret(encode_release(_release(v, status="deployed" if v == n else "superseded")), v)
               for v in range(1, n + 1)]
    return releases(secrets)


def _workload(**meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "shop-web", "namespace": "apps", **meta}}


def test_the_release_of_a_workload_by_annotation_label_or_manifest():
    known = _revisions(3)
    by_annotation = _workload(annotations={"meta.helm.sh/release-name": "shop",
                                           "meta.helm.sh/release-namespace": "apps"})
    by_label = _workload(name="other", labels={"app.kubernetes.io/instance": "shop"})
    assert [r.revision for r in release_of(by_annotation, "Deployment", known)] == [1, 2, 3]
    assert [r.revision for r in release_of(by_label, "Deployment", known)] == [1, 2, 3]
    assert [r.revision for r in release_of(_workload(), "Deployment", known)] == [1, 2, 3]  # manifest
    assert release_of(_workload(name="unrelated"), "Deployment", known) == []
    assert release_of(_workload(), "StatefulSet", known) == []


def test_rollback_goes_to_the_revision_below_the_latest_and_is_refused_without_one():
    current, to = rollback_choice(_revisions(3)[("apps", "shop")])
    assert (current.revision, to.revision) == (3, 2)
    with pytest.raises(BackendError, match="no previous revision"):
        rollback_choice(_revisions(1)[("apps", "shop")])


# --- the lab's double ---------------------------------------------------------------------------


def test_the_lab_holds_repo_scanner_with_three_revisions_owning_scanner_api():
    state = K8sState()
    seed_repo_scanner(state)
    secrets = state.items("secrets", NS)
    assert sorted(s["metadata"]["name"] for s in secrets) == [
        f"sh.helm.release.v1.repo-scanner.v{i}" for i in (1, 2, 3)]
    assert all(s["type"] == "helm.sh/release.v1" and s["metadata"]["labels"]["owner"] == "helm"
               for s in secrets)
    revs = release_of(state.get("deployments", NS, "scanner-api") or {}, "Deployment", releases(secrets))
    assert [(r.revision, r.status) for r in revs] == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    assert [r.chart for r in revs] == ["repo-scanner-0.1.0", "repo-scanner-0.2.0", "repo-scanner-0.3.0"]
    # helm stamped what it installed; the selector is untouched (no new rollout)
    dep = state.get("deployments", NS, "scanner-api") or {}
    assert dep["metadata"]["annotations"]["meta.helm.sh/release-name"] == "repo-scanner"
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "scanner-api"}}
    assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"]


def test_helm_release_secret_is_helms_own_layout():
    release = _release(4)
    secret = helm_release_secret(release)
    assert secret["metadata"]["name"] == "sh.helm.release.v1.shop.v4"
    assert secret["metadata"]["labels"] == {"name": "shop", "owner": "helm", "status": "deployed",
                                            "version": "4"}
    helm_b64 = base64.b64decode(secret["data"]["release"])
    assert helm_b64.startswith(b"H4sI")  # base64 of the gzip magic, as helm stores it
    assert json.loads(gzip.decompress(base64.b64decode(helm_b64))) == release
