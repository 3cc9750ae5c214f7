"""The contracts every backend implements: small, one-verb Protocols.

A *source* feeds one pane with records on each ``fetch()``; a *log source* streams
``LogRecord`` batches. Capabilities (``Restartable``, ``Scalable``, ...) are separate
Protocols: the action registry offers an action on a row only when the object behind
that row's source implements the capability, the way k9s offers "restart" only on a
``Restartable`` resource.

Every capability pairs the call with the argv of the equivalent CLI command, which the
confirmation modal, the audit log and the explain layer show.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cockpit.model import (
    Alarm,
    DatabaseSnapshot,
    DetailSection,
    LogRecord,
    PaneKind,
    PaneRecord,
    QueueStatus,
    ServiceStatus,
)

if TYPE_CHECKING:  # annotations only: the database and pod records load when a screen needs them
    from cockpit.dbmodel import Activity, Session
    from cockpit.k8smodel import PodView


@runtime_checkable
class Source(Protocol):
    """Feeds one pane. ``fetch`` never returns partial garbage: it returns or raises.

    Optional: ``partial`` (bool), true after a fetch that returned correct rows but only some
    of them on purpose (a large ECS cluster's first rows): the hub fetches again at once.
    """

    id: str  # unique within a profile, e.g. "aws:ecs:production"
    pane: PaneKind
    title: str  # what the pane shows for it: "ECS production"

    async def fetch(self) -> Sequence[PaneRecord]:
        """Return the current records; raise ``CockpitError`` (or anything) on failure."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class LogSource(Protocol):
    id: str
    title: str

    def follow(self) -> AsyncIterator[list[LogRecord]]:
        """Yield batches of new records, oldest first, forever.

        After an error the hub calls ``follow()`` again; the source resumes from the
        last record it yielded (timestamp / eventId / file offset), so nothing is
        duplicated or lost across the gap.
        """
        ...

    async def close(self) -> None: ...


@runtime_checkable
class ServerFilterable(Protocol):
    """A log source that can apply the user's ``/`` filter at the server (CloudWatch patterns)."""

    def set_server_filter(self, text: str | None) -> bool:
        """Filter the following fetches by ``text`` (None clears); True when it will."""
        ...


@runtime_checkable
class Explainable(Protocol):
    """The command a user would type to see what this source shows."""

    def explain_command(self) -> list[str]: ...


@runtime_checkable
class DetailProvider(Protocol):
    """Extra sections for a row's detail screen: read when it opens, and again while it is
    open whenever the row changed or an action finished (and at least every 30 s)."""

    async def detail(self, record: Any) -> Sequence[DetailSection]: ...


# --- what screens read from a source, beyond its pane's records ------------------------


@runtime_checkable
class ActivityReader(Protocol):
    """A database's sessions, blocking tree and slow statements (``database: activity``)."""

    async def activity(self) -> Activity: ...


@runtime_checkable
class PodsReader(Protocol):
    """A workload's pods, and the reference to one of them that ``pod: delete`` accepts."""

    async def workload_pods(self, record: ServiceStatus) -> list[PodView]: ...

    def pod_ref(self, namespace: str, pod: str) -> Alarm: ...


@runtime_checkable
class WorkloadLogsFollowable(Protocol):
    """A log source for one workload's pods, with the containers a user can choose from."""

    async def workload_containers(self, record: ServiceStatus) -> list[str]: ...

    def log_source(self, target: ServiceStatus, container: str | None = None) -> LogSource: ...


@runtime_checkable
class PreviousLogReader(Protocol):
    """The last lines of a container's previous run (``kubectl logs --previous``)."""

    async def previous_log(self, namespace: str, pod: str, container: str) -> list[str]: ...

    def previous_log_command(self, namespace: str, pod: str, container: str) -> list[str]: ...


@runtime_checkable
class NodesReader(Protocol):
    """Every node as a table, and the reference to one that ``node: cordon`` accepts."""

    async def nodes_detail(self) -> DetailSection: ...

    def node_ref(self, node: str) -> Alarm: ...


@runtime_checkable
class WatchChanges(Protocol):
    """Calls back (from another thread) when the source's watch of ``plural`` sees a change,
    so a screen reads again at once; returns what stops it."""

    def watch_changes(self, plural: str, callback: Callable[[], None]) -> Callable[[], None]: ...


# --- capabilities -------------------------------------------------------------------


@runtime_checkable
class Restartable(Protocol):
    async def restart(self, target: ServiceStatus) -> str:
        """Start the restart; return a one-line result for the user."""
        ...

    def restart_command(self, target: ServiceStatus) -> list[str]: ...


@runtime_checkable
class Scalable(Protocol):
    async def scale(self, target: ServiceStatus, desired: int) -> str: ...

    def scale_command(self, target: ServiceStatus, desired: int) -> list[str]: ...


@runtime_checkable
class RollbackCapable(Protocol):
    async def rollback(self, target: ServiceStatus) -> str: ...

    def rollback_command(self, target: ServiceStatus) -> list[str]: ...


@runtime_checkable
class RevisionDescribed(Protocol):
    """Says a rollback's or a deploy's from -> to revision from what it has read already (no
    call: a confirmation asks for it synchronously); ``to`` None means the previous one.
    A "from" without a "to" says there is no previous revision (a rollback is then not
    offered); an empty dict says it is not known yet."""

    def revision_change(self, target: ServiceStatus, to: str | None = None) -> dict[str, str]: ...


@runtime_checkable
class HelmRollbackable(Protocol):
    """Rolls the helm release that installed a workload back to its previous revision, with
    the user's own ``helm``. ``helm_rollback_change`` says the release and the ``3 → 2``
    revision from what was read already (it raises ``ActionRefused`` when it cannot);
    ``helm_rollback_unavailable`` why there is nothing to roll back (None: there may be)."""

    def helm_rollback_unavailable(self, target: ServiceStatus) -> str | None: ...

    def helm_rollback_change(self, target: ServiceStatus) -> dict[str, Any]: ...

    def helm_rollback_command(self, target: ServiceStatus, release: str, revision: str | int) -> list[str]: ...

    async def helm_rollback(self, target: ServiceStatus, release: str, revision: str | int) -> str: ...


@runtime_checkable
class Purgeable(Protocol):
    """Empties a queue's dead-letter queue."""

    async def purge_dlq(self, target: QueueStatus) -> str: ...

    def purge_dlq_command(self, target: QueueStatus) -> list[str]: ...


@runtime_checkable
class Snapshottable(Protocol):
    async def snapshot(self, target: DatabaseSnapshot, snapshot_id: str) -> str: ...

    def snapshot_command(self, target: DatabaseSnapshot, snapshot_id: str) -> list[str]: ...


@runtime_checkable
class Silenceable(Protocol):
    """Silences an alert (Alertmanager) for ``duration`` ("1h", "30m") with a comment."""

    async def silence(self, target: Alarm, duration: str, comment: str) -> str: ...

    def silence_command(self, target: Alarm, duration: str, comment: str) -> list[str]: ...


@runtime_checkable
class SilenceExpirable(Protocol):
    """Ends the silences that currently mute an alert."""

    async def expire_silence(self, target: Alarm) -> str: ...

    def expire_silence_command(self, target: Alarm) -> list[str]: ...


@runtime_checkable
class PodDeletable(Protocol):
    """Deletes the pod a record concerns (its controller replaces it)."""

    async def delete_pod(self, target: Any) -> str: ...

    def delete_pod_command(self, target: Any) -> list[str]: ...


@runtime_checkable
class Cordonable(Protocol):
    """Marks the node a record concerns unschedulable, or schedulable again."""

    async def cordon(self, target: Any) -> str: ...

    def cordon_command(self, target: Any) -> list[str]: ...

    async def uncordon(self, target: Any) -> str: ...

    def uncordon_command(self, target: Any) -> list[str]: ...


@runtime_checkable
class RevisionDeployable(Protocol):
    """Deploys a given revision (ECS task definition revision) of the service's family."""

    def latest_revision(self, target: ServiceStatus) -> int: ...

    async def deploy_revision(self, target: ServiceStatus, revision: int) -> str: ...

    def deploy_revision_command(self, target: ServiceStatus, revision: int) -> list[str]: ...


@runtime_checkable
class DeadLetterPeekable(Protocol):
    """Reads (receives, without deleting) up to 10 messages of a queue's dead-letter queue."""

    async def peek_dlq(self, target: QueueStatus) -> str: ...

    def peek_dlq_command(self, target: QueueStatus) -> list[str]: ...


@runtime_checkable
class DeadLetterRedrivable(Protocol):
    """Moves the messages of a queue's dead-letter queue back to the queue."""

    async def redrive_dlq(self, target: QueueStatus) -> str: ...

    def redrive_dlq_command(self, target: QueueStatus) -> list[str]: ...


@runtime_checkable
class QueryCancellable(Protocol):
    """Cancels the query a database session is running; the session stays connected."""

    async def cancel_backend(self, target: Session) -> str: ...

    def cancel_backend_command(self, target: Session) -> list[str]: ...


@runtime_checkable
class SessionTerminable(Protocol):
    """Ends a database session; its open transaction rolls back."""

    async def terminate_backend(self, target: Session) -> str: ...

    def terminate_backend_command(self, target: Session) -> list[str]: ...


@runtime_checkable
class CacheFlushable(Protocol):
    """Deletes every key of the cache's configured logical database (FLUSHDB, not FLUSHALL)."""

    async def flush_db(self, target: DatabaseSnapshot) -> str: ...

    def flush_db_command(self, target: DatabaseSnapshot) -> list[str]: ...


@runtime_checkable
class CacheFlushAllable(Protocol):
    """Deletes every key of every logical database of the server (FLUSHALL). Backends refuse
    it unless the profile enables it explicitly (Redis: ``allow_flushall: true``)."""

    async def flush_all(self, target: DatabaseSnapshot) -> str: ...

    def flush_all_command(self, target: DatabaseSnapshot) -> list[str]: ...


@runtime_checkable
class QueueKeyDeletable(Protocol):
    """Deletes a queue's key (a Redis list or stream) with everything waiting in it."""

    async def delete_queue_key(self, target: QueueStatus) -> str: ...

    def delete_queue_key_command(self, target: QueueStatus) -> list[str]: ...


@runtime_checkable
class StreamTrimmable(Protocol):
    """Trims a stream queue to about ``maxlen`` newest entries (XTRIM MAXLEN ~)."""

    def stream_length(self, target: QueueStatus) -> int: ...

    async def trim_stream(self, target: QueueStatus, maxlen: int) -> str: ...

    def trim_stream_command(self, target: QueueStatus, maxlen: int) -> list[str]: ...


@runtime_checkable
class CheckRunnable(Protocol):
    """Runs a named, read-only check command from the profile on a host; returns its output."""

    def default_check(self, target: ServiceStatus) -> str: ...

    async def run_check(self, target: ServiceStatus, check: str) -> str: ...

    def run_check_command(self, target: ServiceStatus, check: str) -> list[str]: ...


@runtime_checkable
class RotatedLogsRemovable(Protocol):
    """Deletes the rotated siblings (``app.log.1``, ``app.log.2.gz``) of a host's followed logs."""

    async def remove_rotated_logs(self, target: ServiceStatus) -> str: ...

    def remove_rotated_logs_command(self, target: ServiceStatus) -> list[str]: ...


# --- incident tools (Sentry, PagerDuty) ----------------------------------------------------


@runtime_checkable
class IssueResolvable(Protocol):
    """Sets a Sentry issue's status: ``resolved`` or ``ignored``."""

    async def set_issue_status(self, target: Alarm, status: str) -> str: ...

    def set_issue_status_command(self, target: Alarm, status: str) -> list[str]: ...


@runtime_checkable
class PageManageable(Protocol):
    """Acknowledges or resolves a PagerDuty incident, or adds a note to it."""

    async def set_page_status(self, target: Alarm, status: str) -> str: ...

    def set_page_status_command(self, target: Alarm, status: str) -> list[str]: ...

    async def add_page_note(self, target: Alarm, note: str) -> str: ...

    def add_page_note_command(self, target: Alarm, note: str) -> list[str]: ...


@runtime_checkable
class OnCallReader(Protocol):
    """Says who is on call now (PagerDuty), for the header: "on call: Ada" ("" when unknown)."""

    @property
    def oncall_text(self) -> str: ...
