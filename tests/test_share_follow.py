"""Issue 23 item 8: watchers show the driver's profile and follow its details; replays say so."""

from __future__ import annotations

from cockpit.app import CockpitApp
from cockpit.model import PaneKind
from cockpit.profile import Profile
from cockpit.replay import Player
from cockpit.share import parse_target
from cockpit.stream import StreamEncoder
from screens.detail import DetailScreen
from widgets.banner import ProfileBanner

from .fakes import FakeEstate, services
from .helpers import wait_until
from .test_stream import update


async def test_watcher_shows_the_drivers_profile_and_follows_its_detail(tmp_path):
    from screens.replay import attach_feed

    estate = FakeEstate()
    sock = str(tmp_path / "drv.sock")
    driver = CockpitApp(Profile(name="prod-eu", refresh=0.2, production=True),
                        sources_factory=estate.factory, share=sock)
    watcher = CockpitApp(Profile(name="watcher", read_only=True), read_only=True,
                         feed=attach_feed(parse_target(sock)))
    async with driver.run_test(size=(160, 48)) as d:
        await wait_until(lambda: driver.share_server is not None, 5)
        async with watcher.run_test(size=(160, 48)) as w:
            queues = watcher.cockpit.panes[PaneKind.QUEUES]
            await wait_until(lambda: queues.row_count() == 1, 10)
            banner = watcher.cockpit.query_one(ProfileBanner)
            await wait_until(lambda: "PRODUCTION: prod-eu" in str(banner.content), 5)
            assert "watcher" not in str(banner.content).split("  ")[0]
            assert banner.has_class("-production")
            pane = driver.cockpit.panes[PaneKind.QUEUES]
            await wait_until(lambda: pane.row_count() == 1, 5)
            pane.focus_body()
            await d.press("enter")
            await wait_until(lambda: isinstance(driver.screen, DetailScreen), 5)
            await wait_until(lambda: isinstance(watcher.screen, DetailScreen), 10)
            assert watcher.screen.record.name == "jobs"
            assert watcher.screen.title_text == driver.screen.title_text
            late = CockpitApp(Profile(name="watcher", read_only=True), read_only=True,
                              feed=attach_feed(parse_target(sock)))
            async with late.run_test(size=(160, 48)):  # joins with the detail open: opens it too
                await wait_until(lambda: isinstance(late.screen, DetailScreen), 10)
                assert late.screen.record.name == "jobs"
            await d.press("escape")
            await wait_until(lambda: watcher.screen is watcher.cockpit, 10)
            del w


async def test_replay_headers_say_replay_and_the_recordings_clock():
    from screens.replay import ReplayScreen, replay_feed

    enc = StreamEncoder("lab", clock=lambda: 1000.0)
    events = [enc.hello(), enc.snapshot(update(services(), fetched_at=1000.0))]
    player = Player(events)
    app = CockpitApp(Profile(name="lab", read_only=True), read_only=True, feed=replay_feed(player),
                     screen_factory=lambda banner: ReplayScreen(banner, player))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        await pilot.press("2")
        await pilot.pause()
        header = str(pane.header.render())
        assert "● live" not in header and "every" not in header, header
        assert "10x · 00:16:40" in header, header
