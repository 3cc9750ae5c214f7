"""The ActionRunner enforces the safety model below any UI (fake backends, real audit files)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from cockpit.actions import (
    REGISTRY,
    ActionRunner,
    ActionSpec,
    ConfirmRequest,
    Risk,
    available_actions,
    get_action,
    snapshot_id_for,
    target_name,
)
from cockpit.audit import AuditLog, fold_action_phases
from cockpit.dbmodel import Session
from cockpit.integrations.slack import SlackChannel
from cockpit.model import Alarm, DatabaseSnapshot, QueueStatus, ServiceStatus, Severity
from cockpit.profile import Profile

ORIGINS = ("palette", "key", "api")

SERVICE = ServiceStatus(
    name="api",
    backend="ecs",
    source="fake",
    status=Severity.OK,
    status_text="healthy",
    running=2,
    desired=2,
    cluster="production",
)
QUEUE = QueueStatus(
    name="jobs", backend="sqs", source="fake", depth=3, dlq_name="jobs-dlq", dlq_depth=7
)
DATABASE = DatabaseSnapshot(name="orders-db", backend="rds", source="fake", status="available")
ALARM = Alarm("HighErrorRate", "fake", Severity.CRITICAL, "firing", "5xx above 5 %")
SESSION = Session(pid=42, source="fake", application="billing")
TARGETS: dict[type, Any] = {
    ServiceStatus: SERVICE,
    QueueStatus: QUEUE,
    DatabaseSnapshot: DATABASE,
    Alarm: ALARM,
    Session: SESSION,
    SlackChannel: SlackChannel("#incidents", source="fake", report="# Incident report", events=3),
    object: SERVICE,  # shell: open, on any row that has a shell
}
# Parameters without a default (the user must type them).
REQUIRED: dict[str, dict[str, Any]] = {"alert.silence": {"comment": "deploy in progress"},
                                     "pagerduty.add_note": {"note": "rolling back"},
                                     "incident.post_update": {"text": "api is back"}}


class FakeBackend:
    """Implements every capability Protocol and records what was called."""

    id = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.gate: asyncio.Event | None = None  # when set, restarts wait on it
        self.fail: Exception | None = None

    async def _do(self, what: str, arg: Any) -> str:
        self.calls.append((what, arg))
        if self.gate is not None and what == "restart":
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return f"{what} done"

    def restart_command(self, t: ServiceStatus) -> list[str]:
        return ["fakectl", "restart", t.name]

    async def restart(self, t: ServiceStatus) -> str:
        return await self._do("restart", t.name)

    def scale_command(self, t: ServiceStatus, desired: int) -> list[str]:
        return ["fakectl", "scale", t.name, f"--replicas={desired}"]

    async def scale(self, t: ServiceStatus, desired: int) -> str:
        return await self._do("scale", desired)

    def rollback_command(self, t: ServiceStatus) -> list[str]:
        return ["fakectl", "rollback", t.name]

    async def rollback(self, t: ServiceStatus) -> str:
        return await self._do("rollback", t.name)

    def helm_rollback_unavailable(self, t: ServiceStatus) -> str | None:
        return None

    def helm_rollback_change(self, t: ServiceStatus) -> dict[str, Any]:
        return {"release": t.name, "revision": "3 → 2"}

    def helm_rollback_command(self, t: ServiceStatus, release: str, revision: str | int) -> list[str]:
        return ["fakectl", "helm-rollback", release, str(revision)]

    async def helm_rollback(self, t: ServiceStatus, release: str, revision: str | int) -> str:
        return await self._do("helm-rollback", (release, revision))

    def purge_dlq_command(self, t: QueueStatus) -> list[str]:
        return ["fakectl", "purge", t.dlq_name]

    async def purge_dlq(self, t: QueueStatus) -> str:
        return await self._do("purge", t.dlq_name)

    def snapshot_command(self, t: DatabaseSnapshot, snapshot_id: str) -> list[str]:
        return ["fakectl", "snapshot", t.name, snapshot_id]

    async def snapshot(self, t: DatabaseSnapshot, snapshot_id: str) -> str:
        return await self._do("snapshot", snapshot_id)

    def latest_revision(self, t: ServiceStatus) -> int:
        return 3

    def deploy_revision_command(self, t: ServiceStatus, revision: int) -> list[str]:
        return ["fakectl", "deploy", t.name, f"--revision={revision}"]

    async def deploy_revision(self, t: ServiceStatus, revision: int) -> str:
        return await self._do("deploy", revision)

    def peek_dlq_command(self, t: QueueStatus) -> list[str]:
        return ["fakectl", "peek", t.dlq_name]

    async def peek_dlq(self, t: QueueStatus) -> str:
        return await self._do("peek", t.dlq_name)

    def redrive_dlq_command(self, t: QueueStatus) -> list[str]:
        return ["fakectl", "redrive", t.dlq_name]

    async def redrive_dlq(self, t: QueueStatus) -> str:
        return await self._do("redrive", t.dlq_name)

    def cancel_backend_command(self, t: Session) -> list[str]:
        return ["fakectl", "cancel", str(t.pid)]

    async def cancel_backend(self, t: Session) -> str:
        return await self._do("cancel", t.pid)

    def terminate_backend_command(self, t: Session) -> list[str]:
        return ["fakectl", "terminate", str(t.pid)]

    async def terminate_backend(self, t: Session) -> str:
        return await self._do("terminate", t.pid)

    def flush_db_command(self, t: DatabaseSnapshot) -> list[str]:
        return ["fakectl", "flushdb", t.name]

    async def flush_db(self, t: DatabaseSnapshot) -> str:
        return await self._do("flush", t.name)

    def flush_all_command(self, t: DatabaseSnapshot) -> list[str]:
        return ["fakectl", "flushall", t.name]

    async def flush_all(self, t: DatabaseSnapshot) -> str:
        return await self._do("flushall", t.name)

    def delete_queue_key_command(self, t: QueueStatus) -> list[str]:
        return ["fakectl", "del", t.name]

    async def delete_queue_key(self, t: QueueStatus) -> str:
        return await self._do("del", t.name)

    def stream_length(self, t: QueueStatus) -> int:
        return t.depth or 0

    def trim_stream_command(self, t: QueueStatus, maxlen: int) -> list[str]:
        return ["fakectl", "xtrim", t.name, str(maxlen)]

    async def trim_stream(self, t: QueueStatus, maxlen: int) -> str:
        return await self._do("xtrim", (t.name, maxlen))

    def silence_command(self, t: Alarm, duration: str, comment: str) -> list[str]:
        return ["fakectl", "silence", t.name, duration, comment]

    async def silence(self, t: Alarm, duration: str, comment: str) -> str:
        return await self._do("silence", (t.name, duration, comment))

    def expire_silence_command(self, t: Alarm) -> list[str]:
        return ["fakectl", "expire", t.name]

    async def expire_silence(self, t: Alarm) -> str:
        return await self._do("expire", t.name)

    def delete_pod_command(self, t: Alarm) -> list[str]:
        return ["fakectl", "delete-pod", t.name]

    async def delete_pod(self, t: Alarm) -> str:
        return await self._do("delete-pod", t.name)

    def cordon_command(self, t: Alarm) -> list[str]:
        return ["fakectl", "cordon", t.name]

    async def cordon(self, t: Alarm) -> str:
        return await self._do("cordon", t.name)

    def uncordon_command(self, t: Alarm) -> list[str]:
        return ["fakectl", "uncordon", t.name]

    async def uncordon(self, t: Alarm) -> str:
        return await self._do("uncordon", t.name)

    def set_issue_status_command(self, t: Alarm, status: str) -> list[str]:
        return ["fakectl", "issue", status, t.name]

    async def set_issue_status(self, t: Alarm, status: str) -> str:
        return await self._do("issue", (t.name, status))

    def set_page_status_command(self, t: Alarm, status: str) -> list[str]:
        return ["fakectl", "page", status, t.name]

    async def set_page_status(self, t: Alarm, status: str) -> str:
        return await self._do("page", (t.name, status))

    def add_page_note_command(self, t: Alarm, note: str) -> list[str]:
        return ["fakectl", "note", t.name, note]

    async def add_page_note(self, t: Alarm, note: str) -> str:
        return await self._do("note", (t.name, note))

    def default_check(self, t: ServiceStatus) -> str:
        return "disk"

    def run_check_command(self, t: ServiceStatus, check: str) -> list[str]:
        return ["fakectl", "check", t.name, check]

    async def run_check(self, t: ServiceStatus, check: str) -> str:
        return await self._do("check", (t.name, check))

    def remove_rotated_logs_command(self, t: ServiceStatus) -> list[str]:
        return ["fakectl", "rm-rotated-logs", t.name]

    async def remove_rotated_logs(self, t: ServiceStatus) -> str:
        return await self._do("rm-rotated-logs", t.name)

    channel = "#incidents"

    def post_command(self, text: str) -> list[str]:
        return ["fakectl", "post", text]

    def report_command(self) -> list[str]:
        return ["fakectl", "post", "@report"]

    async def post(self, text: str, *, by_person: bool = True) -> str:
        return await self._do("post", text)

    def wait_reason(self) -> str | None:
        return None

    def too_long(self, text: str) -> str | None:
        return None


class ScriptedConfirmer:
    """Answers each ConfirmRequest with a fixed reply (True, False or typed text)."""

    def __init__(self, answer: Any = True) -> None:
        self.answer = answer
        self.requests: list[ConfirmRequest] = []

    async def __call__(self, req: ConfirmRequest) -> Any:
        self.requests.append(req)
        answer = self.answer
        return answer(req) if callable(answer) else answer


def typed_right(req: ConfirmRequest) -> Any:
    return req.expected if req.typed else True


def lines(path: Path) -> list[dict]:
    """The audit's lines, an action's started line folded into its finished line."""
    return fold_action_phases([json.loads(x) for x in path.read_text().splitlines() if x.strip()])


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "audit.jsonl"


def make_runner(
    audit_path: Path,
    backend: FakeBackend,
    confirmer: ScriptedConfirmer,
    *,
    profile: Profile | None = None,
    **kw: Any,
) -> ActionRunner:
    return ActionRunner(
        profile=profile or Profile(name="lab"),
        audit=AuditLog(audit_path),
        resolve_backend=lambda source: {"fake": backend}[source],
        confirm=confirmer,
        **kw,
    )


def spec_ids() -> list[str]:
    # A shell needs a terminal and a row with a real client: tests/test_shell.py runs it
    # through the runner with a stand-in terminal, tests/test_shell_pty.py for real.
    return [s.id for s in REGISTRY if s.id != "shell.open"]


def change_ids() -> list[str]:
    # Reading (a DLQ peek) is allowed in read-only mode and asks no confirmation.
    return [s.id for s in REGISTRY if s.risk is not Risk.READ]


# --- the registry ------------------------------------------------------------------------


def test_registry_titles_are_category_verb_and_ids_unique() -> None:
    assert len({s.id for s in REGISTRY}) == len(REGISTRY)
    for spec in REGISTRY:
        category, _, verb = spec.title.partition(": ")
        assert category and verb, spec.title
        assert spec.id.startswith(spec.id.split(".")[0] + ".")
        assert spec.description


@pytest.mark.parametrize("how", ["flag", "profile"])
async def test_read_only_runs_a_host_check_without_asking(audit_path: Path, how: str) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(False)
    runner = make_runner(
        audit_path,
        backend,
        confirmer,
        profile=Profile(name="lab", read_only=(how == "profile")),
        read_only=(how == "flag"),
    )
    outcome = await runner.request(get_action("host.run_check"), SERVICE, {"check": "disk"})
    assert outcome.status == "ok" and backend.calls == [("check", ("api", "disk"))]
    assert confirmer.requests == []
    [entry] = lines(audit_path)  # reading is still audited
    assert entry["action"] == "host.run_check" and entry["command"] == "fakectl check api disk"


@pytest.mark.parametrize("how", ["flag", "profile"])
async def test_read_only_still_reads(audit_path: Path, how: str) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(False)
    runner = make_runner(
        audit_path,
        backend,
        confirmer,
        profile=Profile(name="lab", read_only=(how == "profile")),
        read_only=(how == "flag"),
    )
    outcome = await runner.request(get_action("queue.peek_dlq"), QUEUE, origin="palette")
    assert outcome.status == "ok" and backend.calls == [("peek", "jobs-dlq")]
    assert confirmer.requests == []


def test_available_actions_follow_capability() -> None:
    assert {s.id for s in available_actions(SERVICE, FakeBackend())} == {
        "service.restart",
        "service.scale",
        "service.rollback",
        "helm.rollback",
        "service.deploy_revision",
        "host.run_check",
        "host.remove_rotated_logs",
    }

    class OnlyRestart:
        def restart_command(self, t: ServiceStatus) -> list[str]:
            return []

        async def restart(self, t: ServiceStatus) -> str:
            return ""

    assert [s.id for s in available_actions(SERVICE, OnlyRestart())] == ["service.restart"]
    assert [s.id for s in available_actions(QUEUE, OnlyRestart())] == []


def test_target_name_for_dlq_purge_is_the_dead_letter_queue() -> None:
    assert target_name(SERVICE) == "api"
    assert target_name(QUEUE, get_action("queue.purge_dlq")) == "jobs-dlq"
    assert target_name(DATABASE) == "orders-db"


def test_snapshot_id_is_generated_and_valid() -> None:
    from datetime import UTC, datetime

    when = datetime(2024, 5, 1, 3, 15, 9, tzinfo=UTC)
    assert snapshot_id_for("orders-db", when) == "cockpit-orders-db-20240501031509"
    assert snapshot_id_for("my_db--x-", when) == "cockpit-my-db-x-20240501031509"


# --- read-only: generated from the registry so a new action is covered automatically ---------


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("action_id", change_ids())
@pytest.mark.parametrize("how", ["flag", "profile"])
async def test_read_only_refuses_every_action_by_every_path(
    audit_path: Path, action_id: str, origin: str, how: str
) -> None:
    spec = get_action(action_id)
    backend = FakeBackend()
    confirmer = ScriptedConfirmer(typed_right)
    profile = Profile(name="lab", read_only=(how == "profile"))
    runner = make_runner(audit_path, backend, confirmer, profile=profile, read_only=(how == "flag"))

    outcome = await runner.request(spec, TARGETS[spec.target_type], origin=origin)

    assert outcome.status == "refused"
    assert "read-only" in outcome.message
    assert backend.calls == []
    assert confirmer.requests == []  # not even asked
    [entry] = lines(audit_path)
    assert entry["outcome"] == "refused"
    assert entry["error"] == "read-only"
    assert entry["action"] == action_id
    assert entry["origin"] == origin


@pytest.mark.parametrize("action_id", spec_ids())
async def test_every_action_runs_when_confirmed(audit_path: Path, action_id: str) -> None:
    spec = get_action(action_id)
    backend = FakeBackend()
    confirmer = ScriptedConfirmer(typed_right)
    runner = make_runner(audit_path, backend, confirmer)

    outcome = await runner.request(
        spec, TARGETS[spec.target_type], REQUIRED.get(action_id), origin="key"
    )

    assert outcome.status == "ok", outcome.message
    assert len(backend.calls) == 1
    if spec.risk is Risk.READ:
        assert confirmer.requests == []
        return
    [req] = confirmer.requests
    assert req.typed is (spec.risk is Risk.DESTRUCTIVE)
    assert req.command == outcome.command and req.command.startswith("fakectl ")
    [entry] = lines(audit_path)
    assert entry["outcome"] == "ok"
    assert entry["command"] == outcome.command
    for field in ("time", "user", "host", "profile", "target", "params", "duration_s", "origin"):
        assert field in entry


# --- confirmation --------------------------------------------------------------------------


async def test_change_asks_plain_confirmation_with_command(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("service.scale"), SERVICE, {"desired": 5})
    assert outcome.status == "ok"
    [req] = confirmer.requests
    assert (req.typed, req.profile, req.target, req.params) == (False, "lab", "api", {"desired": 5})
    assert req.command == "fakectl scale api --replicas=5"
    assert backend.calls == [("scale", 5)]


async def test_production_raises_change_to_typed(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    runner = make_runner(
        audit_path, backend, confirmer, profile=Profile(name="prod", production=True)
    )
    # A bare True is not enough when the user must type the name.
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "refused"
    assert backend.calls == []
    [req] = confirmer.requests
    assert req.typed and req.production and req.expected == "api"


async def test_typed_confirmation_wrong_name_runs_nothing(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer("jobs")
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("queue.purge_dlq"), QUEUE)
    assert outcome.status == "refused"
    assert "does not match" in outcome.message
    assert backend.calls == []
    assert lines(audit_path)[-1]["error"] == "typed confirmation mismatch"


async def test_typed_confirmation_right_name_runs(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer("jobs-dlq")
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("queue.purge_dlq"), QUEUE)
    assert outcome.status == "ok"
    assert backend.calls == [("purge", "jobs-dlq")]


async def test_cancel_runs_nothing_and_is_audited(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(False)
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "cancelled"  # the user said no: nothing refused it
    assert outcome.message == "service: restart on api cancelled"
    assert backend.calls == []
    entry = lines(audit_path)[-1]
    assert (entry["outcome"], entry["error"]) == ("cancelled", "cancelled by user")


class DescribedBackend(FakeBackend):
    """Says a rollback's from -> to; ``previous`` None: the backend knows there is none."""

    def __init__(self, previous: str | None) -> None:
        super().__init__()
        self.previous = previous

    def revision_change(self, t: ServiceStatus, to: str | None = None) -> dict[str, str]:
        return {"from": "api:1 (img:1)", **({"to": f"{self.previous} (img:0)"} if self.previous else {})}


