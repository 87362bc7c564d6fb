"""Read models for the standby roster and dispatches (used by the API, pages and pushes).

The roster as loaded (``state``)
================================

``state(ctx)`` loads officers, slots, leave and dispatches in one Redis transaction
together with the roster stream's last id and an epoch token (``RosterStore.snapshot``),
and keeps that in the process, keyed by (epoch, last id). Every write to the roster goes
through ``keys.ROSTER_STREAM`` with its projection in one transaction, so the last id
changes with every write from any process; a FLUSHDB or a ``RosterStore.rebuild`` drops
the epoch. A repeated read therefore costs one round trip (``RosterStore.head``) and is
never stale. The state is shared between callers: treat it as read-only (tuples, frozen
values, a read-only mapping).

What a caller receives
======================

* ``officer_for``: ``access.person_view`` (a wall gets no name, id, contact, home: only
  the region); a regional desk sees the officers of its region only (None otherwise).
* ``slot_for`` (slots, standby entries, leave): a wall gets no officer id (the identity
  fields of ``access.record_view``); a regional desk sees those whose officer is of its
  region or whose slot covers its region.
* ``dispatch_for``: a regional desk sees the dispatches to incidents it may see
  (``access.may_see_region`` on the incident's region); a wall gets no officer id, name or
  "by" (also in the steps), but the line, the ETA and the position.
* Coverage and its warnings are aggregate: every reader gets them (a wall without the
  ``officer_id`` of a "standby_too_long" warning).

Dispatch paths
==============

``dispatches`` adds "path": 64 [lon, lat] points on the geodesic (WGS84, ``pyproj.Geod``)
from the officer's home (origin) to the incident (destination), endpoints included. The
longitudes are *unwrapped*: the first point is in -180..180 and each next one differs from
the one before by less than 180 degrees, so a route across the antimeridian runs on past
+-180 (e.g. 170, 175, 181, 186) instead of jumping back across the whole map. MapLibre and
plotly draw such a line continuously; a caller needing -180..180 can wrap each longitude
with ((lon + 180) % 360) - 180 and split where consecutive points differ by more than 180.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import pycountry

from crisis.adapters.roster_store import RosterStore
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.model import IncidentStatus
from crisis.errors import InputError, NotFound
from crisis.layers.areas import great_circle
from crisis.roster import coverage as coverage_rules
from crisis.roster import ranking
from crisis.roster import changes
from crisis.roster import slots as slot_rules
from crisis.roster.model import (
    ACTIVE_DISPATCH,
    DISPATCH_STATUSES,
    STILL_SENT,
    Dispatch,
    Leave,
    Officer,
    RosterRules,
    Slot,
    iso,
)

PATH_POINTS = 64
# Fields that name an officer beyond access.IDENTITY_FIELDS (added by these views).
_NAME_FIELDS = frozenset({"officer_name"})


@dataclass(frozen=True)
class _Role:
    role: str
    region: str | None = None


_AS_WALL = _Role("wall")  # what any reader may receive of a record: as a wall display gets it


@dataclass(frozen=True)
class RosterState:
    officers: Mapping[str, Officer]  # by id, ordered by id
    slots: tuple[Slot, ...]  # by start, id
    leave: tuple[Leave, ...]  # by start, id
    dispatches: tuple[Dispatch, ...]  # by created_at, id
    stream_id: str  # the roster stream's last id these values reflect ("0-0": none)


_CACHE: dict[int, tuple[tuple[str, str], RosterState]] = {}
_CACHE_LOCK = threading.Lock()


def store(ctx: Context) -> RosterStore:
    found = getattr(ctx, "roster", None)
    return found if isinstance(found, RosterStore) else RosterStore(ctx.redis)


# At most this many events are folded onto a cached roster; more, and it is loaded again.
CATCH_UP_MOST = 1000


def state(ctx: Context) -> RosterState:
    """The whole roster as stored now (cached per process; after a write, the cached roster
    is brought up to date with the events since, not loaded again)."""
    roster = store(ctx)
    key = id(ctx.redis)
    epoch, last = roster.head()
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None and epoch is not None and cached[0] == (epoch, last):
        return cached[1]
    if cached is not None and epoch is not None and cached[0][0] == epoch:
        caught_up = _caught_up(roster, epoch, cached[1])
        if caught_up is not None:
            with _CACHE_LOCK:
                _CACHE[key] = ((epoch, caught_up.stream_id), caught_up)
            return caught_up
    epoch_now, last_now, officers, slots, leave, dispatches = roster.snapshot()
    loaded = RosterState(MappingProxyType(officers), tuple(slots), tuple(leave), tuple(dispatches), last_now)
    with _CACHE_LOCK:
        _CACHE[key] = ((epoch_now, last_now), loaded)
    return loaded


def _caught_up(roster: RosterStore, epoch: str, held: RosterState) -> RosterState | None:
    """``held`` with the roster events stored after it applied (``crisis.roster.changes``),
    or None when they cannot be (RosterStore.changes_after): load the roster again."""
    found = roster.changes_after(epoch, held.stream_id, CATCH_UP_MOST)
    if found is None:
        return None
    last, events = found
    parts = {"officers": held.officers.values(), "slots": held.slots, "leave": held.leave, "dispatches": held.dispatches}
    changed = changes.apply(parts, events)
    officers = held.officers
    if "officers" in changed:
        officers = MappingProxyType({o.id: o for o in changed["officers"]})
    return RosterState(officers, changed.get("slots", held.slots), changed.get("leave", held.leave),
                       changed.get("dispatches", held.dispatches), last)


def rules(ctx: Context) -> RosterRules:
    return RosterRules.from_settings(ctx.settings)


# --- cutting for a viewer ----------------------------------------------------------------
def _desk_region(viewer: access.HasRole | None) -> str | None:
    """The viewer's regions as a scope key (None: all); PermissionError for a non-reader."""
    if viewer is None:
        return None
    return access.region_scope(viewer)


