"""The crisis centre's nouns: incidents and standby officers (travellers: crisis.domain.travellers). No I/O here.

Everything is a frozen dataclass; changes produce new values (``dataclasses.replace``)
and the command handlers turn them into events for the log.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


class IncidentStatus(str, enum.Enum):
    REPORTED = "reported"
    VERIFIED = "verified"
    ACTIVE = "active"
    CONTAINED = "contained"
    CLOSED = "closed"


class IncidentType(str, enum.Enum):
    ARMED_CONFLICT = "armed_conflict"
    CIVIL_UNREST = "civil_unrest"
    TERRORISM = "terrorism"
    CRIME = "crime"
    HOSTAGE = "hostage"
    EARTHQUAKE = "earthquake"
    TSUNAMI = "tsunami"
    CYCLONE = "cyclone"
    FLOOD = "flood"
    WILDFIRE = "wildfire"
    VOLCANO = "volcano"
    DROUGHT = "drought"
    EPIDEMIC = "epidemic"
    WEATHER = "weather"
    ACCIDENT = "accident"
    OTHER = "other"
    # Sub-types added with categories (crisis.domain.taxonomy maps every value to its category).
    ARMED_ROBBERY = "armed_robbery"
    ROBBERY = "robbery"
    BURGLARY = "burglary"
    CARJACKING = "carjacking"
    ASSAULT = "assault"
    SEXUAL_ASSAULT = "sexual_assault"
    HOMICIDE = "homicide"
    THEFT = "theft"
    INTIMIDATION = "intimidation"
    ARREST_DETENTION = "arrest_detention"
    DEMONSTRATION = "demonstration"
    RIOT = "riot"
    ROADBLOCK = "roadblock"
    STRIKE = "strike"
    LOOTING = "looting"
    AIRSTRIKE = "airstrike"
    SHELLING = "shelling"
    EXCHANGE_OF_FIRE = "exchange_of_fire"
    GROUND_FIGHTING = "ground_fighting"
    LANDMINE_UXO = "landmine_uxo"
    IED = "ied"
    SUICIDE_ATTACK = "suicide_attack"
    VEHICLE_BOMB = "vehicle_bomb"
    ARMED_ATTACK = "armed_attack"
    GRENADE_ATTACK = "grenade_attack"
    KIDNAPPING = "kidnapping"
    ABDUCTION = "abduction"


class Readiness(str, enum.Enum):
    H24 = "24h"
    H48 = "48h"


SEVERITY_MIN = 1
SEVERITY_MAX = 5
SEVERITY_LABELS = {1: "minor", 2: "moderate", 3: "serious", 4: "major", 5: "critical"}


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"latitude {self.lat} is outside -90..90")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"longitude {self.lon} is outside -180..180")


@dataclass(frozen=True)
class Incident:
    """An incident report and what the centre knows of it now.

    ``radius_km`` and ``area`` (a GeoJSON Polygon/MultiPolygon dict) describe the affected
    area; either, both or neither may be known. ``approximate`` marks a location that was
    inferred (a country centroid, an area description) rather than reported.
    """

    id: str
    title: str
    type: IncidentType
    severity: int
    location: GeoPoint
    reported_at: datetime
    updated_at: datetime
    status: IncidentStatus = IncidentStatus.REPORTED
    radius_km: float | None = None
    area: dict[str, Any] | None = None
    country: str | None = None
    region: str | None = None  # the first of ``regions`` (where the incident's point is)
    description: str = ""
    source: str = "api"
    source_id: str | None = None
    approximate: bool = False
    owner: str | None = None
    # Every region the incident touches (its point's first, then the other countries or
    # the area's): an incident over several countries reaches every desk it touches.
    regions: tuple[str, ...] = ()
    # The countries the report named besides its point's (ISO 3166-1 alpha-3): kept so that
    # moving the point keeps the regions of the others.
    countries: tuple[str, ...] = ()
    # What the source's last applied message said (``crisis.domain.source_reports``); None
    # for an incident no source reported with its own id.
    source_said: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # ``region`` and ``regions`` are kept in step: region is regions[0] (None when empty).
        if self.regions:
            if self.region != self.regions[0]:
                object.__setattr__(self, "region", self.regions[0])
        elif self.region is not None:
            object.__setattr__(self, "regions", (self.region,))
        if not SEVERITY_MIN <= self.severity <= SEVERITY_MAX:
            raise ValueError(f"severity {self.severity} is outside {SEVERITY_MIN}..{SEVERITY_MAX}")
        if self.radius_km is not None and self.radius_km <= 0:
            raise ValueError("radius_km must be positive")

    def with_changes(self, **changes: Any) -> Incident:
        if "region" in changes and "regions" not in changes:  # a new single region replaces the old set
            changes["regions"] = (changes["region"],) if changes["region"] else ()
        return replace(self, **changes)


@dataclass(frozen=True)
class StandbyOfficer:
    id: str
    name: str
    home_duty_station: str
    readiness: Readiness
    skills: tuple[str, ...] = field(default_factory=tuple)
    languages: tuple[str, ...] = field(default_factory=tuple)
