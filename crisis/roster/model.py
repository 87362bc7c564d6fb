"""The roster's values: officers, standby slots, leave periods, dispatches.

Frozen dataclasses; ``to_dict``/``from_dict`` are the JSON form stored in Redis, carried
in events and answered by the API (times ISO 8601 with their zone, always UTC here).
No I/O and no validation of input here: see ``crisis.roster.slots`` and
``crisis.feeds.roster``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

READINESS_HOURS = (24, 48)
SLOT_ROLES = ("primary", "alternate")
LEAVE_KINDS = ("leave", "unavailable")
# The dispatch workflow: requested -> accepted | declined -> travelling -> on_site ->
# stood_down -> returned, and cancelled (recalled, with a reason) from requested, accepted
# or travelling (crisis.roster.dispatch decides the steps).
DISPATCH_STATUSES = ("requested", "accepted", "declined", "travelling", "on_site", "stood_down", "returned", "cancelled")
# An officer with a dispatch in one of these is deployed (not available, not on standby).
ACTIVE_DISPATCH = ("requested", "accepted", "travelling", "on_site", "stood_down")
# Still sent to the incident, not yet released (an officer stood down is on the way home).
STILL_SENT = ("requested", "accepted", "travelling", "on_site")
# Why an officer cannot be on standby (crisis.roster.slots.availability), in words.
AWAY_WORDS = {"on_leave": "on leave", "deployed": "deployed", "resting": "resting"}


def day_time(value: datetime) -> str:
    """'2 Dec 06:00': a time as a duty officer reads it (the roster's times are UTC)."""
    return f"{value.day} {value:%b %H:%M}"


def parse_time(value: str) -> datetime:
    """An ISO 8601 time with its zone (as stored), in UTC."""
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


@dataclass(frozen=True)
class Home:
    name: str
    lat: float
    lon: float
    country: str | None = None  # ISO 3166-1 alpha-3

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "lat": self.lat, "lon": self.lon, "country": self.country}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Home:
        return cls(str(d["name"]), float(d["lat"]), float(d["lon"]), d.get("country"))


@dataclass(frozen=True)
class Officer:
    id: str
    name: str
    home: Home
    region: str  # a key of crisis.domain.regions.REGIONS
    grade: str
    skills: tuple[str, ...] = ()  # from Settings.roster_skills
    languages: tuple[str, ...] = ()  # ISO 639-1, lower case
    contact: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "home": self.home.to_dict(), "region": self.region,
                "grade": self.grade, "skills": list(self.skills), "languages": list(self.languages),
                "contact": self.contact}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Officer:
        return cls(str(d["id"]), str(d["name"]), Home.from_dict(d["home"]), str(d["region"]), str(d.get("grade") or ""),
                   tuple(d.get("skills") or ()), tuple(d.get("languages") or ()), d.get("contact"))


@dataclass(frozen=True)
class Slot:
    """A standby slot: the officer is on standby for start <= t < end."""

    id: str
    officer_id: str
    start: datetime  # aware, UTC
    end: datetime
    readiness_hours: int  # 24 or 48
    role: str  # "primary" or "alternate"
    region: str | None = None  # the region covered; None = worldwide
    note: str | None = None  # why it was changed (a swap, an override, a promotion)

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "officer_id": self.officer_id, "start": iso(self.start), "end": iso(self.end),
                "readiness_hours": self.readiness_hours, "role": self.role, "region": self.region, "note": self.note}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Slot:
        return cls(str(d["id"]), str(d["officer_id"]), parse_time(d["start"]), parse_time(d["end"]),
                   int(d["readiness_hours"]), str(d["role"]), d.get("region"), d.get("note"))


@dataclass(frozen=True)
class Leave:
    """Leave or other unavailability: the officer is not on standby for start <= t < end,
    whatever the slots say."""

    id: str
    officer_id: str
    start: datetime
    end: datetime
    kind: str = "leave"  # "leave" or "unavailable"
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "officer_id": self.officer_id, "start": iso(self.start), "end": iso(self.end),
                "kind": self.kind, "note": self.note}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Leave:
        return cls(str(d["id"]), str(d["officer_id"]), parse_time(d["start"]), parse_time(d["end"]),
                   str(d.get("kind") or "leave"), d.get("note"))


