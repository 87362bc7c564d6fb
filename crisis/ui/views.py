"""Read models for pages: what a principal may see, shaped for drawing. No Dash here."""

from __future__ import annotations

from typing import Any

from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.bootstrap import Context
from crisis.domain.serialize import incident_to_dict
from crisis.layers.incidents import incident_message


def region_scope(principal: Principal) -> str | None:
    """None means every region."""
    return None if principal.sees_all_regions else principal.region


def live_picture(ctx: Context, principal: Principal) -> dict[str, Any]:
    region = region_scope(principal)
    head = ctx.deps.log.last_id(keys.INCIDENT_STREAM)
    messages = [
        incident_message(incident_to_dict(i), "snapshot", head)
        for i in ctx.deps.incidents.all()
        if region is None or i.region == region
    ]
    positions = ctx.deps.positions.snapshot(region)
    return {"head": head, "incidents": messages, "lat": positions["lat"], "lon": positions["lon"]}


def incident_detail(ctx: Context, principal: Principal, incident_id: str, now: Any = None) -> dict[str, Any] | None:
    """An incident with its history and what may happen next, or None if not visible."""
    from datetime import datetime, timedelta, timezone

    from crisis.domain.incidents import ALLOWED_TRANSITIONS, is_stale

    incident = ctx.deps.incidents.get(incident_id)
    region = region_scope(principal)
    if incident is None or (region is not None and incident.region != region):
        return None
    now = now or datetime.now(timezone.utc)
    quiet = timedelta(minutes=ctx.settings.stale_incident_minutes)
    return {
        "incident": incident_to_dict(incident),
        "history": ctx.deps.incidents.history(incident_id),
        "stale": is_stale(incident, now, quiet),
        "next_statuses": sorted(s.value for s in ALLOWED_TRANSITIONS[incident.status]),
        "can_edit": principal.role in ("admin", "duty_officer"),
    }
