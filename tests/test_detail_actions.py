"""Issue 23 item 4: actions are where the eye is (detail footers, palette, runbook steps, `e`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from textual.widgets import Checkbox

from cockpit.app import CockpitApp
from cockpit.dbmodel import Activity, Session
from cockpit.model import DatabaseSnapshot, DetailSection, PaneKind
from cockpit.profile import Profile, Runbook, RunbookStep
from cockpit.sources import Sources
from screens.detail import DetailScreen
from widgets.explain import ExplainPanel
from widgets.footer import KeyFooter

from .fakes import FakeEstate, ListSource
from .helpers import wait_until


class ActingQueues(ListSource):
    """Queues whose source can peek, redrive and purge dead letters (and says what it did)."""

    def __init__(self, records: list) -> None:
        super().__init__("fake:sqs", PaneKind.QUEUES, records, "SQS")
        self.done: list[str] = []

    async def peek_dlq(self, target):
        self.done.append("peek")
        return "1 message"

    def peek_dlq_command(self, target):
        return ["aws", "sqs", "receive-message"]

    async def redrive_dlq(self, target):
        self.done.append("redrive")
        return "moved 4"

    def redrive_dlq_command(self, target):
        return ["aws", "sqs", "start-message-move-task"]

    async def purge_dlq(self, target):
        self.done.append("purge")
        return "purged"

    def purge_dlq_command(self, target):
        return ["aws", "sqs", "purge-queue"]


class Postgres(ListSource):
    """A database source with sessions: one holds a lock, one waits behind it."""

    def __init__(self) -> None:
        super().__init__("pg:main", PaneKind.DATABASE,
                         [DatabaseSnapshot("main", "postgres", "pg:main", status="up")], "PostgreSQL")
        self.sessions = (
            Session(pid=101, source="pg:main", application="holder", state="idle in transaction",
                    duration_s=60.0),
            Session(pid=202, source="pg:main", application="waiter", state="active", duration_s=30.0,
                    blocked_by=(101,), query="UPDATE t SET x = 1"),
        )
        self.terminated: list[int] = []
        self.cancelled: list[int] = []

    async def activity(self) -> Activity:
        self.last_activity = Activity("main", self.id, self.sessions)
        return self.last_activity

    async def detail(self, record):
        activity = await self.activity()
        return [DetailSection("Sessions", ("pid", "application"),
                              tuple((str(s.pid), s.application) for s in activity.sessions))]

    async def terminate_backend(self, target):
        self.terminated.append(target.pid)
        return f"terminated {target.pid}"

    def terminate_backend_command(self, target):
        return ["psql", "-c", f"SELECT pg_terminate_backend({target.pid})"]

    async def cancel_backend(self, target):
        self.cancelled.append(target.pid)
        return "cancelled"

    def cancel_backend_command(self, target):
        return ["psql", "-c", f"SELECT pg_cancel_backend({target.pid})"]


def _app(estate: FakeEstate, *extra, runbooks=()) -> CockpitApp:
    def factory(profile, notes):
        return Sources([estate.services, estate.alarms, *extra], [estate.logs])

    return CockpitApp(Profile(name="test", refresh=0.2, runbooks=runbooks), sources_factory=factory)


def _footer(app: CockpitApp) -> str:
    return str(app.screen.query_one(KeyFooter).render())


async def _open(app: CockpitApp, pilot, kind: PaneKind) -> DetailScreen:
    pane = app.cockpit.panes[kind]
    await wait_until(lambda: pane.row_count() >= 1, 5)
    pane.focus_body()
    await pilot.press("enter")
    await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
    await pilot.pause()
    return app.screen  # type: ignore[return-value]


async def _confirm_typed(app: CockpitApp, pilot, name: str) -> None:
    from screens.confirm import ConfirmScreen

    await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
    await pilot.press(*name, "enter")


async def test_queue_detail_offers_peek_redrive_purge_in_footer_and_palette():
    estate = FakeEstate()
    queues = ActingQueues(list(estate.queues.records))
    app = _app(estate, queues)
    async with app.run_test(size=(160, 48)) as pilot:
        detail = await _open(app, pilot, PaneKind.QUEUES)
        footer = _footer(app)
        for words in ("Peek dead letters", "Redrive dead letters", "Purge dead letters"):
            assert words in footer, footer
        titles = [c.title for c in detail.palette_commands()]
        assert titles[:3] == ["queue: purge dead letters jobs-dlq", "queue: peek dead letters jobs",
                              "queue: redrive dead letters jobs"], titles
        await pilot.press("P")  # purge: destructive, typed confirmation of the DLQ's name
        await _confirm_typed(app, pilot, "jobs-dlq")
        await wait_until(lambda: queues.done == ["purge"], 5)
        # The real palette, opened on the detail, lists them too.
        from .test_lab_actions import _palette

        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        await _palette(pilot, "queue: peek dead letters jobs")
        await wait_until(lambda: queues.done == ["purge", "peek"], 5)


async def test_database_detail_terminates_the_blocker_from_its_footer_and_lists_sessions():
    estate = FakeEstate()
    pg = Postgres()
    app = _app(estate, pg)
    async with app.run_test(size=(160, 48)) as pilot:
        detail = await _open(app, pilot, PaneKind.DATABASE)
        await wait_until(lambda: detail.sessions, 5)
        await pilot.pause()
        footer = _footer(app)
        assert "Terminate session (blocker)" in footer and "Cancel query (blocker)" in footer, footer
        titles = [c.title for c in detail.palette_commands()]
        assert "database: terminate session holder:101" in titles, titles
        assert any(t.startswith("database: terminate session waiter:202") for t in titles), titles
        await pilot.press("K")
        await _confirm_typed(app, pilot, "holder:101")
        await wait_until(lambda: pg.terminated == [101], 5)
        # Only this detail knows its sessions: the palette opened on it offers each.
        from .test_lab_actions import _palette

        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        await _palette(pilot, "database: cancel query holder:101")
        from screens.confirm import ConfirmScreen

        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.click("#confirm")
        await wait_until(lambda: pg.cancelled == [101], 5)


async def test_runbook_step_naming_an_action_runs_it_through_the_confirmation():
    estate = FakeEstate()
    queues = ActingQueues(list(estate.queues.records))
    runbooks = (Runbook("jobs*", "Dead letters", steps=(
        RunbookStep("Look first"), RunbookStep("Send them back", "queue.redrive_dlq"))),)
    app = _app(estate, queues, runbooks=runbooks)
    async with app.run_test(size=(160, 48)) as pilot:
        detail = await _open(app, pilot, PaneKind.QUEUES)
        boxes = list(detail.query(Checkbox))
        assert "▶ queue.redrive_dlq" in str(boxes[1].label)
        await pilot.click(f"#{boxes[1].id}")
        from screens.confirm import ConfirmScreen

        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert not boxes[1].value  # not done until the action is
        await pilot.click("#confirm")
        await wait_until(lambda: queues.done == ["redrive"], 5)
        await wait_until(lambda: boxes[1].value, 5)
        audit = Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
        lines = [json.loads(x) for x in audit.read_text().splitlines()]
        await wait_until(lambda: any(e.get("step") == "Send them back" for e in
                                     (json.loads(x) for x in audit.read_text().splitlines())), 5)
        assert any(e.get("action") == "queue.redrive_dlq" and e.get("origin") == "detail" for e in lines)


async def test_e_explains_on_detail_and_other_screens():
    estate = FakeEstate()
    queues = ActingQueues(list(estate.queues.records))
    app = _app(estate, queues)
    async with app.run_test(size=(160, 48)) as pilot:
        detail = await _open(app, pilot, PaneKind.QUEUES)
        await pilot.press("e")
        panel = detail.query_one(ExplainPanel)
        assert panel.shown and "Actions on this detail" in panel.text
        assert "aws sqs" in panel.text  # the CLI commands it replaces
        await pilot.press("escape")
        await wait_until(lambda: app.screen is app.cockpit, 5)
        app.action_timeline()
        await pilot.pause()
        await pilot.press("e")
        assert app.screen.query_one(ExplainPanel).shown
        await pilot.press("escape")
        await wait_until(lambda: app.screen is app.cockpit, 5)
        estate.logs.push("GET /v1/orders 500")  # a log line's detail: no source row behind it
        await wait_until(lambda: app.cockpit.logs.view.total == 1, 5)
        app.cockpit.logs.view.focus()
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        await pilot.press("e")
        panel = app.screen.query_one(ExplainPanel)
        assert panel.shown and "Log line" in panel.text


def test_every_lab_alarm_has_a_runbook():
    from cockpit.config import load_config
    from cockpit.lab.drills import DLQ_ALARM, ERROR_ALARM, SERVICE_DOWN_ALARM
    from cockpit.lab.promservers import LAB_RULES
    from cockpit.runbooks import match_runbooks

    root = Path(__file__).resolve().parent.parent
    seed = (root / "cockpit" / "lab" / "seed.py").read_text()
    names = set(re.findall(r'AlarmName="([^"]+)"', seed)) | {DLQ_ALARM, ERROR_ALARM, SERVICE_DOWN_ALARM}
    names |= {r["alert"] for g in json.loads(LAB_RULES)["groups"] for r in g["rules"]}
    names |= {"svc-0001-high-cpu", "this-machine disk /"}  # the extra services', a host disk's
    lab = load_config(root / "cockpit" / "profiles.yaml").get("lab")
    missing = sorted(n for n in names if not match_runbooks(lab.runbooks, n))
    assert not missing, f"lab alarms without a runbook: {missing}"
    steps = [s for rb in lab.runbooks for s in rb.steps]
    assert {s.action for s in steps if s.action} >= {"service.restart", "queue.purge_dlq",
                                                    "database.terminate_session", "dlq.drain"}


class RestartableServices(ListSource):
    def __init__(self, records: list) -> None:
        super().__init__("fake:ecs", PaneKind.SERVICES, records, "ECS production")
        self.restarted: list[str] = []

    async def restart(self, target):
        self.restarted.append(target.name)
        return f"restarted {target.name}"

    def restart_command(self, target):
        return ["aws", "ecs", "update-service", "--service", target.name, "--force-new-deployment"]


async def test_runbook_step_on_an_alarm_acts_on_the_row_the_alarm_is_about():
    """"Restart the service" in the runbook of api's alarm restarts api (the alarm's resource)."""
    estate = FakeEstate()
    estate.services = RestartableServices(list(estate.services.records))
    runbooks = (Runbook("*error-rate*", "5XX", steps=(RunbookStep("Restart the service", "service.restart"),)),)
    app = _app(estate, runbooks=runbooks)
    async with app.run_test(size=(160, 48)) as pilot:
        services = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: services.row_count() == 2, 5)
        detail = await _open(app, pilot, PaneKind.ALARMS)
        [box] = list(detail.query(Checkbox))
        await pilot.click(f"#{box.id}")
        from screens.confirm import ConfirmScreen

        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert app.screen.request.target == "api"
        await pilot.click("#confirm")
        await wait_until(lambda: estate.services.restarted == ["api"], 5)
        await wait_until(lambda: box.value, 5)



def test_a_pagerduty_services_qualifier_still_names_the_row_the_alarm_is_about():
    # PagerDuty services are often named "api (production)"; the lab's is "api (lab)". A
    # runbook step "Restart the service" on such a page found no row (QA on the lab).
    from screens.detail_actions import subject_names

    assert "api" in subject_names("api (lab)")
    assert "api" in subject_names("aws:ecs/production/api")
    assert subject_names("") == set()
