"""Rules of an incident's life: which status may follow which, what counts as stale."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from crisis.domain.model import GeoPoint, Incident, IncidentStatus

S = IncidentStatus

# reported -> verified -> active -> contained -> closed; a step may be skipped forward,
# a contained incident may flare up again, and a closed one may be reopened.
ALLOWED_TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.REPORTED: frozenset({S.VERIFIED, S.ACTIVE, S.CONTAINED, S.CLOSED}),
    S.VERIFIED: frozenset({S.ACTIVE, S.CONTAINED, S.CLOSED}),
    S.ACTIVE: frozenset({S.CONTAINED, S.CLOSED}),
    S.CONTAINED: frozenset({S.ACTIVE, S.CLOSED}),
    S.CLOSED: frozenset({S.ACTIVE}),
}


class TransitionError(ValueError):
    """A status change the lifecycle does not allow."""


def transition(incident: Incident, to: IncidentStatus, now: datetime) -> Incident:
    if to == incident.status:
        return incident
    if to not in ALLOWED_TRANSITIONS[incident.status]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[incident.status]))
        raise TransitionError(
            f"an incident that is {incident.status.value} cannot become {to.value}; "
            f"allowed: {allowed}"
        )
    return incident.with_changes(status=to, updated_at=now)


def is_open(incident: Incident) -> bool:
    return incident.status != IncidentStatus.CLOSED


def is_stale(incident: Incident, now: datetime, max_quiet: timedelta) -> bool:
    """An open incident nobody has updated for longer than ``max_quiet``."""
    return is_open(incident) and now - incident.updated_at > max_quiet


# The facts whose values a change keeps, before and after (``changed_values``); the long
# ones (description, area) are named only.
VALUE_FIELDS = ("title", "type", "severity", "radius_km", "location", "country", "regions", "approximate")


def changed_values(before: Incident, changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} of the VALUE_FIELDS among ``changes``, as JSON values."""
    def plain(value: Any) -> Any:
        if isinstance(value, GeoPoint):
            return [value.lat, value.lon]
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, tuple):
            return list(value)
        return value
    return {f: [plain(getattr(before, f)), plain(changes[f])] for f in VALUE_FIELDS if f in changes}


def changed_words(change: Mapping[str, Any]) -> str:
    """A change's fields in words, with what each was and became when kept ("severity 5 -> 2,
    title "Flood" -> "Flash flood", description"); "" when none changed."""
    found = change.get("values")
    values: Mapping[str, Any] = found if isinstance(found, Mapping) else {}

    def said(field: str, value: Any) -> str:
        if field == "location" and isinstance(value, (list, tuple)) and len(value) == 2:
            return f"{float(value[0]):.4f}, {float(value[1]):.4f}"
        if field == "regions" and isinstance(value, (list, tuple)):
            return ", ".join(str(v).replace("_", " ") for v in value) or "none"
        if isinstance(value, str) and field == "title":
            return f"\u201c{value}\u201d"
        return "none" if value is None else str(value).replace("_", " ")

    parts = []
    for field in change.get("fields") or ():
        name = str(field).replace("_", " ")
        pair = values.get(field)
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            parts.append(f"{name} {said(str(field), pair[0])} -> {said(str(field), pair[1])}")
        else:
            parts.append(name)
    return ", ".join(parts)
