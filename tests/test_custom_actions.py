"""Issue 24: the team's own actions from profiles.yaml, run from the palette, a row key and
`cockpit run` on the lab, through the same confirmations, read-only, dry-run and audit.

A recording stub on PATH stands for the team's script: it appends its argv to a file, so the
tests check the exact argv that ran (and that nothing ran when nothing should).
"""

from __future__ import annotations

import html
import json
import os
import re
import textwrap
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from cockpit.app import CockpitApp
from cockpit.config import load_text
from cockpit.errors import ActionRefused, ConfigError
from cockpit.lab import start_lab
from cockpit.model import DatabaseSnapshot, PaneKind, QueueStatus, ServiceStatus, Severity
from screens.confirm import ConfirmScreen, ParamsScreen
from screens.detail import SectionsScreen

from .fixtures.moto import aws_client
from .helpers import ran, recording_stub, wait_until
from .test_lab_actions import _palette, _ready

ROOT = Path(__file__).resolve().parents[1]

PROFILE = """\
profiles:
  lab:
    lab: true
    refresh: 1
    actions:
      - id: svc.note
        title: "service: note the name"
        applies_to: {pane: services, backend: ecs}
        risk: read
        key: o
        argv: [recorder, read, "{target.name}", "{target.cluster}"]
        explain: Writes the row's name down.
      - id: svc.poke
        title: "service: poke"
        applies_to: {pane: services, backend: aws}
        risk: change
        key: y
        argv: [recorder, change, "{target.name}"]
      - id: dlq.fake_drain
        title: "queue: drain dead letters to a file"
        applies_to: {pane: queues, backend: aws}
        risk: destructive
        params:
          - {name: dest, prompt: "file to write", default: "dlq-{target.name}.jsonl"}
        argv: [recorder, destructive, "{target.dlq_name}", "{params.dest}"]
        on: local
        timeout: 30
"""


@pytest.fixture
def recorder(tmp_path, monkeypatch) -> Path:
    """A stub ``recorder`` on PATH: each run appends one line, its arguments tab-separated."""
    log, path = recording_stub(tmp_path, "recorder", "recorded $*")
    monkeypatch.setenv("PATH", path)
    return log


_ran = ran


def _raw_audit() -> list[dict]:
    path = Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _phases(action: str) -> list[tuple[str, str]]:
    return [(e.get("phase", ""), e.get("outcome", "")) for e in _raw_audit() if e.get("action") == action]


