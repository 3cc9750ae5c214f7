"""Issue 24: helm as a first-class reader and ``helm: rollback``.

Releases are read from helm's own storage (the ``owner=helm`` Secrets) through the
Kubernetes backend; the lab's double holds ``repo-scanner`` with three revisions, which the
real ``kubectl`` lists too. helm has no Debian package: a recording stub ``helm`` on PATH
stands for it, so the tests check the exact argv that ran.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
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
from cockpit.errors import ActionRefused, BackendError
from cockpit.lab.k8s import LAB_NAMESPACE, K8sState, lab_kubernetes, seed_repo_scanner
from cockpit.lab.k8s.builders import encode_release, helm_release_secret

from .conftest import skip_or_fail
from .helpers import ran, recording_stub, wait_until

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


@pytest.mark.servers
def test_the_real_kubectl_lists_the_lab_release_secrets(tmp_path: Path):
    binary = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not binary:
        skip_or_fail("kubectl is not installed (Debian: apt-get install kubernetes-client)")
    kubeconfig, _context, stop = lab_kubernetes(tmp_path / "lab")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}

    def kubectl(*args: str) -> str:
        done = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        table = kubectl("get", "secrets", "-l", "owner=helm", "-n", NS)
        lines = table.splitlines()
        assert lines[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
        assert [ln.split()[:3] for ln in lines[1:]] == [
            [f"sh.helm.release.v1.repo-scanner.v{i}", "helm.sh/release.v1", "1"] for i in (1, 2, 3)]
        # what `helm history` would decode, fetched by kubectl as a user would
        field = kubectl("get", "secret", "sh.helm.release.v1.repo-scanner.v3", "-n", NS,
                        "-o", "jsonpath={.data.release}")
        release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(field))))
        assert (release["version"], release["info"]["status"]) == (3, "deployed")
        assert kubectl("get", "secrets", "-l", "owner=helm,status=deployed", "-n", NS,
                       "-o", "name").split() == ["secret/sh.helm.release.v1.repo-scanner.v3"]
    finally:
        stop()


# --- the Kubernetes backend on the lab's double ---------------------------------------------


@pytest.fixture
def helm_stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A recording ``helm`` on PATH: each run appends its arguments, tab-separated."""
    log, path = recording_stub(tmp_path, "helm", "Rollback was a success! Happy Helming!")
    monkeypatch.setenv("PATH", path)
    return log


_ran = ran


@pytest.fixture
async def lab_services(tmp_path: Path):
    from cockpit.backends.kubernetes import KubeContext, KubernetesServicesSource

    kubeconfig, context, stop = lab_kubernetes(tmp_path / "lab")
    src = KubernetesServicesSource(KubeContext(context, kubeconfig=str(kubeconfig)), NS)
    try:
        yield src, str(kubeconfig), context
    finally:
        await src.close()
        stop()


async def test_the_backend_lists_the_release_with_its_history_in_the_workload_detail(lab_services, helm_stub):
    src, _, _ = lab_services
    rows = {r.name: r for r in await src.fetch()}
    api, worker = rows["deployment/scanner-api"], rows["deployment/scanner-worker"]
    assert [(r.revision, r.status, r.chart, r.app_version) for r in src.helm_history(api)] == [
        (1, "superseded", "repo-scanner-0.1.0", "2.3.0"),
        (2, "superseded", "repo-scanner-0.2.0", "2.4.0"),
        (3, "deployed", "repo-scanner-0.3.0", "2.4.1")]
    assert src.helm_history(worker) == []

    [helm] = [s for s in await src.detail(api) if s.title.startswith("helm release")]
    assert helm.title == "helm release repo-scanner (helm history; 3 revisions)"
    assert helm.columns[:5] == ("revision", "status", "chart", "app version", "last deployed")
    assert [row[:4] for row in helm.rows] == [
        ("3", "deployed", "repo-scanner-0.3.0", "2.4.1"),
        ("2", "superseded", "repo-scanner-0.2.0", "2.4.0"),
        ("1", "superseded", "repo-scanner-0.1.0", "2.3.0")]
    assert not [s for s in await src.detail(worker) if s.title.startswith("helm")]

    assert src.helm_rollback_change(api) == {
        "release": "repo-scanner", "revision": "3 → 2",
        "chart": "repo-scanner-0.3.0 → repo-scanner-0.2.0", "app_version": "2.4.1 → 2.4.0"}
    assert src.helm_rollback_unavailable(api) is None
    assert src.helm_rollback_unavailable(worker) == "deployment/scanner-worker was not installed by helm"


