"""Drills: incidents injected into the lab, for trainees to detect and resolve with the real
actions (and the real confirmations).

One module per family of incident, each holding its drill class and its catalogue entry:
``api_down`` (the api service stops), ``deploys`` (a bad deployment), ``queues`` (the
dead-letter queue floods), ``database`` (a PostgreSQL blocking chain), ``hosts`` (a disk
fills). ``base`` is what they share (the ``Drill`` base and the lab's AWS side, through
``cockpit.lab.awsclient``); ``catalogue`` gathers ``DRILLS``; ``session`` runs one drill
(``DrillSession``); ``cli`` is `cockpit drill`. A ``DrillSession`` runs one drill on one lab:

    session = DrillSession(DRILLS["api-down"], lab, audit, profile, runner=runner)
    await session.start()          # a change through the runner (read-only refuses it, dry-run
                                   # shows it); once injected, audited as {"type": "drill", ...}
    session.note_detected()        # the UI: the user first focused a record in drill.detect_on
    await session.check()          # True once the goal is met; then the summary is audited
    session.summary()              # time to detect, time to resolve, actions taken

The lab has no CloudWatch evaluation, so a drill plays that part: it sets its alarm to ALARM
on injection and back to OK once the estate condition of the goal holds.
"""

from __future__ import annotations

from cockpit.lab.drills.api_down import SERVICE_DOWN_ALARM
from cockpit.lab.drills.base import Drill, DrillUnavailable
from cockpit.lab.drills.catalogue import DRILLS
from cockpit.lab.drills.cli import main_drill
from cockpit.lab.drills.deploys import ERROR_ALARM
from cockpit.lab.drills.queues import DLQ_ALARM
from cockpit.lab.drills.session import (
    DRILL_SOURCE,
    DRILL_START,
    DrillSession,
    DrillTarget,
    describe_summary,
    headless_runner,
)

__all__ = ["DLQ_ALARM", "DRILLS", "DRILL_SOURCE", "DRILL_START", "Drill", "DrillSession", "DrillTarget",
           "DrillUnavailable", "ERROR_ALARM", "SERVICE_DOWN_ALARM", "describe_summary", "headless_runner",
           "main_drill"]
