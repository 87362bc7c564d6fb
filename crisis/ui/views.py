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
