"""Domain events: every change the centre knows of is one of these, appended to the log.

An event's ``id`` is the Redis stream id it was stored under; it is ``None`` until the
log has accepted it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

INCIDENT_REPORTED = "incident.reported"
INCIDENT_UPDATED = "incident.updated"
INCIDENT_STATUS_CHANGED = "incident.status_changed"
POSITIONS_REPORTED = "positions.reported"
TRAVELLER_REGISTERED = "traveller.registered"
TRAVELLERS_IMPORTED = "travellers.imported"

INCIDENT_EVENTS = frozenset({INCIDENT_REPORTED, INCIDENT_UPDATED, INCIDENT_STATUS_CHANGED})


@dataclass(frozen=True)
class Event:
    type: str
    time: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None
    id: str | None = None
