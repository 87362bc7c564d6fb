"""The shift log and the handover summary, as a caller may see them.

The shift log (``log_entries``) is read, not kept: automatic entries come from what the
product already records, and free notes from their own append-only stream.

- every change to an incident (created, status, facts, owner, notes; by a person, a feed or
  the simulator): the incident's own history (``crisis.adapters.incident_store``);
- every other change made by a person (areas and phases, movements, accountability
  statuses, check-ins, roster and dispatches, handsets, imports): the audit trail
  (``crisis.adapters.audit``), in plain words. Sign-ins, refusals, position batches and
  feed documents are not changes to the situation and are left out (feed documents show
  as the incidents they created or changed);
- free notes (``crisis.adapters.shiftlog_store``).

Scope: an incident's entries follow the incident's regions; an area's, a movement's and a
dispatch's follow the area or the incident; a note follows its regions (those of its
incident and the one named, ``crisis.api.shiftlog.add_note``). Entries that belong to no
region (a roster rotation, an import, a note for every region) are for every reader of the
log, regional desks included (README, "Who may see what"). An entry whose region cannot be
told (a check-in, a thing since removed) is for readers of every region only. Everything
goes through ``crisis.domain.access``.

The handover summary (``handover``): open incidents, people not accounted for, movements
in progress, dispatches in flight, roster coverage warnings and the notes of the shift,
limited to the caller's scope, as JSON, CSV or Markdown (``handover_csv``, ``handover_md``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from crisis import views, views_areas, views_roster
from crisis.adapters.audit import AuditQuery
from crisis.adapters.shiftlog_store import ShiftLogStore
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain import accountability as acc
from crisis.domain.incidents import changed_words, is_stale
from crisis.domain.model import Incident
from crisis.domain.regions import region_names as domain_region_names
from crisis.domain.serialize import incident_to_dict, safe_cell
from crisis.layers.dispatches import eta_text
from crisis.roster.model import day_time

READERS = access.LOG_READERS
WRITERS = access.EDITORS  # free notes
DEFAULT_HOURS = 12
MAX_HOURS = 24 * 7
MAX_ENTRIES = 500
FORMATS = ("json", "csv", "md")

_SKIPPED = ("auth.", "access.", "token.", "user.", "incident.", "positions.", "feed.", "shiftlog.", "dispatch.position")
ACTION_WORDS = {
    "area.create": "Security area created",
    "area.phase": "Security phase changed",
    "area.update": "Security area changed",
    "movement.confirm": "Movement confirmed",
    "movement.person_add": "Person added to a movement",
    "movement.progress": "Movement progress",
    "movement.person_remove": "Person taken off a movement",
    "accountability.status_set": "Accountability status set",
    "checkin.record": "Check-in",
    "dispatch.create": "Surge officer dispatched",
    "dispatch.step": "Dispatch moved on",
    "device.add": "Handset registered",
    "device.remove": "Handset removed",
    "travellers.import": "Travellers imported",
    "roster.officers_import": "Surge officers imported",
    "roster.slots_add": "Standby slots added",
    "roster.slot_change": "Standby slot changed",
    "roster.slot_remove": "Standby slot removed",
    "roster.override": "Standby slot given to another officer",
    "roster.swap": "Standby slots swapped",
    "roster.rotation": "Rotation laid out",
    "roster.leave_add": "Leave recorded",
    "roster.leave_remove": "Leave removed",
}


def _time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Changes that belong to no region (README, "Who may see what"): every reader of the log sees them.
FOR_EVERY_REGION = frozenset({"roster.rotation", "roster.officers_import", "travellers.import"})


def _sees(who: access.HasRole, regions: Iterable[str | None] | None) -> bool:
    """Regions None or empty: where the thing is cannot be told; only readers of every region see it."""
    wanted = [r for r in regions or () if r]
    if not wanted:
        return access.regions_of(who) is None and access.can_read(who)
    return access.may_see_regions(who, wanted)


def _for_all(who: access.HasRole) -> bool:
    """Whether the caller sees what is for every region: every reader of the log does (a desk
    with no region granted sees nothing)."""
    granted = access.regions_of(who)
    return who.role in READERS and access.can_read(who) and (granted is None or bool(granted))


def _note_regions(note: Mapping[str, Any], incidents: Mapping[str, Incident]) -> list[str]:
    """A note's regions; a note about an incident stored with none (before notes took their
    incident's regions) follows the incident's."""
    regions = [r for r in note.get("regions") or () if r]
    found = incidents.get(note.get("incident_id") or "")
    if not regions and found is not None:
        regions = [r for r in found.regions if r]
    return regions


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k.replace('_', ' ')} {_value(v)}" for k, v in value.items() if not isinstance(v, (list, dict)))
    if isinstance(value, (list, tuple)):
        return f"{len(value)} items"
    return str(value).replace("_", " ")


def _summary(after: Any, limit: int = 160) -> str:
    text = _value(after) if after not in (None, "", {}) else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _change_text(change: Mapping[str, Any]) -> str:
    parts = []
    if change.get("status"):
        start = change.get("status_from")
        parts.append(f"status {start} -> {change['status']}" if start else f"status {change['status']}")
    if change.get("fields"):
        parts.append("changed " + changed_words(change))
    if change.get("owner"):
        parts.append(f"owner {change['owner']}")
    if change.get("note"):
        parts.append(f"note: {change['note']}")
    return "; ".join(parts) or str(change.get("kind", "changed")).replace("_", " ")


class _Places:
    """The regions an audit entry's target belongs to, looked up once each."""

    def __init__(self, ctx: Context, incidents: Mapping[str, Incident]) -> None:
        self._ctx = ctx
        self._incidents = incidents
        self._areas: dict[str, Any] = {}
        self._dispatches: dict[str, str] | None = None
        self._officers: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._people: dict[str, str | None] = {}

    def incident(self, incident_id: str) -> tuple[str | None, ...] | None:
        found = self._incidents.get(incident_id)
        return found.regions if found is not None else None

    def area(self, area_id: str) -> tuple[str | None, ...] | None:
        if area_id not in self._areas:
            self._areas[area_id] = views_areas.areas(self._ctx).get(area_id)
        area = self._areas[area_id]
        if not area:
            return None
        return tuple(area.get("regions") or ()) or (area.get("region"),)

    def _roster(self) -> dict[str, str]:
        """Dispatch id -> incident id, read once (with the dispatches' officers and the names)."""
        if self._dispatches is None:
            current = views_roster.state(self._ctx)
            self._dispatches = {d.id: d.incident_id for d in current.dispatches}
            self._officers = {d.id: d.officer_id for d in current.dispatches}
            self._names = {o.id: o.name for o in current.officers.values()}
        return self._dispatches

    def dispatch(self, dispatch_id: str) -> tuple[str | None, ...] | None:
        incident_id = self._roster().get(dispatch_id)
        return self.incident(incident_id) if incident_id else None

    def dispatch_text(self, dispatch_id: str, after: Any, detail: Any, names: bool) -> str:
        """A dispatch's step in words: who (for the roles that see names), the status, and the
        reason given ("Grace Kowalski: cancelled (incident over before arrival)")."""
        self.dispatch(dispatch_id)
        after = after if isinstance(after, Mapping) else {}
        detail = detail if isinstance(detail, Mapping) else {}
        officer = self._officers.get(dispatch_id) or after.get("officer_id")
        who = (self._names.get(str(officer)) or str(officer)) if names and officer else "an officer"
        status = str(after.get("status") or "").replace("_", " ")
        note = detail.get("note") if isinstance(detail.get("note"), str) else after.get("note")
        text = f"{who}: {status}" if status else who
        return f"{text} ({note})" if names and isinstance(note, str) and note.strip() else text

    def officer_name(self, officer_id: Any) -> str:
        self._roster()
        return self._names.get(str(officer_id)) or str(officer_id)

    def roster_text(self, action: str, record: Mapping[str, Any]) -> str:
        """A roster change in words, naming the officers and the reason ("Amira Haddad -> Kofi
        Mensah (Amira is sick)"; "Jean Dupont: leave 4 Dec 00:00 to 5 Dec 00:00 UTC"); "" when
        the record holds nothing to say. Only for roles that see names (the caller checks)."""
        before = record.get("before") if isinstance(record.get("before"), Mapping) else {}
        after = record.get("after") if isinstance(record.get("after"), Mapping) else {}
        detail = record.get("detail") if isinstance(record.get("detail"), Mapping) else {}
        note = detail.get("note") if isinstance(detail.get("note"), str) and detail.get("note", "").strip() else None
        why = f" ({note})" if note else ""
        name = self.officer_name
        if action == "roster.override" and before.get("officer_id") and after.get("officer_id"):
            return f"{name(before['officer_id'])} -> {name(after['officer_id'])}{why}"
        if action == "roster.swap" and len(after) == 2:
            first, second = (name(v) for v in after.values())
            return f"{first} <-> {second}{why}"
        if action == "roster.slots_add" and isinstance(detail.get("officers"), list):
            count = len(after.get("slots") or ())
            return f"{count} slot{'s' if count != 1 else ''} for " + ", ".join(name(o) for o in detail["officers"])
        if action in ("roster.slot_remove", "roster.leave_add", "roster.leave_remove"):
            period = before if action != "roster.leave_add" else after
            if not period.get("officer_id") or not period.get("start") or not period.get("end"):
                return ""
            kind = (f"{region_names((period.get('region'),)) if period.get('region') else 'worldwide'} {period.get('role')}"
                    if action == "roster.slot_remove" else str(period.get("kind") or "leave"))
            start, end = (datetime.fromisoformat(str(period[k])) for k in ("start", "end"))
            return (f"{name(period['officer_id'])}: {kind} {day_time(start)} to {day_time(end)} UTC"
                    + (f" ({period['note']})" if isinstance(period.get("note"), str) and period["note"].strip() else ""))
        if action == "roster.rotation" and isinstance(detail.get("officers"), list):
            return (f"{after.get('slots')} slots, {region_names((detail.get('region'),)) if detail.get('region') else 'worldwide'}: "
                    + ", ".join(name(o) for o in detail["officers"]))
        return ""

    def label(self, action: str, target: str) -> str:
        """What an entry is about, in words: the area's name, the incident's title (and the person)."""
        head, first = action.split(".")[0], target.split("/")[0]
        person = target.split("/", 1)[1] if "/" in target else ""
        name = ""
        if head in ("area", "movement"):
            name = str((self._areas.get(first) or {}).get("name") or "")
        elif head == "dispatch":
            self.dispatch(target)
            found = self._incidents.get((self._dispatches or {}).get(target, ""))
            name = found.title if found is not None else ""
        elif head == "accountability":
            kind, _, ident = first.partition(":")
            found = self._incidents.get(ident) if kind == acc.INCIDENT_SCOPE else None
            name = found.title if found is not None else str((self._areas.get(ident) or {}).get("name") or "")
        if not name:
            return target
        return f"{name} ({person})" if person else name

    def place_people(self, traveller_ids: Iterable[str], now: datetime) -> None:
        """Read where these people are (their best-known positions' regions), in one go."""
        wanted = sorted({t for t in traveller_ids if t and t not in self._people})
        if not wanted or self._ctx.deps.travellers is None:
            return
        profiles = self._ctx.deps.travellers.many(wanted)
        for profile, _, _, region in views.place_travellers(self._ctx, list(profiles.values()), now):
            self._people[str(profile.get("id"))] = region
        for missing in wanted:
            self._people.setdefault(missing, None)

    def person(self, traveller_id: str) -> tuple[str | None, ...] | None:
        """A person's region: that of their best-known position, as everywhere a desk reads people."""
        region = self._people.get(traveller_id)
        return (region,) if region else None

    def of(self, action: str, target: str) -> tuple[str | None, ...] | None:
        head = action.split(".")[0]
        if head == "checkin":
            return self.person(target)
        if head in ("area", "movement"):
            return self.area(target.split("/")[0])
        if head == "dispatch":
            return self.dispatch(target)
        if head == "accountability":
            kind, _, ident = target.split("/")[0].partition(":")
            return self.incident(ident) if kind == acc.INCIDENT_SCOPE else self.area(ident) if kind == acc.AREA_SCOPE else None
        return None