@dataclass(frozen=True)
class Step:
    """One step of a dispatch: its new status, when and by whom."""

    status: str
    at: datetime
    by: str | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "at": iso(self.at), "by": self.by, "note": self.note}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(str(d["status"]), parse_time(d["at"]), d.get("by"), d.get("note"))


@dataclass(frozen=True)
class Dispatch:
    """An officer sent to an incident, and every step since."""

    id: str
    incident_id: str
    officer_id: str
    status: str  # the last step's status
    created_at: datetime
    by: str | None
    steps: tuple[Step, ...] = ()
    note: str | None = None
    origin: Home | None = None  # where the officer leaves from (their home at dispatch)
    destination: dict[str, float] | None = None  # {"lat", "lon"} of the incident at dispatch
    distance_km: float | None = None
    eta: datetime | None = None  # expected arrival on site
    slot_id: str | None = None  # the standby slot the officer was on when dispatched (None: off standby)
    promoted_slot_id: str | None = None  # the alternate's slot promoted to primary by this dispatch
    position: dict[str, Any] | None = None  # last reported {"lat", "lon", "at"}
    return_eta: datetime | None = None  # stood down: when the officer should be home (``dispatch.homeward_eta``)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_DISPATCH

    def returned_at(self) -> datetime | None:
        for step in reversed(self.steps):
            if step.status == "returned":
                return step.at
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "incident_id": self.incident_id, "officer_id": self.officer_id, "status": self.status,
                "created_at": iso(self.created_at), "by": self.by, "steps": [s.to_dict() for s in self.steps],
                "note": self.note, "origin": self.origin.to_dict() if self.origin else None,
                "destination": self.destination, "distance_km": self.distance_km,
                "eta": iso(self.eta) if self.eta else None, "slot_id": self.slot_id,
                "promoted_slot_id": self.promoted_slot_id, "position": self.position,
                "return_eta": iso(self.return_eta) if self.return_eta else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Dispatch:
        return cls(str(d["id"]), str(d["incident_id"]), str(d["officer_id"]), str(d["status"]),
                   parse_time(d["created_at"]), d.get("by"), tuple(Step.from_dict(s) for s in d.get("steps") or ()),
                   d.get("note"), Home.from_dict(d["origin"]) if d.get("origin") else None, d.get("destination"),
                   d.get("distance_km"), parse_time(d["eta"]) if d.get("eta") else None, d.get("slot_id"),
                   d.get("promoted_slot_id"), d.get("position"), parse_time(d["return_eta"]) if d.get("return_eta") else None)


@dataclass(frozen=True)
class RosterRules:
    """The settings the rules need (from ``crisis.config.Settings.roster_*``)."""

    skills: tuple[str, ...]
    min_worldwide_24h: int = 2
    min_per_region: int = 1
    required_languages: tuple[str, ...] = ("ar", "fr")
    required_skills: tuple[str, ...] = ("hostage_incident_management",)
    max_standby_days: float = 14.0
    rest_days: float = 7.0
    cruise_kmh: float = 800.0
    overhead_hours: float = 6.0
    off_standby_notice_hours: float = 72.0
    regions: tuple[str, ...] = field(default=("africa", "americas", "asia_pacific", "europe_central_asia",
                                              "middle_east_north_africa"))

    @classmethod
    def from_settings(cls, settings: Any) -> RosterRules:
        return cls(tuple(settings.roster_skills), settings.roster_min_worldwide_24h, settings.roster_min_per_region,
                   tuple(settings.roster_required_languages), tuple(settings.roster_required_skills),
                   settings.roster_max_standby_days, settings.roster_rest_days, settings.roster_cruise_kmh,
                   settings.roster_overhead_hours, settings.roster_off_standby_notice_hours)