def officer_for(viewer: access.HasRole, officer: Mapping[str, Any]) -> dict[str, Any] | None:
    """An officer's record (or a candidate: any dict with "region") as this viewer may
    receive it; None when it does not exist for them (a regional desk, another region)."""
    if not access.may_see_region(viewer, officer.get("region")):
        return None
    return access.person_view(viewer, officer)


# What a reader receives of a candidate officer outside its regions (a regional desk, of
# another region's officer): where the officer stands for this incident, not who they are
# nor what they bring (no id, name, contact, skills, languages, or reasons, which name
# incidents and rest).
OUTSIDE_CANDIDATE_FIELDS = ("rank", "region", "on_standby", "role", "readiness_hours", "distance_km", "eta_hours",
                            "availability")


def candidate_for(viewer: access.HasRole, candidate: Mapping[str, Any]) -> dict[str, Any]:
    """A ranked candidate as this viewer receives it: as ``officer_for`` within its
    regions; outside them, only OUTSIDE_CANDIDATE_FIELDS and ``"outside": True``."""
    shown = officer_for(viewer, candidate)
    if shown is not None:
        return shown
    return {**{k: candidate[k] for k in OUTSIDE_CANDIDATE_FIELDS if k in candidate}, "outside": True}


def _strip_names(viewer: access.HasRole, record: Mapping[str, Any]) -> dict[str, Any]:
    out = access.record_view(viewer, record)
    if not access.sees_names(viewer):
        for key in _NAME_FIELDS:
            out.pop(key, None)
    return out


def slot_for(viewer: access.HasRole, record: Mapping[str, Any], officer_region: str | None) -> dict[str, Any] | None:
    """A slot, standby entry or leave period (dicts with "officer_id", maybe "region") as this
    viewer may receive it, given the officer's region; None when not for them."""
    if not access.can_read(viewer):
        return None
    if not access.may_see_regions(viewer, (officer_region, record.get("region"))):
        return None
    return _strip_names(viewer, record)


def dispatch_for(viewer: access.HasRole, dispatch: Mapping[str, Any]) -> dict[str, Any] | None:
    """A dispatch dict (from ``dispatches``: with "incident_region") as this viewer may
    receive it; None when the incident is not visible to them."""
    if not access.may_see_regions(viewer, dispatch.get("incident_regions") or (dispatch.get("incident_region"),)):
        return None
    out = _strip_names(viewer, dispatch)
    if "steps" in out:
        out["steps"] = [_strip_names(viewer, s) for s in out["steps"]]
    return out