# Per-person changes that come in numbers, grouped per minute (and per area) in the log by the
# value they set; a person needing help is always an entry of their own.
GROUPED = {"checkin.record": "status", "movement.progress": "progress"}
LOUD_STATUSES = frozenset({"needs_help"})


class _Group:
    """One minute's routine per-person changes of one kind about one thing (``GROUPED``)."""

    def __init__(self, first: dict[str, Any], words: str) -> None:
        self.first = first
        self.words = words
        self.latest = str(first["time"])
        self.values: Counter[str] = Counter()
        self.actors: set[str] = set()

    def add(self, entry: Mapping[str, Any], value: str, actor: Any) -> None:
        self.latest = max(self.latest, str(entry["time"]))
        self.values[value.replace("_", " ") or "unknown"] += 1
        self.actors.add(str(actor or ""))

    def entry(self, names: bool) -> dict[str, Any]:
        n = sum(self.values.values())
        if n == 1:
            return self.first
        counts = ", ".join(f"{value} {count}" for value, count in self.values.most_common())
        about = self.first["what"] if self.first["kind"] == "movement" else ""
        entry = {"time": self.latest, "kind": self.first["kind"], "auto": True, "what": about,
                 "text": f"{self.words}: {n} people ({counts})", "count": n}
        if names:
            entry["by"] = next(iter(self.actors)) if len(self.actors) == 1 else f"{len(self.actors)} sources"
        return entry