async def test_rollback_without_previous_revision_is_not_offered_nor_run(audit_path: Path) -> None:
    backend, confirmer = DescribedBackend(None), ScriptedConfirmer(typed_right)
    rollback = get_action("service.rollback")
    assert rollback not in available_actions(SERVICE, backend)
    outcome = await make_runner(audit_path, backend, confirmer).request(rollback, SERVICE)
    assert outcome.status == "refused"
    assert outcome.message == "service: roll back refused: api has no previous revision to roll back to"
    assert confirmer.requests == [] and backend.calls == []  # never asked for the typed name
    backend.previous = "api:0"
    assert rollback in available_actions(SERVICE, backend)
    outcome = await make_runner(audit_path, backend, confirmer).request(rollback, SERVICE)
    assert outcome.ok and confirmer.requests[0].params["to"] == "api:0 (img:0)"


async def test_purge_confirmation_says_how_many_and_an_empty_dlq_is_not_offered(audit_path: Path) -> None:
    from dataclasses import replace

    backend, confirmer = FakeBackend(), ScriptedConfirmer(typed_right)
    purge = get_action("queue.purge_dlq")
    outcome = await make_runner(audit_path, backend, confirmer).request(purge, QUEUE)
    assert outcome.ok and confirmer.requests[0].destroys == "7 messages in jobs-dlq"
    empty = replace(QUEUE, dlq_depth=0)
    assert purge not in available_actions(empty, backend)
    outcome = await make_runner(audit_path, backend, confirmer).request(purge, empty)
    assert outcome.status == "refused" and "jobs-dlq holds 0 messages" in outcome.message
    assert len(confirmer.requests) == 1 and backend.calls == [("purge", "jobs-dlq")]