# --- standby, coverage ----------------------------------------------------------------------
def standby(ctx: Context, at: datetime, viewer: access.HasRole | None = None) -> dict[str, Any]:
    """Who is on standby at ``at`` and who is next for each region (and "worldwide"):
    {"at", "standby": [...], "next": {region: entry | None}} (``crisis.roster.slots``);
    each entry with the officer's "officer_name", cut for the viewer when given: cover is
    aggregate (as ``coverage``), so every reader gets every entry, but a regional desk gets
    who only for its regions' slots and officers (the others as a wall gets them)."""
    current = state(ctx)
    roster_rules = rules(ctx)
    on = slot_rules.on_standby(at, current.slots, current.leave, current.dispatches, roster_rules)
    upcoming = slot_rules.next_up(at, current.slots, current.leave, current.dispatches, roster_rules)

    def named(entry: dict[str, Any]) -> dict[str, Any]:
        officer = current.officers.get(str(entry.get("officer_id")))
        return {**entry, "officer_name": officer.name if officer else None}

    def cut(entry: dict[str, Any]) -> dict[str, Any] | None:
        if viewer is None:
            return entry
        officer = current.officers.get(str(entry.get("officer_id")))
        shown = slot_for(viewer, entry, officer.region if officer else None)
        if shown is None and access.can_read(viewer):
            shown = _strip_names(_AS_WALL, entry)
        return shown

    entries = [c for c in (cut(named(e)) for e in on) if c is not None]
    nexts = {region: (cut(named(e)) if e is not None else None) for region, e in upcoming.items()}
    return {"at": iso(at), "standby": entries, "next": nexts}


def coverage(ctx: Context, start: datetime, end: datetime, viewer: access.HasRole | None = None) -> dict[str, Any]:
    """Cover from ``start`` to ``end`` (``crisis.roster.coverage.coverage``): timelines per
    region, skill and language, and warnings. Aggregate: every reader gets it; a viewer
    that may not see names gets the warnings without "officer_id"."""
    if end <= start:
        raise InputError([{"field": "to", "message": "must be after from"}])
    current = state(ctx)
    result = coverage_rules.coverage(current.officers, current.slots, current.leave, current.dispatches, start, end,
                                     rules(ctx))
    result = {**result, "warnings": [*result["warnings"], *_sent_to_closed(ctx, current.dispatches, end)]}
    if viewer is not None and not access.sees_names(viewer):
        result = {**result, "warnings": [{k: v for k, v in w.items() if k != "officer_id"} for w in result["warnings"]]}
    return result


def _sent_to_closed(ctx: Context, dispatches: Sequence[Dispatch], end: datetime) -> list[dict[str, Any]]:
    """sent_to_closed: an officer still sent to an incident that has been closed (nobody
    stood them down or cancelled the dispatch): out of the pool for nothing."""
    out: list[dict[str, Any]] = []
    for d in dispatches:
        if d.status not in STILL_SENT:
            continue
        incident = ctx.deps.incidents.get(d.incident_id)
        if incident is None or incident.status != IncidentStatus.CLOSED:
            continue
        closed = incident.updated_at
        out.append({"kind": "sent_to_closed", "region": incident.region, "officer_id": d.officer_id,
                    "incident_id": incident.id, "from": closed.isoformat(), "to": max(end, closed).isoformat(),
                    # (no title: warnings go to every reader, a desk of another region too)
                    "message": f"An officer ({d.status.replace('_', ' ')}) is still sent to an incident closed "
                               f"{ranking.when(closed)}: stand them down, or cancel the dispatch (dispatch page)"})
    return out


# --- candidates --------------------------------------------------------------------------
def _checked_terms(ctx: Context, skills: Sequence[str], languages: Sequence[str]) -> tuple[list[str], list[str]]:
    vocabulary = rules(ctx).skills
    errors: list[dict[str, Any]] = []
    wanted_skills = [s.strip() for s in skills if s and s.strip()]
    unknown = [s for s in wanted_skills if s not in vocabulary]
    if unknown:
        errors.append({"field": "skills", "message": f"unknown skill(s) {', '.join(unknown)}; known: {', '.join(vocabulary)}"})
    wanted_languages = [code.strip().lower() for code in languages if code and code.strip()]
    bad = [c for c in wanted_languages if len(c) != 2 or pycountry.languages.get(alpha_2=c) is None]
    if bad:
        errors.append({"field": "languages", "message": f"not ISO 639-1 language code(s): {', '.join(bad)}"})
    if errors:
        raise InputError(errors)
    return wanted_skills, wanted_languages


