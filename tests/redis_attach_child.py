"""A watcher in a process of its own for tests/test_share_redis.py: attaches to a Redis
stream headless, waits until every pane shows the row counts given, prints what it shows."""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def main(url: str, counts: dict[str, int]) -> None:
    from cockpit.app import CockpitApp
    from cockpit.model import PaneKind
    from cockpit.profile import Profile
    from cockpit.share_redis import parse_redis_target
    from screens.redis_watch import RedisWatchScreen, redis_feed
    from widgets.banner import ProfileBanner

    app = CockpitApp(Profile(name="watcher", read_only=True), read_only=True,
                     feed=redis_feed(parse_redis_target(url)), screen_factory=RedisWatchScreen)
    async with app.run_test(size=(160, 48)):
        deadline = time.monotonic() + 20
        while any(app.cockpit.panes[PaneKind(k)].row_count() < n for k, n in counts.items()):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0)
        out = {k: sorted(repr(r) for r in app.cockpit.panes[PaneKind(k)].records.values()) for k in counts}
        out["banner"] = [str(app.cockpit.query_one(ProfileBanner).content)]
        out["live"] = [app.cockpit.live_word()]
        print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