def log_entries(ctx: Context, who: access.HasRole, since: datetime, now: datetime | None = None,
                limit: int = MAX_ENTRIES) -> list[dict[str, Any]]:
    """The shift log from ``since``: automatic entries and notes the caller may see, newest first.

    Each entry: ``time`` (ISO), ``kind`` ("incident", "area", "movement", "dispatch", ...,
    "note"), ``auto`` (False for a note), ``what`` (the thing it is about, in words),
    ``text``, ``by`` (only for roles that see names), ``incident_id`` (when about one)."""
    now = now or datetime.now(UTC)
    names = access.sees_names(who)
    out: list[dict[str, Any]] = []
    incidents = {i.id: i for i in ctx.deps.incidents.all()}
    for incident in incidents.values():
        if incident.updated_at < since or not _sees(who, incident.regions):
            continue
        for change in ctx.deps.incidents.history(incident.id):
            at = _time(change.get("time"))
            if at is None or at < since or at > now:
                continue
            seen = access.record_view(who, change)
            entry = {"time": at.isoformat(), "kind": "incident", "auto": True, "what": incident.title,
                     "text": _change_text(seen), "incident_id": incident.id}
            if names:
                entry["by"] = seen.get("by") or incident.source
            out.append(entry)
    places = _Places(ctx, incidents)
    groups: dict[tuple[str, str, str], _Group] = {}
    records = list(ctx.audit.entries(AuditQuery(since=since, until=now)))
    if not access.sees_all_regions(who):  # a desk sees the check-ins of the people in its regions
        places.place_people((str(r.get("target", "")) for r in records if str(r.get("action", "")).startswith("checkin.")), now)
    for record in records:
        action = str(record.get("action", ""))
        if action.startswith(_SKIPPED) or action not in ACTION_WORDS:
            continue
        target = str(record.get("target", ""))
        if not (_for_all(who) if action in FOR_EVERY_REGION else _sees(who, places.of(action, target))):
            continue
        words = ACTION_WORDS[action]
        if action.startswith("dispatch."):
            detail = places.dispatch_text(target, record.get("after"), record.get("detail"), names)
        else:
            detail = (names and action.startswith("roster.") and places.roster_text(action, record)) or _summary(record.get("after"))
        what = places.label(action, target)
        entry = {"time": str(record.get("time")), "kind": action.split(".")[0], "auto": True,
                 "what": what if names else "", "text": f"{words}: {detail}" if detail else words}
        if names:
            entry["by"] = record.get("actor") or ""
        field = GROUPED.get(action)
        after = record.get("after") if isinstance(record.get("after"), Mapping) else {}
        value = str(after.get(field) or "") if field else ""
        if field is None or value in LOUD_STATUSES:
            out.append(entry)
            continue
        # Routine per-person changes (check-ins, movement progress) of one minute, about one
        # thing, are one entry with their counts: a mass check-in must not push the shift's
        # decisions out of the log.
        about = target.split("/")[0] if action.startswith("movement.") else ""
        key = (action, about, entry["time"][:16])
        groups.setdefault(key, _Group(entry, words)).add(entry, value, record.get("actor"))
    out.extend(group.entry(names) for group in groups.values())
    out.extend(_note_entries(ctx, who, since, incidents))
    out.sort(key=lambda e: e["time"], reverse=True)
    return out[:limit]


