"""Read models for pages and the API: what a principal may see, shaped for display. No Flask or Dash here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.adapters.audit import AuditPage, AuditQuery
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain import accountability
from crisis.domain.incidents import ALLOWED_TRANSITIONS, is_open, is_stale
from crisis.domain.model import Incident, IncidentStatus
from crisis.domain.serialize import incident_to_dict
from crisis.domain.travellers import BestPosition, Confidence, Fix, Source, duty_station_of, itinerary_of
from crisis.fusion import people as placing
from crisis.fusion.people import best_positions
from crisis.fusion.affected import AreaIndex, IncidentArea, default_radii, haversine_km, itinerary_affected
from crisis.feeds.health import FEEDS, feed_health, log_names, merge_stats, refusals_only, report_for
from crisis.feeds.pollers import expected_intervals
from crisis.layers.incidents import incident_message
from crisis.roster.model import STILL_SENT

DEAD_LETTER_FIELDS = ("id", "feed", "time", "reason", "body_size")

# A traveller's profile with its best-known position (or None), and the country and region of it.
Placed = tuple[dict[str, Any], BestPosition | None, str | None, str | None]


def region_scope(principal: Principal) -> str | None:
    """None means every region; a caller that may not read raises PermissionError."""
    return access.region_scope(principal)


def live_incidents(ctx: Context, principal: Principal) -> dict[str, Any]:
    """The incidents of a page map's first picture that this caller may see, and the incident
    stream's head. (The travellers come over the socket: scanning every position on each page
    load was a pass over all of them, 100,000 at a time, for nothing.) PermissionError for a
    caller that may not read."""
    region_scope(principal)
    head = ctx.deps.log.last_id(keys.INCIDENT_STREAM)
    messages = [
        incident_message(access.record_view(principal, incident_to_dict(i)), "snapshot", head)
        for i in ctx.deps.incidents.all()
        if access.may_see_regions(principal, i.regions)
    ]
    return {"head": head, "incidents": messages}


def incident_detail(ctx: Context, principal: Principal, incident_id: str, now: Any = None) -> dict[str, Any] | None:
    """An incident with its history and what may happen next, or None if not visible.

    Outside the caller's region, or for a caller that may not read, it does not exist.
    Names of people (who changed it, who owns it) only for the roles that may see them.
    """
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None or not access.may_see_regions(principal, incident.regions):
        return None
    now = now or datetime.now(timezone.utc)
    quiet = timedelta(minutes=ctx.settings.stale_incident_minutes)
    return {
        "incident": access.record_view(principal, incident_to_dict(incident)),
        "history": [access.record_view(principal, change) for change in ctx.deps.incidents.history(incident_id)],
        "stale": is_stale(incident, now, quiet),
        # the circle who-is-affected uses for its severity when it gives no radius and no area
        "radius_by_severity_km": default_radii(ctx.settings.default_radius_km)[incident.severity],
        "next_statuses": sorted(s.value for s in ALLOWED_TRANSITIONS[incident.status]),
        "can_edit": access.can_edit(principal),
        # surge officers sent and not yet stood down: closing asks what becomes of them
        "still_sent": sum(1 for d in ctx.roster.dispatches()
                          if d.incident_id == incident.id and d.status in STILL_SENT),
        # the affected people's accountability counts: closing asks about those needing help
        "people_counts": _people_counts(ctx, principal, incident) if access.can_edit(principal) and is_open(incident) else None,
    }


def _people_counts(ctx: Context, principal: Principal, incident: Incident) -> dict[str, int] | None:
    found = affected_people(ctx, principal, incident.id)
    return found["counts"] if found is not None else None


def feed_health_report(ctx: Context, now: datetime | None = None,
                       viewer: access.HasRole | None = None) -> dict[str, Any]:
    """Every feed's health (GET /api/v1/feeds, the feed health page, the header badge), as
    ``viewer`` may read it (``crisis.feeds.health.report_for``: the error texts for duty
    officers and admins only). The caller names the viewer (GET /api/v1/feeds passes the
    signed-in caller); no viewer: the whole report, for a caller that cuts it per receiver
    itself (the live gateway, per room; the socket, per connection)."""
    now = now or datetime.now(timezone.utc)
    intervals = expected_intervals(ctx.settings)
    names = log_names(ctx.feed_log.refused_names())  # every refusal counts, under whatever name (feeds.health.feed_of)
    stats = ctx.feed_log.stats_many([name for feed in FEEDS for group in names[feed] for name in group])
    feeds = {}
    for feed in FEEDS:
        whole, refusals = names[feed]
        own = [stats[name] for name in whole]
        parts = [*own, *(refusals_only(stats[name]) for name in refusals)]
        # The refusals under other names (a query's filter, a form, a socket's sync) are counted
        # and shown, but only the feed's own messages decide whether it is "failing".
        feeds[feed] = feed_health(merge_stats(parts), intervals[feed], now, status_stats=merge_stats(own))
    report = {"feeds": feeds, "checked_at": now.isoformat()}
    return report if viewer is None else report_for(viewer, report)


def recent_dead_letters(ctx: Context, count: int = 50) -> list[dict[str, Any]]:
    """The newest rejected messages, without their bodies.

    "origin" says where each came from: the polled URL, the CAP sender, the account that
    posted it, or the client's address; "request" the method and path asked (with its query
    string: a refused filter is there), when the dead letter keeps them.
    """
    return [
        {**{k: item.get(k) for k in DEAD_LETTER_FIELDS},
         "origin": next((item[k] for k in ("url", "sender", "actor", "user", "remote") if item.get(k)), ""),
         "request": " ".join(str(item[k]) for k in ("method", "path") if item.get(k))}
        for item in ctx.feed_log.dead_letters(count)
    ]


def audit_entries(ctx: Context, principal: Principal, query: AuditQuery) -> AuditPage:
    """A page of the audit trail, newest first: for administrators only (PermissionError
    for anyone else, whatever the caller checked before)."""
    if not access.is_admin(principal):
        raise PermissionError(f"role {principal.role!r} may not read the audit trail")
    return ctx.audit.page(query)


def place_travellers(ctx: Context, profiles: list[dict[str, Any]], now: datetime | None = None) -> list[Placed]:
    """Each profile with its best-known position (``best_known_position``: the freshest of
    the latest check-in place and position report younger than
    ``CRISIS_POSITION_MAX_AGE_HOURS``, else the itinerary, else the duty station), and the
    country and region of that position (one bulk lookup). The rule is applied to all the
    profiles at once by its vectorised twin (``crisis.fusion.placing.best_positions``,
    tested equal to the scalar rule)."""
    now = now or ctx.deps.clock()
    max_age = timedelta(hours=ctx.settings.position_max_age_hours)
    assert ctx.deps.travellers is not None
    ids = [str(p.get("id")) for p in profiles]
    reports = ctx.deps.travellers.latest_reports(ids)
    checkins = ctx.roll.checkin_places(ids)
    n = len(profiles)
    itineraries = [itinerary_of(profile) for profile in profiles]
    stations = [duty_station_of(profile) for profile in profiles]
    placement = best_positions(
        placing.to_us(now), n, _fix_columns(ids, checkins), _fix_columns(ids, reports),
        placing.Itineraries.from_segments(range(n), itineraries),
        _coordinates(stations), max_age)
    now_us = placing.to_us(now)
    positions: list[BestPosition | None] = []
    for i, (tid, code) in enumerate(zip(ids, placement.source.tolist())):
        if code == placing.NO_SOURCE:
            positions.append(None)
            continue
        at_us = int(placement.at[i])
        at = now
        if code in (placing.CHECKIN, placing.REPORT):  # the observation's own time, as stored
            fix = _fix((checkins if code == placing.CHECKIN else reports).get(tid))
            at = fix.at if fix is not None else placing.from_us(at_us)
        elif code == placing.ITINERARY and not placement.in_transit[i]:
            at = next((seg.arrive for seg in itineraries[i] if placing.to_us(seg.arrive) == at_us),
                      now if at_us == now_us else placing.from_us(at_us))
        positions.append(BestPosition(float(placement.lat[i]), float(placement.lon[i]),
                                      cast(Source, placing.SOURCES[code]), at,
                                      cast(Confidence, placing.CONFIDENCES[int(placement.confidence[i])]),
                                      bool(placement.in_transit[i])))
    lat, lon = placement.lat, placement.lon
    placed = ~np.isnan(lat)
    country = np.full(len(positions), None, dtype=object)
    region = np.full(len(positions), None, dtype=object)
    if placed.any():
        country[placed], region[placed] = ctx.deps.countries.locate(lat[placed], lon[placed])
    return list(zip(profiles, positions, country.tolist(), region.tolist()))


def _fix_columns(ids: list[str], stored: dict[str, tuple[float, float, str]]) -> tuple[Any, Any, Any]:
    """Stored observations (lat, lon, ISO time) as evidence columns for ``best_positions``
    (an unreadable time counts as none, a time without a zone as UTC: as ``_fix``)."""
    lat = np.full(len(ids), np.nan)
    lon = np.full(len(ids), np.nan)
    at = np.full(len(ids), placing.NO_TIME, dtype=np.int64)
    for i, tid in enumerate(ids):
        found = stored.get(tid)
        if found is not None:
            lat[i], lon[i], at[i] = found[0], found[1], placing.iso_to_us(found[2])
    return lat, lon, at


def _fix(stored: tuple[float, float, str] | None) -> Fix | None:
    """A stored observation (lat, lon, ISO time: a position report or a check-in place) as
    best_known_position's evidence; None when there is none or its time is unreadable."""
    if stored is None:
        return None
    try:
        at = datetime.fromisoformat(stored[2])
    except ValueError:
        return None
    return Fix(stored[0], stored[1], at if at.tzinfo else at.replace(tzinfo=timezone.utc))


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

    A regional desk gets only the people whose best-known position is in its region, and
    ``in_other_regions``: how many more are affected whom it may not see (a count, no more:
    people flying in from elsewhere; 0 for the roles that see every region); what
    each role receives about a person is ``access.person_view`` (a wall display: no
    identities). Each person's ``status`` is their accountability status in this incident
    (``RollStore``, scope "incident:<id>"; "no_response" until someone reports), with
    ``status_at``/``status_via`` when reported; ``counts`` and ``accounted_pct`` are
    ``crisis.domain.accountability``'s over the people the caller sees.
    """
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None or not access.may_see_regions(principal, incident.regions):
        return None
    from crisis.realtime.people import live_for  # this web process's live picture, if any

    live = live_for(ctx) if now is None else None
    from_picture = live.affected_rows(incident.id) if live is not None else None
    now = now or ctx.deps.clock()
    if from_picture is not None:
        visible, radius_used, elsewhere = _affected_from_picture(ctx, principal, from_picture)
    else:
        visible, radius_used, elsewhere = _affected_from_redis(ctx, principal, incident, now)
    visible.sort(key=lambda p: (p["reason"] != "position", p["distance_km"], str(p["traveller_id"])))
    reported = ctx.roll.statuses(accountability.incident_scope(incident.id))
    for person in visible:
        record = reported.get(str(person["traveller_id"]))
        if record is not None:
            person.update(status=record["status"], status_at=record.get("at"), status_via=record.get("via"))
    counts = accountability.counts(person["status"] for person in visible)
    return {
        "incident": incident.id,
        "radius_km_used": radius_used,
        "buffer_km": ctx.settings.affected_buffer_km,
        "people": [access.person_view(principal, person) for person in visible],
        "counts": counts,
        "accounted_pct": accountability.accounted_pct(counts),
        "in_other_regions": elsewhere,
        "computed_at": now.isoformat(),
    }


def _affected_from_picture(ctx: Context, principal: Principal,
                           answer: dict[str, Any]) -> tuple[list[dict[str, Any]], float | None, int]:
    """``affected_people``'s people from the web process's live picture
    (``crisis.realtime.people``: the same rule, kept up to date incrementally), the radius
    used, and how many affected people the caller may not see (other regions')."""
    assert ctx.deps.travellers is not None
    rows = [r for r in answer["rows"] if access.may_see_region(principal, r["region"])]
    hidden = len(answer["rows"]) - len(rows)
    profiles = ctx.deps.travellers.many([r["traveller_id"] for r in rows])
    visible = []
    for r in rows:
        position = None if r["source"] is None else BestPosition(
            r["lat"], r["lon"], r["source"], r["at"], r["confidence"], r["in_transit"])
        profile = profiles.get(r["traveller_id"]) or {"id": r["traveller_id"]}
        visible.append(_affected_person(profile, position, r["distance_km"], r["reason"], r["arrive"]))
    return visible, answer["radius_km_used"], hidden


def _coordinates(points: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) arrays of things with .lat/.lon (NaN for a None)."""
    lat = np.array([p.lat if p else np.nan for p in points], dtype=float)
    lon = np.array([p.lon if p else np.nan for p in points], dtype=float)
    return lat, lon


def _arrivals(placed: list[Placed]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Every itinerary segment's arrival as columns (traveller index, lat, lon, epoch
    seconds), for ``itinerary_affected``; None when nobody has an itinerary."""
    rows = [(i, seg.destination.lat, seg.destination.lon, seg.arrive.timestamp())
            for i, entry in enumerate(placed) for seg in itinerary_of(entry[0])]
    if not rows:
        return None
    trav, to_lat, to_lon, arrive = (np.array(column) for column in zip(*rows))
    return trav.astype(np.int64), to_lat.astype(float), to_lon.astype(float), arrive.astype(float)


def _affected_from_redis(ctx: Context, principal: Principal, incident: Incident,
                         now: datetime) -> tuple[list[dict[str, Any]], float | None, int]:
    """``affected_people``'s people computed from Redis at request time (as
    ``_affected_from_picture``)."""
    index = AreaIndex([IncidentArea.from_incident(incident_to_dict(incident))],
                      default_radius_km=default_radii(ctx.settings.default_radius_km),
                      buffer_km=ctx.settings.affected_buffer_km)
    assert ctx.deps.travellers is not None
    placed = place_travellers(ctx, ctx.deps.travellers.all(), now)
    lat, lon = _coordinates([p[1] for p in placed])
    inside = index.per_incident(index.join(lat, lon))[0]
    people: list[tuple[int, dict[str, Any]]] = [
        (int(i), _affected_person(placed[int(i)][0], placed[int(i)][1], float(d), "position"))
        for i, d in zip(inside.traveller, inside.distance_km)
    ]
    arrivals = _arrivals(placed)
    if arrivals is not None:
        trav, to_lat, to_lon, arrive = arrivals
        coming = itinerary_affected(index, trav, to_lat, to_lon, arrive, now)
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
    return visible, index.radius_used(0), len(people) - len(visible)


# --- accountability (roll-call) ------------------------------------------------------
# Who is in which open scope, and their statuses: the same rule as ``affected_people``
# (best-known position inside the area plus buffer, or an itinerary arriving inside
# within 48 hours), for every open incident at once, plus the open area movements.


def open_incidents(ctx: Context) -> list[Incident]:
    """The incidents that are not closed."""
    return [i for i in ctx.deps.incidents.all() if i.status != IncidentStatus.CLOSED]


def affected_pairs(ctx: Context, incidents: list[Incident], placed: list[Placed], now: datetime) -> dict[str, set[int]]:
    """incident id -> the indices (into ``placed``) of the people it affects, by position or
    by itinerary (``affected_people``'s rule), in one bulk join for all the incidents."""
    out: dict[str, set[int]] = {i.id: set() for i in incidents}
    if not incidents or not placed:
        return out
    index = AreaIndex([IncidentArea.from_incident(incident_to_dict(i)) for i in incidents],
                      default_radius_km=default_radii(ctx.settings.default_radius_km),
                      buffer_km=ctx.settings.affected_buffer_km)
    lat, lon = _coordinates([p[1] for p in placed])
    hits = index.join(lat, lon)
    for t, j in zip(hits.traveller.tolist(), hits.incident.tolist()):
        out[index.ids[j]].add(int(t))
    arrivals = _arrivals(placed)
    if arrivals is not None:
        coming = itinerary_affected(index, *arrivals, now)
        for t, j in zip(coming.traveller.tolist(), coming.incident.tolist()):
            out[index.ids[j]].add(int(t))
    return out


def incidents_affecting(ctx: Context, profile: dict[str, Any], now: datetime | None = None) -> list[str]:
    """The ids of the open incidents that affect this one person now (sorted)."""
    now = now or ctx.deps.clock()
    pairs = affected_pairs(ctx, open_incidents(ctx), place_travellers(ctx, [profile], now), now)
    return sorted(incident_id for incident_id, people in pairs.items() if people)


def open_movements(ctx: Context) -> dict[str, dict[str, Any]]:
    """area id -> {"area": area dict, "people": [traveller ids]} for every area with an open
    movement (none closed), as the areas' owner stores them (read, tolerating absence)."""
    out: dict[str, dict[str, Any]] = {}
    areas = ctx.roll.areas()
    stored = ctx.roll.movements(str(area["id"]) for area in areas)
    for area in areas:
        movement = area.get("movement") or stored.get(str(area["id"]))
        if not isinstance(movement, dict) or movement.get("closed_at"):
            continue
        people = [str(p.get("traveller_id")) for p in movement.get("people") or () if isinstance(p, dict)]
        out[str(area.get("id"))] = {"area": area, "people": people}
    return out


def movements_of(ctx: Context, traveller_id: str) -> list[str]:
    """The ids of the areas whose open movement this person is on (sorted)."""
    return sorted(a for a, m in open_movements(ctx).items() if traveller_id in m["people"])


def accountability_summary(ctx: Context, principal: access.HasRole, now: datetime | None = None) -> dict[str, Any]:
    """Counts and % accounted for, per open incident, per open area movement and per region,
    of the people the caller may see (a regional desk: those whose best-known position is
    in its region; incidents and areas outside its region are left out).

    Per region: every person affected by at least one open incident or on an open
    movement, counted once, by their worst status among those scopes
    (``accountability.worst``), under the region of their best-known position ("unknown"
    when it has none). Raises PermissionError for a caller that may not read.
    """
    summary = _accountability(ctx, principal, now, live_only=False)
    assert summary is not None
    return summary


def live_accountability_summary(ctx: Context, principal: access.HasRole) -> dict[str, Any] | None:
    """``accountability_summary`` only from this web process's live picture
    (``crisis.realtime.people``); None when it is not up to date (the live push then waits
    rather than recompute everything from Redis)."""
    return _accountability(ctx, principal, None, live_only=True)


def _accountability(ctx: Context, principal: access.HasRole, now: datetime | None,
                    live_only: bool) -> dict[str, Any] | None:
    region = access.region_scope(principal)
    incidents = [i for i in open_incidents(ctx) if access.may_see_regions(principal, i.regions)]
    movements = {a: m for a, m in open_movements(ctx).items()
                 if access.may_see_region(principal, m["area"].get("region"))}
    found = _incident_members(ctx, incidents, now, live_only)
    if found is None:
        return None
    members, now = found
    # the region of each movement's people (those not already placed for an incident)
    assert ctx.deps.travellers is not None
    where: dict[str, str | None] = {t: r for people in members.values() for t, r in people.items()}
    unplaced = sorted({t for m in movements.values() for t in m["people"]} - set(where))
    for profile, _, _, person_region in place_travellers(ctx, list(ctx.deps.travellers.many(unplaced).values()), now):
        where[str(profile.get("id"))] = person_region

    def seen(ids: Any) -> list[str]:
        return sorted(t for t in ids if t in where and access.in_scope(region, (where[t],)))

    scopes: dict[str, list[str]] = {accountability.incident_scope(i): seen(people) for i, people in members.items()}
    for area_id, movement in movements.items():
        scopes[accountability.area_scope(area_id)] = seen(movement["people"])
    reported = ctx.roll.status_many(scopes)
    worst: dict[str, list[str]] = {}
    answer: dict[str, Any] = {"incidents": [], "areas": [], "regions": [], "computed_at": now.isoformat()}
    titles = {i.id: i for i in incidents}
    for scope, ids in scopes.items():
        statuses = [reported[scope].get(t, accountability.DEFAULT_STATUS) for t in ids]
        for t, status in zip(ids, statuses):
            worst.setdefault(t, []).append(status)
        counts = accountability.counts(statuses)
        kind, ident = accountability.parse_scope(scope)
        if kind == "incident":
            answer["incidents"].append({"incident": ident, "title": titles[ident].title, "region": titles[ident].region,
                                        "regions": list(titles[ident].regions or ()),  # every region it touches
                                        "counts": counts, "accounted_pct": accountability.accounted_pct(counts)})
        else:
            area = movements[ident]["area"]
            answer["areas"].append({"area": ident, "name": area.get("name"), "region": area.get("region"),
                                    "counts": counts, "accounted_pct": accountability.accounted_pct(counts)})
    by_region: dict[str, list[str]] = {}
    for t, statuses in worst.items():
        by_region.setdefault(where[t] or "unknown", []).append(accountability.worst(statuses))
    for name in sorted(by_region):
        counts = accountability.counts(by_region[name])
        answer["regions"].append({"region": name, "counts": counts, "accounted_pct": accountability.accounted_pct(counts)})
    # needs_help first and loud: the scopes with people needing help lead
    for key in ("incidents", "areas", "regions"):
        answer[key].sort(key=lambda item: (-item["counts"]["needs_help"], -item["counts"]["total"]))
    return answer


def _incident_members(ctx: Context, incidents: list[Incident], now: datetime | None,
                      live_only: bool = False) -> tuple[dict[str, dict[str, str | None]], datetime] | None:
    """incident id -> {traveller id: region of their best-known position} of the people each
    open incident affects, and the time that is for: from this web process's live picture
    when it is up to date (``crisis.realtime.people``), else (None with ``live_only``)
    computed from Redis in one bulk join (``affected_pairs``)."""
    if now is None:
        from crisis.realtime.people import live_for

        live = live_for(ctx)
        if live is not None:
            out: dict[str, dict[str, str | None]] = {}
            for incident in incidents:
                answer = live.affected_rows(incident.id)
                if answer is None:
                    break
                out[incident.id] = {str(r["traveller_id"]): r["region"] for r in answer["rows"]}
            else:
                return out, ctx.deps.clock()
    if live_only:
        return None
    now = now or ctx.deps.clock()
    assert ctx.deps.travellers is not None
    placed = place_travellers(ctx, ctx.deps.travellers.all(), now)
    pairs = affected_pairs(ctx, incidents, placed, now)
    return {iid: {str(placed[r][0].get("id")): placed[r][3] for r in rows} for iid, rows in pairs.items()}, now


def incident_burndown(ctx: Context, principal: Principal, incident_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    """The unaccounted affected people of one incident over time since it began
    (``accountability.burndown``: today's affected people the caller sees, their status
    changes in this incident since its ``reported_at``), or None when not visible."""
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None or not access.may_see_regions(principal, incident.regions):
        return None
    affected = affected_people(ctx, people_reader(principal), incident_id, now)  # now=None: the live picture when there is one
    if affected is None:
        return None
    now = now or datetime.fromisoformat(affected["computed_at"])
    people = {str(p["traveller_id"]) for p in affected["people"]}
    total = affected["counts"]["total"]
    history = ctx.roll.history(accountability.incident_scope(incident_id))
    start = min(incident.reported_at, now)
    points = accountability.burndown(history, total, start, now, people)
    return {"incident": incident_id, "total": total, "start": start.isoformat(),
            "points": [{"at": at.isoformat(), "unaccounted": n} for at, n in points]}


_SYSTEM = Principal(name="system", role="admin")


def people_reader(principal: Principal) -> Principal:
    """Whom to ask a list of people as for this caller: the caller, or for a role that
    receives no identities (a wall, which sees every region) an all-regions reader; the
    caller then gets its rows cut by ``access.person_view`` (positions, statuses, counts)."""
    return principal if access.sees_names(principal) else _SYSTEM
