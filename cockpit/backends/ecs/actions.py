"""The verbs on a service, each with its CLI argv: restart, scale, roll back, deploy a revision.
"""

from __future__ import annotations

from typing import Any

from cockpit.backends.ecs.records import split_task_definition
from cockpit.backends.ecs.room import _Room
from cockpit.errors import BackendError
from cockpit.model import ServiceStatus


class _Actions(_Room):
    """The actions room of ``EcsServicesSource``."""

    def _update_service_command(self, target: ServiceStatus, *change: str) -> list[str]:
        """`aws ecs update-service` on ``target`` with ``change``: every write action's shape."""
        return self.ctx.cli(
            "ecs", "update-service", "--cluster", self._cluster_of(target), "--service", target.name,
            *change,
        )

    def _update_service(self, target: ServiceStatus, **change: Any) -> dict[str, Any]:
        """UpdateService for an action; the next refresh reads the service again."""
        resp = self.client.update_service(cluster=self._cluster_of(target), service=target.name, **change)
        self._reread.add(target.name)
        return resp

    def restart_command(self, target: ServiceStatus) -> list[str]:
        return self._update_service_command(target, "--force-new-deployment")

    async def restart(self, target: ServiceStatus) -> str:
        def call() -> str:
            resp = self._update_service(target, forceNewDeployment=True)
            primary = next(
                (
                    d
                    for d in resp.get("service", {}).get("deployments", [])
                    if d.get("status") == "PRIMARY"
                ),
                None,
            )
            dep = f": deployment {primary['id']}" if primary and primary.get("id") else ""
            return f"restart of {target.name} started{dep}"

        return await self.ctx.run(f"restart {target.name}", call)

    # --- Scalable ------------------------------------------------------------------

    def scale_command(self, target: ServiceStatus, desired: int) -> list[str]:
        return self._update_service_command(target, "--desired-count", str(desired))

    async def scale(self, target: ServiceStatus, desired: int) -> str:
        if desired < 0:
            raise BackendError(f"cannot scale {target.name} to {desired}", "use a count >= 0")

        def call() -> str:
            self._update_service(target, desiredCount=desired)
            return f"{target.name}: desired count {target.desired} -> {desired}"

        return await self.ctx.run(f"scale {target.name}", call)

    # --- RollbackCapable -----------------------------------------------------------

    def latest_revision(self, target: ServiceStatus) -> int:
        """The latest registered revision of the target's family, as last looked up here.

        Falls back to the running revision when it has not been looked up yet.
        """
        family, current = split_task_definition(target.task_definition)
        latest = self.task_definitions.latest_of(family)
        return latest if latest is not None else (current or 1)

    def revision_change(self, target: ServiceStatus, to: str | None = None) -> dict[str, str]:
        """``{"from": "api:2 (img:1.4.2)", "to": "api:1 (img:1.4.1)"}`` for a confirmation,
        from the task definitions looked up already (no call); ``to`` None: the previous one."""
        if not target.task_definition:
            return {}
        cache = self.task_definitions

        def shown(td: str) -> str:
            info = cache.info(td)
            return f"{td} ({info.image})" if info and info.image else f"{td} (image not looked up yet)"

        if to is None:
            try:
                to = self.previous_task_definition(target)
            except BackendError:  # revision 1 and no older deployment: no "to", no rollback
                return {"from": shown(target.task_definition)}
        return {"from": shown(target.task_definition), "to": shown(to)}

    def previous_task_definition(self, target: ServiceStatus) -> str:
        """The revision a rollback returns to: the deployment being replaced, else rev - 1."""
        current = target.task_definition
        for d in target.deployments:
            if d.status != "PRIMARY" and d.task_definition and d.task_definition != current:
                return d.task_definition
        family, _, rev = current.rpartition(":")
        if family and rev.isdigit() and int(rev) > 1:
            return f"{family}:{int(rev) - 1}"
        raise BackendError(
            f"{target.name} has no earlier task definition to roll back to",
            "deploy a fixed revision instead",
        )

    def rollback_command(self, target: ServiceStatus) -> list[str]:
        return self._update_service_command(target, "--task-definition", self.previous_task_definition(target))

    async def rollback(self, target: ServiceStatus) -> str:
        previous = self.previous_task_definition(target)

        def call() -> str:
            self._update_service(target, taskDefinition=previous)
            return f"{target.name}: rolling back {target.task_definition} -> {previous}"

        return await self.ctx.run(f"roll back {target.name}", call)

    # --- RevisionDeployable --------------------------------------------------------

    def _revision(self, target: ServiceStatus, revision: int) -> str:
        family, _ = split_task_definition(target.task_definition)
        if not family:
            raise BackendError(f"{target.name} has no task definition family", "")
        return f"{family}:{revision}"

    def deploy_revision_command(self, target: ServiceStatus, revision: int) -> list[str]:
        return self._update_service_command(target, "--task-definition", self._revision(target, revision))

    async def deploy_revision(self, target: ServiceStatus, revision: int) -> str:
        td = self._revision(target, revision)

        def call() -> str:
            ecs = self.client
            try:
                info = self.task_definitions.info(td) or self.task_definitions.lookup(ecs, td)
            except ecs.exceptions.ClientException as e:
                raise BackendError(
                    f"task definition {td} is not registered",
                    f"`aws ecs list-task-definitions --family-prefix {td.split(':')[0]}`",
                ) from e
            self._update_service(target, taskDefinition=td)
            image = f" ({info.image})" if info.image else ""
            return f"{target.name}: deploying {target.task_definition} -> {td}{image}"

        return await self.ctx.run(f"deploy {td} to {target.name}", call)