def _note_entries(ctx: Context, who: access.HasRole, since: datetime,
                  incidents: Mapping[str, Incident]) -> list[dict[str, Any]]:
    """The free notes from ``since`` the caller may see, as log entries (``log_entries``)."""
    names = access.sees_names(who)
    out: list[dict[str, Any]] = []
    for note in ShiftLogStore(ctx.redis).notes(since):
        regions = _note_regions(note, incidents)
        if regions:
            seen = access.may_see_regions(who, regions)
        elif note.get("incident_id"):
            seen = _sees(who, ())  # about an incident no longer known: where it was cannot be told
        else:
            seen = _for_all(who)  # a note for every region
        if not seen:
            continue
        what = incidents[note["incident_id"]].title if note.get("incident_id") in incidents else ""
        entry = {"time": note["time"], "kind": "note", "auto": False, "what": what, "text": note["text"],
                 "incident_id": note.get("incident_id"), "regions": regions, "id": note["id"]}
        if names:
            entry["by"] = note["author"]
        out.append(entry)
    return out


def scope_label(who: access.HasRole) -> str:
    regions = access.regions_of(who)
    if regions is None:
        return "every region"
    return domain_region_names(regions) or "no region"


def handover(ctx: Context, who: access.HasRole, now: datetime | None = None, hours: int = DEFAULT_HOURS) -> dict[str, Any]:
    """What the next shift needs, as the caller may see it (see the module's docstring)."""
    now = now or datetime.now(UTC)
    quiet = timedelta(minutes=ctx.settings.stale_incident_minutes)
    summary = views.accountability_summary(ctx, who)
    # Our people in each incident, as the caller may see them (a desk: its regions' people).
    ours = {item.get("incident"): item["counts"] for item in summary.get("incidents", [])}
    open_incidents = [i for i in views.open_incidents(ctx) if _sees(who, i.regions)]
    open_incidents.sort(key=lambda i: i.updated_at, reverse=True)
    # Where our people need help first, then those affecting any of ours, then the rest;
    # each by severity, then the latest changed (the live map's list, assets/crisis_workspace.js).
    open_incidents.sort(key=lambda i: acc.ours_first(ours.get(i.id, {}), i.severity))
    incidents = []
    for i in open_incidents:
        facts = access.record_view(who, incident_to_dict(i))
        counts = ours.get(i.id, {})
        incidents.append({k: facts.get(k) for k in ("id", "title", "type", "category", "severity", "status", "country",
                                                     "region", "regions", "reported_at", "updated_at", "owner") if k in facts}
                         | {"stale": is_stale(i, now, quiet), "people": int(counts.get("total", 0)),
                            "needs_help": int(counts.get("needs_help", 0)),
                            "not_accounted": int(counts.get("total", 0)) - acc.accounted(counts)})
    unaccounted = []
    for kind, key, name in (("incident", "incidents", "title"), ("movement", "areas", "name")):
        for item in summary.get(key, []):
            counts = item["counts"]
            missing = int(counts.get("total", 0)) - acc.accounted(counts)
            if missing > 0 or counts.get("needs_help"):
                unaccounted.append({"kind": kind, "id": item.get("incident") or item.get("area"), "name": item.get(name),
                                    "not_accounted": missing, "needs_help": int(counts.get("needs_help", 0)),
                                    "unreachable": int(counts.get("unreachable", 0)),
                                    "no_response": int(counts.get("no_response", 0)), "total": int(counts.get("total", 0)),
                                    "accounted_pct": item.get("accounted_pct")})
    people_total = sum(int(r["counts"].get("total", 0)) - acc.accounted(r["counts"]) for r in summary.get("regions", []))
    needs_help = sum(int(r["counts"].get("needs_help", 0)) for r in summary.get("regions", []))
    movements = []
    for area in views_areas.areas_view(ctx, who, now):
        movement = area.get("movement")
        if not movement:
            continue
        counts = movement.get("counts") or {}
        movements.append({"area": area.get("id"), "name": area.get("name"), "phase": area.get("phase"),
                          "action": movement.get("action"), "safe_haven": (movement.get("safe_haven") or {}).get("name"),
                          "mode": movement.get("mode"), "expected_arrival": movement.get("expected_arrival"),
                          **{k: int(counts.get(k, 0)) for k in ("to_move", "moving", "arrived", "stayed", "overdue", "total")}})
    dispatches = []
    for d in views_roster.dispatches(ctx, status="active", viewer=who):
        # "arrival": in words, as the dispatch page's Active dispatches table says it ("on site" once
        # there, not the expected arrival it was given when sent).
        entry = {"id": d.get("id"), "incident_id": d.get("incident_id"), "incident": d.get("incident_title"),
                 "status": d.get("status"), "eta": d.get("eta"), "arrival": eta_text(d)}
        if "officer_name" in d and access.sees_names(who):
            entry["officer"] = d.get("officer_name") or d.get("officer_id")
        dispatches.append(entry)
    start, end = views_roster.default_window(ctx)
    warnings = [{k: w.get(k) for k in ("kind", "region", "from", "to", "message")}
                for w in views_roster.coverage(ctx, start, end, who)["warnings"]
                if not w.get("region") or access.may_see_regions(who, [w.get("region")])]
    since = now - timedelta(hours=hours)
    # The notes alone: not the whole log (every incident's history, the audit trail) to keep them.
    notes = _note_entries(ctx, who, since, {i.id: i for i in ctx.deps.incidents.all()})
    notes.sort(key=lambda e: e["time"], reverse=True)
    notes = notes[:MAX_ENTRIES]
    return {
        "generated_at": now.isoformat(),
        "scope": scope_label(who),
        "shift_hours": hours,
        "open_incidents": incidents,
        "unaccounted": {"people": people_total, "needs_help": needs_help, "by_scope": unaccounted},
        "movements": movements,
        "dispatches": dispatches,
        "roster_warnings": warnings,
        "notes": [{k: n.get(k) for k in ("time", "by", "text", "what") if k in n} for n in notes],
    }


