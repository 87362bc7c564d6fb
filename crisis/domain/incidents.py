"""Rules of an incident's life: which status may follow which, what counts as stale."""

from __future__ import annotations

from datetime import datetime, timedelta

from crisis.domain.model import Incident, IncidentStatus

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