def candidates(ctx: Context, incident_id: str, skills: Sequence[str] = (), languages: Sequence[str] = (),
               at: datetime | None = None, viewer: access.HasRole | None = None,
               limit: int | None = None) -> dict[str, Any]:
    """The officers ranked for an incident (``crisis.roster.ranking.rank_top``):
    {"incident": {"id", "title", "lat", "lon", "region", "status"}, "at", "eta_terms",
    "candidates": [the first ``limit``, all when None], "total" (officers ranked), "more"
    (ranked but not in this answer), "unavailable" ({reason: how many of all the ranked})}.
    Every officer is ranked, for every reader, so a regional desk learns that the best
    placed is of another region; it gets its regions' officers whole and the others'
    as ``OUTSIDE_CANDIDATE_FIELDS`` (where they stand, not who they are).
    NotFound for no incident (or one the viewer may not see); InputError ("skills",
    "languages") for an unknown skill or a bad language code."""
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None or (viewer is not None and not access.may_see_regions(viewer, incident.regions)):
        raise NotFound(f"no incident {incident_id}")
    wanted_skills, wanted_languages = _checked_terms(ctx, skills, languages)
    at = at or ctx.deps.clock()
    current = state(ctx)
    roster_rules = rules(ctx)
    officers = list(current.officers.values())
    found = ranking.rank_top((incident.location.lat, incident.location.lon), officers, at, current.slots,
                             current.leave, current.dispatches, roster_rules, wanted_skills, wanted_languages, limit,
                             incident_title=lambda incident_id: _title_for(ctx, viewer, incident_id))
    ranked = found.candidates
    if viewer is not None:
        ranked = [candidate_for(viewer, r) for r in ranked]
    return {
        "incident": {"id": incident.id, "title": incident.title, "lat": incident.location.lat,
                     "lon": incident.location.lon, "region": incident.region, "status": incident.status.value},
        "at": iso(at),
        "eta_terms": ranking.eta_terms(roster_rules),
        "skills": wanted_skills,
        "languages": wanted_languages,
        "candidates": ranked,
        "total": found.total,
        "more": found.total - len(found.candidates),
        "unavailable": found.unavailable,
    }


def _title_for(ctx: Context, viewer: access.HasRole | None, incident_id: str) -> str | None:
    """The incident's title if the viewer may see it (a desk: its regions'), else None."""
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None or (viewer is not None and not access.may_see_regions(viewer, incident.regions)):
        return None
    return str(incident.title)


# --- dispatches ---------------------------------------------------------------------------
def path(origin: tuple[float, float], destination: tuple[float, float], points: int = PATH_POINTS) -> list[list[float]]:
    """``points`` [lon, lat] on the geodesic from origin to destination, both (lat, lon),
    endpoints included, longitudes unwrapped (see the module's docstring). Pure."""
    lats, lons = great_circle(origin[0], origin[1], destination[0], destination[1], points - 1, digits=6)
    return [[x, y] for x, y in zip(lons, lats)]


def dispatch_dict(d: Dispatch, officer: Officer | None, incident: Any) -> dict[str, Any]:
    """One dispatch as answered: its fields plus "officer_name", "incident_title",
    "incident_region" and "path" (empty when origin or destination is unknown)."""
    out = d.to_dict()
    out["officer_name"] = officer.name if officer else None
    out["incident_title"] = incident.title if incident is not None else None
    out["incident_region"] = incident.region if incident is not None else None
    out["incident_regions"] = list(incident.regions) if incident is not None else []
    if d.origin is not None and d.destination:
        out["path"] = path((d.origin.lat, d.origin.lon), (float(d.destination["lat"]), float(d.destination["lon"])))
    else:
        out["path"] = []
    return out


def dispatches(ctx: Context, incident: str | None = None, officer: str | None = None, status: str | None = None,
               viewer: access.HasRole | None = None) -> list[dict[str, Any]]:
    """The dispatches, newest first, filtered by incident id, officer id and status ("active":
    any of ``ACTIVE_DISPATCH``); each a ``dispatch_dict`` (cut for the viewer when given).
    InputError ("status") for an unknown status."""
    if status is not None and status != "active" and status not in DISPATCH_STATUSES:
        raise InputError([{"field": "status", "message": f"one of active, {', '.join(DISPATCH_STATUSES)}"}])
    wanted = ACTIVE_DISPATCH if status == "active" else ((status,) if status else None)
    current = state(ctx)
    chosen = [d for d in current.dispatches
              if (incident is None or d.incident_id == incident) and (officer is None or d.officer_id == officer)
              and (wanted is None or d.status in wanted)]
    incidents: dict[str, Any] = {}
    out = []
    for d in reversed(chosen):
        if d.incident_id not in incidents:
            incidents[d.incident_id] = ctx.deps.incidents.get(d.incident_id)
        entry = dispatch_dict(d, current.officers.get(d.officer_id), incidents[d.incident_id])
        if viewer is not None:
            cut = dispatch_for(viewer, entry)
            if cut is None:
                continue
            entry = cut
        out.append(entry)
    return out