# --- exports -----------------------------------------------------------------------------

CSV_COLUMNS = ("section", "id", "name", "status", "severity", "region", "detail", "time")


def region_names(codes: Iterable[str | None] | None) -> str:
    """``crisis.domain.regions.region_names`` of the codes given (None and empty ones left out)."""
    return domain_region_names(c for c in codes or () if c)


def ours_text(incident: Mapping[str, Any]) -> str:
    """Our people in an open incident of the handover, in words, as the live map's list says
    it: "47 of ours, 2 need help"; "" when it affects none of ours."""
    people, needs_help = int(incident.get("people") or 0), int(incident.get("needs_help") or 0)
    if not people:
        return ""
    return f"{people} of ours" + (f", {needs_help} need{'s' if needs_help == 1 else ''} help" if needs_help else "")


def handover_rows(h: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The summary as one flat table (``CSV_COLUMNS``)."""
    rows: list[dict[str, Any]] = []
    for i in h["open_incidents"]:
        rows.append({"section": "open incident", "id": i["id"], "name": i["title"], "status": i["status"],
                     "severity": i["severity"], "region": region_names(i.get("regions") or [i.get("region")]),
                     "detail": "; ".join(x for x in ("STALE" if i["stale"] else "", str(i.get("type", "")).replace("_", " "),
                                                     ours_text(i)) if x),
                     "time": i["updated_at"]})
    u = h["unaccounted"]
    rows.append({"section": "people not accounted for", "name": "total", "detail":
                 f"{u['people']} not accounted for, {u['needs_help']} need help"})
    for s in u["by_scope"]:
        rows.append({"section": "people not accounted for", "id": s["id"], "name": s["name"], "status": s["kind"],
                     "detail": f"{s['not_accounted']} of {s['total']} not accounted for, {s['needs_help']} need help, "
                               f"{s['unreachable']} unreachable, {s['no_response']} no response"})
    for m in h["movements"]:
        rows.append({"section": "movement", "id": m["area"], "name": m["name"], "status": m["action"],
                     "detail": f"phase {m['phase']}; to {m['safe_haven'] or 'safe haven not set'}; {m['to_move']} to move, "
                               f"{m['moving']} moving, {m['arrived']} arrived, {m['overdue']} overdue",
                     "time": m["expected_arrival"]})
    for d in h["dispatches"]:
        rows.append({"section": "dispatch", "id": d["id"], "name": d.get("officer", ""), "status": d["status"],
                     "detail": f"to {d['incident']}; {d.get('arrival') or eta_text(d)}", "time": d["eta"]})
    for w in h["roster_warnings"]:
        rows.append({"section": "roster warning", "name": str(w["kind"]).replace("_", " "), "region": region_names([w["region"]]),
                     "detail": w["message"], "time": w["from"]})
    for n in h["notes"]:
        rows.append({"section": "note", "name": n.get("by", ""), "detail": n["text"], "time": n["time"]})
    return rows


def handover_csv(h: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in handover_rows(h):
        # A cell that starts like a formula is read as text by spreadsheets (CSV injection); an
        # empty cell stays empty.
        writer.writerow({k: safe_cell(v) for k, v in row.items()})
    return out.getvalue()


def short_time(value: Any) -> str:
    """An ISO time as the handover's tables show it: "2026-12-02 05:28" (UTC); "" for none."""
    if value in (None, ""):
        return ""
    moment = _time(value)
    if moment is None:
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _md(value: Any) -> str:
    return str("" if value is None else value).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["None.", ""]
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(_md(c) for c in row) + " |" for row in rows), ""]