async def test_dry_run_audits_and_runs_nothing(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(typed_right)
    runner = make_runner(audit_path, backend, confirmer, dry_run=True)
    outcome = await runner.request(get_action("service.scale"), SERVICE, {"desired": 3})
    assert outcome.status == "dry-run"
    assert "fakectl scale api --replicas=3" in outcome.message
    assert backend.calls == []
    assert confirmer.requests[0].dry_run
    entry = lines(audit_path)[-1]
    assert entry["outcome"] == "dry-run" and entry["command"] == "fakectl scale api --replicas=3"


# --- parameters ---------------------------------------------------------------------------


async def test_scale_prefills_current_desired(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    runner = make_runner(audit_path, backend, confirmer)
    await runner.request(get_action("service.scale"), SERVICE)
    assert backend.calls == [("scale", 2)]


@pytest.mark.parametrize("bad", [-1, 1001, "three", 2.5, True])
async def test_bad_desired_count_is_refused_before_confirmation(audit_path: Path, bad: Any) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("service.scale"), SERVICE, {"desired": bad})
    assert outcome.status == "refused"
    assert confirmer.requests == [] and backend.calls == []
    assert lines(audit_path)[-1]["outcome"] == "refused"


async def test_desired_count_given_as_text_is_converted(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("service.scale"), SERVICE, {"desired": " 4 "})
    assert outcome.status == "ok"
    assert backend.calls == [("scale", 4)]


# --- one action per target, failures, capability ------------------------------------------


async def test_second_action_on_busy_target_is_refused(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    backend.gate = asyncio.Event()
    runner = make_runner(audit_path, backend, confirmer)
    first = asyncio.create_task(runner.request(get_action("service.restart"), SERVICE))
    async with asyncio.timeout(5):
        while not backend.calls:
            await asyncio.sleep(0)
    second = await runner.request(get_action("service.scale"), SERVICE, {"desired": 4})
    assert second.status == "refused" and "still running" in second.message
    # A different target is not blocked.
    other = await runner.request(get_action("database.snapshot"), DATABASE)
    assert other.status == "ok"
    backend.gate.set()
    assert (await first).status == "ok"
    assert backend.calls[0] == ("restart", "api") and ("scale", 4) not in backend.calls
    assert [e["error"] for e in lines(audit_path)].count("busy") == 1
    # Free again once the first finished.
    assert (await runner.request(get_action("service.restart"), SERVICE)).status == "ok"


async def test_a_drill_met_while_its_action_is_unaudited_still_counts_the_action(
    audit_path: Path,
) -> None:
    """The command changes the estate before its audit line is written; a drill whose goal
    is met in between must wait for that line, or it reports "actions: none"."""
    from cockpit.lab.drills import Drill, DrillSession

    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    backend.gate = asyncio.Event()  # the restart has happened, its command not yet returned
    runner = make_runner(audit_path, backend, confirmer)
    write = runner.audit.append

    def slow_write(entry: dict[str, Any]) -> dict[str, Any]:
        import time

        time.sleep(0.3)  # a slow disk (fsync): the line's time is well after the action ended
        return write(entry)

    runner.audit.append = slow_write  # type: ignore[method-assign]

    class RestartDrill(Drill):
        def _inject(self, lab: Any) -> dict[str, Any]:
            return {}

        def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
            return bool(backend.calls)

    class Lab:  # a drill needs a lab it can break (DrillLab); this one is never touched
        def send(self, command: str) -> None:
            raise AssertionError(command)

    drill = RestartDrill("restart", "restart", "restart api", "api restarted")
    session = DrillSession(drill, Lab(), runner.audit, runner.profile, actions_running=runner.running)
    assert (await session.start()).ok
    action = asyncio.create_task(runner.request(get_action("service.restart"), SERVICE))
    async with asyncio.timeout(5):
        while not backend.calls:
            await asyncio.sleep(0)
    check = asyncio.create_task(session.check())
    async with asyncio.timeout(5):
        while session.ended != "resolved":
            await asyncio.sleep(0.01)
    assert not check.done()  # held for the running action's audit line
    backend.gate.set()
    assert (await action).status == "ok"
    assert await asyncio.wait_for(check, 5)
    assert [(a["action"], a["outcome"]) for a in session.summary()["actions"]] == [
        ("service.restart", "ok")
    ]
    assert not runner.running()


async def test_backend_failure_is_audited_failed(audit_path: Path) -> None:
    from cockpit.errors import BackendError

    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    backend.fail = BackendError("service api not found", "check the cluster")
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "failed" and "not found" in outcome.message
    entry = lines(audit_path)[-1]
    assert entry["outcome"] == "failed" and "service api not found" in entry["error"]


async def test_unexpected_exception_still_audited(audit_path: Path) -> None:
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    backend.fail = RuntimeError("boom")
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "failed"
    assert lines(audit_path)[-1]["error"] == "RuntimeError: boom"


async def test_backend_without_capability_is_refused(audit_path: Path) -> None:
    class ReadOnlySource:
        id = "fake"

    confirmer = ScriptedConfirmer(True)
    runner = ActionRunner(
        profile=Profile(name="lab"),
        audit=AuditLog(audit_path),
        resolve_backend=lambda s: ReadOnlySource(),
        confirm=confirmer,
    )
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "refused" and "not supported" in outcome.message
    assert confirmer.requests == []


# --- audit durability --------------------------------------------------------------------


async def test_outcome_returned_only_after_fsync(
    audit_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        if os.path.samefile(f"/proc/self/fd/{fd}", audit_path):
            # The line is complete on disk at the moment it is synced.
            last = json.loads(audit_path.read_text().splitlines()[-1])
            order.append(f"fsync:{last['phase']}:{last.get('outcome', '')}")

    monkeypatch.setattr(os, "fsync", recording_fsync)

    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)

    async def run_then_mark(t: ServiceStatus) -> str:
        order.append("run")
        return "restarted"

    backend.restart = run_then_mark  # type: ignore[method-assign]
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    order.append(f"returned:{outcome.status}")
    # Write-ahead: the started line is on disk before the backend is called.
    assert order == ["fsync:started:", "run", "fsync:finished:ok", "returned:ok"]


async def test_unwritable_audit_refuses_with_message(tmp_path: Path) -> None:
    blocked = tmp_path / "audit.jsonl"
    blocked.mkdir()  # a directory where the file should be
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    runner = make_runner(blocked, backend, confirmer)
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "refused"
    assert "audit log" in outcome.message and "directory" in outcome.message
    assert not outcome.audited
    assert backend.calls == [] and confirmer.requests == []


async def test_audit_under_a_file_refuses(tmp_path: Path) -> None:
    (tmp_path / "notadir").write_text("x")
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    runner = make_runner(tmp_path / "notadir" / "audit.jsonl", backend, confirmer)
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "refused" and "not writable" in outcome.message
    assert backend.calls == []


async def test_corrupt_audit_refuses(audit_path: Path) -> None:
    audit_path.parent.mkdir(parents=True)
    audit_path.write_text('{"time": "2024-01-01T00:00:00Z"}\n{"time": "2024-01-01T00:0')
    backend, confirmer = FakeBackend(), ScriptedConfirmer(True)
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "refused" and "audit log" in outcome.message
    assert backend.calls == []


async def test_secrets_in_params_and_command_are_masked(audit_path: Path) -> None:
    class SecretBackend(FakeBackend):
        def restart_command(self, t: ServiceStatus) -> list[str]:
            return ["psql", "postgresql://admin:hunter2@db:5432/app", "-c", "select 1"]

    backend, confirmer = SecretBackend(), ScriptedConfirmer(True)
    runner = make_runner(audit_path, backend, confirmer)
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "ok"
    raw = audit_path.read_text()
    assert "hunter2" not in raw
    assert "postgresql://admin:***@db:5432/app" in raw


def test_spec_is_hashable_and_frozen() -> None:
    spec: ActionSpec = get_action("service.restart")
    assert spec in set(REGISTRY)
    with pytest.raises(AttributeError):
        spec.key = "x"  # type: ignore[misc]


# --- through the real AWS backend on moto's server ------------------------------------------


def _seed_estate(endpoint: str) -> Any:
    """ECS production/api on task definition api:2, SQS jobs + jobs-dlq (2 dead), RDS orders-db."""
    import json as _json

    from tests.fixtures.moto import aws_client

    ecs = aws_client(endpoint, "ecs")
    ecs.create_cluster(clusterName="production")
    for _ in range(2):
        td = ecs.register_task_definition(
            family="api", containerDefinitions=[{"name": "api", "image": "nginx", "memory": 128}]
        )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="production", serviceName="api", taskDefinition=td, desiredCount=2)
    sqs = aws_client(endpoint, "sqs")
    dlq_url = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = _json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    sqs.create_queue(QueueName="jobs", Attributes={"RedrivePolicy": policy})
    for i in range(2):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=f"dead {i}")
    rds = aws_client(endpoint, "rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="secret-password",
        AllocatedStorage=20,
    )
    return ecs, sqs, rds, dlq_url