def _screen(app: CockpitApp) -> str:
    """The text on screen, as the user reads it (the SVG export without its markup)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\u00a0", " ")


def _app(**kw) -> CockpitApp:
    profile = load_text(PROFILE, Path("test-profiles.yaml")).get("lab")
    profile = replace(profile, **kw)
    return CockpitApp(profile, start_lab=lambda: start_lab(with_servers=False))


def _focus_api(app: CockpitApp) -> None:
    services = app.cockpit.panes[PaneKind.SERVICES]
    services.focus_body()
    row = services.table.row_keys.index(next(k for k, s in services.records.items() if s.name == "api"))
    services.table.move_cursor(row=row)


async def test_profile_actions_of_each_risk_run_from_row_key_and_palette(recorder):
    app = _app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(app)
        # read, from its row key: no confirmation, the exact argv, started/finished audited
        _focus_api(app)
        # its key is in the footer of the row it applies to
        await wait_until(lambda: "o service: note the name" in _screen(app), 5)
        await pilot.press("o")
        await wait_until(lambda: _ran(recorder), 15)
        assert _ran(recorder) == [["read", "api", "production"]]
        await wait_until(lambda: ("finished", "ok") in _phases("svc.note"), 10)
        assert _phases("svc.note") == [("started", ""), ("finished", "ok")]
        # its output, as plain text, with the exit status and the command
        await wait_until(lambda: isinstance(app.screen, SectionsScreen), 5)
        await wait_until(lambda: "recorded read api production" in _screen(app), 5)
        assert "ok: exit status 0" in _screen(app) and "$ recorder read api production" in _screen(app)
        await pilot.press("escape")

        # change, from the palette: a y/n confirmation showing the exact argv
        await _palette(pilot, "service: poke api")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert "recorder change api" in str(app.screen.query_one("#command").render())
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: len(_ran(recorder)) == 2, 15)
        assert _ran(recorder)[1] == ["change", "api"]
        await wait_until(lambda: isinstance(app.screen, SectionsScreen), 5)
        await pilot.press("escape")

        # destructive: parameter prefilled from the row, then the queue's name typed
        await _palette(pilot, "queue: drain dead letters to a file jobs")
        await wait_until(lambda: isinstance(app.screen, ParamsScreen), 5)
        assert app.screen.query_one("#param-dest").value == "dlq-jobs.jsonl"
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert "recorder destructive jobs-dlq dlq-jobs.jsonl" in str(app.screen.query_one("#command").render())
        await pilot.press(*"job", "enter")  # wrong name: nothing runs
        assert isinstance(app.screen, ConfirmScreen) and len(_ran(recorder)) == 2
        await pilot.press("s", "enter")
        await wait_until(lambda: len(_ran(recorder)) == 3, 15)
        assert _ran(recorder)[2] == ["destructive", "jobs-dlq", "dlq-jobs.jsonl"]
        await wait_until(lambda: ("finished", "ok") in _phases("dlq.fake_drain"), 10)
        assert _phases("dlq.fake_drain") == [("started", ""), ("finished", "ok")]
        finished = [e for e in _raw_audit() if e.get("action") == "dlq.fake_drain"][-1]
        assert finished["command"].endswith("recorder destructive jobs-dlq dlq-jobs.jsonl")
        await wait_until(lambda: isinstance(app.screen, SectionsScreen), 5)
        await pilot.press("escape")

        # the change again, from its row key: confirmed the same way
        _focus_api(app)
        await pilot.press("y")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("tab", "enter")
        await wait_until(lambda: len(_ran(recorder)) == 4, 15)
        assert _ran(recorder)[3] == ["change", "api"]
        await wait_until(lambda: _phases("svc.poke").count(("finished", "ok")) == 2, 10)
        assert _phases("svc.poke") == [("started", ""), ("finished", "ok")] * 2
        await wait_until(lambda: isinstance(app.screen, SectionsScreen), 5)
        await pilot.press("escape")

        # listed in help with its risk and explanation, and in the services footer
        assert any("service: note the name (read) — Writes the row's name down." in line
                   for _, lines in app.help_sections() for _, line in lines)
        await pilot.press("q")


async def test_profile_actions_are_refused_in_read_only_and_only_shown_in_dry_run(recorder):
    app = _app(read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(app)
        await _palette(pilot, "service: poke api")
        await wait_until(lambda: ("finished", "refused") in _phases("svc.poke"), 10)
        await _palette(pilot, "queue: drain dead letters to a file jobs")
        await wait_until(lambda: ("finished", "refused") in _phases("dlq.fake_drain"), 10)
        assert app.screen is app.cockpit  # nothing was even asked
        assert all(e["error"] == "read-only" for e in _raw_audit() if e.get("action") in ("svc.poke", "dlq.fake_drain"))
        assert _ran(recorder) == []
        await pilot.press("q")

    profile = load_text(PROFILE, Path("test-profiles.yaml")).get("lab")
    app = CockpitApp(profile, start_lab=lambda: start_lab(with_servers=False), dry_run=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(app)
        await _palette(pilot, "service: poke api")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("tab", "enter")
        await wait_until(lambda: ("finished", "dry-run") in _phases("svc.poke"), 10)
        assert _ran(recorder) == []  # shown and audited, never run
        await pilot.press("q")


def _load_error(actions: str) -> str:
    text = "profiles:\n  p:\n    actions:\n" + textwrap.indent(textwrap.dedent(actions), "      ")
    with pytest.raises(ConfigError) as e:
        load_text(text, Path("p.yaml"))
    return e.value.message


def test_placeholders_are_checked_when_the_profile_loads():
    assert _load_error("""\
        - id: a.b
          title: "x: y"
          applies_to: {pane: queues}
          risk: read
          argv: [echo, "{target.nope}"]
    """).startswith("p.yaml:4: profiles.p.actions[0].argv[1]: {target.nope}: the target has no field 'nope'")
    assert "no parameter 'dest' is declared" in _load_error("""\
        - id: a.b
          title: "x: y"
          applies_to: {pane: queues}
          risk: read
          argv: [echo, "{params.dest}"]
    """)
    assert "on: host runs on the row's host" in _load_error("""\
        - id: a.b
          title: "x: y"
          applies_to: {pane: queues}
          risk: read
          on: host
          argv: [echo]
    """)
    assert "is a built-in action" in _load_error("""\
        - id: service.restart
          title: "service: restart"
          risk: change
          argv: [echo]
    """)
    assert "expected one of read, change, destructive" in _load_error("""\
        - id: a.b
          title: "x: y"
          risk: dangerous
          argv: [echo]
    """)


def _spec(action: str):
    from cockpit.custom_actions import profile_actions

    text = "profiles:\n  p:\n    actions:\n" + textwrap.indent(textwrap.dedent(action), "      ")
    return profile_actions(load_text(text, Path("p.yaml")).get("p"))[0]


def test_values_that_read_as_options_are_refused_unless_allowed():
    spec = _spec("""\
        - id: a.b
          title: "x: y"
          applies_to: {pane: queues}
          risk: read
          params: [{name: n}, {name: flag, allow_dash: true}]
          argv: [tool, "{target.name}", "{params.n}", "{params.flag}"]
    """)
    queue = QueueStatus("jobs", "sqs", "aws:sqs", 1)
    with pytest.raises(ActionRefused, match="starts with '-'"):
        spec.resolve_params(None, queue, {"n": "--all", "flag": "-v"})
    assert spec.command(None, queue, spec.resolve_params(None, queue, {"n": "x", "flag": "-v"})) == [
        "tool", "jobs", "x", "-v"]
    with pytest.raises(ActionRefused, match="starts with '-'"):
        spec.command(None, replace(queue, name="-rf"), {"n": "x", "flag": "-v"})


def test_on_host_quotes_each_word_for_ssh():
    from cockpit.backends.ssh import SshTransport

    spec = _spec("""\
        - id: a.b
          title: "x: y"
          applies_to: {pane: hosts}
          risk: read
          params: [{name: pattern}]
          argv: [grep, -c, "{params.pattern}", /var/log/app.log]
          on: host
    """)
    transport = SshTransport("app-1", "app-1.internal")
    backend = SimpleNamespace(host=SimpleNamespace(transport=transport))
    row = ServiceStatus("app-1", "host", "host:app-1", Severity.OK, "ok", 1, 1)
    assert spec.applies_to(row) and not spec.applies_to(replace(row, backend="ecs"))
    words = ["grep", "-c", "a b; rm x", "/var/log/app.log"]
    # What ssh hands the remote shell: one string, each word quoted once.
    assert transport.argv(words)[-1] == "grep -c 'a b; rm x' /var/log/app.log"
    assert spec.command(backend, row, {"pattern": "a b; rm x"}) == [
        "ssh", "app-1.internal", "grep -c 'a b; rm x' /var/log/app.log"]


def test_cockpit_run_restarts_api_on_the_lab_and_exits_0(capsys):
    from cockpit.run import main_run

    code = main_run(["service.restart", "api", "--profile", "lab", "--yes", "--format", "json",
                     "--config", str(ROOT / "profiles.yaml")])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    assert result["status"] == "ok" and "restart of api started" in result["message"]
    assert "aws ecs update-service" in result["command"]
    assert _phases("service.restart") == [("started", ""), ("finished", "ok")]


def test_cockpit_run_profile_action_needs_the_typed_name_for_destructive(tmp_path, recorder, capsys):
    from cockpit.run import main_run

    config = tmp_path / "profiles.yaml"
    config.write_text(PROFILE)
    base = ["dlq.fake_drain", "jobs", "--config", str(config), "--param", "dest=out.jsonl"]
    assert main_run([*base, "--yes"]) == 1  # --yes is not the typed name
    assert "pass --confirm jobs" in capsys.readouterr().err
    assert _ran(recorder) == []
    assert main_run([*base, "--confirm", "jobs", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and "recorded destructive jobs-dlq out.jsonl" in result["message"]
    assert _ran(recorder) == [["destructive", "jobs-dlq", "out.jsonl"]]


def test_lab_profile_examples_load_and_apply_to_the_lab_rows():
    from cockpit.config import load_config
    from cockpit.custom_actions import profile_actions

    specs = {s.id: s for s in profile_actions(load_config(ROOT / "profiles.yaml").get("lab"))}
    assert set(specs) >= {"dlq.drain", "host.daily_check", "cache.analyze_keys"}
    assert specs["dlq.drain"].applies_to(QueueStatus("jobs", "sqs", "aws:sqs", 1, dlq_name="jobs-dlq"))
    assert not specs["dlq.drain"].applies_to(QueueStatus("jobs", "redis", "redis:r:queues", 1))


def test_a_missing_dlq_is_refused_not_passed_empty():
    spec = _spec("""\
        - id: a.b
          title: "x: y"
          applies_to: {pane: queues}
          risk: read
          argv: [tool, "{target.dlq_name}"]
    """)
    with pytest.raises(ActionRefused, match="no dlq_name"):
        spec.command(None, QueueStatus("jobs", "sqs", "aws:sqs", 1), {})


NO_ROW = """\
profiles:
  p:
    actions:
      - id: ops.note
        title: "ops: write a note"
        risk: change
        argv: [recorder, note, "{target.name}"]
      - id: ops.slow
        title: "ops: hang"
        risk: read
        argv: [sleep, "30"]
        timeout: 0.5
