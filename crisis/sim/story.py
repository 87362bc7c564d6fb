"""The demo's storyline and background incidents, as timed messages. Pure.

The storyline is one 30-minute cycle (``CYCLE_SECONDS``) replayed for as long as the demo
runs: an armed conflict escalating in southern Lebanon with an evacuation by road to
Amman, and a major earthquake elsewhere (the site rotates each cycle). The people side
of each cycle (``crisis.sim.people`` actions, seconds into the cycle): at 20 the area
south of the Litani is opened at phase II, at 100 it goes to phase III (the real rule
lists who must move), at 115 the relocation to Amman by road is confirmed (expected
arrival ``RELOCATION_EXPECTED_S`` later), at 125 the convoys leave (``DEPART``), and at
1200, with the ceasefire, the phase is lowered to I, which closes the movement. At 150 a
surge officer is dispatched to southern Lebanon and reports their way there until on site
at 400 (``crisis.sim.roster.dispatch_story``); stood down after the ceasefire. Background
incidents appear every 20-40 s at real duty stations. Every message restates the whole
incident (the handlers take all facts from each message) under a stable ``source_id``,
and its ``status`` walks reported -> verified -> active -> contained -> closed. Every
incident is filed by category and sub-type (``crisis.domain.taxonomy``), as a desk would:
an exchange of fire, airstrikes, shelling, a demonstration; in the background armed
robberies, riots, IEDs, abductions, floods; never a bare "Other ..." sub-type.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Union

import numpy as np

from crisis.domain.model import IncidentStatus as S
from crisis.domain.model import IncidentType as T
from crisis.domain.taxonomy import category_of
from crisis.feeds.schemas import IncidentIn
from crisis.sim.people import AREA_KEY, AreaPhase, ConfirmMovement
from crisis.sim.places import AMMAN, HIGH_RISK, STATIONS, ellipse, offset
from crisis.sim.roster import ReportPosition, StartDispatch, StepDispatch, dispatch_story

CYCLE_SECONDS = 1800.0
EVACUATE, RETURN, DEPART = "evacuate", "return", "depart"
Action = Union[IncidentIn, str, AreaPhase, ConfirmMovement, StartDispatch, StepDispatch, ReportPosition]
AREA_NAME = "South of the Litani (demo)"
RELOCATION_EXPECTED_S = 240.0  # from the confirmation to the expected arrival in Amman
SAFE_HAVEN = {"name": "Amman (UN House)", "lat": AMMAN[0], "lon": AMMAN[1]}
DEMO_NOTE = "Demo scenario (simulated)."

SOUTH_LEBANON = {"type": "Polygon", "coordinates": [[
    (35.10, 33.09), (35.50, 33.08), (35.57, 33.27), (35.70, 33.28), (35.80, 33.35),
    (35.62, 33.45), (35.47, 33.42), (35.25, 33.36), (35.18, 33.22), (35.10, 33.09),
]]}
AREA_GEOMETRY = {"type": "Polygon", "coordinates": [[list(p) for p in SOUTH_LEBANON["coordinates"][0]]]}

# city, ISO3, lat, lon, bearing and km of the epicentre from the city, compass label,
# magnitude, orientation of the shaking ellipse's long axis. Rotates each cycle.
QUAKE_SITES = [
    ("Kathmandu", "NPL", 27.7172, 85.3240, 315.0, 40.0, "NW", 7.1, 110.0),
    ("Port-au-Prince", "HTI", 18.5944, -72.3074, 255.0, 25.0, "WSW", 7.0, 90.0),
    ("Manila", "PHL", 14.5995, 120.9842, 10.0, 70.0, "N", 7.2, 165.0),
    ("Suva", "FJI", -18.1248, 178.4501, 135.0, 120.0, "SE", 7.0, 70.0),  # crosses 180
]


@dataclass
class Timeline:
    """Messages and actions waiting for their time (seconds since the scenario start)."""

    _heap: list[tuple[float, int, Any]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def push(self, t: float, item: Action) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), item))

    def pop_due(self, elapsed: float) -> list[Action]:
        out = []
        while self._heap and self._heap[0][0] <= elapsed:
            out.append(heapq.heappop(self._heap)[2])
        return out


def _message(sid: str, title: str, kind: T, severity: int, lat: float, lon: float, status: S,
             reported_at: datetime, radius_km: float | None = None, area: dict[str, Any] | None = None,
             country: str | None = None, description: str = "") -> IncidentIn:
    return IncidentIn(
        title=title, category=category_of(kind.value), type=kind, severity=severity, lat=round(lat, 5), lon=round(lon, 5),
        radius_km=radius_km, area=area, country=country, reported_at=reported_at,
        description=f"{description} {DEMO_NOTE}".strip(), source="sim", source_id=sid, status=status,
    )


def storyline(cycle: int, tag: str, start: datetime) -> list[tuple[float, Action]]:
    """Every timed message and action of one story cycle (times since the scenario start)."""
    base = cycle * CYCLE_SECONDS
    prefix = f"sim-{tag}-" if tag else "sim-"
    suffix = f"-r{cycle}" if cycle else ""
    out: list[tuple[float, Action]] = []
    first_seen: dict[str, datetime] = {}

    def at(t: float, name: str, title: str, kind: T, sev: int, lat: float, lon: float, status: S, **kw: Any) -> None:
        sid = f"{prefix}{name}{suffix}"
        reported = first_seen.setdefault(sid, start + timedelta(seconds=base + t))
        out.append((base + t, _message(sid, title, kind, sev, lat, lon, status, reported, **kw)))

    lb = {"country": "LBN"}
    # Category plus sub-type (crisis.domain.taxonomy), as a desk would file them.
    fire, shelling, air, demo = T.EXCHANGE_OF_FIRE, T.SHELLING, T.AIRSTRIKE, T.DEMONSTRATION
    south = dict(area=SOUTH_LEBANON, **lb)
    phase = "Security phase IV declared for Lebanon: dependants and non-essential staff evacuate by road to Amman."
    at(15, "leb-1", "Exchange of fire along the Blue Line near Naqoura", fire, 3, 33.12, 35.17, S.REPORTED, radius_km=10, **lb)
    at(40, "leb-1", "Exchange of fire along the Blue Line near Naqoura", fire, 3, 33.12, 35.17, S.VERIFIED, radius_km=10, **lb,
       description="Confirmed by UNIFIL; staff in Naqoura sheltering.")
    at(60, "leb-2", "Airstrike reported near Tyre", air, 3, 33.27, 35.24, S.REPORTED, radius_km=5, **lb)
    at(90, "leb-2", "Airstrikes on Tyre: several strikes confirmed", air, 4, 33.27, 35.24, S.VERIFIED, radius_km=8, **lb)
    at(100, "leb-1", "Hostilities escalate across southern Lebanon", shelling, 4, 33.25, 35.40, S.ACTIVE, **south,
       description="Security phase III (relocation) for areas south of the Litani.")
    out.append((base + 20, AreaPhase(AREA_KEY, AREA_NAME, AREA_GEOMETRY, 2,
                                     "Restricted movement south of the Litani after the exchange of fire near Naqoura.")))
    out.append((base + 100, AreaPhase(AREA_KEY, AREA_NAME, AREA_GEOMETRY, 3,
                                      "Security phase III: dependants, visitors, consultants and non-essential "
                                      "international staff relocate from south of the Litani.")))
    out.append((base + 115, ConfirmMovement(AREA_KEY, dict(SAFE_HAVEN), "road",
                                            start + timedelta(seconds=base + 115 + RELOCATION_EXPECTED_S))))
    out.append((base + 125, DEPART))
    at(130, "leb-3", "Airstrike reported near Nabatieh", air, 3, 33.375, 35.49, S.REPORTED, radius_km=5, **lb)
    at(160, "leb-3", "Airstrikes hit roads around Nabatieh", air, 4, 33.375, 35.49, S.VERIFIED, radius_km=8, **lb)
    at(210, "leb-7", "Bridge destroyed on the coastal highway at Damour", air, 3, 33.70, 35.455, S.REPORTED, radius_km=2, **lb)
    at(170, "leb-4", "Airstrikes reported in Beirut southern suburbs", air, 4, 33.85, 35.51, S.REPORTED, radius_km=4, **lb)
    at(260, "leb-1", "Armed conflict in southern Lebanon: heavy bombardment", shelling, 5, 33.25, 35.40, S.ACTIVE, **south,
       description="Security phase III (relocation) for areas south of the Litani.")
    at(270, "leb-4", "Heavy airstrikes on Beirut southern suburbs (Dahiyeh)", air, 5, 33.85, 35.51, S.VERIFIED, radius_km=6, **lb)
    at(285, "leb-6", "Beirut airport closed after strike on runways", air, 4, 33.82, 35.49, S.REPORTED, radius_km=3, **lb)
    at(300, "leb-6", "Beirut airport closed after strike on runways", air, 4, 33.82, 35.49, S.VERIFIED, radius_km=3, **lb,
       description="All flights suspended; departures only by road.")
    at(300, "leb-5", "Demonstrations and road blockades in central Beirut", demo, 3, 33.895, 35.50, S.REPORTED, radius_km=2, **lb)
    at(320, "leb-5", "Demonstrations and road blockades in central Beirut", demo, 3, 33.895, 35.50, S.VERIFIED, radius_km=2, **lb)
    out.append((base + 330, EVACUATE))
    at(330, "leb-4", "Heavy airstrikes on Beirut southern suburbs (Dahiyeh)", air, 5, 33.85, 35.51, S.ACTIVE, radius_km=6, **lb,
       description=phase)
    at(420, "leb-2", "Airstrikes on Tyre: several strikes confirmed", air, 4, 33.27, 35.24, S.ACTIVE, radius_km=8, **lb)
    at(430, "leb-3", "Airstrikes hit roads around Nabatieh", air, 4, 33.375, 35.49, S.ACTIVE, radius_km=8, **lb)
    at(600, "leb-5", "Demonstrations in central Beirut dispersing", demo, 2, 33.895, 35.50, S.CONTAINED, radius_km=2, **lb)
    at(900, "leb-5", "Demonstrations in central Beirut dispersing", demo, 2, 33.895, 35.50, S.CLOSED, radius_km=2, **lb)
    at(900, "leb-7", "Temporary crossing opened at Damour", air, 2, 33.70, 35.455, S.CONTAINED, radius_km=2, **lb)
    at(1080, "leb-2", "Strikes around Tyre subsiding", air, 3, 33.27, 35.24, S.CONTAINED, radius_km=8, **lb)
    at(1110, "leb-3", "Strikes around Nabatieh subsiding", air, 3, 33.375, 35.49, S.CONTAINED, radius_km=8, **lb)
    at(1140, "leb-4", "Strikes on Beirut southern suburbs have stopped", air, 4, 33.85, 35.51, S.CONTAINED, radius_km=6, **lb)
    at(1200, "leb-1", "Ceasefire takes effect in southern Lebanon", shelling, 4, 33.25, 35.40, S.CONTAINED, **south,
       description="Evacuated staff return by road from Amman.")
    out.append((base + 1200, RETURN))
    out.append((base + 1200, AreaPhase(AREA_KEY, AREA_NAME, AREA_GEOMETRY, 1,
                                       "Ceasefire: phase lowered to I; the relocation is closed and staff return.")))
    at(1260, "leb-6", "Beirut airport reopens", air, 2, 33.82, 35.49, S.CLOSED, radius_km=3, **lb)
    at(1500, "leb-2", "Strikes around Tyre subsiding", air, 2, 33.27, 35.24, S.CLOSED, radius_km=8, **lb)
    at(1500, "leb-3", "Strikes around Nabatieh subsiding", air, 2, 33.375, 35.49, S.CLOSED, radius_km=8, **lb)
    at(1560, "leb-7", "Temporary crossing opened at Damour", air, 1, 33.70, 35.455, S.CLOSED, radius_km=2, **lb)
    at(1620, "leb-4", "Strikes on Beirut southern suburbs have stopped", air, 3, 33.85, 35.51, S.CLOSED, radius_km=6, **lb)
    at(1700, "leb-1", "Ceasefire holding in southern Lebanon", shelling, 3, 33.25, 35.40, S.CLOSED, **south)
    out.extend(dispatch_story(cycle, base, f"{prefix}leb-1{suffix}"))  # a surge officer to southern Lebanon
    _earthquake(at, cycle)
    return out


def _earthquake(at: Any, cycle: int) -> None:
    city, iso3, clat, clon, bearing, km, label, mag, orient = QUAKE_SITES[cycle % len(QUAKE_SITES)]
    lat, lon = offset(clat, clon, bearing, km)
    area = ellipse(lat, lon, 25.0 * (mag - 2.6), 12.0 * (mag - 2.6), orient)
    title = f"M{mag:.1f} earthquake {km:.0f} km {label} of {city}"
    eq, kw = T.EARTHQUAKE, {"area": area, "country": iso3}
    at(180, "eq-1", title, eq, 5, lat, lon, S.REPORTED, **kw, description="Depth 15 km. Strong shaking reported.")
    at(200, "eq-1", title, eq, 5, lat, lon, S.VERIFIED, **kw, description=f"Depth 15 km. Building collapses in {city}.")
    at(240, "eq-1", title, eq, 5, lat, lon, S.ACTIVE, **kw,
       description=f"Depth 15 km. Building collapses and casualties in {city}; disaster assessment team requested.")
    a_lat, a_lon = offset(lat, lon, 90.0, 25.0)
    a_title = f"M5.8 aftershock 25 km E of the {city} epicentre"
    at(300, "eq-2", a_title, eq, 3, a_lat, a_lon, S.REPORTED, radius_km=30, country=iso3)
    at(330, "eq-2", a_title, eq, 3, a_lat, a_lon, S.VERIFIED, radius_km=30, country=iso3)
    at(1300, "eq-2", a_title, eq, 2, a_lat, a_lon, S.CLOSED, radius_km=30, country=iso3)
    b_lat, b_lon = offset(lat, lon, orient + 180.0, 45.0)
    b_title = f"M6.2 aftershock 45 km from the {city} epicentre"
    at(480, "eq-3", b_title, eq, 4, b_lat, b_lon, S.REPORTED, radius_km=40, country=iso3)
    at(500, "eq-3", b_title, eq, 4, b_lat, b_lon, S.ACTIVE, radius_km=40, country=iso3, description="Further collapses.")
    at(1350, "eq-3", b_title, eq, 3, b_lat, b_lon, S.CLOSED, radius_km=40, country=iso3)
    at(1500, "eq-1", title, eq, 4, lat, lon, S.CONTAINED, **kw, description="Search and rescue phase ending.")
    at(1750, "eq-1", title, eq, 3, lat, lon, S.CLOSED, **kw, description="Recovery phase.")


# sub-type of each title, severity range, radius range (km), only at high-risk stations
_BACKGROUND: list[tuple[tuple[tuple[T, str], ...], tuple[int, int], tuple[float, float], bool]] = [
    (((T.ARMED_ROBBERY, "Armed robbery of a UN vehicle in {city}"),
      (T.CARJACKING, "Carjacking reported on the airport road, {city}"),
      (T.BURGLARY, "Break-in at a staff residence in {city}"),
      (T.ARMED_ROBBERY, "Staff member robbed at gunpoint near the market in {city}")), (1, 3), (1, 3), False),
    (((T.DEMONSTRATION, "Demonstration outside government offices in {city}"),
      (T.ROADBLOCK, "Road blockades and burning tyres in {city}"),
      (T.RIOT, "Clashes between protesters and police in {city}"),
      (T.STRIKE, "General strike paralyses traffic in {city}")), (2, 3), (1, 5), False),
    (((T.FLOOD, "Flash flooding after heavy rain in {city}"),
      (T.FLOOD, "River bursts its banks near {city}")), (2, 4), (10, 40), False),
    (((T.EPIDEMIC, "Cholera outbreak reported in the {city} area"),
      (T.EPIDEMIC, "Suspected measles cluster near {city}"),
      (T.EPIDEMIC, "Dengue cases rising in {city}")), (2, 3), (20, 60), False),
    (((T.ACCIDENT, "Road accident involving a UN vehicle near {city}"),), (1, 2), (1, 2), False),
    (((T.WEATHER, "Dust storm disrupts flights at {city}"),
      (T.WEATHER, "Heatwave warning for {city}")), (1, 2), (20, 80), False),
    (((T.IED, "IED found near a checkpoint outside {city}"),
      (T.ARMED_ATTACK, "Attack on a police post in {city}")), (3, 4), (1, 5), True),
    (((T.ABDUCTION, "Aid worker abducted near {city}"),), (4, 4), (1, 3), True),
    (((T.GROUND_FIGHTING, "Fighting reported on the outskirts of {city}"),), (3, 4), (5, 20), True),
]
# Categories whose incidents may get worse before they calm down.
_ESCALATES = frozenset({"civil_unrest", "terrorism", "hostage_abduction", "armed_conflict"})
_ESCALATING_HAZARDS = frozenset({T.FLOOD, T.EPIDEMIC})
_STATION_P = np.sqrt([s.weight for s in STATIONS])
_STATION_P = _STATION_P / _STATION_P.sum()


class Background:
    """Lower-severity incidents worldwide, every 20-40 s, each with a whole lifecycle."""

    def __init__(self, rng: np.random.Generator, tag: str, start: datetime) -> None:
        self._rng, self._start = rng, start
        self._prefix = f"sim-{tag}-bg-" if tag else "sim-bg-"
        self._next = float(rng.uniform(5.0, 20.0))
        self._count = 0

    def until(self, elapsed: float) -> list[tuple[float, IncidentIn]]:
        out: list[tuple[float, IncidentIn]] = []
        while self._next <= elapsed:
            out.extend(self._lifecycle(self._next))
            self._next += float(self._rng.uniform(20.0, 40.0))
        return out

    def _lifecycle(self, t: float) -> list[tuple[float, IncidentIn]]:
        rng = self._rng
        self._count += 1
        sid = f"{self._prefix}{self._count}"
        station = STATIONS[int(rng.choice(len(STATIONS), p=_STATION_P))]
        options = [b for b in _BACKGROUND if not b[3] or station.code in HIGH_RISK]
        titles, (lo, hi), (r_lo, r_hi), _ = options[int(rng.integers(len(options)))]
        kind, title = titles[int(rng.integers(len(titles)))]
        title = title.format(city=station.city)
        sev = int(rng.integers(lo, hi + 1))
        radius = round(float(rng.uniform(r_lo, r_hi)), 1)
        lat, lon = offset(station.lat, station.lon, float(rng.uniform(0, 360)), float(rng.uniform(0.5, 6.0)))
        reported = self._start + timedelta(seconds=t)

        def msg(status: S, severity: int) -> IncidentIn:
            return _message(sid, title, kind, severity, lat, lon, status, reported, radius_km=radius)

        times = [t, t + rng.uniform(20, 60)]
        steps = [msg(S.REPORTED, sev), msg(S.VERIFIED, sev)]
        escalates = category_of(kind.value) in _ESCALATES or kind in _ESCALATING_HAZARDS
        if escalates and rng.random() < 0.4:  # gets worse before it calms down
            times.append(times[-1] + rng.uniform(60, 120))
            steps.append(msg(S.ACTIVE, min(5, sev + 1)))
        times += [times[-1] + rng.uniform(180, 600), 0.0]
        times[-1] = times[-2] + rng.uniform(120, 420)
        steps += [msg(S.CONTAINED, max(1, sev - 1)), msg(S.CLOSED, max(1, sev - 1))]
        return list(zip((float(x) for x in times), steps))