def dispatch(ctx: Context, dispatch_id: str, viewer: access.HasRole | None = None) -> dict[str, Any]:
    """One dispatch as ``dispatches`` answers it; NotFound when none (or not for the viewer)."""
    found = store(ctx).dispatch(dispatch_id)
    entry = None
    if found is not None:
        entry = dispatch_dict(found, store(ctx).officer(found.officer_id), ctx.deps.incidents.get(found.incident_id))
        if viewer is not None:
            entry = dispatch_for(viewer, entry)
    if entry is None:
        raise NotFound(f"no dispatch {dispatch_id}")
    return entry


# --- lists for the API and pages -----------------------------------------------------------
def officers(ctx: Context, viewer: access.HasRole | None = None) -> list[dict[str, Any]]:
    """Every officer (ordered by id), cut for the viewer when given."""
    out = [o.to_dict() for o in state(ctx).officers.values()]
    if viewer is None:
        return out
    return [c for c in (officer_for(viewer, o) for o in out) if c is not None]


def sent_into_view(ctx: Context, officer_id: str, viewer: access.HasRole) -> bool:
    """Whether the officer is sent (a dispatch still active) to an incident this viewer sees:
    a regional desk may look up the officer coming to work in its region, whatever region
    the officer belongs to."""
    for d in state(ctx).dispatches:
        if d.officer_id == officer_id and d.active:
            incident = ctx.deps.incidents.get(d.incident_id)
            if incident is not None and access.may_see_regions(viewer, incident.regions):
                return True
    return False


def officer(ctx: Context, officer_id: str, viewer: access.HasRole | None = None) -> dict[str, Any]:
    """One officer; NotFound when none, or not for the viewer (a regional desk: one of its
    regions, or sent to one of its incidents, ``sent_into_view``)."""
    found = state(ctx).officers.get(officer_id)
    out = found.to_dict() if found else None
    if out is not None and viewer is not None:
        cut = officer_for(viewer, out)
        if cut is None and access.sees_names(viewer) and sent_into_view(ctx, officer_id, viewer):
            cut = access.person_view(viewer, out)
        out = cut
    if out is None:
        raise NotFound(f"no officer {officer_id}")
    return out


def _overlapping(start: datetime | None, end: datetime | None, item_start: datetime, item_end: datetime) -> bool:
    return (end is None or item_start < end) and (start is None or item_end > start)


def slots(ctx: Context, start: datetime | None = None, end: datetime | None = None, officer: str | None = None,
          viewer: access.HasRole | None = None) -> list[dict[str, Any]]:
    """The slots meeting [start, end) (either open), of one officer when given, by start."""
    current = state(ctx)
    out = []
    for s in current.slots:
        if (officer is None or s.officer_id == officer) and _overlapping(start, end, s.start, s.end):
            entry: dict[str, Any] | None = s.to_dict()
            if viewer is not None:
                owner = current.officers.get(s.officer_id)
                entry = slot_for(viewer, s.to_dict(), owner.region if owner else None)
            if entry is not None:
                out.append(entry)
    return out


def leave(ctx: Context, officer: str | None = None, start: datetime | None = None, end: datetime | None = None,
          viewer: access.HasRole | None = None) -> list[dict[str, Any]]:
    """The leave periods meeting [start, end) (either open), of one officer when given."""
    current = state(ctx)
    out = []
    for x in current.leave:
        if (officer is None or x.officer_id == officer) and _overlapping(start, end, x.start, x.end):
            entry: dict[str, Any] | None = x.to_dict()
            if viewer is not None:
                owner = current.officers.get(x.officer_id)
                entry = slot_for(viewer, x.to_dict(), owner.region if owner else None)
            if entry is not None:
                out.append(entry)
    return out


def default_window(ctx: Context, days: int = 30) -> tuple[datetime, datetime]:
    """(now, now + days): the default coverage window."""
    now = ctx.deps.clock()
    return now, now + timedelta(days=days)
