"""Travellers and where each one most probably is now. Pure: no I/O.

A traveller is imported from the travel-tracking system (``crisis.feeds.travellers``
validates the export); this module holds the record and the rule that places a person.

Best-known position
===================

``best_known_position`` weighs the evidence in this order, and takes the first that
applies:

1. **Observed** (a check-in with a place, or a position report) no older than
   ``max_age`` (``CRISIS_POSITION_MAX_AGE_HOURS``, 24 h by default): the freshest of the
   two wins; at equal times the check-in wins. ``source`` is "checkin" or "report",
   ``at`` the time of the observation.
2. **Itinerary**, when it covers ``now``: during a segment (depart <= now < arrive) the
   person is on the great circle between the two places, at the fraction of the flight
   time elapsed (``in_transit`` true, ``at`` = now); between two segments at the
   arrival place of the earlier one (``at`` = that arrival); after the last arrival at
   its place for at most ``max_age`` (``at`` = the arrival); before the first departure
   at its origin from ``max_age`` before it (``at`` = now).
3. **Duty station**, otherwise (``at`` = now: it is where they are assumed to be).

A future-dated observation counts as age 0. With none of these, there is no position
(None).

Confidence (written down here, and nowhere else):

* ``high``: a check-in or report younger than ``HIGH_CONFIDENCE_AGE`` (1 hour);
* ``medium``: a check-in or report older than that but within ``max_age``, or the
  itinerary placing the person at a place (not moving);
* ``low``: in transit on the itinerary, or the duty station.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

CATEGORIES = ("international_staff", "national_staff", "dependant", "consultant", "visitor")
SOURCES = ("checkin", "report", "itinerary", "duty_station")
HIGH_CONFIDENCE_AGE = timedelta(hours=1)
DEFAULT_MAX_AGE = timedelta(hours=24)

Source = Literal["checkin", "report", "itinerary", "duty_station"]
Confidence = Literal["high", "medium", "low"]


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Segment:
    origin: Place
    destination: Place
    depart: datetime
    arrive: datetime


@dataclass(frozen=True)
class DutyStation(Place):
    country: str | None = None


@dataclass(frozen=True)
class Traveller:
    id: str
    name: str
    agency: str
    category: str
    essential: bool = False
    duty_station: DutyStation | None = None
    phone: str | None = None
    email: str | None = None
    dependant_of: str | None = None
    itinerary: tuple[Segment, ...] = field(default=())


@dataclass(frozen=True)
class Fix:
    """An observed position: a check-in with a place, or a position report."""

    lat: float
    lon: float
    at: datetime


@dataclass(frozen=True)
class BestPosition:
    lat: float
    lon: float
    source: Source
    at: datetime
    confidence: Confidence
    in_transit: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"lat": self.lat, "lon": self.lon, "source": self.source, "at": self.at.isoformat(),
                "confidence": self.confidence, "in_transit": self.in_transit}


def best_known_position(
    now: datetime,
    checkin: Fix | None,
    report: Fix | None,
    itinerary: tuple[Segment, ...] | list[Segment],
    duty_station: DutyStation | None,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> BestPosition | None:
    """Where the person most probably is at ``now`` (see the module's rule), or None."""
    candidates: tuple[tuple[Fix | None, Source], ...] = ((checkin, "checkin"), (report, "report"))
    observed = [(fix, source) for fix, source in candidates if fix is not None and now - fix.at <= max_age]
    if observed:
        # max() keeps the first of equals: the check-in, listed first, wins a tie.
        fix, source = max(observed, key=lambda item: item[0].at)
        age = max(now - fix.at, timedelta(0))
        confidence: Confidence = "high" if age < HIGH_CONFIDENCE_AGE else "medium"
        return BestPosition(fix.lat, fix.lon, source, fix.at, confidence)
    placed = itinerary_position(now, itinerary, max_age)
    if placed is not None:
        return placed
    if duty_station is not None:
        return BestPosition(duty_station.lat, duty_station.lon, "duty_station", now, "low")
    return None


def itinerary_position(
    now: datetime, itinerary: tuple[Segment, ...] | list[Segment], max_age: timedelta = DEFAULT_MAX_AGE
) -> BestPosition | None:
    """Where the itinerary puts the person at ``now``, or None when it does not cover it."""
    segments = sorted(itinerary, key=lambda s: s.depart)
    if not segments:
        return None
    first, last = segments[0], segments[-1]
    if first.depart - max_age <= now < first.depart:
        return BestPosition(first.origin.lat, first.origin.lon, "itinerary", now, "medium")
    for i, seg in enumerate(segments):
        if seg.depart <= now < seg.arrive:
            fraction = (now - seg.depart) / (seg.arrive - seg.depart)
            lat, lon = great_circle_point(seg.origin.lat, seg.origin.lon, seg.destination.lat,
                                          seg.destination.lon, fraction)
            return BestPosition(lat, lon, "itinerary", now, "low", in_transit=True)
        following = segments[i + 1] if i + 1 < len(segments) else None
        if following is not None and seg.arrive <= now < following.depart:
            place = seg.destination
            return BestPosition(place.lat, place.lon, "itinerary", seg.arrive, "medium")
    if last.arrive <= now <= last.arrive + max_age:
        place = last.destination
        return BestPosition(place.lat, place.lon, "itinerary", last.arrive, "medium")
    return None


def great_circle_point(lat1: float, lon1: float, lat2: float, lon2: float, fraction: float) -> tuple[float, float]:
    """The point ``fraction`` (0..1) of the way along the great circle from 1 to 2
    (spherical interpolation; the antimeridian and the poles need no special case)."""
    fraction = min(max(fraction, 0.0), 1.0)
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    a = (math.cos(p1) * math.cos(l1), math.cos(p1) * math.sin(l1), math.sin(p1))
    b = (math.cos(p2) * math.cos(l2), math.cos(p2) * math.sin(l2), math.sin(p2))
    dot = max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b))))
    omega = math.acos(dot)
    if omega < 1e-12:
        return lat1, lon1
    s = math.sin(omega)
    wa, wb = math.sin((1 - fraction) * omega) / s, math.sin(fraction * omega) / s
    x, y, z = (wa * u + wb * v for u, v in zip(a, b))
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    lon = math.degrees(math.atan2(y, x))
    return round(lat, 6), round(lon, 6)