async def test_secrets_the_user_may_not_list_cost_no_rows_and_the_detail_says_why(lab_services, monkeypatch):
    src, _, _ = lab_services

    def forbidden() -> None:
        raise BackendError('secrets is forbidden: User "oncall" cannot list resource "secrets"',
                           "ask for list on secrets")

    monkeypatch.setattr(src, "_list_release_secrets", forbidden)
    rows = {r.name: r for r in await src.fetch()}
    api = rows["deployment/scanner-api"]  # the rows still come
    [helm] = [s for s in await src.detail(api) if s.title.startswith("helm")]
    assert "helm history unknown" in helm.lines[0] and "forbidden" in helm.lines[0]
    assert "forbidden" in (src.helm_rollback_unavailable(api) or "")


async def test_release_secrets_are_read_a_page_at_a_time_and_decoded_once(k8s):
    from cockpit.backends.kubernetes import KubeContext, KubernetesServicesSource
    from cockpit.backends.kubernetes.helm_reader import LIST_PAGE

    k8s.state.add_namespace("apps")
    for name in range(LIST_PAGE * 2 + 5):
        for v in (1, 2):
            release = _release(v, status="deployed" if v == 2 else "superseded")
            release.update(name=f"r{name}", namespace="apps")
            k8s.state.put(helm_release_secret(release))
    k8s.state.put({"kind": "Secret", "type": "Opaque", "metadata": {"name": "db", "namespace": "apps"},
                   "data": {"password": "aHVudGVyMg=="}})
    src = KubernetesServicesSource(KubeContext(k8s.context), "apps")
    try:
        await src.refresh_helm()
        known = src.helm_known()
        assert len(known) == LIST_PAGE * 2 + 5 and all(len(r) == 2 for r in known.values())
        lists = [r for r in k8s.state.requests if r["path"].endswith("/secrets")]
        assert len(lists) == 5  # (2 * 45 secrets) / 20 a page
        assert all(r["query"]["labelSelector"] == "owner=helm" for r in lists)
        first = src._helm_cache()
        await src.refresh_helm(max_age=0)
        assert all(src._helm_cache()[k][1] is first[k][1] for k in first)  # same resourceVersion: not decoded again
    finally:
        await src.close()


async def test_helm_rollback_runs_the_users_helm_with_the_profiles_context(lab_services, helm_stub):
    src, kubeconfig, context = lab_services
    api = {r.name: r for r in await src.fetch()}["deployment/scanner-api"]
    message = await src.helm_rollback(api, "repo-scanner", "3 → 2")
    assert _ran(helm_stub) == [["rollback", "repo-scanner", "2", "-n", NS,
                                "--kube-context", context, "--kubeconfig", kubeconfig]]
    assert "rolled back to revision 2" in message and "Happy Helming" in message
    with pytest.raises(ActionRefused):
        src.helm_rollback_command(api, "repo-scanner", "3 → -1")


async def test_helm_rollback_says_so_when_helm_is_not_on_path(lab_services, tmp_path, monkeypatch):
    src, _, _ = lab_services
    api = {r.name: r for r in await src.fetch()}["deployment/scanner-api"]
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(BackendError) as err:
        await src.helm_rollback(api, "repo-scanner", "3 → 2")
    assert "helm is not on PATH" in err.value.message


# --- the cockpit on the lab: the detail screen and helm: rollback from the palette --------------


def _screen(app: Any) -> str:
    """The text on screen, as the user reads it (the SVG export without its markup)."""
    return html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\u00a0", " ")


def _lab_app(**kw: Any) -> tuple[Any, list[Any]]:
    from cockpit.app import CockpitApp
    from cockpit.lab import start_lab
    from cockpit.profile import Profile

    labs: list[Any] = []

    def starter() -> Any:
        labs.append(start_lab(with_servers=False))
        return labs[-1]

    return CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=1, **kw),
                      start_lab=starter), labs


def _audit(app: Any, action: str) -> list[tuple[str, str]]:
    return [(e.get("phase", ""), e.get("outcome", "")) for e in app.runner.audit.read()
            if e.get("action") == action]


async def _scanner_api(app: Any) -> Any:
    from cockpit.model import PaneKind

    services = app.cockpit.panes[PaneKind.SERVICES]

    def row() -> Any:
        return next((s for s in services.records.values() if s.name == "deployment/scanner-api"), None)

    await wait_until(row, 30)
    # helm's releases are read with the rows: the action is offered once they are
    await wait_until(lambda: app.backend_for(row()).helm_rollback_unavailable(row()) is None
                     and app.backend_for(row())._helm_read_at, 15)
    return services, row()