def _estate_state(endpoint: str, dlq_url: str) -> dict[str, Any]:
    from tests.fixtures.moto import aws_client

    svc = aws_client(endpoint, "ecs").describe_services(cluster="production", services=["api"])[
        "services"
    ][0]
    dlq = aws_client(endpoint, "sqs").get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    snaps = aws_client(endpoint, "rds").describe_db_snapshots()["DBSnapshots"]
    return {
        "desired": svc["desiredCount"],
        "task_definition": svc["taskDefinition"],
        "deployments": [d["id"] for d in svc["deployments"]],
        "dlq_depth": int(dlq["ApproximateNumberOfMessages"]),
        "snapshots": [s["DBSnapshotIdentifier"] for s in snaps],
    }


async def _lab_rows(endpoint: str) -> tuple[dict[str, Any], dict[type, Any]]:
    """The lab's sources by id, and one fetched row per target type."""
    from cockpit.backends.aws import build_aws_sources
    from cockpit.profile import AwsConfig, EcsCluster, SqsQueue

    profile = Profile(
        name="lab",
        lab=True,
        aws=AwsConfig(
            endpoint_url=endpoint,
            ecs=(EcsCluster("production"),),
            sqs=(SqsQueue("jobs"),),
            rds=("orders-db",),
        ),
    )
    sources, _ = build_aws_sources(profile)
    by_id = {s.id: s for s in sources}
    rows: dict[type, Any] = {}
    for src in sources:
        for row in await src.fetch():
            rows.setdefault(type(row), row)
    return by_id, rows