def handover_md(h: Mapping[str, Any]) -> str:
    u = h["unaccounted"]
    lines = [f"# Shift handover: {h['scope']}", "", f"Generated {h['generated_at'][:19].replace('T', ' ')} UTC; every time below is UTC.", "",
             f"## Open incidents ({len(h['open_incidents'])})", ""]
    lines += _table(["Severity", "Incident", "Our people", "Status", "Region", "Updated", "Stale"],
                    [[i["severity"], i["title"], ours_text(i), i["status"], region_names(i.get("regions") or [i.get("region")]),
                      short_time(i["updated_at"]), "STALE" if i["stale"] else ""] for i in h["open_incidents"]])
    lines += [f"## People not accounted for: {u['people']} ({u['needs_help']} need help)", ""]
    lines += _table(["Where", "Not accounted for", "Needs help", "Unreachable", "No response", "Of"],
                    [[s["name"], s["not_accounted"], s["needs_help"], s["unreachable"], s["no_response"], s["total"]]
                     for s in u["by_scope"]])
    lines += [f"## Movements in progress ({len(h['movements'])})", ""]
    lines += _table(["Area", "Phase", "Action", "Safe haven", "To move", "Moving", "Arrived", "Overdue", "Expected"],
                    [[m["name"], m["phase"], m["action"], m["safe_haven"], m["to_move"], m["moving"], m["arrived"],
                      m["overdue"], short_time(m["expected_arrival"])] for m in h["movements"]])
    lines += [f"## Dispatches in flight ({len(h['dispatches'])})", ""]
    lines += _table(["Officer", "Incident", "Status", "Arrival"],
                    [[d.get("officer", ""), d["incident"], str(d["status"]).replace("_", " "), d.get("arrival") or eta_text(d)]
                     for d in h["dispatches"]])
    lines += [f"## Roster warnings ({len(h['roster_warnings'])})", ""]
    lines += [f"- {w['message']}" for w in h["roster_warnings"]] or ["None."]
    lines += ["", f"## Notes of the last {h['shift_hours']} hours ({len(h['notes'])})", ""]
    lines += [f"- {short_time(n['time'])} {n.get('by', '')}: {n['text']}" for n in h["notes"]] or ["None."]
    return "\n".join(lines) + "\n"
