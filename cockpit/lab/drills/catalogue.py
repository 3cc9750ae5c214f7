"""The catalogue: every drill the lab can be given, by name, from its family's module."""

from __future__ import annotations

from cockpit.lab.drills.api_down import API_DOWN
from cockpit.lab.drills.base import Drill
from cockpit.lab.drills.database import DB_LOCK
from cockpit.lab.drills.deploys import BAD_DEPLOY
from cockpit.lab.drills.hosts import DISK_FULL
from cockpit.lab.drills.queues import DLQ_FLOOD

DRILLS: dict[str, Drill] = {d.name: d for d in (API_DOWN, DLQ_FLOOD, DB_LOCK, BAD_DEPLOY, DISK_FULL)}