# --- stored form ----------------------------------------------------------------------


def _place_dict(p: Place) -> dict[str, Any]:
    return {"name": p.name, "lat": p.lat, "lon": p.lon}


def to_dict(t: Traveller) -> dict[str, Any]:
    """The traveller as stored and answered (times ISO 8601)."""
    station = t.duty_station
    return {
        "id": t.id,
        "name": t.name,
        "agency": t.agency,
        "category": t.category,
        "essential": t.essential,
        "duty_station": None if station is None else {
            "name": station.name, "lat": station.lat, "lon": station.lon, "country": station.country},
        "phone": t.phone,
        "email": t.email,
        "dependant_of": t.dependant_of,
        "itinerary": [
            {"from": _place_dict(s.origin), "to": _place_dict(s.destination),
             "depart": s.depart.isoformat(), "arrive": s.arrive.isoformat()}
            for s in t.itinerary
        ],
    }


def _place(raw: Any) -> Place | None:
    if isinstance(raw, dict) and isinstance(raw.get("lat"), (int, float)) and isinstance(raw.get("lon"), (int, float)):
        return Place(str(raw.get("name") or ""), float(raw["lat"]), float(raw["lon"]))
    return None


def itinerary_of(profile: dict[str, Any]) -> tuple[Segment, ...]:
    """The itinerary of a stored profile (profiles without one, such as the demo's, have none)."""
    out = []
    for raw in profile.get("itinerary") or ():
        origin, destination = _place(raw.get("from")), _place(raw.get("to"))
        if origin is None or destination is None:
            continue
        try:
            depart, arrive = datetime.fromisoformat(raw["depart"]), datetime.fromisoformat(raw["arrive"])
        except (KeyError, TypeError, ValueError):
            continue
        out.append(Segment(origin, destination, depart, arrive))
    return tuple(out)


def duty_station_of(profile: dict[str, Any]) -> DutyStation | None:
    """The duty station of a stored profile, when it has one with a place."""
    raw = profile.get("duty_station")
    place = _place(raw)
    if place is None or not isinstance(raw, dict):
        return None
    country = raw.get("country")
    return DutyStation(place.name, place.lat, place.lon, country if isinstance(country, str) else None)


def late_reports(ids: Sequence[str], times: Sequence[float], held: Sequence[float | None]) -> list[bool]:
    """Which reports of a batch are late (times in Unix seconds): older than the latest
    position already held for their traveller (``held``, aligned with ``ids``; None: none held) or than another
    report of the same traveller in the batch. The newest by report time is where a
    person is, whatever order the messages came in; an equal time is not late."""
    newest: dict[str, float] = {}
    for traveller_id, time, before in zip(ids, times, held):
        best = newest.get(traveller_id, before)
        newest[traveller_id] = time if best is None or time > best else best
    return [time < newest[traveller_id] for traveller_id, time in zip(ids, times)]
