"""Read models for pages and the API: what a principal may see, shaped for display. No Flask or Dash here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.incidents import ALLOWED_TRANSITIONS, is_stale
from crisis.domain.serialize import incident_to_dict
from crisis.feeds.health import FEED_LOG_NAMES, FEEDS, feed_health, merge_stats
from crisis.feeds.pollers import expected_intervals
from crisis.layers.incidents import incident_message

DEAD_LETTER_FIELDS = ("id", "feed", "time", "reason", "body_size")


def region_scope(principal: Principal) -> str | None:
    """None means every region; a caller that may not read raises PermissionError."""
    return access.region_scope(principal)


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


def feed_health_report(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """Every feed's health (GET /api/v1/feeds, the feed health page, the header badge)."""
    now = now or datetime.now(timezone.utc)
    intervals = expected_intervals(ctx.settings)
    names = {feed: FEED_LOG_NAMES.get(feed, (feed,)) for feed in FEEDS}
    stats = ctx.feed_log.stats_many([name for feed in FEEDS for name in names[feed]])
    feeds = {}
    for feed in FEEDS:
        feeds[feed] = feed_health(merge_stats(stats[name] for name in names[feed]), intervals[feed], now)
    return {"feeds": feeds, "checked_at": now.isoformat()}


def recent_dead_letters(ctx: Context, count: int = 50) -> list[dict[str, Any]]:
    """The newest rejected messages, without their bodies.

    "origin" says where each came from: the polled URL, the CAP sender, the account that
    posted it, or the client's address.
    """
    return [
        {**{k: item.get(k) for k in DEAD_LETTER_FIELDS},
         "origin": next((item[k] for k in ("url", "sender", "actor", "user", "remote") if item.get(k)), "")}
        for item in ctx.feed_log.dead_letters(count)
    ]