def _aws_runner(path: Path, sources: dict[str, Any], answer: Any, **kw: Any) -> ActionRunner:
    return ActionRunner(
        profile=Profile(name="lab", lab=True),
        audit=AuditLog(path),
        resolve_backend=lambda source_id: sources[source_id],
        confirm=ScriptedConfirmer(answer),
        **kw,
    )


def _aws_implements(capability: type) -> bool:
    """Whether an AWS source class has every method of a capability Protocol."""
    from cockpit.backends.ecs import EcsServicesSource
    from cockpit.backends.rds import RdsSource
    from cockpit.backends.sqs import SqsSource

    verbs = [n for n in vars(capability) if not n.startswith("_")]
    return any(all(callable(getattr(cls, v, None)) for v in verbs)
               for cls in (EcsServicesSource, SqsSource, RdsSource))


@pytest.mark.parametrize(
    "action_id",
    [s.id for s in REGISTRY if s.risk is not Risk.READ and _aws_implements(s.capability)],
)
async def test_read_only_leaves_the_aws_estate_unchanged(
    moto_endpoint: str, audit_path: Path, action_id: str
) -> None:
    _, _, _, dlq_url = _seed_estate(moto_endpoint)
    sources, rows = await _lab_rows(moto_endpoint)
    spec = get_action(action_id)
    target = rows[ServiceStatus if spec.target_type is object else spec.target_type]  # object: any row
    assert spec in available_actions(target, sources[target.source])  # the lab offers it
    before = _estate_state(moto_endpoint, dlq_url)

    runner = _aws_runner(audit_path, sources, typed_right, read_only=True)
    for origin in ORIGINS:
        outcome = await runner.request(spec, target, origin=origin)
        assert outcome.status == "refused" and "read-only" in outcome.message

    assert _estate_state(moto_endpoint, dlq_url) == before
    assert [(e["origin"], e["error"]) for e in lines(audit_path)] == [
        (o, "read-only") for o in ORIGINS
    ]
    for src in sources.values():
        await src.close()


