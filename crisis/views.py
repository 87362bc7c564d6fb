"""Read models for pages and the API: what a principal may see, shaped for display. No Flask or Dash here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.adapters.audit import AuditPage, AuditQuery
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.incidents import ALLOWED_TRANSITIONS, is_stale
from crisis.domain.serialize import incident_to_dict
from crisis.domain.travellers import BestPosition, Fix, best_known_position, duty_station_of, itinerary_of
from crisis.fusion.affected import AreaIndex, IncidentArea, default_radii, haversine_km, itinerary_affected
from crisis.feeds.health import FEED_LOG_NAMES, FEEDS, feed_health, merge_stats
from crisis.feeds.pollers import expected_intervals
from crisis.layers.incidents import incident_message

DEAD_LETTER_FIELDS = ("id", "feed", "time", "reason", "body_size")
ACCOUNTABILITY_STATUSES = ("safe", "needs_help", "unsure", "unreachable", "no_response")

# A traveller's profile with its best-known position (or None), and the country and region of it.
Placed = tuple[dict[str, Any], BestPosition | None, str | None, str | None]


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


def place_travellers(ctx: Context, profiles: list[dict[str, Any]], now: datetime | None = None) -> list[Placed]:
    """Each profile with its best-known position (``best_known_position``: the latest
    position report younger than ``CRISIS_POSITION_MAX_AGE_HOURS``, else the itinerary,
    else the duty station), and the country and region of that position (one bulk lookup)."""
    now = now or ctx.deps.clock()
    max_age = timedelta(hours=ctx.settings.position_max_age_hours)
    assert ctx.deps.travellers is not None
    reports = ctx.deps.travellers.latest_reports([str(p.get("id")) for p in profiles])
    positions = []
    for profile in profiles:
        report = reports.get(str(profile.get("id")))
        fix = None
        if report is not None:
            try:
                at = datetime.fromisoformat(report[2])
                fix = Fix(report[0], report[1], at if at.tzinfo else at.replace(tzinfo=timezone.utc))
            except ValueError:
                fix = None
        positions.append(best_known_position(now, None, fix, itinerary_of(profile), duty_station_of(profile), max_age))
    lat = np.array([p.lat if p else np.nan for p in positions], dtype=float)
    lon = np.array([p.lon if p else np.nan for p in positions], dtype=float)
    placed = ~np.isnan(lat)
    country = np.full(len(positions), None, dtype=object)
    region = np.full(len(positions), None, dtype=object)
    if placed.any():
        country[placed], region[placed] = ctx.deps.countries.locate(lat[placed], lon[placed])
    return list(zip(profiles, positions, country.tolist(), region.tolist()))


def _affected_person(profile: dict[str, Any], position: BestPosition | None, distance_km: float, reason: str,
                     arrive: datetime | None = None) -> dict[str, Any]:
    person: dict[str, Any] = {
        "traveller_id": profile.get("id"),
        "name": profile.get("name"),
        "agency": profile.get("agency"),
        "category": profile.get("category"),
        "essential": profile.get("essential"),
        "distance_km": round(float(distance_km), 3),
        "reason": reason,
        "position_source": position.source if position else None,
        "position_at": position.at.isoformat() if position else None,
        "confidence": position.confidence if position else None,
        "status": "no_response",
    }
    if arrive is not None:
        person["arrive"] = arrive.isoformat()
    return person


def affected_people(ctx: Context, principal: Principal, incident_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    """Who is affected by one incident, or None when the incident is not visible to the caller.

    The people whose best-known position (``place_travellers``) is inside the incident's
    area plus ``CRISIS_AFFECTED_BUFFER_KM`` (reason "position"; the area is its polygon,
    else a geodesic circle of its ``radius_km``, else of the default radius for its
    severity, ``CRISIS_DEFAULT_RADIUS_KM``, given as ``radius_km_used``), then those whose
    itinerary arrives inside it within the next 48 hours and who are not already inside
    (reason "itinerary", with the earliest such arrival; distance from the incident's
    centre to that arrival place). ``crisis.fusion.affected`` does the geodesic joins, in bulk.

    A regional desk gets only the people whose best-known position is in its region; what
    each role receives about a person is ``access.person_view`` (a wall display: no
    identities). Check-ins do not exist yet: every status is "no_response", so the counts
    of the other statuses are 0 and ``accounted_pct`` is 0.0.
    """
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None or not access.may_see_region(principal, incident.region):
        return None
    now = now or ctx.deps.clock()
    index = AreaIndex([IncidentArea.from_incident(incident_to_dict(incident))],
                      default_radius_km=default_radii(ctx.settings.default_radius_km),
                      buffer_km=ctx.settings.affected_buffer_km)
    assert ctx.deps.travellers is not None
    placed = place_travellers(ctx, ctx.deps.travellers.all(), now)
    lat = np.array([p[1].lat if p[1] else np.nan for p in placed], dtype=float)
    lon = np.array([p[1].lon if p[1] else np.nan for p in placed], dtype=float)
    inside = index.per_incident(index.join(lat, lon))[0]
    people: list[tuple[int, dict[str, Any]]] = [
        (int(i), _affected_person(placed[int(i)][0], placed[int(i)][1], float(d), "position"))
        for i, d in zip(inside.traveller, inside.distance_km)
    ]
    # Itineraries: one row per segment (traveller index, arrival place, arrival time).
    rows = [(i, seg.destination.lat, seg.destination.lon, seg.arrive.timestamp())
            for i, entry in enumerate(placed) for seg in itinerary_of(entry[0])]
    if rows:
        trav, to_lat, to_lon, arrive = (np.array(column) for column in zip(*rows))
        coming = itinerary_affected(index, trav.astype(np.int64), to_lat.astype(float), to_lon.astype(float),
                                    arrive.astype(float), now)
        already = {i for i, _ in people}
        # the arrival place of each (traveller, arrival time in ms), as itinerary_affected rounds it
        where = {(int(t), int(round(a * 1000.0))): (float(la), float(lo)) for t, la, lo, a in zip(trav, to_lat, to_lon, arrive)}
        for t, when in zip(coming.traveller.tolist(), coming.arrive.astype("datetime64[ms]").astype(np.int64).tolist()):
            if t in already:
                continue
            at = datetime.fromtimestamp(when / 1000.0, tz=timezone.utc)
            to = where[(t, when)]
            distance = float(haversine_km(incident.location.lat, incident.location.lon, to[0], to[1]))
            people.append((t, _affected_person(placed[t][0], placed[t][1], distance, "itinerary", at)))
    visible = [person for i, person in people if access.may_see_region(principal, placed[i][3])]
    visible.sort(key=lambda p: (p["reason"] != "position", p["distance_km"], str(p["traveller_id"])))
    counts = {"total": len(visible), **{status: 0 for status in ACCOUNTABILITY_STATUSES}}
    for person in visible:
        counts[person["status"]] += 1
    accounted = counts["safe"] + counts["needs_help"] + counts["unsure"]
    return {
        "incident": incident.id,
        "radius_km_used": index.radius_used(0),
        "buffer_km": ctx.settings.affected_buffer_km,
        "people": [access.person_view(principal, person) for person in visible],
        "counts": counts,
        "accounted_pct": round(100.0 * accounted / counts["total"], 1) if counts["total"] else 0.0,
        "computed_at": now.isoformat(),
    }
