"""Command handlers: a validated command in, a domain rule applied, an event stored.

Every way in (API, feeds, simulator, UI form) ends here, so there is one path into the
log. A handler returns only after the event and the projection it implies are stored.
Dependencies arrive as one ``Deps`` object built by ``crisis.bootstrap``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, ContextManager

import numpy as np

from crisis.adapters import keys
from crisis.adapters.eventlog import EventLog
from crisis.adapters.incident_store import IncidentStore
from crisis.adapters.position_store import PositionStore, held_time
from crisis.adapters.traveller_store import TravellerStore
from crisis.domain import events as ev
from crisis.domain import source_reports
from crisis.domain.events import Event
from crisis.domain.incidents import TransitionError, changed_values, transition
from crisis.domain.model import GeoPoint, Incident
from crisis.domain.serialize import incident_to_dict
from crisis.domain.travellers import Traveller, late_reports
from crisis.domain.travellers import to_dict as traveller_to_dict
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import IncidentIn, IncidentPatch, PositionBatch, future_time_message
from crisis.fusion.countries import CountryIndex


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _new_incident_id() -> str:
    return "inc-" + uuid.uuid4().hex[:12]


@dataclass
class Deps:
    log: EventLog
    incidents: IncidentStore
    positions: PositionStore
    countries: CountryIndex
    lock: Callable[[str], ContextManager[Any]]
    clock: Callable[[], datetime] = _utcnow
    new_id: Callable[[], str] = field(default=_new_incident_id)
    travellers: TravellerStore | None = None  # set by bootstrap


@dataclass(frozen=True)
class Stored:
    incident: Incident
    event_id: str  # nothing stored (``unchanged``): the log's last id then
    created: bool
    unchanged: bool = False  # a source's message that changed nothing (source_reports.nothing_new)


def source_said(cmd: IncidentIn) -> dict[str, Any]:
    """What a report says, as kept with its incident (``crisis.domain.source_reports``)."""
    return source_reports.said(
        title=cmd.title, type=cmd.type.value, severity=cmd.severity, lat=cmd.lat, lon=cmd.lon, radius_km=cmd.radius_km,
        area=cmd.area, description=cmd.description, approximate=cmd.approximate, country=cmd.country,
        countries=cmd.countries, status=cmd.status.value if cmd.status is not None else None, sent=cmd.reported_at)


def _place(deps: Deps, lat: float, lon: float, country: str | None, countries: tuple[str, ...] = (),
           area: dict[str, Any] | None = None) -> tuple[str | None, tuple[str, ...]]:
    """(country, every region the incident touches: the point's or named country's first,
    then the other countries' and those its area overlaps) - ``CountryIndex.regions_for``."""
    return deps.countries.regions_for(lat, lon, country, countries, area)


def _store(deps: Deps, event_type: str, incident: Incident, change: dict[str, Any], aliases: list[str]) -> str:
    payload = {"incident": incident_to_dict(incident), "change": change, "aliases": aliases}
    event = Event(type=event_type, time=incident.updated_at, actor=change.get("by"), payload=payload)
    return deps.log.append(
        keys.INCIDENT_STREAM,
        event,
        lambda pipe: IncidentStore.queue_save(pipe, incident, change, aliases),
    )


def _change(now: datetime, kind: str, actor: str | None, **details: Any) -> dict[str, Any]:
    return {"time": now.isoformat(), "kind": kind, "by": actor, **details}


def report_incident(deps: Deps, cmd: IncidentIn, actor: str | None) -> Stored:
    """Create an incident, or update the one this source message (or one it supersedes) made.
    A ``reported_at`` later than the clock allows (``schemas.MAX_CLOCK_SKEW``) is refused."""
    if cmd.reported_at is not None and (future := future_time_message(cmd.reported_at, deps.clock())):
        raise InputError([{"field": "reported_at", "message": future}])
    source_ids = [s for s in (cmd.source_id, *cmd.supersedes) if s]
    if not source_ids:
        # Nothing to look up or claim, so nothing to race for: no lock (each lock costs
        # two fsync'd Redis writes before the event is stored).
        return _create(deps, cmd, actor, deps.new_id())
    with deps.lock(f"source:{cmd.source}:{source_ids[-1]}"):
        existing_id = deps.incidents.id_for_source(cmd.source, source_ids)
        if existing_id is None and cmd.source_id:
            candidate = deps.new_id()
            claimed = deps.incidents.claim_source(cmd.source, cmd.source_id, candidate)
            if claimed != candidate:
                existing_id = claimed
            else:
                return _create(deps, cmd, actor, candidate)
        if existing_id is None:  # it only supersedes messages we never saw
            return _create(deps, cmd, actor, deps.new_id())
        if deps.incidents.get(existing_id) is None:
            # Claimed but never created: the process died, or the write was refused (a replica
            # did not confirm it: 503), between the claim and the event. The retry creates it.
            return _create(deps, cmd, actor, existing_id)
    return _apply_report(deps, existing_id, cmd, actor)


def _create(deps: Deps, cmd: IncidentIn, actor: str | None, incident_id: str) -> Stored:
    now = deps.clock()
    country, regions = _place(deps, cmd.lat, cmd.lon, cmd.country, cmd.countries, cmd.area)
    incident = Incident(
        id=incident_id,
        title=cmd.title,
        type=cmd.type,
        severity=cmd.severity,
        location=GeoPoint(cmd.lat, cmd.lon),
        reported_at=cmd.reported_at or now,
        updated_at=now,
        status=cmd.status or Incident.status,
        radius_km=cmd.radius_km,
        area=cmd.area,
        country=country,
        region=regions[0] if regions else None,
        regions=regions,
        description=cmd.description,
        source=cmd.source,
        source_id=cmd.source_id,
        approximate=cmd.approximate,
        countries=tuple(cmd.countries),
        source_said=source_said(cmd) if cmd.source_id else None,
    )
    change = _change(now, "reported", actor, status=incident.status.value, source=cmd.source)
    aliases = [cmd.source_id] if cmd.source_id else []
    event_id = _store(deps, ev.INCIDENT_REPORTED, incident, change, aliases)
    return Stored(incident, event_id, created=True)


def _apply_report(deps: Deps, incident_id: str, cmd: IncidentIn, actor: str | None) -> Stored:
    """A later message about a known incident: the facts its source changed since its last
    message, and its status if it moves it (``crisis.domain.source_reports``): a message
    sent before the last one applied, or saying the same, changes nothing and stores nothing;
    what a person changed meanwhile stands unless the source changes that fact too."""
    with deps.lock(f"incident:{incident_id}"):
        current = deps.incidents.get(incident_id)
        if current is None:
            raise NotFound(f"incident {incident_id} is indexed by source but missing")
        said = source_said(cmd)
        before = current.source_said
        if source_reports.nothing_new(said, before):
            # Nothing to store: what it says is in the log at or before its last entry (a retry
            # of an acknowledged message gets an id of the log, as the first answer did).
            return Stored(current, deps.log.last_id(keys.INCIDENT_STREAM), created=False, unchanged=True)
        moved = source_reports.changed_by_source(said, before)
        now = deps.clock()
        facts: dict[str, Any] = {
            "title": cmd.title,
            "type": cmd.type,
            "severity": cmd.severity,
            "location": GeoPoint(cmd.lat, cmd.lon),
            "radius_km": cmd.radius_km,
            "area": cmd.area,
            "description": cmd.description,
            "approximate": cmd.approximate,
        }
        taken = {k: v for k, v in facts.items() if k in moved}
        if moved & source_reports.PLACEMENT:
            location = taken.get("location", current.location)
            area = taken["area"] if "area" in taken else current.area
            countries = tuple(cmd.countries) if "countries" in moved else current.countries
            taken["country"], taken["regions"] = _place(deps, location.lat, location.lon, cmd.country, countries, area)
            taken["region"] = taken["regions"][0] if taken["regions"] else None
            taken["countries"] = countries
        changed = {k: v for k, v in taken.items() if not _same_value(getattr(current, k), v)}
        updated = current.with_changes(**changed, source_said=said, updated_at=now)
        event_type = ev.INCIDENT_UPDATED
        details: dict[str, Any] = {"fields": sorted(changed), "source_id": cmd.source_id}
        if values := changed_values(current, changed):
            details["values"] = values
        if cmd.status is not None and cmd.status != current.status and "status" in moved:
            try:
                updated = transition(updated, cmd.status, now)
            except TransitionError as exc:
                raise Conflict(str(exc)) from None
            event_type = ev.INCIDENT_STATUS_CHANGED
            details.update(status_from=current.status.value, status=cmd.status.value)
        aliases = [cmd.source_id] if cmd.source_id else []
        change = _change(now, "status" if event_type == ev.INCIDENT_STATUS_CHANGED else "updated", actor, **details)
        event_id = _store(deps, event_type, updated.with_changes(updated_at=now), change, aliases)
        return Stored(updated.with_changes(updated_at=now), event_id, created=False)


def _same_value(a: Any, b: Any) -> bool:
    """Equal as stored: an area read back has lists where a message has tuples."""
    if isinstance(a, (dict, list, tuple)) or isinstance(b, (dict, list, tuple)):
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return bool(a == b)


def update_incident(deps: Deps, incident_id: str, patch: IncidentPatch, actor: str | None) -> Stored:
    """A person's change to an incident: facts, owner, status, a note."""
    with deps.lock(f"incident:{incident_id}"):
        current = deps.incidents.get(incident_id)
        if current is None:
            raise NotFound(f"no incident {incident_id}")
        now = deps.clock()
        changes: dict[str, Any] = {}
        for name in ("title", "type", "severity", "radius_km", "description", "owner"):
            value = getattr(patch, name)
            if value is not None and value != getattr(current, name):
                changes[name] = value
        if patch.lat is not None and patch.lon is not None:
            location = GeoPoint(patch.lat, patch.lon)
            if location != current.location:
                changes["location"] = location
                # The other countries it was reported over stay: moving the point keeps their regions.
                changes["country"], changes["regions"] = _place(deps, patch.lat, patch.lon, None, current.countries,
                                                                current.area)
                changes["region"] = changes["regions"][0] if changes["regions"] else None
        updated = current.with_changes(**changes, updated_at=now)
        details: dict[str, Any] = {"fields": sorted(changes)}
        if values := changed_values(current, changes):
            details["values"] = values  # what each was and became: "severity 5 -> 2" in the history
        if "owner" in changes:
            details["owner"] = changes["owner"]
        if patch.note:
            details["note"] = patch.note
        event_type = ev.INCIDENT_UPDATED
        if patch.status is not None and patch.status != current.status:
            try:
                updated = transition(updated, patch.status, now)
            except TransitionError as exc:
                raise Conflict(str(exc)) from None
            event_type = ev.INCIDENT_STATUS_CHANGED
            details.update(status_from=current.status.value, status=patch.status.value)
        kind = "status" if event_type == ev.INCIDENT_STATUS_CHANGED else ("note" if not changes and patch.note else "updated")
        event_id = _store(deps, event_type, updated, _change(now, kind, actor, **details), [])
        return Stored(updated, event_id, created=False)


@dataclass(frozen=True)
class PositionsStored:
    stream_id: str  # the batch's first event
    late: list[int]  # indexes of the reports older than the latest held for their traveller


def report_positions(deps: Deps, batch: PositionBatch, actor: str | None) -> PositionsStored:
    """Store a batch of position reports; the newest report of each traveller by its time
    is where they are (``travellers.late_reports``): a report older than the one held, a
    delayed or replayed message, is kept as history (a POSITIONS_LATE event) and changes
    no one's place. One transaction; the stream id of its first event.

    The batch is stored only if no newer report of its travellers came in after the read
    (``EventLog.append_guarded``), else it is compared again: so of two batches of one
    person stored at once, the newer report is where the person is, whichever is stored
    last."""
    now = deps.clock()
    count = len(batch.positions)
    ids = [p.traveller_id for p in batch.positions]
    times = [(p.time or now).astimezone(timezone.utc) for p in batch.positions]
    seconds = [t.timestamp() for t in times]
    lat = np.fromiter((p.lat for p in batch.positions), dtype=float, count=count)
    lon = np.fromiter((p.lon for p in batch.positions), dtype=float, count=count)
    country, region = deps.countries.locate(lat, lon)
    columns = {
        "ids": ids,
        "lat": lat.round(6).tolist(),
        "lon": lon.round(6).tolist(),
        "time": [t.isoformat() for t in times],
        "source": [p.source for p in batch.positions],
        "country": country.tolist(),
        "region": region.tolist(),
    }
    # A report without a time is stamped now, on receipt: the newest there is. A batch of such
    # reports is compared with nothing; one with any report that says when it was made is
    # compared with what is held, all of it (one read).
    compared = any(p.time is not None for p in batch.positions)
    late: list[bool] = [False] * count
    rows = PositionStore.rows(columns, seconds)  # encoded once, whatever is found late

    def plan(held_raw: list[str | None]) -> tuple[list[Event], None, dict[str, str]]:
        nonlocal late
        late = late_reports(ids, seconds, [held_time(raw) for raw in held_raw] if compared else [None] * count)
        fresh, stale, fresh_rows = columns, None, rows
        if any(late):
            fresh = {name: [v for v, old in zip(values, late) if not old] for name, values in columns.items()}
            stale = {name: [v for v, old in zip(values, late) if old] for name, values in columns.items()}
            fresh_rows = [v for v, old in zip(rows, late) if not old]
        events = [Event(type=kind, time=now, actor=actor, payload=part)
                  for kind, part in ((ev.POSITIONS_REPORTED, fresh), (ev.POSITIONS_LATE, stale)) if part and part["ids"]]
        return events, None, PositionStore.latest(fresh["ids"], fresh_rows)

    if compared:  # stored only if no newer report of these travellers came in since the read
        stream_ids = deps.log.append_guarded(keys.POSITION_STREAM, keys.POSITIONS, ids, plan)
    else:
        events, _, latest = plan([])
        stream_ids = deps.log.append_many(keys.POSITION_STREAM, events, lambda pipe: PositionStore.queue_latest(pipe, latest))
    return PositionsStored(stream_ids[0], [i for i, old in enumerate(late) if old])


TRAVELLERS_PER_EVENT = 1000  # an import batch is stored as events of at most this many travellers


def import_travellers(deps: Deps, records: list[tuple[int, Traveller]], actor: str | None) -> dict[str, Any]:
    """Store validated travellers (with the row each came from): new ids are added, known
    ids replaced in place (never duplicated). A dependant whose ``dependant_of`` is neither
    stored nor in the batch is rejected. The batch is one transaction: its event(s) in the
    travellers stream and the profiles together.

    Returns {"accepted": new, "updated": replaced, "rejected": [{row, field, message, body}]};
    within one batch a later record of the same id replaces an earlier one."""
    if deps.travellers is None:
        raise RuntimeError("Deps.travellers is not set (see crisis.bootstrap)")
    store = deps.travellers
    latest: dict[str, tuple[int, Traveller]] = {}
    for row, traveller in records:
        latest[traveller.id] = (row, traveller)
    with deps.lock("travellers:import"):
        wanted = sorted({t.dependant_of for _, t in latest.values() if t.dependant_of} - set(latest))
        known = store.existing(wanted)
        rejected: list[dict[str, Any]] = []
        kept: list[Traveller] = []
        for row, traveller in latest.values():
            owner = traveller.dependant_of
            if owner and owner not in latest and owner not in known:
                rejected.append({"row": row, "field": "dependant_of", "body": json.dumps(traveller_to_dict(traveller)),
                                 "message": f"no traveller {owner!r}, in this import or stored"})
            else:
                kept.append(traveller)
        if not kept:
            return {"accepted": 0, "updated": 0, "rejected": rejected}
        existing = store.existing([t.id for t in kept])
        profiles = [traveller_to_dict(t) for t in kept]
        now = deps.clock()
        batch = uuid.uuid4().hex[:12]
        chunks = [profiles[i:i + TRAVELLERS_PER_EVENT] for i in range(0, len(profiles), TRAVELLERS_PER_EVENT)]
        events = [
            Event(type=ev.TRAVELLERS_IMPORTED, time=now, actor=actor, payload={
                "batch": batch, "part": n + 1, "parts": len(chunks), "travellers": chunk,
                "new": [p["id"] for p in chunk if p["id"] not in existing],
            })
            for n, chunk in enumerate(chunks)
        ]
        deps.log.append_many(keys.TRAVELLERS_STREAM, events, lambda pipe: TravellerStore.queue_save(pipe, profiles))
    return {"accepted": len(kept) - len(existing), "updated": len(existing), "rejected": rejected}