async def test_detail_shows_the_release_and_helm_rollback_confirms_3_to_2_then_runs_helm(helm_stub):
    from screens.confirm import ConfirmScreen
    from screens.detail import DetailScreen

    from .test_lab_actions import _palette

    app, labs = _lab_app()
    async with app.run_test(size=(160, 48)) as pilot:
        services, api = await _scanner_api(app)
        services.focus_body()
        services.table.move_cursor(row=services.table.row_keys.index(api.key))
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        await wait_until(lambda: "helm release repo-scanner" in _screen(app), 15)
        shown = _screen(app)
        # the detail's footer offers it (not kubectl's: scanner-api has no ReplicaSet to go back to)
        assert "2 Helm: rollback" in shown and "Roll back" not in shown
        for text in ("repo-scanner-0.3.0", "repo-scanner-0.2.0", "repo-scanner-0.1.0",
                     "deployed", "superseded", "2.4.1", "Upgrade complete"):
            assert text in shown, text
        await pilot.press("escape")
        # not on a workload helm did not install, in its detail nor in the palette
        worker = next(s for s in services.records.values() if s.name == "deployment/scanner-worker")
        services.table.move_cursor(row=services.table.row_keys.index(worker.key))
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        await wait_until(lambda: "revisions (kubectl rollout history)" in _screen(app), 15)
        assert "Helm: rollback" not in _screen(app) and "Roll back" not in _screen(app)
        await pilot.press("escape")
        from cockpit.commands import row_commands

        titles = {c.title for c in row_commands(app.command_context())}
        assert "helm: rollback deployment/scanner-api" in titles
        assert "helm: rollback deployment/scanner-worker" not in titles

        await _palette(pilot, "helm: rollback deployment/scanner-api")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        params = str(app.screen.query_one("#params").render())
        assert "release=repo-scanner" in params and "revision=3 → 2" in params
        assert "chart=repo-scanner-0.3.0 → repo-scanner-0.2.0" in params
        command = str(app.screen.query_one("#command").render())
        assert "helm rollback repo-scanner 2 -n repo-scanner --kube-context lab-simulated" in command
        assert _ran(helm_stub) == []
        await pilot.press(*"deployment/scanner-api", "enter")  # destructive: the name typed
        await wait_until(lambda: ("finished", "ok") in _audit(app, "helm.rollback"), 20)
        assert _ran(helm_stub) == [["rollback", "repo-scanner", "2", "-n", NS,
                                    "--kube-context", "lab-simulated",
                                    "--kubeconfig", str(labs[0].kubeconfig)]]
        # write-ahead: a started line, then the finished one, with the revisions audited
        raw = Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
        lines = [json.loads(ln) for ln in raw.read_text().splitlines() if ln.strip()]
        mine = [e for e in lines if e.get("action") == "helm.rollback"]
        assert [(e["phase"], e.get("outcome", "")) for e in mine] == [("started", ""), ("finished", "ok")]
        assert mine[0]["params"]["revision"] == "3 → 2"
        assert mine[0]["command"].startswith("helm rollback repo-scanner 2 -n repo-scanner")
        await pilot.press("q")


async def test_helm_rollback_is_refused_in_read_only(helm_stub):
    from .test_lab_actions import _palette

    app, _ = _lab_app(read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await _scanner_api(app)
        await _palette(pilot, "helm: rollback deployment/scanner-api")
        await wait_until(lambda: ("finished", "refused") in _audit(app, "helm.rollback"), 10)
        assert app.screen is app.cockpit  # nothing was even asked
        assert _ran(helm_stub) == []
        await pilot.press("q")


def test_cockpit_run_helm_rollback_on_the_lab_needs_the_typed_name(helm_stub, capsys):
    from cockpit.run import main_run

    root = Path(__file__).resolve().parents[1]
    base = ["helm.rollback", "deployment/scanner-api", "--profile", "lab",
            "--config", str(root / "profiles.yaml")]
    assert main_run([*base, "--yes"]) == 1  # destructive: --yes is not the typed name
    assert _ran(helm_stub) == []
    capsys.readouterr()
    assert main_run([*base, "--confirm", "deployment/scanner-api", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and "rolled back to revision 2" in result["message"]
    assert result["command"].startswith("helm rollback repo-scanner 2 -n repo-scanner")
    [argv] = _ran(helm_stub)
    assert argv[:7] == ["rollback", "repo-scanner", "2", "-n", NS, "--kube-context", "lab-simulated"]


async def test_a_failing_helm_rollback_fails_with_helms_own_words(lab_services, tmp_path, monkeypatch):
    src, _, _ = lab_services
    api = {r.name: r for r in await src.fetch()}["deployment/scanner-api"]
    bin_dir = tmp_path / "failing-bin"
    bin_dir.mkdir()
    (bin_dir / "helm").write_text("#!/bin/sh\necho 'Error: release: not found \x1b[31mred' >&2\nexit 1\n")
    (bin_dir / "helm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(BackendError) as err:
        await src.helm_rollback(api, "repo-scanner", "3 → 2")
    assert "exited with status 1" in err.value.message and "release: not found" in err.value.message
    assert src._helm_read_at == 0.0  # read again at the next refresh, whatever helm did