"""


def test_an_action_on_no_row_runs_once_on_the_profile_and_a_hung_one_is_stopped(tmp_path, recorder, capsys):
    from cockpit.run import main_run

    config = tmp_path / "profiles.yaml"
    config.write_text(NO_ROW)
    assert main_run(["ops.note", "--config", str(config)]) == 1  # a change needs --yes
    assert _ran(recorder) == []
    assert main_run(["ops.note", "--config", str(config), "--yes"]) == 0
    assert _ran(recorder) == [["note", "p"]]
    capsys.readouterr()
    assert main_run(["ops.slow", "--config", str(config), "--format", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "failed" and "did not finish within 0.5 s" in result["message"]
    assert _phases("ops.slow") == [("started", ""), ("finished", "failed")]


async def test_an_action_on_no_row_is_in_the_palette(recorder):
    app = CockpitApp(load_text(NO_ROW, Path("p.yaml")).get("p"))
    async with app.run_test(size=(160, 48)) as pilot:
        await _palette(pilot, "ops: write a note")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: _ran(recorder), 10)
        assert _ran(recorder) == [["note", "p"]]
        await wait_until(lambda: isinstance(app.screen, SectionsScreen), 5)
        await pilot.press("escape", "q")


def test_a_row_key_must_not_shadow_a_built_in_one():
    assert "'r' is taken on these rows (service: restart)" in _load_error("""\
        - id: a.b
          title: "x: y"
          applies_to: {pane: services}
          risk: read
          key: r
          argv: [echo]
    """)


def test_source_url_runs_with_its_password_and_is_shown_masked():
    spec = _spec("""\
        - id: a.b
          title: "cache: analyze keys"
          applies_to: {pane: database, backend: redis}
          risk: read
          argv: [redis-cli, -u, "{source.url}", --bigkeys]
    """)
    url = "redis://:s3cret-pass@127.0.0.1:6399/0"
    backend = SimpleNamespace(conn=SimpleNamespace(url=lambda: url))
    row = DatabaseSnapshot("lab-redis", "redis", "redis:lab-redis")
    assert spec.applies_to(row) and not spec.applies_to(replace(row, backend="postgres"))
    shown = " ".join(spec.command(backend, row, {}))
    assert "s3cret-pass" not in shown and "127.0.0.1:6399" in shown
    assert spec.argv(backend, row, {})[2] == url  # what runs has it


def test_the_lab_examples_drain_the_dlq_to_a_file_and_analyze_redis_keys(tmp_path):
    import asyncio
    import shutil

    from cockpit.config import load_config
    from cockpit.run import _parser, run_action

    if not shutil.which("aws") or not shutil.which("redis-cli"):
        pytest.skip("the shipped examples need the aws CLI and redis-cli")
    lab = start_lab(with_servers=True)
    try:
        profile = lab.profile(load_config(ROOT / "profiles.yaml").get("lab"))
        dest = tmp_path / "dead.jsonl"

        def run(*argv: str):
            return asyncio.run(run_action(profile, dict(lab.notes), _parser().parse_args(list(argv))))

        _, name, outcome = run("dlq.drain", "jobs", "--confirm", "jobs", "--param", f"dest={dest}")
        assert outcome.ok, outcome.message
        drained = [json.loads(line) for line in dest.read_text().splitlines()]
        assert drained and all("Body" in m for m in drained)
        assert f"drained {len(drained)} message(s) from jobs-dlq" in outcome.message
        sqs = aws_client(lab.aws_endpoint, "sqs")
        url = sqs.get_queue_url(QueueName="jobs-dlq")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"

        _, _, outcome = run("cache.analyze_keys", "lab-redis")
        assert outcome.ok and "Biggest" in outcome.message, outcome.message
    finally:
        lab.stop()


def test_explain_lists_a_profile_action_with_its_argv():
    from cockpit.explain import explain

    spec = _spec("""\
        - id: a.b
          title: "queue: count"
          applies_to: {pane: queues}
          risk: read
          argv: [tool, count, "{target.name}"]
    """)
    row = QueueStatus("jobs", "sqs", "aws:sqs", 1)
    sections = explain(PaneKind.QUEUES, [], row, object(), "p", (spec,))
    actions = next(s for s in sections if s.title == "Actions on jobs")
    assert "queue: count (read): tool count jobs" in actions.lines


def test_a_built_wheel_carries_the_shipped_scripts_executable(tmp_path):
    """`pip install ops-cockpit` (not editable) must bring the scripts the shipped profiles name."""
    import shutil
    import stat
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parent.parent
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    for pkg in ("cockpit", "widgets", "screens", "themes"):
        shutil.copytree(root / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src),
         "-w", str(tmp_path / "dist")],
        check=True, capture_output=True, timeout=120,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    shipped = (root / "cockpit" / "profiles.yaml").read_text()
    named = set(re.findall(r"\{cockpit\.scripts\}/([\w.-]+)", shipped))
    assert named, "the shipped profiles name no script: this test checks nothing"
    with zipfile.ZipFile(wheel) as zf:
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    for script in named:
        mode = modes.get(f"cockpit/scripts/{script}")
        assert mode is not None, f"cockpit/scripts/{script} is not in the wheel"
        assert mode & stat.S_IXUSR, f"cockpit/scripts/{script} is not executable in the wheel"


# --- runbook steps that name a profile action (issue 24) -------------------------------------

RUNBOOK = """\
    runbooks:
      - match: "jobs*"
        title: Dead letters waiting
        steps: ["Look at the queue's depth first",
                "Keep the dead letters in a file before anything else: action: dlq.fake_drain"]
