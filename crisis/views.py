"""Read models for pages and the API: what a principal may see, shaped for display. No Flask or Dash here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.adapters.audit import AuditPage, AuditQuery
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
    """The first picture of a page's map: the incidents and travellers' points this caller
    may see (anonymous points: no traveller ids). PermissionError for a caller that may not read."""
    region = region_scope(principal)
    head = ctx.deps.log.last_id(keys.INCIDENT_STREAM)
    messages = [
        incident_message(access.record_view(principal, incident_to_dict(i)), "snapshot", head)
        for i in ctx.deps.incidents.all()
        if access.may_see_region(principal, i.region)
    ]
    positions = ctx.deps.positions.snapshot(region)
    return {"head": head, "incidents": messages, "lat": positions["lat"], "lon": positions["lon"]}


def incident_detail(ctx: Context, principal: Principal, incident_id: str, now: Any = None) -> dict[str, Any] | None:
    """An incident with its history and what may happen next, or None if not visible.

    Outside the caller's region, or for a caller that may not read, it does not exist.
    Names of people (who changed it, who owns it) only for the roles that may see them.
    """
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None or not access.may_see_region(principal, incident.region):
        return None
    now = now or datetime.now(timezone.utc)
    quiet = timedelta(minutes=ctx.settings.stale_incident_minutes)
    return {
        "incident": access.record_view(principal, incident_to_dict(incident)),
        "history": [access.record_view(principal, change) for change in ctx.deps.incidents.history(incident_id)],
        "stale": is_stale(incident, now, quiet),
        "next_statuses": sorted(s.value for s in ALLOWED_TRANSITIONS[incident.status]),
        "can_edit": access.can_edit(principal),
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


def audit_entries(ctx: Context, principal: Principal, query: AuditQuery) -> AuditPage:
    """A page of the audit trail, newest first: for administrators only (PermissionError
    for anyone else, whatever the caller checked before)."""
    if not access.is_admin(principal):
        raise PermissionError(f"role {principal.role!r} may not read the audit trail")
    return ctx.audit.page(query)
