"""Watchers and replays following the driver: its profile, production marker and whether its
rows come from several estates (from the stream's ``hello``), and the detail screen it has
open (``detail`` events).

The watcher opens the same detail from the records it already has (found by source and
key), read-only: it has no backend, so the detail offers no action and reads no sections.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from screens.detail import DetailScreen
from widgets.banner import ProfileBanner


class FollowedDetail(DetailScreen):
    """A detail opened because the driver opened it; closed when the driver closes it."""


def publish_detail(app: Any, record: Any, title: str) -> None:
    """The driver's side: say which row's detail is open (``record`` None: closed)."""
    if getattr(app, "sinks", None) and getattr(app, "_feed", None) is None:
        app.publish(app.encoder.detail(getattr(record, "source", None) if record is not None else None,
                                       str(getattr(record, "key", "")) if record is not None else None,
                                       title))


def from_driver(app: Any, event: dict[str, Any]) -> None:
    if event.get("kind") == "hello":
        _show_driver(app, event)
    elif event.get("kind") == "detail" and app.follow_driver:
        _follow_detail(app, event)


def _show_driver(app: Any, hello: dict[str, Any]) -> None:
    name = str(hello.get("profile") or app.profile.name)
    app.profile = replace(app.profile, name=name, production=bool(hello.get("production")),
                          lab=bool(hello.get("lab")))
    for screen in app.screen_stack:
        for banner in screen.query(ProfileBanner):
            fresh = app.make_banner()
            banner.set_class(fresh.has_class("-production"), "-production")
            banner.set_class(fresh.has_class("-lab"), "-lab")
            banner.update(fresh.content)
    if "estates" in hello:  # an older driver's hello does not say: the panes stay as built
        from widgets.pane import TablePane

        for pane in app.cockpit.panes.values():
            if isinstance(pane, TablePane):
                pane.show_estates(bool(hello["estates"]))


def _follow_detail(app: Any, event: dict[str, Any], again: bool = True) -> None:
    while isinstance(app.screen, FollowedDetail):  # the driver moved on: so does the watcher
        app.pop_screen()
    key, source = event.get("row"), event.get("source")
    if key is None or app.screen is not app.cockpit:
        return
    for pane in app.cockpit.panes.values():
        for record in getattr(pane, "records", {}).values():
            if getattr(record, "source", None) == source and str(getattr(record, "key", "")) == key:
                app.push_screen(FollowedDetail(record, str(event.get("title") or ""), app.make_banner()))
                return
    if again:
        # A late joiner gets the open detail right after the full state, whose records are
        # still on their way to the panes (messages): look once more after them.
        app.call_later(_follow_detail, app, event, False)
