"""The demo scenario: thousands of invented travellers at real duty stations, moving, and a
storyline of incidents. Pure: no I/O, no threads, no clock reads (time is passed in),
randomness only from numpy Generators seeded by the constructor, so a seed and a sequence
of ``step`` calls always give the same output.

The simulator speaks only the commands every feed speaks (``PositionBatch``,
``IncidentIn``), so the demo exercises exactly the paths real feeds take.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from crisis.feeds.schemas import IncidentIn, PositionBatch, PositionIn
from crisis.sim import places as pl
from crisis.sim.movement import CITY, EVACUATION, FLIGHT, IDLE, RETURN, Movement
from crisis.sim.story import CYCLE_SECONDS, EVACUATE, RETURN as RETURN_ACTION, Background, Timeline, storyline

BATCH = 5000
CAR_MS, CONVOY_MS, AIRCRAFT_MS = 60 / 3.6, 90 / 3.6, 800 / 3.6  # convoys: escorted, highway
EVACUEES_PER_LEBANON = 150 / 400  # ~150 of ~400 people in Lebanon leave
_EVAC_PRIORITY = {"dependant": 3.0, "visitor": 3.0, "consultant": 2.0, "international": 1.5, "national": 0.5}
_SOUTH = ("Tyre", "Naqoura", "Nabatieh")
# evacuation state per traveller
NONE, LEAVING, SAFE, RETURNING = 0, 1, 2, 3


@dataclass
class Step:
    """What one step produced: position batches (<= 5000 each) and incident messages."""

    positions: list[PositionBatch] = field(default_factory=list)
    incidents: list[IncidentIn] = field(default_factory=list)


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
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
        self._rng_pop, self._rng, self._rng_story, self._rng_bg = rngs
        self.speedup, self.moving_share, self.jitter_share = speedup, moving_share, jitter_share
        self._run_tag = run_tag
        self._start: datetime | None = None
        self._tag = ""
        self._timeline = Timeline()
        self._background: Background | None = None
        self._cycles = 0
        self._returning = False
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
        self.home = home
        self.station = home.copy()  # where each traveller is now
        self.dest = home.copy()  # where the current trip ends
        self.res_lat, self.res_lon = pl.scatter(rng, self._st_lat[home], self._st_lon[home], self._st_sea[home])
        self.ids = [f"T{i + 1:06d}" for i in range(n)]
        category = rng.choice(pl.CATEGORIES, size=n, p=pl.CATEGORY_WEIGHTS)
        agency = rng.choice(pl.AGENCIES, size=n, p=pl.AGENCY_WEIGHTS)
        naqoura = np.array([self.stations[h].city == "Naqoura" for h in home])
        agency[naqoura & (rng.random(n) < 0.85)] = "DPKO"  # UNIFIL headquarters
        pools = list(pl.NAMES)
        mixed = rng.integers(len(pools), size=n)
        first_i, last_i = rng.integers(1 << 30, size=n), rng.integers(1 << 30, size=n)
        self._profiles = []
        for i, h in enumerate(home):
            st = self.stations[h]
            pool = pl.NAMES[pl.name_pool(st.country) if category[i] == "national" else pools[mixed[i]]]
            self._profiles.append({
                "id": self.ids[i],
                "name": f"{pool[0][first_i[i] % len(pool[0])]} {pool[1][last_i[i] % len(pool[1])]}",
                "agency": str(agency[i]), "category": str(category[i]),
                "duty_station": st.city, "duty_station_iata": st.code,
            })
        self.category, self.agency = category, agency
        self.evac = np.zeros(n, dtype=np.int8)
        self.move = Movement(self.res_lat, self.res_lon)
        self._top_up(int(round(self.moving_share * n)))
        started = np.flatnonzero(self.move.moving)
        self.move.skip(started, self._rng.random(started.size))  # already under way

    def profiles(self) -> list[dict[str, str]]:
        return [dict(p) for p in self._profiles]

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
        while self._cycles * CYCLE_SECONDS <= elapsed:
            for t, item in storyline(self._cycles, self._tag, self._start):
                self._timeline.push(t, item)
            self._cycles += 1
        for t, msg in self._background.until(elapsed):
            self._timeline.push(t, msg)
        incidents: list[IncidentIn] = []
        for item in self._timeline.pop_due(elapsed):
            if item == EVACUATE:
                self._evacuate()
            elif item == RETURN_ACTION:
                self._returning = True
            elif isinstance(item, IncidentIn):
                incidents.append(item)
        moved, arrived = self.move.advance(max(dt_seconds, 0.0) * self.speedup)
        self._arrive(arrived)
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
        return Step(positions=self._batches(idx, lat, lon, now, accuracy=15.0), incidents=incidents)

    # ---- movement ---------------------------------------------------------------------
    def _top_up(self, count: int) -> None:
        """Start ordinary trips (city drives, flights) so ~moving_share are on the move."""
        rng = self._rng
        free = np.flatnonzero((self.move.kind == IDLE) & (self.evac == NONE))
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
               kind: int) -> None:
        """Road trips for ``who`` from where they are, through ``via``, to their own end points."""
        if who.size == 0:
            return
        via_lat = np.tile([p[0] for p in via], (who.size, 1))
        via_lon = np.tile([p[1] for p in via], (who.size, 1))
        wp_lat = np.column_stack([self.move.lat[who], via_lat, end_lat])
        wp_lon = np.column_stack([self.move.lon[who], via_lon, end_lon])
        self.move.start(who, wp_lat, wp_lon, CONVOY_MS * self._rng.uniform(0.9, 1.05, who.size), kind)

    def _evacuate(self) -> None:
        """Phase IV in Lebanon: ~150 people leave by road for Amman, in convoy groups."""
        rng = self._rng
        in_leb = self._st_lebanon[self.home] & (self.station == self.home)
        ok = in_leb & (self.evac == NONE) & np.isin(self.move.kind, (IDLE, CITY)) & (self.agency != "DPKO")
        cands = np.flatnonzero(ok)
        want = min(cands.size, int(round(EVACUEES_PER_LEBANON * self._st_lebanon[self.home].sum())))
        if want == 0:
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
        ready = np.flatnonzero((self.evac == SAFE) & (self.move.kind == IDLE))
        if ready.size:
            city = np.array([self.stations[h].city for h in self.home[ready]])
            back = list(reversed(pl.ROUTE_DAMASCUS[:-1]))
            groups = [
                (np.isin(city, _SOUTH), [*back, pl.ASSEMBLY, pl.SIDON]),
                (city == "Beirut", [*back, pl.ASSEMBLY]),
                (city == "Tripoli", list(reversed(pl.ROUTE_NORTH_TAIL[:-1]))),
            ]
            for mask, via in groups:
                i = ready[mask]
                self._route(i, via, self.res_lat[i], self.res_lon[i], RETURN)
            self.evac[ready] = RETURNING
            self.dest[ready] = self.home[ready]
        if not np.isin(self.evac, (LEAVING, SAFE)).any():
            self._returning = False

    def _arrive(self, arrived: np.ndarray) -> None:
        self.station[arrived] = self.dest[arrived]
        state = self.evac[arrived]
        self.evac[arrived] = np.select([state == LEAVING, state == RETURNING], [SAFE, NONE], state)

    # ---- views and output -------------------------------------------------------------
    def evacuee_ids(self) -> list[str]:
        """Travellers leaving for, at, or returning from the safe haven."""
        return [self.ids[i] for i in np.flatnonzero(self.evac != NONE)]

    def positions(self) -> dict[str, tuple[float, float]]:
        """Everyone's current simulated position (lat, lon), by traveller id."""
        return dict(zip(self.ids, zip(self.move.lat.tolist(), self.move.lon.tolist())))

    def _batches(self, idx: np.ndarray, lat: np.ndarray, lon: np.ndarray, now: datetime,
                 accuracy: float) -> list[PositionBatch]:
        lat_l, lon_l = np.round(lat, 6).tolist(), np.round(lon, 6).tolist()
        items = [PositionIn(traveller_id=self.ids[i], lat=a, lon=o, time=now, source="sim", accuracy_m=accuracy)
                 for i, a, o in zip(idx.tolist(), lat_l, lon_l)]
        return [PositionBatch(positions=items[k:k + BATCH]) for k in range(0, len(items), BATCH)]
