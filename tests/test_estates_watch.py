"""Several estates seen from a watcher or a replay: the driver's ``hello`` says its profile
spans several estates, so a watcher (which has no such profile) and a replay of its
recording show the estate column too, and ``/estate:NAME`` keeps one estate's rows.
Fakes, not the lab: two estates' rows from in-process sources."""

from __future__ import annotations

from dataclasses import replace

from cockpit.app import CockpitApp
from cockpit.model import PaneKind
from cockpit.profile import AwsConfig, Profile
from cockpit.replay import Player
from cockpit.share import parse_target
from cockpit.sources import Sources
from cockpit.stream import StreamDecoder, StreamEncoder

from .fakes import ListSource, QueueLogs, alarms, queues, services
from .helpers import wait_until
from .test_stream import update

ESTATES = ("prod-eu", "prod-us")


def _two_estates(profile: Profile, notes: dict[str, str]) -> Sources:
    sources = []
    for estate in ESTATES:
        for pane, records in ((PaneKind.SERVICES, services()), (PaneKind.ALARMS, alarms()),
                              (PaneKind.QUEUES, queues())):
            sid = f"{estate}:{pane.value}"
            sources.append(ListSource(sid, pane, [replace(r, source=sid, estate=estate) for r in records]))
    return Sources(sources, [QueueLogs()])


def _columns(app: CockpitApp, kind: PaneKind) -> list[str]:
    return [str(key.value) for key in app.cockpit.panes[kind].table.columns]


def _cells(app: CockpitApp, kind: PaneKind) -> list[list[str]]:
    table = app.cockpit.panes[kind].table
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


def _estates_shown(app: CockpitApp, kind: PaneKind) -> set[tuple[str, str]]:
    """(name, estate) of each row on screen, read from the estate column."""
    return {(r[1], r[2]) for r in _cells(app, kind)}


async def test_a_watcher_of_a_two_estate_driver_shows_each_rows_estate_and_filters_by_it(tmp_path):
    from screens.replay import attach_feed

    sock = str(tmp_path / "drv.sock")
    recording = str(tmp_path / "drv.cz")
    profile = Profile(name="prod", refresh=0.2, aws=AwsConfig(name=ESTATES[0]),
                      aws_more=(AwsConfig(name=ESTATES[1]),))
    driver = CockpitApp(profile, sources_factory=_two_estates, share=sock, record=recording)
    watcher = CockpitApp(Profile(name="watcher", read_only=True), read_only=True,
                         feed=attach_feed(parse_target(sock)))
    async with driver.run_test(size=(160, 48)):
        await wait_until(lambda: driver.share_server is not None, 5)
        async with watcher.run_test(size=(160, 48)) as w:
            services_pane = watcher.cockpit.panes[PaneKind.SERVICES]
            await wait_until(lambda: services_pane.row_count() == 4, 10)
            for kind, rows in ((PaneKind.SERVICES, 4), (PaneKind.ALARMS, 2), (PaneKind.QUEUES, 2)):
                await wait_until(lambda kind=kind, rows=rows: watcher.cockpit.panes[kind].row_count() == rows, 10)
                assert _columns(watcher, kind) == _columns(driver, kind), kind
                assert _columns(watcher, kind)[2] == "estate", _columns(watcher, kind)
            assert _estates_shown(watcher, PaneKind.SERVICES) == {
                (name, estate) for name in ("api", "worker") for estate in ESTATES}
            assert _estates_shown(watcher, PaneKind.QUEUES) == {("jobs", e) for e in ESTATES}

            services_pane.focus_body()
            await w.press("slash", *"estate:prod-us", "enter")
            await wait_until(lambda: {r[2] for r in _cells(watcher, PaneKind.SERVICES)} == {"prod-us"}, 5)
            assert {r[1] for r in _cells(watcher, PaneKind.SERVICES)} == {"api", "worker"}

    # The driver's recording, replayed: the same column, each row's estate.
    from screens.replay import ReplayScreen, replay_feed

    player = Player.open(recording)
    replay = CockpitApp(Profile(name=player.profile, read_only=True), read_only=True,
                        feed=replay_feed(player), screen_factory=lambda banner: ReplayScreen(banner, player))
    async with replay.run_test(size=(160, 48)):
        await wait_until(lambda: replay.cockpit.panes[PaneKind.SERVICES].row_count() == 4, 10)
        assert _columns(replay, PaneKind.SERVICES)[2] == "estate"
        assert _estates_shown(replay, PaneKind.SERVICES) == {
            (name, estate) for name in ("api", "worker") for estate in ESTATES}


def _replay_app(events: list[dict]) -> CockpitApp:
    from screens.replay import ReplayScreen, replay_feed

    player = Player(events)
    return CockpitApp(Profile(name="prod", read_only=True), read_only=True, feed=replay_feed(player),
                      screen_factory=lambda banner: ReplayScreen(banner, player))


async def test_a_replay_of_a_two_estate_stream_shows_the_column_and_filters_by_estate():
    enc = StreamEncoder("prod", clock=lambda: 1000.0)
    events = [{**enc.hello(), "estates": True}]  # as a two-estate driver's says
    for estate in ESTATES:
        sid = f"{estate}:ecs"
        events.append(enc.snapshot(update([replace(s, source=sid, estate=estate) for s in services()],
                                          source=sid, fetched_at=1000.0)))
    app = _replay_app(events)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 4, 5)
        assert _columns(app, PaneKind.SERVICES)[2] == "estate"
        assert _estates_shown(app, PaneKind.SERVICES) == {(n, e) for n in ("api", "worker") for e in ESTATES}
        pane.focus_body()
        await pilot.press("slash", *"estate:prod-eu", "enter")
        await wait_until(lambda: {r[2] for r in _cells(app, PaneKind.SERVICES)} == {"prod-eu"}, 5)


async def test_an_old_hello_without_estates_replays_as_one_estate_did():
    enc = StreamEncoder("lab", clock=lambda: 1000.0)
    hello = enc.hello()
    hello.pop("estates", None)  # recorded before the field existed
    assert StreamDecoder().feed(hello) is not None
    app = _replay_app([hello, enc.snapshot(update(services(), fetched_at=1000.0))])
    async with app.run_test(size=(160, 48)):
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        assert "estate" not in _columns(app, PaneKind.SERVICES)
        assert {r[1] for r in _cells(app, PaneKind.SERVICES)} == {"api", "worker"}


def test_the_hello_says_whether_the_driver_spans_several_estates():
    assert StreamEncoder("prod", estates=True).hello()["estates"] is True
    assert StreamEncoder("lab").hello()["estates"] is False
    decoder = StreamDecoder()
    assert decoder.feed({**StreamEncoder("prod").hello(), "estates": "yes"}) is None
    assert "estates" in decoder.last_rejection


async def test_a_redis_watcher_of_a_headless_two_estate_poller_shows_the_estate_column(redis_url):
    from tests.helpers import polled_and_watched

    url = f"{redis_url}?stream=cockpit:estates"
    profile = Profile(name="prod", refresh=0.2, aws=AwsConfig(name=ESTATES[0]),
                      aws_more=(AwsConfig(name=ESTATES[1]),))
    async with polled_and_watched(url, profile, _two_estates) as watcher, watcher.run_test(size=(160, 48)):
        await wait_until(lambda: watcher.cockpit.panes[PaneKind.QUEUES].row_count() == 2, 10)
        assert _columns(watcher, PaneKind.QUEUES)[2] == "estate"
        assert _estates_shown(watcher, PaneKind.QUEUES) == {("jobs", e) for e in ESTATES}
