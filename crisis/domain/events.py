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
# Reports older than the latest held for their traveller (a delayed or replayed message):
# kept as history in keys.POSITION_STREAM, never taken as where the person is.
POSITIONS_LATE = "positions.late"
TRAVELLER_REGISTERED = "traveller.registered"
TRAVELLERS_IMPORTED = "travellers.imported"

# People (keys.PEOPLE_STREAM): accountability statuses and check-ins.
CHECKIN_RECORDED = "checkin.recorded"  # a person or a warden reported (status, maybe a place)
STATUS_SET = "accountability.status_set"  # a duty officer set someone's status
# Handsets (positions from Cursor-on-Target go in keys.POSITION_STREAM as POSITIONS_REPORTED).
POSITION_NO_FIX = "positions.no_fix"  # a handset reported without a place ("no fix")
DEVICE_ADDED = "device.added"
DEVICE_REMOVED = "device.removed"
# Security areas (keys.AREAS_STREAM).
AREA_CREATED = "area.created"
AREA_UPDATED = "area.updated"
AREA_PHASE_CHANGED = "area.phase_changed"
MOVEMENT_CONFIRMED = "movement.confirmed"  # safe haven, mode, expected arrival
MOVEMENT_PERSON_ADDED = "movement.person_added"  # e.g. national staff, by hand
MOVEMENT_PROGRESS = "movement.progress"  # to_move -> moving -> arrived, or stayed
MOVEMENT_CLOSED = "movement.closed"  # the phase was lowered: closed, history kept

INCIDENT_EVENTS = frozenset({INCIDENT_REPORTED, INCIDENT_UPDATED, INCIDENT_STATUS_CHANGED})


@dataclass(frozen=True)
class Event:
    type: str
    time: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None
    id: str | None = None