async def test_restart_scale_purge_snapshot_through_the_runner(
    moto_endpoint: str, audit_path: Path
) -> None:
    _, _, _, dlq_url = _seed_estate(moto_endpoint)
    sources, rows = await _lab_rows(moto_endpoint)
    before = _estate_state(moto_endpoint, dlq_url)
    runner = _aws_runner(audit_path, sources, typed_right)
    service, queue, db = rows[ServiceStatus], rows[QueueStatus], rows[DatabaseSnapshot]

    restart = await runner.request(get_action("service.restart"), service)
    assert restart.status == "ok", restart.message
    assert restart.command.startswith("aws ecs update-service --cluster production --service api")
    scale = await runner.request(get_action("service.scale"), service, {"desired": 5})
    assert scale.status == "ok", scale.message
    purge = await runner.request(get_action("queue.purge_dlq"), queue)
    assert purge.status == "ok", purge.message
    snap = await runner.request(get_action("database.snapshot"), db)
    assert snap.status == "ok", snap.message

    after = _estate_state(moto_endpoint, dlq_url)
    assert after["deployments"] != before["deployments"]  # a new deployment: restarted
    assert after["desired"] == 5
    assert after["dlq_depth"] == 0
    [snapshot_id] = set(after["snapshots"]) - set(before["snapshots"])
    assert snapshot_id.startswith("cockpit-orders-db-") and snapshot_id in snap.command
    assert [e["outcome"] for e in lines(audit_path)] == ["ok"] * 4
    for src in sources.values():
        await src.close()


