"""Each drill on a real lab: injected, not met, resolved through the ActionRunner (the real
actions, a fake confirmer), and its summary lands in the audit and the timeline."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cockpit.actions import ActionRunner, ConfirmRequest, get_action
from cockpit.audit import AuditLog
from cockpit.lab import Lab, start_lab
from cockpit.lab.drills import DRILLS, DrillSession, DrillUnavailable, main_drill
from cockpit.labenv import lab_environment, write_env_file
from cockpit.model import Severity
from cockpit.profile import Profile
from cockpit.sources import build_sources
from cockpit.timeline import build_timeline

from .conftest import skip_or_fail
from .fixtures.moto import aws_client, drain_queue


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    # Fast ticks: a rollout step every 0.3 s instead of 2 s.
    old = os.environ.get("COCKPIT_LAB_TICK")
    os.environ["COCKPIT_LAB_TICK"] = "0.3"
    try:
        lab = start_lab(with_servers=True)
    finally:
        if old is None:
            os.environ.pop("COCKPIT_LAB_TICK", None)
        else:
            os.environ["COCKPIT_LAB_TICK"] = old
    try:
        yield lab
    finally:
        lab.stop()


class Trainee:
    """What the cockpit does for a trainee: sources, a runner, confirmations answered."""

    def __init__(self, lab: Lab, audit: AuditLog) -> None:
        self.profile = lab.profile(Profile(name="lab", lab=True))
        self.sources = {s.id: s for s in build_sources(self.profile, lab.notes).sources}
        self.confirmed: list[ConfirmRequest] = []

        async def confirm(req: ConfirmRequest) -> bool | str:
            self.confirmed.append(req)
            return req.expected if req.typed else True

        self.runner = ActionRunner(
            profile=self.profile, audit=audit, resolve_backend=self.sources.__getitem__, confirm=confirm
        )

    async def records(self, source_id: str) -> list[Any]:
        return list(await self.sources[source_id].fetch())

    async def row(self, source_id: str, name: str) -> Any:
        return next(r for r in await self.records(source_id) if r.name == name)

    async def act(self, action_id: str, target: Any, **params: Any) -> None:
        outcome = await self.runner.request(get_action(action_id), target, params or None)
        assert outcome.ok, outcome.message


async def _until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.1)


def _firing(lab: Lab, alarm: str) -> str:
    cw = aws_client(lab.aws_endpoint, "cloudwatch")
    return cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]


def _assert_summary(audit: AuditLog, session: DrillSession, action: str) -> dict:
    entries = [e for e in audit.read() if e.get("type") == "drill" and e.get("drill") == session.drill.name]
    assert [e["phase"] for e in entries] == ["started", "finished"]
    summary = entries[-1]
    assert summary["outcome"] == "resolved"
    assert summary["time_to_resolve_s"] is not None and summary["time_to_resolve_s"] >= 0
    assert [a["action"] for a in summary["actions"]] == [action]
    assert summary["actions"][0]["outcome"] == "ok"
    assert session.summary()["actions"] == summary["actions"]
    drill_events = [e for e in build_timeline(audit.read()) if e.type == "drill"]
    assert drill_events[-1].summary.startswith(f"Drill {session.drill.name} resolved in ")
    assert get_action(action).title in drill_events[-1].summary
    return summary


async def test_api_down_is_resolved_by_a_restart(lab: Lab, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    you = Trainee(lab, audit)
    session = DrillSession(DRILLS["api-down"], lab, audit, you.profile, actions_running=you.runner.running)
    await session.start()
    try:
        assert not await session.check()
        api = await you.row("aws:ecs:production", "api")
        assert (api.running, api.desired, api.status_text) == (0, 2, "down")
        assert _firing(lab, "api-service-down") == "ALARM"
        assert "api-service-down" in session.drill.detect_on
        session.note_detected()

        await you.act("service.restart", api)
        assert "--force-new-deployment" in you.confirmed[-1].command
        await _until(session.check, 20)
    finally:
        await session.abort()
    summary = _assert_summary(audit, session, "service.restart")
    assert summary["time_to_detect_s"] is not None
    assert _firing(lab, "api-service-down") == "OK"
    api = await you.row("aws:ecs:production", "api")
    assert (api.running, api.desired) == (2, 2)


async def test_dlq_flood_is_resolved_by_a_purge(lab: Lab, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    you = Trainee(lab, audit)
    session = DrillSession(DRILLS["dlq-flood"], lab, audit, you.profile, actions_running=you.runner.running)
    await session.start()
    try:
        assert not await session.check()
        jobs = await you.row("aws:sqs", "jobs")
        assert jobs.dlq_depth >= 150
        assert _firing(lab, "jobs-dlq-not-empty") == "ALARM"
        await you.act("queue.purge_dlq", jobs)
        assert you.confirmed[-1].typed and you.confirmed[-1].expected == "jobs-dlq"
        await _until(session.check, 10)
    finally:
        await session.abort()
    summary = _assert_summary(audit, session, "queue.purge_dlq")
    # Nobody focused it in a cockpit, but purging its dead letters is having found it.
    assert summary["time_to_detect_s"] is not None and summary["detected_by"] == "action"
    assert _firing(lab, "jobs-dlq-not-empty") == "OK"


async def test_bad_deploy_is_resolved_by_a_rollback(lab: Lab, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    you = Trainee(lab, audit)
    session = DrillSession(DRILLS["bad-deploy"], lab, audit, you.profile, actions_running=you.runner.running)
    await session.start()
    try:
        assert _firing(lab, "api-5xx-error-rate") == "ALARM"

        async def failed() -> bool:
            return (await you.row("aws:ecs:production", "api")).status_text == "failed"

        await _until(failed, 20)
        assert not await session.check()
        api = await you.row("aws:ecs:production", "api")
        await you.act("service.rollback", api)
        await _until(session.check, 30)
    finally:
        await session.abort()
    _assert_summary(audit, session, "service.rollback")
    assert _firing(lab, "api-5xx-error-rate") == "OK"
    api = await you.row("aws:ecs:production", "api")
    assert api.deployment.startswith("COMPLETED") and (api.running, api.desired) == (2, 2)


async def test_db_lock_is_resolved_by_terminating_the_holder(lab: Lab, tmp_path: Path) -> None:
    if not lab.postgres_dsn:
        skip_or_fail(f"the lab has no PostgreSQL here: {lab.notes.get('database')}")
    spec = get_action("database.terminate_session")
    audit = AuditLog(tmp_path / "audit.jsonl")
    you = Trainee(lab, audit)
    session = DrillSession(DRILLS["db-lock"], lab, audit, you.profile, actions_running=you.runner.running)
    await session.start()
    try:
        assert not await session.check()
        db = await you.row("pg:lab-postgres", "lab-postgres")
        assert db.blocked >= 2
        pg = you.sources["pg:lab-postgres"]
        holder = next(b for b in await pg.sessions() if b.application == "drill-holder")
        await you.act(spec.id, holder)
        await _until(session.check, 10)
    finally:
        await session.abort()
    _assert_summary(audit, session, spec.id)


async def test_disk_full_is_resolved_by_deleting_rotated_logs(lab: Lab, tmp_path: Path) -> None:
    if not lab.redis_url:
        skip_or_fail(f"the lab has no Redis (whose log the drill fills beside) here: {lab.notes.get('queues')}")
    audit = AuditLog(tmp_path / "audit.jsonl")
    you = Trainee(lab, audit)
    session = DrillSession(
        DRILLS["disk-full"], lab, audit, you.profile, actions_running=you.runner.running, sources=you.sources.get
    )
    await session.start()
    ballast = Path(session._state["ballast"])
    try:
        assert ballast.exists() and not await session.check()

        async def disk_alarms() -> list[Any]:
            return [a for a in await you.records("hosts:this-machine:alarms") if " disk " in a.name]

        [alarm] = await disk_alarms()
        assert alarm.name in session.drill.detect_on and alarm.state == "ALARM"
        assert f"(above {session._state['threshold']} %)" in alarm.reason
        host = await you.row("hosts:this-machine", "this-machine")
        assert host.status is Severity.CRITICAL and "disk" in host.status_text
        session.note_detected()

        await you.act("host.remove_rotated_logs", host)
        request = you.confirmed[-1]
        assert request.typed and request.expected == "this-machine"
        assert request.command.startswith("find ") and "redis.log.*" in request.command
        assert not ballast.exists()
        assert (ballast.parent / "redis.log").exists()  # the live log is kept
        await _until(session.check, 10)

        async def cleared() -> bool:
            return not await disk_alarms()

        await _until(cleared, 10)  # the threshold is the profile's again
    finally:
        await session.abort()
    _assert_summary(audit, session, "host.remove_rotated_logs")
    assert you.sources["hosts:this-machine:alarms"].overrides.current() == {}


async def test_disk_full_aborted_leaves_no_ballast_or_override(lab: Lab, tmp_path: Path) -> None:
    if not lab.redis_url:
        skip_or_fail(f"the lab has no Redis here: {lab.notes.get('queues')}")
    audit = AuditLog(tmp_path / "a.jsonl")
    you = Trainee(lab, audit)
    session = DrillSession(DRILLS["disk-full"], lab, audit, you.profile, sources=you.sources.get)
    await session.start()
    ballast = Path(session._state["ballast"])
    overrides = you.sources["hosts:this-machine:alarms"].overrides
    assert overrides is you.sources["hosts:this-machine"].overrides  # the row and the alarm agree
    assert ballast.exists() and overrides.current()
    await session.abort()
    assert not ballast.exists() and overrides.current() == {}


async def test_disk_full_without_a_cockpit_showing_the_host_is_refused(tmp_path: Path) -> None:
    """The threshold it lowers is the cockpit's host source's: with none, nothing is written."""

    class Lab:  # a lab it could break (DrillLab); never touched
        def send(self, command: str) -> None:
            raise AssertionError(command)

    session = DrillSession(DRILLS["disk-full"], Lab(), AuditLog(tmp_path / "a.jsonl"), Profile("lab"))
    with pytest.raises(DrillUnavailable, match="no cockpit shows that host"):
        await session.start()
    assert session._state == {} and session.started_at is None


def test_cockpit_only_drill_is_refused_by_the_cli_and_listed() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main_drill(["run", "disk-full"], stdout=out, stderr=err) == 2
    assert "runs only in the cockpit" in err.getvalue() and "drill: start" in err.getvalue()
    main_drill(["list"], stdout=out, stderr=err)
    assert all(name in out.getvalue() for name in DRILLS)
    assert not any(d.unavailable for d in DRILLS.values())


def test_headless_runner_waits_for_the_goal_on_an_attached_lab(lab: Lab, tmp_path: Path) -> None:
    env_file = tmp_path / "lab.env"
    write_env_file(env_file, lab_environment(lab))
    out = io.StringIO()
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(
            main_drill(["run", "dlq-flood", "--lab-env", str(env_file), "--timeout", "30",
                        "--interval", "0.1"], stdout=out, stderr=io.StringIO())
        )
    )
    runner.start()
    sqs = aws_client(lab.aws_endpoint, "sqs")
    url = sqs.get_queue_url(QueueName="jobs-dlq")["QueueUrl"]
    deadline = time.monotonic() + 15
    while "goal:" not in out.getvalue():  # injected: now the "trainee" purges from a shell
        assert time.monotonic() < deadline and runner.is_alive(), out.getvalue()
        time.sleep(0.05)
    drain_queue(sqs, url)  # the trainee empties it (PurgeQueue allows one call a minute)
    runner.join(30)
    assert result == [0], out.getvalue()
    assert "Drill dlq-flood resolved in" in out.getvalue()
    audit = AuditLog(Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl")
    assert [e["phase"] for e in audit.read() if e.get("type") == "drill"] == ["started", "finished"]


def _api_counts(lab: Lab) -> tuple[int, int]:
    svc = aws_client(lab.aws_endpoint, "ecs").describe_services(cluster="production", services=["api"])
    s = svc["services"][0]
    return s["runningCount"], s["desiredCount"]


def test_cli_drill_run_obeys_read_only_and_dry_run(lab: Lab, tmp_path: Path) -> None:
    """`cockpit drill run --read-only` / `--dry-run` break nothing; each attempt is audited."""
    env_file = tmp_path / "lab.env"
    write_env_file(env_file, lab_environment(lab))
    before = _api_counts(lab)
    audit = AuditLog(Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl")
    for flag, status in (("--read-only", "refused"), ("--dry-run", "dry-run")):
        out, err = io.StringIO(), io.StringIO()
        code = main_drill(["run", "api-down", "--lab-env", str(env_file), flag, "--timeout", "5",
                           "--interval", "0.1"], stdout=out, stderr=err)
        assert code != 0 if status == "refused" else code == 0, err.getvalue()
        assert _api_counts(lab) == before  # api is still up
        [line] = [e for e in audit.read() if e.get("action") == "drill.start"][-1:]
        assert line["outcome"] == status and line["target"] == "api-down"
        shown = out.getvalue() + err.getvalue()
        assert ("read-only" if status == "refused" else "dry run") in shown
    assert not [e for e in audit.read() if e.get("type") == "drill"]


async def test_read_only_runner_refuses_a_drill_start(lab: Lab, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    you = Trainee(lab, audit)
    you.runner.read_only = True
    before = _api_counts(lab)
    session = DrillSession(DRILLS["api-down"], lab, audit, you.profile, runner=you.runner)
    outcome = await session.start()
    assert outcome.status == "refused" and "read-only" in outcome.message
    assert session.started_at is None and not you.confirmed
    assert _api_counts(lab) == before
    [line] = audit.read()
    assert (line["action"], line["outcome"], line["error"]) == ("drill.start", "refused", "read-only")


def test_cli_drill_without_a_running_lab_refuses_with_the_commands(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23 item 9: no second, private lab behind the trainee's back."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # where `lab up` writes lab.env: none there
    out, err = io.StringIO(), io.StringIO()
    assert main_drill(["run", "db-lock", "--timeout", "1"], stdout=out, stderr=err) == 2
    said = err.getvalue()
    assert "no running lab" in said and "cockpit lab up" in said and "--own-lab" in said
    assert "starting the lab" not in said


def test_cli_drill_finds_the_running_lab_and_notes_detection_by_action(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23 item 9: `cockpit drill run` in another shell drills on the lab `lab up` runs
    (its default lab-env file), and the trainee's first action on the affected queue is the
    detection, even though no cockpit saw them focus it."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "cockpit").mkdir()
    write_env_file(tmp_path / "cockpit" / "lab.env", lab_environment(lab))
    out, err = io.StringIO(), io.StringIO()
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(main_drill(
        ["run", "dlq-flood", "--timeout", "40", "--interval", "0.1"], stdout=out, stderr=err)))
    runner.start()
    deadline = time.monotonic() + 15
    while "goal:" not in out.getvalue():
        assert time.monotonic() < deadline and runner.is_alive(), out.getvalue() + err.getvalue()
        time.sleep(0.05)
    assert "using the running lab from" in err.getvalue()
    # The trainee, in a cockpit sharing the audit, acts on the queue (an audited action).
    audit = AuditLog(Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl")
    you = Trainee(lab, audit)

    async def purge() -> None:
        # A redrive: PurgeQueue allows one call a minute, and another test purged already.
        await you.act("queue.redrive_dlq", await you.row("aws:sqs", "jobs"))

    asyncio.run(purge())
    runner.join(40)
    assert result == [0], out.getvalue() + err.getvalue()
    assert "detection not noted" not in out.getvalue()
    assert "(detected by acting on it after" in out.getvalue()