"""


def test_a_runbook_step_may_name_a_profile_action_and_an_unknown_one_is_refused_with_its_line():
    profile = load_text(PROFILE + RUNBOOK, Path("p.yaml")).get("lab")
    [runbook] = profile.runbooks
    assert [s.action for s in runbook.steps] == ["", "dlq.fake_drain"]
    # Before the actions: the step is checked once the whole profile is read.
    first = PROFILE.replace("    actions:\n", RUNBOOK + "    actions:\n", 1)
    assert load_text(first, Path("p.yaml")).get("lab").runbooks[0].steps[1].action == "dlq.fake_drain"
    typo = (PROFILE + RUNBOOK).replace("action: dlq.fake_drain", "action: dlq.fake_drian")
    with pytest.raises(ConfigError) as e:
        load_text(typo, Path("p.yaml"))
    line = (PROFILE + RUNBOOK).splitlines().index(
        '                "Keep the dead letters in a file before anything else: action: dlq.fake_drain"]') + 1
    assert e.value.message.startswith(f"p.yaml:{line}: profiles.lab.runbooks[0].steps[1]: "
                                      "unknown action 'dlq.fake_drian'"), e.value.message
    assert e.value.hint == "did you mean 'dlq.fake_drain'?"
    # Another profile's action is not this one's.
    other = PROFILE + RUNBOOK + "  bare:\n" + RUNBOOK
    with pytest.raises(ConfigError) as e:
        load_text(other, Path("p.yaml"))
    assert "profiles.bare.runbooks[0].steps[1]: unknown action 'dlq.fake_drain'" in e.value.message


async def test_a_runbook_step_runs_a_profile_action_after_its_confirmation(recorder):
    from textual.widgets import Checkbox

    from screens.detail import DetailScreen

    profile = load_text(PROFILE + RUNBOOK, Path("test-profiles.yaml")).get("lab")
    app = CockpitApp(profile, start_lab=lambda: start_lab(with_servers=False))
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(app)
        queues = app.cockpit.panes[PaneKind.QUEUES]
        queues.focus_body()
        row = queues.table.row_keys.index(next(k for k, q in queues.records.items() if q.name == "jobs"))
        queues.table.move_cursor(row=row)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        detail = app.screen
        await wait_until(lambda: len(detail.query(Checkbox)) == 2, 5)
        box = list(detail.query(Checkbox))[1]
        assert "▶ dlq.fake_drain" in str(box.label)
        await pilot.click(f"#{box.id}")
        await wait_until(lambda: isinstance(app.screen, ParamsScreen), 5)
        assert app.screen.query_one("#param-dest").value == "dlq-jobs.jsonl"
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert "recorder destructive jobs-dlq dlq-jobs.jsonl" in str(app.screen.query_one("#command").render())
        assert _ran(recorder) == [] and not box.value  # nothing runs, nothing ticked, until confirmed
        await pilot.press(*"jobs", "enter")
        await wait_until(lambda: ("finished", "ok") in _phases("dlq.fake_drain"), 15)
        assert _ran(recorder) == [["destructive", "jobs-dlq", "dlq-jobs.jsonl"]]
        assert _phases("dlq.fake_drain") == [("started", ""), ("finished", "ok")]
        started = next(e for e in _raw_audit() if e.get("action") == "dlq.fake_drain")
        assert started["origin"] == "detail" and started["command"].endswith("recorder destructive jobs-dlq dlq-jobs.jsonl")
        await wait_until(lambda: box.value, 5)  # the step is done when its action is
        await wait_until(lambda: any(e.get("step", "").startswith("Keep the dead letters") and e.get("done")
                                     for e in _raw_audit()), 5)
