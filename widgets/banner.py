"""The profile banner: on every screen, in the danger colour when the profile is production."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ProfileBanner(Static):
    def __init__(self, profile_name: str, description: str, *, production: bool, lab: bool,
                 read_only: bool, dry_run: bool = False, low_bandwidth: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.set_class(production, "-production")
        self.set_class(lab and not production, "-lab")
        kind = "PRODUCTION" if production else ("LAB" if lab else "profile")
        flags = [f for f, on in (("READ-ONLY", read_only), ("DRY-RUN", dry_run),
                                 ("LOW-BANDWIDTH", low_bandwidth)) if on]
        # What an incident banner, docked over this one, still says first.
        self.marker = Text.assemble(
            (f"{'▲ ' if production else ''}{kind} {profile_name}", "bold"),
            ("  [" + "] [".join(flags) + "]") if flags else "",
        )
        self._head = Text(f"{'▲ ' if production else ''}{kind}: {profile_name}", "bold")
        self._tail = Text.assemble(f"  {description}" if description else "",
                                   ("  [" + "] [".join(flags) + "]") if flags else "")
        self.oncall = ""
        self.update(self._line())

    def _line(self) -> Text:
        # Who is on call before the description: at 80 columns the description is what is cut.
        return Text.assemble(self._head, ("  ·  " + self.oncall) if self.oncall else "", self._tail)

    def set_oncall(self, who: str) -> None:
        """Who PagerDuty pages first now ("on call: Ada"), after the profile; "" drops it."""
        if who == self.oncall:
            return  # no repaint when nothing moved
        self.oncall = who
        self.update(self._line())