async def test_an_action_whose_started_line_cannot_be_written_does_not_run(
    audit_path: Path, tmp_path: Path
) -> None:
    # The log passes the first check; by the time the action would run, a symbolic link
    # stands at its path (a race, or someone redirecting the record): nothing runs.
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text("")
    backend = FakeBackend()

    def swap(req: ConfirmRequest) -> bool:
        audit_path.unlink(missing_ok=True)
        audit_path.symlink_to(elsewhere)
        return True

    runner = make_runner(audit_path, backend, ScriptedConfirmer(swap))
    outcome = await runner.request(get_action("service.restart"), SERVICE)
    assert outcome.status == "refused" and not outcome.audited
    assert "did not run" in outcome.message and "symbolic link" in outcome.message
    assert backend.calls == []
    assert elsewhere.read_text() == ""


async def test_flush_confirmation_says_how_many_keys_and_an_empty_db_is_not_offered(audit_path: Path) -> None:
    from dataclasses import replace

    backend, confirmer = FakeBackend(), ScriptedConfirmer(typed_right)
    flush = get_action("cache.flush")
    cache = replace(DATABASE, backend="redis", detail=(("keyspace", "db0=1200 keys"), ("keys in db0", "1200")))
    outcome = await make_runner(audit_path, backend, confirmer).request(flush, cache)
    assert outcome.ok and confirmer.requests[0].destroys == "1200 keys in db0"
    empty = replace(cache, detail=(("keys in db0", "0"),))
    assert flush not in available_actions(empty, backend)
    outcome = await make_runner(audit_path, backend, confirmer).request(flush, empty)
    assert outcome.status == "refused" and "db0 of orders-db holds 0 keys" in outcome.message
