"""The demo scenario: thousands of invented travellers at real duty stations, moving, and a
storyline of incidents. Pure: no I/O, no threads, no clock reads (time is passed in),
randomness only from numpy Generators seeded by the constructor, so a seed and a sequence
of ``step`` calls always give the same output.

The simulator speaks only the commands every feed and every duty officer speaks
(``PositionBatch``, ``IncidentIn``, the travel-tracking export, and the people actions of
``crisis.sim.people``: an area's phase, a relocation's confirmation and progress,
check-ins, status marks, CoT reports from handsets), so the demo exercises exactly the
paths real feeds and people take.

The people side (times since the story's start; see ``crisis.sim.story``):

* at the start, every traveller is imported as a profile (name, agency, category,
  essential, duty station, phone, email, dependants naming their staff member, and
  itineraries, some flying into Beirut within 48 hours), and a few handsets are
  registered to travellers in Lebanon;
* check-ins: whenever a storyline incident (not a background one) reaches people, each
  of them answers after a while (most "safe", a few "unsure" or "needs_help"); some never
  answer, and a duty officer marks half of those "unreachable" minutes later;
* the area south of the Litani goes to phase III; the runner hands back the movement
  list the real rule produced (``movement_listed``), the relocation is confirmed (Amman,
  by road) and the listed people drive there in convoys, each reported "moving" when
  their convoy leaves and "arrived" (with a check-in at Amman) when they get there; one
  of them is held at the Masnaa crossing and becomes overdue;
* handsets send Cursor-on-Target every ``REPORT_EVERY`` seconds from where their
  carrier is (one of them loses its GPS fix for a while each cycle).

The standby roster (``roster``; ``crisis.sim.roster``): about 200 field security officers,
a month of rotations and leave that opens a gap; each cycle's surge dispatch comes in
``Step.roster``.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
import shapely.geometry

from crisis.feeds.schemas import IncidentIn, PositionBatch, PositionIn
from crisis.roster.model import RosterRules
from crisis.sim import people as pp
from crisis.sim import places as pl
from crisis.sim import roster as sim_roster
from crisis.sim.movement import CITY, EVACUATION, FLIGHT, IDLE, RETURN, Movement
from crisis.sim.story import (
    CYCLE_SECONDS, DEPART, EVACUATE, RETURN as RETURN_ACTION, Background, Timeline, storyline,
)

BATCH = 5000
CAR_MS, CONVOY_MS, AIRCRAFT_MS = 60 / 3.6, 90 / 3.6, 800 / 3.6  # convoys: escorted, highway
RELOCATION_PACE = 3.0  # relocation convoys go this much faster again, so the trip fits in minutes
EVACUEES_PER_LEBANON = 150 / 400  # ~150 of ~400 people in Lebanon leave
_EVAC_PRIORITY = {"dependant": 3.0, "visitor": 3.0, "consultant": 2.0, "international_staff": 1.5,
                  "national_staff": 0.5}
_SOUTH = ("Tyre", "Naqoura", "Nabatieh")
# evacuation state per traveller
NONE, LEAVING, SAFE, RETURNING, HELD = 0, 1, 2, 3, 4
MASNAA = pl.ROUTE_DAMASCUS[2]  # the border crossing where one relocated person is held

# Itineraries: a share flying into Beirut within 48 h (affected by itinerary), a couple
# just after (49-60 h: not yet), and ordinary trips elsewhere.
INBOUND_SHARE, INBOUND_MIN = 0.005, 3
LATE_INBOUND = 2
TRIP_SHARE = 0.04
HUBS = ("IST", "DOH", "CDG")
FLIGHT_KMH = 820.0
ESSENTIAL_SHARE = {"international_staff": 0.35, "national_staff": 0.25}

# Check-ins to a storyline incident
ROLL_CALL_SEVERITY = 3  # background incidents this serious get a roll-call too
NO_ANSWER = 0.08  # never answer
CHECKIN_STATUS = ("safe", "unsure", "needs_help")
CHECKIN_P = (0.88, 0.07, 0.05)
CHECKIN_MEAN_S, CHECKIN_MIN_S, CHECKIN_MAX_S = 60.0, 6.0, 480.0
WITH_PLACE = 0.7  # check-ins sent from a phone with its position
REPORT_EVERY = 10.0  # seconds between a handset's CoT reports
HANDSETS = 5


@dataclass
class Step:
    """What one step produced: position batches (<= 5000 each), incident messages, and
    the people actions (``crisis.sim.people``) in the order they are due."""

    positions: list[PositionBatch] = field(default_factory=list)
    incidents: list[IncidentIn] = field(default_factory=list)
    people: list[pp.PeopleAction] = field(default_factory=list)
    roster: list[sim_roster.RosterAction] = field(default_factory=list)  # the surge dispatch's steps


class Scenario:
    """A deterministic live crisis for the demo map.

    ``start`` anchors the storyline (its times are seconds after ``start``); left out, it
    is the first time passed to ``initial_batches``/``step``. ``speedup`` multiplies travel
    speeds so moves show on a world map. ``run_tag`` goes into every incident source_id
    (default: ``start`` as yymmddHHMMSS) so a restarted demo on a kept database starts
    new incidents instead of replaying messages at closed ones; pass "" for ids like
    "sim-leb-1". Story cycles after the first add "-r<cycle>".
    """

    def __init__(self, seed: int = 7, travellers: int = 5000, start: datetime | None = None, *,
                 speedup: float = 30.0, moving_share: float = 0.05, jitter_share: float = 0.01,
                 run_tag: str | None = None) -> None:
        if travellers < 1:
            raise ValueError("travellers must be at least 1")
        self.seed = seed
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
        self._rng_pop, self._rng, self._rng_story, self._rng_bg, self._rng_people = rngs
        self.speedup, self.moving_share, self.jitter_share = speedup, moving_share, jitter_share
        self._run_tag = run_tag
        self._start: datetime | None = None
        self._tag = ""
        self._timeline = Timeline()
        self._background: Background | None = None
        self._cycles = 0
        self._returning = False
        self._records: list[dict[str, Any]] | None = None
        # people side
        self._heap: list[tuple[float, int, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._covered: dict[str, set[int]] = {}
        self._pending: dict[int, float] = {}  # traveller index -> when their coming answer is due
        self._answered: dict[int, float] = {}  # traveller index -> when they last checked in
        self._elapsed = 0.0  # seconds since the start, as of the step in progress
        self._listed: list[int] | None = None  # the open relocation's list (scenario indices)
        self._depart_due = False
        self._departures: list[tuple[float, np.ndarray]] = []
        self._held: int | None = None
        self._cot_next: list[float] = []
        self._build_population(travellers)
        if start is not None:
            self._anchor(start)

    # ---- population -----------------------------------------------------------------
    def _build_population(self, n: int) -> None:
        rng = self._rng_pop
        offices = [s for s, _ in pl.LEBANON_OFFICES]
        self.stations: list[pl.Station] = [*pl.STATIONS, *offices]
        n_leb = int(round(pl.LEBANON_SHARE * n))
        world_p = np.array([s.weight for s in pl.STATIONS]) / sum(s.weight for s in pl.STATIONS)
        leb_p = np.array([share for _, share in pl.LEBANON_OFFICES])
        home = np.concatenate([
            rng.choice(len(pl.STATIONS), size=n - n_leb, p=world_p),
            len(pl.STATIONS) + rng.choice(len(offices), size=n_leb, p=leb_p / leb_p.sum()),
        ])
        home = home[rng.permutation(n)]
        self._st_lat = np.array([s.lat for s in self.stations])
        self._st_lon = np.array([s.lon for s in self.stations])
        self._st_sea = np.array([np.nan if s.sea is None else s.sea for s in self.stations])
        self._st_lebanon = np.array([s.country == "LB" for s in self.stations])
        self._world_p = np.append(world_p, np.zeros(len(offices)))
        self._amman = next(i for i, s in enumerate(self.stations) if s.code == "AMM")
        category = rng.choice(pl.CATEGORIES, size=n, p=pl.CATEGORY_WEIGHTS).astype(object)
        agency = rng.choice(pl.AGENCIES, size=n, p=pl.AGENCY_WEIGHTS).astype(object)
        naqoura = np.array([self.stations[h].city == "Naqoura" for h in home])
        agency[naqoura & (rng.random(n) < 0.85)] = "DPKO"  # UNIFIL headquarters
        essential = np.zeros(n, dtype=bool)
        for cat, share in ESSENTIAL_SHARE.items():
            mask = category == cat
            essential[mask] = rng.random(int(mask.sum())) < share
        essential[(agency == "DSS") & np.isin(category, list(ESSENTIAL_SHARE))] = True  # security officers
        # Dependants belong to an international staff member: same duty station and agency.
        staff = np.flatnonzero(category == "international_staff")
        deps = np.flatnonzero(category == "dependant")
        sponsor = np.full(n, -1)
        if staff.size == 0:
            category[deps] = "visitor"
        elif deps.size:
            sponsor[deps] = rng.choice(staff, size=deps.size)
            home[deps] = home[sponsor[deps]]
            agency[deps] = agency[sponsor[deps]]
        self.home = home
        self.station = home.copy()  # where each traveller is now
        self.dest = home.copy()  # where the current trip ends
        self.res_lat, self.res_lon = pl.scatter(rng, self._st_lat[home], self._st_lon[home], self._st_sea[home])
        if deps.size and staff.size:  # a family shares a residence
            self.res_lat[deps], self.res_lon[deps] = pl.scatter(
                rng, self.res_lat[sponsor[deps]], self.res_lon[sponsor[deps]], np.full(deps.size, np.nan),
                sigma_km=0.02, max_km=0.05)
        self.ids = [f"T{i + 1:06d}" for i in range(n)]
        pools = list(pl.NAMES)
        mixed = rng.integers(len(pools), size=n)
        first_i, last_i = rng.integers(1 << 30, size=n), rng.integers(1 << 30, size=n)
        digits = rng.integers(10_000_000, 99_999_999, size=n)
        self._names: list[tuple[str, str]] = []
        for i, h in enumerate(home):
            st = self.stations[h]
            pool = pl.NAMES[pl.name_pool(st.country) if category[i] == "national_staff" else pools[mixed[i]]]
            self._names.append((pool[0][first_i[i] % len(pool[0])], pool[1][last_i[i] % len(pool[1])]))
        for d in deps.tolist():
            if sponsor[d] >= 0:  # the family name of the staff member
                self._names[d] = (self._names[d][0], self._names[sponsor[d]][1])
        self.category, self.agency, self.essential, self._sponsor, self._digits = category, agency, essential, sponsor, digits
        self.evac = np.zeros(n, dtype=np.int8)
        self.move = Movement(self.res_lat, self.res_lon)
        self._choose_itineraries(n)
        self._choose_handsets(n)
        self._top_up(int(round(self.moving_share * n)))
        started = np.flatnonzero(self.move.moving)
        self.move.skip(started, self._rng.random(started.size))  # already under way

    def _choose_itineraries(self, n: int) -> None:
        """Who flies where (times are drawn now, as offsets from the start)."""
        rng = self._rng_people
        abroad = ~self._st_lebanon[self.home]
        mission = np.isin(self.category, ["international_staff", "consultant", "visitor"]) & abroad
        pool = np.flatnonzero(mission)
        count = min(pool.size, max(INBOUND_MIN, int(round(INBOUND_SHARE * n))))
        late = min(max(pool.size - count, 0), LATE_INBOUND)
        chosen = rng.choice(pool, size=count + late, replace=False) if count + late else np.array([], dtype=int)
        self.inbound, self.late_inbound = np.sort(chosen[:count]), np.sort(chosen[count:])
        # hours from the start to the arrival in Beirut: within 48 h, or 49-60 h
        self._inbound_arrive_h = np.concatenate([rng.uniform(2.0, 46.0, count), rng.uniform(49.5, 60.0, late)])
        self._inbound_stay_d = rng.uniform(4.0, 10.0, count + late)
        self._inbound_hub = rng.integers(len(HUBS), size=count + late)
        self.pinned = np.zeros(n, dtype=bool)  # kept at home until their flight: no random trips
        self.pinned[chosen] = True
        others = np.flatnonzero(abroad & ~self.pinned)
        trips = others[rng.random(others.size) < TRIP_SHARE]
        self._trips = trips
        self._trip_dest = rng.choice(len(self.stations), size=trips.size, p=self._world_p)
        self._trip_depart_h = rng.uniform(12.0, 21 * 24.0, trips.size)
        self._trip_stay_d = rng.uniform(3.0, 14.0, trips.size)

    def _choose_handsets(self, n: int) -> None:
        """A few handsets (ATAK) carried by people in Lebanon: security officers and staff in
        the south, one in Beirut (it loses its fix for a while), one non-essential
        international staff member in the south (likely on the relocation list)."""
        rng = self._rng_people
        city = np.array([self.stations[h].city for h in self.home])
        south = np.isin(city, _SOUTH)
        picks: list[int] = []
        groups = [
            south & self.essential,
            (city == "Beirut") & self.essential,
            south & (self.category == "international_staff") & ~self.essential,
        ]
        for mask, want in zip(groups, (HANDSETS - 2, 1, 1)):
            cands = np.setdiff1d(np.flatnonzero(mask), picks)
            if cands.size:
                picks.extend(int(i) for i in rng.choice(cands, size=min(want, cands.size), replace=False))
        self.handsets: list[pp.Handset] = []
        for k, i in enumerate(picks):
            uid = "ANDROID-" + "".join(f"{d}" for d in rng.integers(0, 10, size=15))
            callsign = f"{self.agency[i]}-{self._names[i][1].upper()[:6]}-{k + 1}"
            no_fix = (60.0, 150.0) if city[i] == "Beirut" else None  # in a basement shelter
            self.handsets.append(pp.Handset(uid, callsign, i, offset=round(k * REPORT_EVERY / max(len(picks), 1), 2),
                                            no_fix=no_fix))
        self._handset_mask = np.zeros(n, dtype=bool)
        self._handset_mask[[h.index for h in self.handsets]] = True
        self._cot_next = [h.offset for h in self.handsets]

    def profiles(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every traveller as the travel-tracking system exports them (the JSON of
        ``crisis.feeds.travellers``), itineraries timed from the story's start (``now``
        anchors it when it is not set yet)."""
        if self._start is None:
            if now is None:
                raise ValueError("the scenario has no start yet: pass now")
            self._anchor(now)
        if self._records is None:
            self._records = self._build_records()
        return [dict(r) for r in self._records]

    def _build_records(self) -> list[dict[str, Any]]:
        assert self._start is not None
        used: dict[str, int] = {}
        out: list[dict[str, Any]] = []
        itineraries = self._itineraries()
        for i, tid in enumerate(self.ids):
            st = self.stations[self.home[i]]
            first, last = self._names[i]
            category = str(self.category[i])
            agency = str(self.agency[i])
            local = f"{pp.email_part(first)}.{pp.email_part(last)}"
            used[local] = used.get(local, 0) + 1
            if used[local] > 1:
                local = f"{local}{used[local]}"
            domain = f"mail.{pp.EMAIL_DOMAIN}" if category == "dependant" else f"{agency.lower()}.{pp.EMAIL_DOMAIN}"
            record: dict[str, Any] = {
                "id": tid, "name": f"{first} {last}", "agency": agency, "category": category,
                "essential": bool(self.essential[i]),
                "duty_station": {"name": st.city, "lat": round(st.lat, 4), "lon": round(st.lon, 4),
                                 "country": pp.ISO3[st.country]},
                "phone": pp.phone(st.country, int(self._digits[i])),
                "email": f"{local}@{domain}",
                "itinerary": itineraries.get(i, []),
            }
            if self._sponsor[i] >= 0:
                record["dependant_of"] = self.ids[self._sponsor[i]]
            out.append(record)
        return out

    def _flight(self, origin: int, destination_code: str, dest_lat: float, dest_lon: float, arrive: datetime,
                hub: str | None) -> list[dict[str, Any]]:
        """Segments from a station to an airport arriving at ``arrive`` (via a hub when far)."""
        st = self.stations[origin]
        _, _, metres = pl.GEOD.inv(st.lon, st.lat, dest_lon, dest_lat)
        if hub is None or hub == st.code or metres < 4_000_000:
            hours = metres / 1000.0 / FLIGHT_KMH + 0.75
            depart = arrive - timedelta(hours=hours)
            return [pp.segment(st.code, destination_code, depart, arrive)]
        h_lat, h_lon = _AIRPORT[hub]
        _, _, leg2 = pl.GEOD.inv(h_lon, h_lat, dest_lon, dest_lat)
        _, _, leg1 = pl.GEOD.inv(st.lon, st.lat, h_lon, h_lat)
        depart2 = arrive - timedelta(hours=leg2 / 1000.0 / FLIGHT_KMH + 0.75)
        arrive1 = depart2 - timedelta(hours=2.5)
        depart1 = arrive1 - timedelta(hours=leg1 / 1000.0 / FLIGHT_KMH + 0.75)
        return [pp.segment(st.code, hub, depart1, arrive1), pp.segment(hub, destination_code, depart2, arrive)]

    def _itineraries(self) -> dict[int, list[dict[str, Any]]]:
        assert self._start is not None
        base = self._start.replace(microsecond=0)
        out: dict[int, list[dict[str, Any]]] = {}
        bey_lat, bey_lon = _AIRPORT["BEY"]
        for k, i in enumerate(np.concatenate([self.inbound, self.late_inbound]).tolist()):
            hub = HUBS[int(self._inbound_hub[k])]
            arrive = base + timedelta(hours=float(self._inbound_arrive_h[k]))
            arrive = arrive.replace(minute=arrive.minute - arrive.minute % 5, second=0)
            there = self._flight(self.home[i], "BEY", bey_lat, bey_lon, arrive, hub)
            early = base + timedelta(hours=1) - datetime.fromisoformat(there[0]["depart"])
            if early > timedelta(0):  # nobody is in the air when the demo starts: a later flight
                arrive += early
                there = self._flight(self.home[i], "BEY", bey_lat, bey_lon, arrive, hub)
            self._inbound_arrive_h[k] = (arrive - self._start).total_seconds() / 3600.0
            st = self.stations[self.home[i]]
            back_depart = arrive + timedelta(days=float(self._inbound_stay_d[k]))
            _, _, metres = pl.GEOD.inv(bey_lon, bey_lat, st.lon, st.lat)
            back_arrive = back_depart + timedelta(hours=metres / 1000.0 / FLIGHT_KMH + 0.75)
            out[i] = [*there, pp.segment("BEY", st.code, back_depart, back_arrive)]
        for k, i in enumerate(self._trips.tolist()):
            origin, dest = self.stations[self.home[i]], self.stations[int(self._trip_dest[k])]
            if dest.code == origin.code:
                continue
            depart = base + timedelta(hours=float(self._trip_depart_h[k]))
            depart = depart.replace(minute=depart.minute - depart.minute % 5, second=0)
            _, _, metres = pl.GEOD.inv(origin.lon, origin.lat, dest.lon, dest.lat)
            hours = timedelta(hours=metres / 1000.0 / FLIGHT_KMH + 0.75)
            back = depart + hours + timedelta(days=float(self._trip_stay_d[k]))
            out[i] = [pp.segment(origin.code, dest.code, depart, depart + hours),
                      pp.segment(dest.code, origin.code, back, back + hours)]
        return out

    def roster(self, now: datetime, rules: RosterRules) -> sim_roster.DemoRoster:
        """The standby roster (officers, a month of rotations, leave with its gap) from the
        story's start (``now`` when not anchored yet); see ``crisis.sim.roster``."""
        return sim_roster.build(self.seed, self._start or now, rules)

    def devices(self) -> list[tuple[str, str]]:
        """The handsets to register: (CoT uid, traveller id)."""
        return [(h.uid, self.ids[h.index]) for h in self.handsets]

    # ---- time -------------------------------------------------------------------------
    def _anchor(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._start = start
        tag = start.strftime("%y%m%d%H%M%S") if self._run_tag is None else self._run_tag
        self._tag = tag
        self._background = Background(self._rng_bg, tag, start)

    @property
    def start(self) -> datetime | None:
        return self._start

    def initial_batches(self, now: datetime) -> list[PositionBatch]:
        """Everyone's current position, in batches of at most 5000."""
        if self._start is None:
            self._anchor(now)
        return self._batches(np.arange(len(self.ids)), self.move.lat, self.move.lon, now, accuracy=25.0)

    def initial_positions(self, now: datetime) -> PositionBatch:
        """Everyone's current position as one batch (up to the schema's 10,000 limit)."""
        batches = self.initial_batches(now)
        return PositionBatch(positions=[p for b in batches for p in b.positions])

    def step(self, now: datetime, dt_seconds: float) -> Step:
        """Advance ``dt_seconds`` of real time to ``now``: due messages, moves, reports."""
        if self._start is None:
            self._anchor(now)
        assert self._start is not None and self._background is not None
        elapsed = (now - self._start).total_seconds()
        self._elapsed = elapsed
        while self._cycles * CYCLE_SECONDS <= elapsed:
            for t, item in storyline(self._cycles, self._tag, self._start):
                self._timeline.push(t, item)
            self._cycles += 1
        for t, msg in self._background.until(elapsed):
            self._timeline.push(t, msg)
        incidents: list[IncidentIn] = []
        people: list[pp.PeopleAction] = []
        roster: list[sim_roster.RosterAction] = []
        for item in self._timeline.pop_due(elapsed):
            if item == EVACUATE:
                self._evacuate()
            elif item == RETURN_ACTION:
                self._returning = True
            elif item == DEPART:
                self._depart_due = True
            elif isinstance(item, IncidentIn):
                incidents.append(item)
                if "-bg-" not in (item.source_id or "") or item.severity >= ROLL_CALL_SEVERITY:
                    self._reach(item, elapsed)
            elif isinstance(item, pp.AreaPhase):
                if item.phase < 3:  # the movement closes: the next phase III lists anew
                    self._listed, self._depart_due, self._departures = None, False, []
                people.append(item)
            elif isinstance(item, pp.ConfirmMovement):
                people.append(item)
            elif isinstance(item, sim_roster.ACTIONS):
                roster.append(item)
        people += self._relocation(elapsed)
        moved, arrived = self.move.advance(max(dt_seconds, 0.0) * self.speedup)
        people += self._arrive(arrived)
        if self._returning:
            self._start_returns()
        self._top_up(int(round(self.moving_share * len(self.ids))) - int(np.isin(self.move.kind, (CITY, FLIGHT)).sum()))
        idle = np.flatnonzero(~self.move.moving)
        sample = idle[self._rng.random(idle.size) < min(1.0, self.jitter_share * max(dt_seconds, 0.0))]
        j_lat, j_lon = pl.scatter(self._rng, self.move.lat[sample], self.move.lon[sample],
                                  np.full(sample.size, np.nan), sigma_km=0.015, max_km=0.06)
        idx = np.concatenate([moved, sample])
        lat = np.concatenate([self.move.lat[moved], j_lat])
        lon = np.concatenate([self.move.lon[moved], j_lon])
        sim = ~self._handset_mask[idx]  # handsets report their carrier's moves by CoT
        people += self._due_people(elapsed)
        people += self._cot(now, elapsed)
        return Step(positions=self._batches(idx[sim], lat[sim], lon[sim], now, accuracy=15.0),
                    incidents=incidents, people=people, roster=roster)

    # ---- check-ins ----------------------------------------------------------------------
    def _push(self, t: float, item: tuple[Any, ...]) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), item))

    def inside(self, message: IncidentIn) -> np.ndarray:
        """Which travellers are inside an incident's area (polygon, else circle) now."""
        lat, lon = self.move.lat, self.move.lon
        if message.area is not None:
            return np.asarray(shapely.contains_xy(shapely.geometry.shape(message.area), lon, lat), dtype=bool)
        radius_km = message.radius_km or _DEFAULT_RADIUS_KM[message.severity]
        near = np.flatnonzero((np.abs(lat - message.lat) < radius_km / 100.0 + 0.1))
        out = np.zeros(len(lat), dtype=bool)
        if near.size:
            _, _, metres = pl.GEOD.inv(lon[near], lat[near], np.full(near.size, message.lon), np.full(near.size, message.lat))
            out[near[np.asarray(metres) <= radius_km * 1000.0]] = True
        return out

    def _reach(self, message: IncidentIn, elapsed: float) -> None:
        """Schedule the answers of the people a storyline incident newly reaches."""
        if message.status is not None and message.status.value == "closed":
            return
        sid = message.source_id or ""
        covered = self._covered.setdefault(sid, set())
        new = [i for i in np.flatnonzero(self.inside(message)).tolist() if i not in covered]
        rng = self._rng_people
        # People booked into Beirut within 48 h, when the incident covers its airport: their
        # flight is postponed and they say so (no place: their itinerary is what makes them affected).
        flying_in = [i for i in self._flying_in(message, elapsed) if i not in covered]
        covered.update(flying_in)
        for i, delay_s in zip(flying_in, rng.uniform(30.0, 240.0, len(flying_in)).tolist()):
            if self._pending.get(i, -1.0) <= elapsed:
                self._pending[i] = elapsed + delay_s
                self._push(elapsed + delay_s, ("checkin", i, "safe", pp.POSTPONED_NOTE, False))
        if not new:
            return
        covered.update(new)
        silent = rng.random(len(new)) < NO_ANSWER
        mark = rng.random(len(new)) < 0.5
        mark_after = rng.uniform(240.0, 420.0, len(new))
        delay = np.clip(CHECKIN_MIN_S + rng.exponential(CHECKIN_MEAN_S, len(new)), CHECKIN_MIN_S, CHECKIN_MAX_S)
        status = rng.choice(len(CHECKIN_STATUS), size=len(new), p=CHECKIN_P)
        recovers = rng.random(len(new)) < 0.6
        recover_after = rng.uniform(150.0, 360.0, len(new))
        for k, i in enumerate(new):
            if silent[k]:
                if mark[k] and self._pending.get(i, -1.0) <= elapsed:
                    self._push(elapsed + mark_after[k], ("mark", i, sid, elapsed))
                continue
            if self._pending.get(i, -1.0) > elapsed:  # an answer on its way covers this one too
                continue
            due = elapsed + float(delay[k])
            self._pending[i] = due
            word = CHECKIN_STATUS[int(status[k])]
            self._push(due, ("checkin", i, word, None))
            if word == "needs_help" and recovers[k]:
                self._push(due + float(recover_after[k]), ("checkin", i, "safe", "Moved to a safe place, all fine now."))

    def _flying_in(self, message: IncidentIn, elapsed: float) -> list[int]:
        """The travellers whose itinerary lands in Beirut within 48 h, if the incident covers the airport."""
        if message.area is not None:
            covers = bool(shapely.contains_xy(shapely.geometry.shape(message.area), _AIRPORT["BEY"][1], _AIRPORT["BEY"][0]))
        else:
            radius_km = message.radius_km or _DEFAULT_RADIUS_KM[message.severity]
            _, _, metres = pl.GEOD.inv(message.lon, message.lat, _AIRPORT["BEY"][1], _AIRPORT["BEY"][0])
            covers = metres <= radius_km * 1000.0
        if not covers:
            return []
        self.profiles()  # the itineraries fix the arrival times
        hours = elapsed / 3600.0
        soon = (self._inbound_arrive_h[:self.inbound.size] > hours) & (self._inbound_arrive_h[:self.inbound.size] <= hours + 48)
        return [int(i) for i in self.inbound[soon]]

    def _due_people(self, elapsed: float) -> list[pp.PeopleAction]:
        rng = self._rng_people
        out: list[pp.PeopleAction] = []
        while self._heap and self._heap[0][0] <= elapsed:
            _, _, item = heapq.heappop(self._heap)
            kind, i = item[0], int(item[1])
            if kind == "mark":
                if self._answered.get(i, -1.0) >= item[3]:  # they answered meanwhile (another incident)
                    continue
                out.append(pp.MarkStatus(item[2], self.ids[i], "unreachable", pp.UNREACHABLE_NOTE))
                continue
            status, note = item[2], item[3]
            if note is None:
                notes = pp.CHECKIN_NOTES[status]
                note = notes[int(rng.integers(len(notes)))] or None
            self._answered[i] = elapsed
            placed = rng.random() < WITH_PLACE and (len(item) < 5 or bool(item[4]))
            lat = round(float(self.move.lat[i]), 6) if placed else None
            lon = round(float(self.move.lon[i]), 6) if placed else None
            out.append(pp.CheckIn(self.ids[i], status, lat, lon, note))
        return out

    # ---- the relocation --------------------------------------------------------------
    def movement_listed(self, traveller_ids: list[str]) -> None:
        """The open relocation's list, as the real rule made it (the runner hands it over
        after the phase change). Whoever is listed drives to Amman when the story says so."""
        index = {tid: i for i, tid in enumerate(self.ids)}
        self._listed = [index[t] for t in traveller_ids if t in index]

    def _relocation(self, elapsed: float) -> list[pp.PeopleAction]:
        out: list[pp.PeopleAction] = []
        if self._depart_due and self._listed is not None:
            self._depart_due = False
            self._plan_departures(elapsed)
        while self._departures and self._departures[0][0] <= elapsed:
            _, who = self._departures.pop(0)
            out += self._leave(who)
        return out

    def _plan_departures(self, elapsed: float) -> None:
        """Convoys by town, a few seconds apart; one person ends up held at the border."""
        who = np.array([i for i in (self._listed or []) if self.evac[i] == NONE], dtype=int)
        if who.size == 0:
            return
        city = np.array([self.stations[h].city for h in self.home[who]])
        self._held = int(who[np.argmax(city == "Naqoura")] if (city == "Naqoura").any() else who[-1])
        groups = [city == "Tyre", city == "Nabatieh", city == "Naqoura", ~np.isin(city, _SOUTH)]
        self._departures = [(elapsed + 12.0 * k, who[mask]) for k, mask in enumerate(groups) if mask.any()]

    def _leave(self, who: np.ndarray) -> list[pp.PeopleAction]:
        n = who.size
        end_lat, end_lon = pl.scatter(self._rng, np.full(n, pl.AMMAN[0]), np.full(n, pl.AMMAN[1]), np.full(n, np.nan))
        south = np.isin(np.array([self.stations[h].city for h in self.home[who]]), _SOUTH)
        held = who == self._held
        for mask, via in ((south & ~held, [pl.SIDON, pl.ASSEMBLY, *pl.ROUTE_DAMASCUS[:-1]]),
                          (~south & ~held, [pl.ASSEMBLY, *pl.ROUTE_DAMASCUS[:-1]])):
            self._route(who[mask], via, end_lat[mask], end_lon[mask], EVACUATION, pace=RELOCATION_PACE)
        if held.any():
            route = [pl.SIDON, pl.ASSEMBLY, *pl.ROUTE_DAMASCUS[:1]] if south[held].any() else [pl.ASSEMBLY, *pl.ROUTE_DAMASCUS[:1]]
            self._route(who[held], route, np.array([MASNAA[0]]), np.array([MASNAA[1]]), EVACUATION, pace=RELOCATION_PACE)
        self.evac[who] = np.where(held, HELD, LEAVING)
        self.dest[who] = self._amman
        return [pp.Progress(pp.AREA_KEY, self.ids[i], "moving") for i in who.tolist()]

    # ---- handsets --------------------------------------------------------------------
    def _cot(self, now: datetime, elapsed: float) -> list[pp.PeopleAction]:
        events = []
        for k, handset in enumerate(self.handsets):
            if self._cot_next[k] > elapsed:
                continue
            while self._cot_next[k] <= elapsed:
                self._cot_next[k] += REPORT_EVERY
            i = handset.index
            in_cycle = elapsed % CYCLE_SECONDS
            lost = handset.no_fix is not None and handset.no_fix[0] <= in_cycle < handset.no_fix[1]
            lat = None if lost else float(self.move.lat[i])
            lon = None if lost else float(self.move.lon[i])
            speed = float(self.move.speed[i]) if self.move.moving[i] else 0.0
            battery = max(5, 95 - int(elapsed // 120) % 90)
            events.append(pp.cot_event(handset.uid, handset.callsign, lat, lon, now, battery=battery, speed=speed))
        return [pp.CotReport("".join(events))] if events else []

    # ---- movement ---------------------------------------------------------------------
    def _top_up(self, count: int) -> None:
        """Start ordinary trips (city drives, flights) so ~moving_share are on the move."""
        rng = self._rng
        free = np.flatnonzero((self.move.kind == IDLE) & (self.evac == NONE) & ~self.pinned)
        if count <= 0 or free.size == 0:
            return
        who = rng.choice(free, size=min(count, free.size), replace=False)
        here = self.station[who]
        away = here != self.home[who]
        fly = ~self._st_lebanon[here] & np.where(away, rng.random(who.size) < 0.6, rng.random(who.size) < 0.25)
        dest = np.where(away, self.home[who], rng.choice(len(self.stations), size=who.size, p=self._world_p))
        fly &= dest != here
        dest = np.where(fly, dest, here)
        lat, lon = pl.scatter(rng, self._st_lat[dest], self._st_lon[dest], self._st_sea[dest],
                              sigma_km=np.where(fly, 3.0, 5.0), max_km=15.0)
        home_trip = (dest == self.home[who]) & (rng.random(who.size) < 0.5)  # back to the residence
        lat, lon = np.where(home_trip, self.res_lat[who], lat), np.where(home_trip, self.res_lon[who], lon)
        for kind, mask, speed in ((FLIGHT, fly, AIRCRAFT_MS), (CITY, ~fly, CAR_MS)):
            i = who[mask]
            wp_lat = np.column_stack([self.move.lat[i], lat[mask]])
            wp_lon = np.column_stack([self.move.lon[i], lon[mask]])
            self.move.start(i, wp_lat, wp_lon, speed * rng.uniform(0.8, 1.15, i.size), kind)
        self.dest[who] = dest

    def _route(self, who: np.ndarray, via: list[tuple[float, float]], end_lat: np.ndarray, end_lon: np.ndarray,
               kind: int, pace: float = 1.0) -> None:
        """Road trips for ``who`` from where they are, through ``via``, to their own end points."""
        if who.size == 0:
            return
        via_lat = np.tile([p[0] for p in via], (who.size, 1))
        via_lon = np.tile([p[1] for p in via], (who.size, 1))
        wp_lat = np.column_stack([self.move.lat[who], via_lat, end_lat])
        wp_lon = np.column_stack([self.move.lon[who], via_lon, end_lon])
        self.move.start(who, wp_lat, wp_lon, pace * CONVOY_MS * self._rng.uniform(0.9, 1.05, who.size), kind)

    def _evacuate(self) -> None:
        """Phase IV in Lebanon: ~150 people leave by road for Amman, in convoy groups."""
        rng = self._rng
        in_leb = self._st_lebanon[self.home] & (self.station == self.home)
        ok = in_leb & (self.evac == NONE) & np.isin(self.move.kind, (IDLE, CITY)) & (self.agency != "DPKO")
        cands = np.flatnonzero(ok)
        want = min(cands.size, int(round(EVACUEES_PER_LEBANON * self._st_lebanon[self.home].sum()))
                   - int((self.evac != NONE).sum()))
        if want <= 0:
            return
        weight = np.array([_EVAC_PRIORITY[c] for c in self.category[cands]])
        who = rng.choice(cands, size=want, replace=False, p=weight / weight.sum())
        end_lat, end_lon = pl.scatter(rng, np.full(want, pl.AMMAN[0]), np.full(want, pl.AMMAN[1]), np.full(want, np.nan))
        city = np.array([self.stations[h].city for h in self.home[who]])
        north = (city == "Tripoli") | ((city == "Beirut") & (rng.random(want) < 1 / 3))
        groups = [
            (np.isin(city, _SOUTH), [pl.SIDON, pl.ASSEMBLY, *pl.ROUTE_DAMASCUS[:-1]]),
            ((city == "Beirut") & ~north, [pl.ASSEMBLY, *pl.ROUTE_DAMASCUS[:-1]]),
            ((city == "Beirut") & north, [pl.ASSEMBLY, *pl.ROUTE_NORTH[:-1]]),
            (city == "Tripoli", pl.ROUTE_NORTH_TAIL[:-1]),
        ]
        for mask, via in groups:
            self._route(who[mask], via, end_lat[mask], end_lon[mask], EVACUATION)
        self.evac[who] = LEAVING
        self.dest[who] = self._amman

    def _start_returns(self) -> None:
        ready = np.flatnonzero(np.isin(self.evac, (SAFE, HELD)) & (self.move.kind == IDLE))
        if ready.size:
            city = np.array([self.stations[h].city for h in self.home[ready]])
            held = self.evac[ready] == HELD
            back = list(reversed(pl.ROUTE_DAMASCUS[:-1]))
            groups = [
                (np.isin(city, _SOUTH) & ~held, [*back, pl.ASSEMBLY, pl.SIDON]),
                ((city == "Beirut") & ~held, [*back, pl.ASSEMBLY]),
                ((city == "Tripoli") & ~held, list(reversed(pl.ROUTE_NORTH_TAIL[:-1]))),
                (held, [pl.ROUTE_DAMASCUS[0], pl.ASSEMBLY]),
            ]
            for mask, via in groups:
                i = ready[mask]
                self._route(i, via, self.res_lat[i], self.res_lon[i], RETURN)
            self.evac[ready] = RETURNING
            self.dest[ready] = self.home[ready]
        if not np.isin(self.evac, (LEAVING, SAFE, HELD)).any():
            self._returning = False

    def _arrive(self, arrived: np.ndarray) -> list[pp.PeopleAction]:
        self.station[arrived] = self.dest[arrived]
        state = self.evac[arrived]
        self.evac[arrived] = np.select([state == LEAVING, state == RETURNING], [SAFE, NONE], state)
        out: list[pp.PeopleAction] = []
        listed = set(self._listed or [])
        for i, was in zip(arrived.tolist(), state.tolist()):
            if i not in listed or was not in (LEAVING, HELD):
                continue
            lat, lon = round(float(self.move.lat[i]), 6), round(float(self.move.lon[i]), 6)
            self._answered[i] = self._elapsed
            if was == HELD:
                out.append(pp.CheckIn(self.ids[i], "unsure", lat, lon,
                                      "Held at the Masnaa crossing; papers being checked, no word when we can go on."))
                continue
            out.append(pp.Progress(pp.AREA_KEY, self.ids[i], "arrived"))
            out.append(pp.CheckIn(self.ids[i], "safe", lat, lon, "Arrived at the safe haven in Amman."))
        return out

    # ---- views and output -------------------------------------------------------------
    def evacuee_ids(self) -> list[str]:
        """Travellers leaving for, at, or returning from the safe haven."""
        return [self.ids[i] for i in np.flatnonzero(self.evac != NONE)]

    def held_id(self) -> str | None:
        """The relocated person held at the border (overdue), once the convoys have left."""
        return None if self._held is None else self.ids[self._held]

    def positions(self) -> dict[str, tuple[float, float]]:
        """Everyone's current simulated position (lat, lon), by traveller id."""
        return dict(zip(self.ids, zip(self.move.lat.tolist(), self.move.lon.tolist())))

    def _batches(self, idx: np.ndarray, lat: np.ndarray, lon: np.ndarray, now: datetime,
                 accuracy: float) -> list[PositionBatch]:
        lat_l, lon_l = np.round(lat, 6).tolist(), np.round(lon, 6).tolist()
        items = [PositionIn(traveller_id=self.ids[i], lat=a, lon=o, time=now, source="sim", accuracy_m=accuracy)
                 for i, a, o in zip(idx.tolist(), lat_l, lon_l)]
        return [PositionBatch(positions=items[k:k + BATCH]) for k in range(0, len(items), BATCH)]


def _airports() -> dict[str, tuple[float, float]]:
    import airportsdata

    table = airportsdata.load("IATA")
    return {code: (float(table[code]["lat"]), float(table[code]["lon"])) for code in ("BEY", *HUBS)}


_AIRPORT = _airports()
# As CRISIS_DEFAULT_RADIUS_KM's default: the circle of an incident given with neither area nor radius.
_DEFAULT_RADIUS_KM = {1: 5.0, 2: 10.0, 3: 25.0, 4: 50.0, 5: 100.0}
