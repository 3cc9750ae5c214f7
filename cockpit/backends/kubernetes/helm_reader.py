"""Helm on a Kubernetes services source: the releases of its namespace, read from helm's
own storage (the ``owner=helm`` Secrets, decoded by ``helm``), and ``helm: rollback``.

The Secrets are listed with the services refresh at most every ``HELM_TTL`` seconds (every
``DETAIL_TTL`` while a workload's detail shows, and at once after a rollback): a release Secret can weigh
hundreds of kilobytes, so they are not watched; each revision is decoded once per
resourceVersion. A namespace whose Secrets the user may not list (RBAC) costs no rows: the
detail says why there is no helm history.

The rollback runs the user's own ``helm`` (``helm rollback RELEASE REVISION -n NS``, with
the context and kubeconfig of the profile): helm renders and applies the previous revision
itself, which the cockpit must not imitate.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING, Any

from cockpit.backends.kubernetes.context import _load
from cockpit.backends.kubernetes.helm import (
    LABEL_SELECTOR,
    HelmRevision,
    group,
    history_section,
    release_of,
    revision_of_secret,
    rollback_choice,
)
from cockpit.backends.kubernetes.records import split_ref
from cockpit.backends.kubernetes.rest import resource_path
from cockpit.errors import ActionRefused, BackendError, CockpitError
from cockpit.model import DetailSection, ServiceStatus

if TYPE_CHECKING:
    from cockpit.backends.kubernetes.context import KubeContext

LIST_PAGE = 20  # release Secrets a page: one can weigh up to 1 MiB
HELM_TTL = 30.0  # s between two lists of the release Secrets
DETAIL_TTL = 5.0  # s: a detail reads them again unless they are this fresh (it reloads often)
HELM_TIMEOUT = 300.0  # s a helm rollback may take (it waits for nothing unless told --wait)
ARROW = " → "
_KINDS = {"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}


class HelmReleases:
    """Mixin of ``KubernetesServicesSource``: helm history and ``helm: rollback``."""

    ctx: KubeContext
    namespace: str

    _helm_read_at: float = 0.0  # monotonic time of the last list (0: never)
    _helm_error: str = ""
    _helm_revisions: dict[str, tuple[str, HelmRevision]]  # secret uid -> (resourceVersion, revision)

    def _helm_cache(self) -> dict[str, tuple[str, HelmRevision]]:
        cache = self.__dict__.get("_helm_revisions")
        if cache is None:
            cache = self._helm_revisions = {}
        return cache

    def _list_release_secrets(self) -> None:
        old = self._helm_cache()
        new: dict[str, tuple[str, HelmRevision]] = {}
        query: dict[str, Any] = {"labelSelector": LABEL_SELECTOR, "limit": LIST_PAGE}
        while True:
            body = _load(self.ctx.rest().get(resource_path("/api/v1", "secrets", self.namespace), query))
            for s in body.get("items") or []:
                meta = s.get("metadata") or {}
                key, rv = str(meta.get("uid") or meta.get("name")), str(meta.get("resourceVersion", ""))
                if key in old and old[key][0] == rv:
                    new[key] = old[key]
                    continue
                rev = revision_of_secret(s)
                if rev is not None:
                    new[key] = (rv, rev)
            cont = (body.get("metadata") or {}).get("continue")
            if not cont:
                break
            query["continue"] = cont
        self._helm_revisions = new

    async def refresh_helm(self, *, max_age: float = HELM_TTL) -> None:
        """List the release Secrets when the last list is older than ``max_age``; a failure
        is kept to be said, never raised."""
        if self._helm_read_at and time.monotonic() - self._helm_read_at < max_age:
            return
        try:
            await self.ctx.run("list helm releases (secrets owner=helm)", self._list_release_secrets)
            self._helm_error = ""
        except CockpitError as e:
            self._helm_error = str(e)
        self._helm_read_at = time.monotonic()

    def helm_known(self) -> dict[tuple[str, str], list[HelmRevision]]:
        return group(rev for _, rev in self._helm_cache().values())

    def _workload(self, target: ServiceStatus) -> tuple[str, dict[str, Any] | None]:
        plural, name = split_ref(target.name)
        ns = target.cluster or self.namespace or "default"
        inf = self.ctx.informer(plural, self.namespace)
        with inf.lock:
            return plural, inf.items.get(f"{ns}/{name}")

    def helm_history(self, target: ServiceStatus) -> list[HelmRevision]:
        """The revisions of the release that installed the row's workload (oldest first),
        from what was read already; empty when helm did not install it (or not known yet)."""
        plural, wl = self._workload(target)
        if wl is None:
            return []
        return release_of(wl, _KINDS[plural], self.helm_known())

    async def helm_section(self, target: ServiceStatus) -> DetailSection | None:
        """The workload's release history for its detail (None: helm did not install it)."""
        await self.refresh_helm(max_age=DETAIL_TTL)
        revs = self.helm_history(target)
        if revs:
            return history_section(revs)
        if self._helm_error:
            return DetailSection("helm release", lines=(f"helm history unknown: {self._helm_error}",))
        return None

    # --- HelmRollbackable ---------------------------------------------------------------

    def helm_rollback_unavailable(self, target: ServiceStatus) -> str | None:
        """Why ``helm: rollback`` cannot run on the row now, else None (also when the
        releases are not read yet: the confirmation then says so)."""
        if not self._helm_read_at:
            return None
        revs = self.helm_history(target)
        if not revs:
            if self._helm_error:
                return f"its helm release is unknown: {self._helm_error}"
            return f"{target.name} was not installed by helm"
        try:
            rollback_choice(revs)
        except BackendError as e:
            return e.message
        if shutil.which("helm") is None:  # said before the name is typed, not after
            return "helm is not on PATH: the rollback runs your own helm binary (install helm or add it to PATH)"
        return None

    def helm_rollback_change(self, target: ServiceStatus) -> dict[str, Any]:
        """The release and ``3 → 2`` revision (chart and app version) the rollback would go
        through, for the confirmation and the audit."""
        if not self._helm_read_at:
            raise ActionRefused("the helm releases are not read yet", "try again in a moment")
        current, to = rollback_choice(self.helm_history(target))
        change: dict[str, Any] = {"release": current.release,
                                  "revision": f"{current.revision}{ARROW}{to.revision}"}
        if current.chart or to.chart:
            change["chart"] = f"{current.chart or '?'}{ARROW}{to.chart or '?'}"
        if current.app_version or to.app_version:
            change["app_version"] = f"{current.app_version or '?'}{ARROW}{to.app_version or '?'}"
        return change

    def helm_rollback_command(self, target: ServiceStatus, release: str, revision: str | int) -> list[str]:
        ns = target.cluster or self.namespace or "default"
        argv = ["helm", "rollback", release, str(_to_revision(revision)), "-n", ns]
        if self.ctx.context:
            argv += ["--kube-context", self.ctx.context]
        if self.ctx.kubeconfig:
            argv += ["--kubeconfig", self.ctx.kubeconfig]
        return argv

    async def helm_rollback(self, target: ServiceStatus, release: str, revision: str | int) -> str:
        from cockpit.custom_actions import run_local
        from cockpit.masking import mask_text

        argv = self.helm_rollback_command(target, release, revision)
        if shutil.which("helm") is None:
            raise BackendError("helm is not on PATH: the rollback runs your own helm binary",
                               "install helm (https://helm.sh/docs/intro/install/) or add it to PATH")
        try:
            code, out = await run_local(argv, HELM_TIMEOUT, {})
        finally:
            self._helm_read_at = 0.0  # the next refresh reads the new revision
        text = mask_text(out.decode(errors="replace")).strip()[-4000:]
        if code != 0:
            raise BackendError(f"helm rollback exited with status {code}" + (f": {text}" if text else ""),
                               f"helm history {release} -n {argv[5]} shows what happened")
        return f"{release}: rolled back to revision {_to_revision(revision)}" + (f"\n{text}" if text else "")


def _to_revision(revision: str | int) -> int:
    """The target of a ``3 → 2`` change (or a plain number)."""
    text = str(revision).rpartition(ARROW.strip())[2].strip()
    try:
        number = int(text)
    except ValueError:
        raise ActionRefused(f"not a helm revision: {revision!r}") from None
    if number < 1:
        raise ActionRefused(f"not a helm revision: {revision!r}")
    return number
