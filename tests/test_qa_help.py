"""`?` on a detail screen: what the on-call engineer found missing on a PagerDuty page's detail."""

from __future__ import annotations

from cockpit.model import PaneKind
from screens.help import HelpScreen

from .fakes import FakeEstate
from .helpers import wait_until
from .test_detail_actions import ActingQueues, _app, _open


async def test_help_on_a_detail_lists_that_screens_keys() -> None:
    """A PagerDuty page's detail offers `1 Acknowledge  2 Resolve  3 Add note`; its help said
    `1 Pane 1 ...` and listed the actions as "palette only". Here the queue detail's `1` and `2`
    (peek, redrive: palette-only actions that get a key on the detail) are the same case."""
    estate = FakeEstate()
    app = _app(estate, ActingQueues(list(estate.queues.records)))
    async with app.run_test(size=(160, 48)) as pilot:
        await _open(app, pilot, PaneKind.QUEUES)
        await pilot.press("question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen), 5)
        sections = dict(app.screen.sections)
        here = dict(sections.get("This screen", []))
        assert here.get("1") == "Peek dead letters" and here.get("2") == "Redrive dead letters", sections.keys()
