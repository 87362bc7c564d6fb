"""The live picture of people: where each traveller most probably is, and who is affected
by which open incident, kept up to date batch by batch. Pure: no I/O.

Two things live here.

``best_positions`` is the vectorised twin of ``crisis.domain.travellers.best_known_position``
(the single statement of the rule: evidence order, maximum age, confidence). It places
any number of travellers in one pass over numpy columns, and tests hold it equal to the
scalar rule on random data. Times are int64 microseconds since the epoch (exact, as the
scalar rule's ``timedelta`` arithmetic); ``NO_TIME`` marks missing evidence.

``PeoplePicture`` is one web process's picture of everyone: each traveller's evidence
(check-in place, latest position report, itinerary, duty station) and best-known position
in numpy columns, a ``crisis.fusion.affected.Membership`` of those positions in the open
incidents' areas (``AreaIndex`` with the same settings as ``crisis.views.affected_people``:
default radius per severity, buffer), the itinerary arrivals within the horizon, each
person's accountability status per scope, and the open movements' people. Each ``apply_*``
updates only what changed and marks the incidents and people whose picture changed;
``drain`` hands those over (the push gateway sends them every tick).

Who is affected by an incident (as ``affected_people``): the travellers whose best-known
position is inside its area plus buffer (reason "position"), and those whose itinerary
arrives inside it within the next 48 hours and are not already inside (reason
"itinerary"). A person's colour on the map is the worst of their statuses in the scopes
they are in (``crisis.domain.accountability.worst``): every open incident that affects
them and every open movement that lists them; "none" when they are in no scope.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

from crisis.domain.accountability import DEFAULT_STATUS, counts, worst
from crisis.domain.travellers import (
    DEFAULT_MAX_AGE,
    HIGH_CONFIDENCE_AGE,
    Segment,
    duty_station_of,
    itinerary_of,
)
from crisis.fusion.affected import (
    ITINERARY_HORIZON,
    AreaIndex,
    IncidentArea,
    Membership,
    haversine_km,
    itinerary_affected,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]

NO_TIME = np.iinfo(np.int64).min  # no such evidence
SOURCES = ("", "checkin", "report", "itinerary", "duty_station")  # code 0: no position
CONFIDENCES = ("", "high", "medium", "low")
NO_SOURCE, CHECKIN, REPORT, ITINERARY, DUTY_STATION = range(5)
HIGH, MEDIUM, LOW = 1, 2, 3
NOT_AFFECTED = "none"  # the colour of a person in no scope
LOAD_CHUNK = 5000  # profiles taken in at a time when loading
Fixes = Mapping[str, tuple[float, float, str]]  # traveller id -> (lat, lon, ISO time)

# (lat, lon) columns -> (country, region) columns (``CountryIndex.locate``: in memory, no I/O)
Locate = Callable[[FloatArray, FloatArray], tuple[npt.NDArray[Any], npt.NDArray[Any]]]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_us(when: datetime) -> int:
    """Microseconds since the epoch, exact (a naive time is taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_PARSED: dict[str, int] = {}  # the times of a batch are often the same string (the time it was received)


def iso_to_us(text: Any) -> int:
    """An ISO 8601 time (or datetime) in microseconds; ``NO_TIME`` when it is not one."""
    if isinstance(text, datetime):
        return to_us(text)
    key = str(text)
    found = _PARSED.get(key)
    if found is None:
        try:
            found = to_us(datetime.fromisoformat(key))
        except (TypeError, ValueError):
            found = int(NO_TIME)
        if len(_PARSED) >= 4096:
            _PARSED.clear()
        _PARSED[key] = found
    return found


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def _td_us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# --- itineraries as columns ---------------------------------------------------------


@dataclass(frozen=True)
class Itineraries:
    """Every segment of every itinerary, one row each, sorted by traveller, then departure
    (then the order given: the scalar rule's stable sort)."""

    traveller: IntArray
    from_lat: FloatArray
    from_lon: FloatArray
    to_lat: FloatArray
    to_lon: FloatArray
    depart: IntArray  # us
    arrive: IntArray  # us

    @classmethod
    def empty(cls) -> Itineraries:
        f, i = np.zeros(0), np.zeros(0, dtype=np.int64)
        return cls(i, f, f, f, f, i, i)

    @classmethod
    def build(cls, traveller: Any, from_lat: Any, from_lon: Any, to_lat: Any, to_lon: Any, depart: Any,
              arrive: Any) -> Itineraries:
        trav = np.asarray(traveller, dtype=np.int64)
        dep = np.asarray(depart, dtype=np.int64)
        order = np.lexsort((np.arange(len(trav)), dep, trav))
        return cls(trav[order], np.asarray(from_lat, dtype=np.float64)[order],
                   np.asarray(from_lon, dtype=np.float64)[order], np.asarray(to_lat, dtype=np.float64)[order],
                   np.asarray(to_lon, dtype=np.float64)[order], dep[order], np.asarray(arrive, dtype=np.int64)[order])

    @classmethod
    def from_profiles(cls, rows: Sequence[int], profiles: Sequence[Mapping[str, Any]]) -> Itineraries:
        """The segments of these profiles (``itinerary_of``), owned by these rows."""
        return cls.from_segments(rows, [itinerary_of(dict(profile)) for profile in profiles])

    @classmethod
    def from_segments(cls, rows: Sequence[int], itineraries: Sequence[Sequence[Segment]]) -> Itineraries:
        """These itineraries (``crisis.domain.travellers.Segment``), owned by these rows."""
        cols: list[list[Any]] = [[], [], [], [], [], [], []]
        for r, segments in zip(rows, itineraries):
            for seg in segments:
                for col, value in zip(cols, (r, seg.origin.lat, seg.origin.lon, seg.destination.lat,
                                             seg.destination.lon, to_us(seg.depart), to_us(seg.arrive))):
                    col.append(value)
        return cls.build(*cols)

    def __len__(self) -> int:
        return len(self.traveller)

    def without(self, rows: Any) -> Itineraries:
        """These travellers' segments removed."""
        keep = ~np.isin(self.traveller, np.asarray(rows, dtype=np.int64))
        return Itineraries(*(getattr(self, f)[keep] for f in _ITIN_FIELDS))

    def plus(self, other: Itineraries) -> Itineraries:
        return Itineraries.build(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in _ITIN_FIELDS))


_ITIN_FIELDS = ("traveller", "from_lat", "from_lon", "to_lat", "to_lon", "depart", "arrive")


# --- the rule, vectorised -------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Best-known positions as columns (``crisis.domain.travellers.BestPosition`` per row)."""

    lat: FloatArray  # nan: no position
    lon: FloatArray
    source: Int8Array  # index into SOURCES (0: none)
    at: IntArray  # us (NO_TIME: none)
    confidence: Int8Array  # index into CONFIDENCES
    in_transit: BoolArray


def great_circle_points(lat1: Any, lon1: Any, lat2: Any, lon2: Any, fraction: Any) -> tuple[FloatArray, FloatArray]:
    """``crisis.domain.travellers.great_circle_point``, element-wise (same formulas, same rounding)."""
    f = np.clip(np.asarray(fraction, dtype=np.float64), 0.0, 1.0)
    lat1 = np.asarray(lat1, dtype=np.float64)
    lon1 = np.asarray(lon1, dtype=np.float64)
    p1, l1, p2, l2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    a = (np.cos(p1) * np.cos(l1), np.cos(p1) * np.sin(l1), np.sin(p1))
    b = (np.cos(p2) * np.cos(l2), np.cos(p2) * np.sin(l2), np.sin(p2))
    dot = np.clip(a[0] * b[0] + a[1] * b[1] + a[2] * b[2], -1.0, 1.0)
    omega = np.arccos(dot)
    same = omega < 1e-12
    s = np.where(same, 1.0, np.sin(omega))
    wa, wb = np.sin((1 - f) * omega) / s, np.sin(f * omega) / s
    x, y, z = (wa * u + wb * v for u, v in zip(a, b))
    lat = np.round(np.degrees(np.arctan2(z, np.hypot(x, y))), 6)
    lon = np.round(np.degrees(np.arctan2(y, x)), 6)
    return np.where(same, lat1, lat), np.where(same, lon1, lon)


def best_positions(
    now_us: int,
    n: int,
    checkin: tuple[FloatArray, FloatArray, IntArray] | None,
    report: tuple[FloatArray, FloatArray, IntArray] | None,
    itineraries: Itineraries,
    duty: tuple[FloatArray, FloatArray] | None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    rows: IntArray | None = None,
) -> Placement:
    """``best_known_position`` for ``n`` travellers at once (or only ``rows`` of them: the
    answer is then for those rows, in their order). Evidence columns are per traveller
    (lat, lon, at in us; ``NO_TIME`` for none; duty station lat nan for none)."""
    now = int(now_us)
    age_max = _td_us(max_age)
    high = _td_us(HIGH_CONFIDENCE_AGE)
    which = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    m = len(which)
    lat = np.full(m, np.nan)
    lon = np.full(m, np.nan)
    source = np.zeros(m, dtype=np.int8)
    at = np.full(m, NO_TIME, dtype=np.int64)
    conf = np.zeros(m, dtype=np.int8)
    transit = np.zeros(m, dtype=bool)

    def observed(fix: tuple[FloatArray, FloatArray, IntArray] | None) -> tuple[BoolArray, IntArray]:
        if fix is None:
            return np.zeros(m, dtype=bool), np.full(m, NO_TIME, dtype=np.int64)
        t = fix[2][which]
        known = t != NO_TIME
        safe = np.where(known, t, now)
        return known & (now - safe <= age_max), t

    c_ok, c_at = observed(checkin)
    r_ok, r_at = observed(report)
    use_c = c_ok & (~r_ok | (c_at >= r_at))  # equal times: the check-in
    use_r = r_ok & ~use_c
    for use, fix, code in ((use_c, checkin, CHECKIN), (use_r, report, REPORT)):
        if fix is None or not use.any():
            continue
        k = which[use]
        lat[use], lon[use], at[use] = fix[0][k], fix[1][k], fix[2][k]
        source[use] = code
        age = np.maximum(now - at[use], 0)
        conf[use] = np.where(age < high, HIGH, MEDIUM)
    rest = ~(use_c | use_r)

    if len(itineraries) and rest.any():
        _place_by_itinerary(now, age_max, which, rest, itineraries, lat, lon, source, at, conf, transit)
        rest &= source == NO_SOURCE
    if duty is not None and rest.any():
        d_lat, d_lon = duty[0][which], duty[1][which]
        use_d = rest & np.isfinite(d_lat) & np.isfinite(d_lon)
        lat[use_d], lon[use_d] = d_lat[use_d], d_lon[use_d]
        source[use_d], at[use_d], conf[use_d] = DUTY_STATION, now, LOW
    return Placement(lat, lon, source, at, conf, transit)


def _place_by_itinerary(now: int, age_max: int, which: IntArray, rest: BoolArray, it: Itineraries,
                        lat: FloatArray, lon: FloatArray, source: Int8Array, at: IntArray, conf: Int8Array,
                        transit: BoolArray) -> None:
    """``itinerary_position`` for the rows of ``which`` still unplaced (``rest``), in place."""
    want = which[rest]
    lo = np.searchsorted(it.traveller, want, side="left")
    hi = np.searchsorted(it.traveller, want, side="right")
    has = hi > lo
    out = np.flatnonzero(rest)[has]  # positions in the answer
    lo, hi = lo[has], hi[has]
    if not len(out):
        return
    # the segments of these travellers, in order, and whose they are (index into out)
    counts_ = hi - lo
    owner = np.repeat(np.arange(len(out)), counts_)
    seg = np.repeat(lo - (np.cumsum(counts_) - counts_), counts_) + np.arange(int(counts_.sum()))
    dep, arr = it.depart[seg], it.arrive[seg]
    following = seg + 1
    has_next = following < np.repeat(hi, counts_)
    next_dep = np.where(has_next, it.depart[np.minimum(following, len(it) - 1)], 0)

    done = np.zeros(len(out), dtype=bool)
    # 1. before the first departure (within max_age of it): at its origin, at = now
    first = lo
    f_dep = it.depart[first]
    before = (f_dep - age_max <= now) & (now < f_dep)
    k = out[before]
    lat[k], lon[k] = it.from_lat[first[before]], it.from_lon[first[before]]
    source[k], at[k], conf[k] = ITINERARY, now, MEDIUM
    done |= before
    # 2. the first segment (in order) during which, or in the gap after which, ``now`` falls
    moving = (dep <= now) & (now < arr)
    waiting = has_next & (arr <= now) & (now < next_dep)
    hit = np.flatnonzero((moving | waiting) & ~done[owner])
    if len(hit):
        _, first_hit = np.unique(owner[hit], return_index=True)
        h = hit[first_hit]
        o = owner[h]
        s = seg[h]
        mv = moving[h]
        if mv.any():
            sm, km = s[mv], out[o[mv]]
            fraction = (now - it.depart[sm]).astype(np.float64) / (it.arrive[sm] - it.depart[sm]).astype(np.float64)
            p_lat, p_lon = great_circle_points(it.from_lat[sm], it.from_lon[sm], it.to_lat[sm], it.to_lon[sm], fraction)
            lat[km], lon[km] = p_lat, p_lon
            source[km], at[km], conf[km], transit[km] = ITINERARY, now, LOW, True
        wt = ~mv
        if wt.any():
            sw, kw = s[wt], out[o[wt]]
            lat[kw], lon[kw] = it.to_lat[sw], it.to_lon[sw]
            source[kw], at[kw], conf[kw] = ITINERARY, it.arrive[sw], MEDIUM
        done[o] = True
    # 3. after the last arrival (of the last segment by departure), within max_age
    last = hi - 1
    l_arr = it.arrive[last]
    after = ~done & (l_arr <= now) & (now <= l_arr + age_max)
    k = out[after]
    lat[k], lon[k] = it.to_lat[last[after]], it.to_lon[last[after]]
    source[k], at[k], conf[k] = ITINERARY, l_arr[after], MEDIUM


# --- the picture ----------------------------------------------------------------------


def geometry_key(incident: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of an incident decides its area (a change of anything else keeps the joins)."""
    area = incident.get("area")
    return (float(incident["lat"]), float(incident["lon"]), incident.get("radius_km"),
            int(incident.get("severity") or 3), repr(area) if area else None)


def is_open(incident: Mapping[str, Any]) -> bool:
    return incident.get("status") != "closed"


@dataclass(frozen=True)
class Drained:
    """What changed since the last drain: incident ids (open or just closed) and traveller rows."""

    incidents: list[str]
    people: IntArray


@dataclass(frozen=True)
class AffectedRow:
    row: int
    reason: str  # "position" | "itinerary"
    distance_km: float
    arrive_us: int | None = None


class PeoplePicture:
    """Everyone's best-known position and who is affected by what, updated incrementally."""

    def __init__(self, default_radius_km: Mapping[int, float], buffer_km: float = 0.0,
                 max_age: timedelta = DEFAULT_MAX_AGE, locate: Locate | None = None,
                 horizon: timedelta = ITINERARY_HORIZON) -> None:
        self.default_radius_km = dict(default_radius_km)
        self.buffer_km = float(buffer_km)
        self.max_age = max_age
        self.horizon = horizon
        self._locate = locate
        self.now_us = 0
        self.ids: list[str] = []
        self.row: dict[str, int] = {}
        z = np.zeros(0)
        zi = np.zeros(0, dtype=np.int64)
        self.duty_lat, self.duty_lon = z.copy(), z.copy()
        self.c_lat, self.c_lon, self.c_at = z.copy(), z.copy(), zi.copy()
        self.r_lat, self.r_lon, self.r_at = z.copy(), z.copy(), zi.copy()
        self.r_region = np.zeros(0, dtype=object)
        self.itineraries = Itineraries.empty()
        # the best-known position (float64 for the joins) and its region
        self.lat, self.lon = z.copy(), z.copy()
        self.source = np.zeros(0, dtype=np.int8)
        self.at = zi.copy()
        self.confidence = np.zeros(0, dtype=np.int8)
        self.in_transit = np.zeros(0, dtype=bool)
        self.region = np.zeros(0, dtype=object)
        self.region_code = np.zeros(0, dtype=np.int32)  # index into region_names (0: none)
        self.region_names: list[str | None] = [None]
        self._region_codes: dict[str | None, int] = {None: 0}
        # incidents (open ones joined) and who is affected
        self.incidents: dict[str, dict[str, Any]] = {}
        self.index = AreaIndex([], self.default_radius_km, self.buffer_km)
        self._slot: dict[str, int] = {}
        self.membership = Membership(self.index, [], z, z)
        self.inside: dict[str, set[int]] = {}  # by position
        self.coming: dict[str, dict[int, int]] = {}  # by itinerary: row -> arrival (us)
        self.coming_to: dict[tuple[int, int], tuple[float, float]] = {}  # (row, arrival us) -> place
        self.scopes_of: dict[int, set[str]] = {}  # row -> scopes it is in (incidents and movements)
        # incident id -> {(region code, status): how many of its affected people}, kept as
        # people join and leave its scope, change status or region
        self.tally: dict[str, dict[tuple[int, str], int]] = {}
        self.statuses: dict[str, dict[str, str]] = {}  # scope -> traveller id -> status
        self.movements: dict[str, set[str]] = {}  # area id -> traveller ids of its open movement
        # what changed since the last drain, and what each person looked like when last drained
        self._dirty_incidents: set[str] = set()
        self._dirty_people: set[int] = set()
        self.sent_colour = np.zeros(0, dtype=object)
        self.sent_source = np.zeros(0, dtype=np.int8)

    # -- size ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    def _grow(self, new_ids: Sequence[str]) -> IntArray:
        """Rows for ids, new ones appended (no evidence yet)."""
        rows = np.empty(len(new_ids), dtype=np.int64)
        added = 0
        for k, tid in enumerate(new_ids):
            r = self.row.get(tid)
            if r is None:
                r = self.row[tid] = len(self.ids)
                self.ids.append(tid)
                added += 1
            rows[k] = r
        if added:
            nan, none = np.full(added, np.nan), np.full(added, NO_TIME, dtype=np.int64)
            for name in ("duty_lat", "duty_lon", "c_lat", "c_lon", "r_lat", "r_lon", "lat", "lon"):
                setattr(self, name, np.concatenate([getattr(self, name), nan]))
            for name in ("c_at", "r_at", "at"):
                setattr(self, name, np.concatenate([getattr(self, name), none]))
            for name in ("source", "confidence", "sent_source"):
                setattr(self, name, np.concatenate([getattr(self, name), np.zeros(added, dtype=np.int8)]))
            self.in_transit = np.concatenate([self.in_transit, np.zeros(added, dtype=bool)])
            self.region_code = np.concatenate([self.region_code, np.zeros(added, dtype=np.int32)])
            for name in ("r_region", "region"):
                setattr(self, name, np.concatenate([getattr(self, name), np.full(added, None, dtype=object)]))
            self.sent_colour = np.concatenate([self.sent_colour, np.full(added, NOT_AFFECTED, dtype=object)])
            fresh = list(self.ids[-added:])
            self.membership.update(fresh, np.full(added, np.nan), np.full(added, np.nan))
        return rows

    # -- loading ---------------------------------------------------------------------------

    def load(self, now: datetime, profiles: Iterable[Mapping[str, Any]],
             reports: Fixes | Callable[[list[str]], Fixes] | None = None,
             checkins: Fixes | Callable[[list[str]], Fixes] | None = None,
             incidents: Iterable[Mapping[str, Any]] = (),
             statuses: Mapping[str, Mapping[str, str]] | None = None,
             areas: Iterable[Mapping[str, Any]] = (),
             report_regions: Mapping[str, str | None] | None = None) -> None:
        """The whole picture at once (a process starting): every profile (read as it comes,
        ``LOAD_CHUNK`` at a time), the latest report and check-in place of each (or a
        function giving them for the ids read), the incidents (closed ones are ignored), the
        statuses by scope, the security areas (for their open movements)."""
        self.now_us = to_us(now)
        chunk: list[Mapping[str, Any]] = []
        for profile in profiles:
            chunk.append(profile)
            if len(chunk) >= LOAD_CHUNK:
                self.apply_travellers(chunk, now, recompute=False)
                chunk = []
        self.apply_travellers(chunk, now, recompute=False)
        del chunk
        if callable(reports):
            reports = reports(list(self.ids))
        if callable(checkins):
            checkins = checkins(list(self.ids))
        if reports:
            ids = list(reports)
            values = list(reports.values())
            self._set_fixes("r", ids, [v[0] for v in values], [v[1] for v in values], [v[2] for v in values])
            if report_regions is not None:
                rows = np.array([self.row[t] for t in ids], dtype=np.int64)
                self.r_region[rows] = [report_regions.get(t) for t in ids]
        if checkins:
            ids = list(checkins)
            values = list(checkins.values())
            self._set_fixes("c", ids, [v[0] for v in values], [v[1] for v in values], [v[2] for v in values])
        for scope, by_id in (statuses or {}).items():
            self.statuses[scope] = dict(by_id)
        for area in areas:
            self.apply_area(area)
        self.incidents = {str(i["id"]): dict(i) for i in incidents if is_open(i)}
        self._place(np.arange(len(self.ids), dtype=np.int64), rejoin=False)
        self._rebuild_index(changed=set(self.incidents))
        self.drain()  # a page opened now asks for the whole picture; only later changes are pushed

    # -- evidence ----------------------------------------------------------------------------

    def _set_fixes(self, kind: str, ids: Sequence[str], lat: Any, lon: Any,
                   times: Sequence[Any]) -> tuple[IntArray, IntArray]:
        """Take each observation unless the one held for that person is newer (the newest by
        its time wins, whatever order the log gives them: two batches of one person committed
        in the other order, as the positions projection keeps them). The rows touched, and
        the indexes (into ``ids``) of the observations taken."""
        rows = self._grow(list(ids))
        at = np.fromiter((iso_to_us(t) for t in times), dtype=np.int64, count=len(rows))
        order = np.argsort(at, kind="stable")  # the newest of one person in the batch is written last
        taken = order[at[order] >= getattr(self, f"{kind}_at")[rows[order]]]
        getattr(self, f"{kind}_lat")[rows[taken]] = np.asarray(lat, dtype=np.float64)[taken]
        getattr(self, f"{kind}_lon")[rows[taken]] = np.asarray(lon, dtype=np.float64)[taken]
        getattr(self, f"{kind}_at")[rows[taken]] = at[taken]
        return rows, taken

    def apply_positions(self, ids: Sequence[str], lat: Any, lon: Any, times: Sequence[Any],
                        regions: Sequence[str | None] | None = None, now: datetime | None = None) -> None:
        """A batch of position reports (the latest per traveller wins, as the projection)."""
        if now is not None:
            self.now_us = to_us(now)
        if not len(ids):
            return
        rows, taken = self._set_fixes("r", ids, lat, lon, times)
        if regions is not None:
            self.r_region[rows[taken]] = [regions[i] for i in taken.tolist()]
        self._place(np.unique(rows))

    def apply_checkins(self, ids: Sequence[str], lat: Any, lon: Any, times: Sequence[Any],
                       now: datetime | None = None) -> None:
        """Check-ins with a place (each is evidence "checkin")."""
        if now is not None:
            self.now_us = to_us(now)
        if not len(ids):
            return
        rows, _ = self._set_fixes("c", ids, lat, lon, times)
        self._place(np.unique(rows))

    def apply_travellers(self, profiles: Sequence[Mapping[str, Any]], now: datetime | None = None,
                         recompute: bool = True) -> None:
        """Imported profiles (new or replacing): duty station and itinerary."""
        if now is not None:
            self.now_us = to_us(now)
        if not profiles:
            return
        ids = [str(p.get("id")) for p in profiles]
        rows = self._grow(ids)
        for r, profile in zip(rows.tolist(), profiles):
            station = duty_station_of(dict(profile))
            self.duty_lat[r] = station.lat if station else np.nan
            self.duty_lon[r] = station.lon if station else np.nan
        known = np.unique(rows)
        fresh = Itineraries.from_profiles(rows.tolist(), list(profiles))
        self.itineraries = (self.itineraries.without(known) if len(self.itineraries) else self.itineraries).plus(fresh)
        if recompute:
            self._place(known)
            self._itinerary_hits()

    def apply_incidents(self, incidents: Sequence[Mapping[str, Any]]) -> None:
        """New, changed or closed incidents: the index is rebuilt (once for the lot) when an
        area changed, else only the record is replaced."""
        changed: set[str] = set()
        for incident in incidents:
            iid = str(incident["id"])
            before = self.incidents.get(iid)
            if is_open(incident):
                self.incidents[iid] = dict(incident)
                if before is None or geometry_key(before) != geometry_key(incident):
                    changed.add(iid)
            elif before is not None:
                del self.incidents[iid]
                changed.add(iid)
            self._dirty_incidents.add(iid)  # its region or status may have changed: counts go out again
        if changed:
            self._rebuild_index(changed)

    def apply_status(self, scope: str, traveller_id: str, status: str) -> None:
        by_id = self.statuses.setdefault(scope, {})
        before = by_id.get(traveller_id, DEFAULT_STATUS)
        by_id[traveller_id] = status
        kind, _, ident = scope.partition(":")
        r = self.row.get(traveller_id)
        if kind == "incident":
            self._dirty_incidents.add(ident)
            if r is not None and scope in self.scopes_of.get(r, ()):
                code = int(self.region_code[r])
                self._count(ident, code, before, -1)
                self._count(ident, code, status, +1)
        if r is not None:
            self._dirty_people.add(r)

    def apply_area(self, area: Mapping[str, Any]) -> None:
        """An area (``{"id", ..., "movement": {...} | None}``): the people of its open movement."""
        area_id = str(area.get("id"))
        movement = area.get("movement") or None
        people: set[str] = set()
        if isinstance(movement, Mapping) and not movement.get("closed_at"):
            people = {str(p.get("traveller_id")) for p in movement.get("people") or () if isinstance(p, Mapping)}
        before = self.movements.get(area_id, set())
        if people == before:
            return
        scope = f"area:{area_id}"
        for tid in before ^ people:
            r = self.row.get(tid)
            if r is None:
                continue
            if tid in people:
                self._join(r, scope)
            else:
                self._leave(r, scope)
            self._dirty_people.add(r)
        if people:
            self.movements[area_id] = people
        else:
            self.movements.pop(area_id, None)

    # -- time -----------------------------------------------------------------------------------

    def refresh(self, now: datetime) -> None:
        """Time went by: reports age out, itineraries move, the 48-hour window slides."""
        self.now_us = to_us(now)
        self._place(np.arange(len(self.ids), dtype=np.int64))
        self._itinerary_hits()

    # -- the work --------------------------------------------------------------------------------

    def _place(self, rows: IntArray, rejoin: bool = True) -> None:
        """Recompute the best-known position of these rows; move the changed ones in the joins."""
        if not len(rows):
            return
        p = best_positions(self.now_us, len(self.ids), (self.c_lat, self.c_lon, self.c_at),
                           (self.r_lat, self.r_lon, self.r_at), self.itineraries, (self.duty_lat, self.duty_lon),
                           self.max_age, rows)
        old_lat, old_lon = self.lat[rows], self.lon[rows]
        moved = ~((old_lat == p.lat) & (old_lon == p.lon)) & ~(np.isnan(old_lat) & np.isnan(p.lat))
        new_source = p.source != self.source[rows]
        self.lat[rows], self.lon[rows] = p.lat, p.lon
        self.source[rows], self.at[rows], self.confidence[rows], self.in_transit[rows] = (
            p.source, p.at, p.confidence, p.in_transit)
        # the region of the position: the report's own when placed by it, else looked up
        changed = rows[moved | new_source]
        if len(changed):
            old_codes = self.region_code[changed].tolist()
            by_report = self.source[changed] == REPORT
            reported = changed[by_report]
            self.region[reported] = self.r_region[reported]
            other = changed[~by_report & ~np.isnan(self.lat[changed])]
            if self._locate is not None and len(other):
                self.region[other] = self._locate(self.lat[other], self.lon[other])[1]
            elif len(other):
                self.region[other] = None
            self.region[changed[np.isnan(self.lat[changed])]] = None
            missing = reported[np.array([reg is None for reg in self.region[reported].tolist()], dtype=bool)]
            if self._locate is not None and len(missing):
                self.region[missing] = self._locate(self.lat[missing], self.lon[missing])[1]
            self._dirty_people.update(rows[new_source].tolist())  # colours change with scopes and statuses
            self.region_code[changed] = [self._region_code(reg) for reg in self.region[changed].tolist()]
            for r, old in zip(changed.tolist(), old_codes):  # their incidents' regional counts move
                new = int(self.region_code[r])
                if new == old:
                    continue
                for scope in self.scopes_of.get(r, ()):
                    if scope.startswith("incident:"):
                        iid = scope[len("incident:"):]
                        status = self.statuses.get(scope, {}).get(self.ids[r], DEFAULT_STATUS)
                        self._count(iid, old, status, -1)
                        self._count(iid, new, status, +1)
                        self._dirty_incidents.add(iid)
        if rejoin:
            mv = rows[moved]
            if len(mv):
                change = self.membership.update([self.ids[r] for r in mv.tolist()], self.lat[mv], self.lon[mv])
                ids = self.index.ids
                for t, j in zip(change.entered_traveller.tolist(), change.entered_incident.tolist()):
                    self._enter(t, ids[j])
                for t, j in zip(change.left_traveller.tolist(), change.left_incident.tolist()):
                    iid = ids[j]
                    self.inside[iid].discard(t)
                    self._dirty_incidents.add(iid)
                    if t not in self.coming.get(iid, {}):
                        self._leave(t, f"incident:{iid}")
                    self._dirty_people.add(t)

    def _enter(self, row: int, iid: str) -> None:
        self.inside.setdefault(iid, set()).add(row)
        self._join(row, f"incident:{iid}")
        self._dirty_incidents.add(iid)
        self._dirty_people.add(row)

    def _count(self, iid: str, code: int, status: str, n: int) -> None:
        tally = self.tally.setdefault(iid, {})
        key = (code, status)
        left = tally.get(key, 0) + n
        if left:
            tally[key] = left
        else:
            tally.pop(key, None)

    def _join(self, row: int, scope: str) -> None:
        found = self.scopes_of.setdefault(row, set())
        if scope in found:
            return
        found.add(scope)
        if scope.startswith("incident:"):
            status = self.statuses.get(scope, {}).get(self.ids[row], DEFAULT_STATUS)
            self._count(scope[len("incident:"):], int(self.region_code[row]), status, +1)

    def _leave(self, row: int, scope: str) -> None:
        found = self.scopes_of.get(row)
        if found is not None and scope in found:
            found.discard(scope)
            if not found:
                del self.scopes_of[row]
            if scope.startswith("incident:"):
                status = self.statuses.get(scope, {}).get(self.ids[row], DEFAULT_STATUS)
                self._count(scope[len("incident:"):], int(self.region_code[row]), status, -1)

    def _rebuild_index(self, changed: set[str]) -> None:
        """A new area index over the open incidents; the memberships of ``changed`` are
        replaced (the others' cannot differ: their areas and everyone's positions are the same)."""
        areas = [IncidentArea.from_incident(i) for i in self.incidents.values()]
        self.index = AreaIndex(areas, self.default_radius_km, self.buffer_km)
        self._slot = {iid: j for j, iid in enumerate(self.index.ids)}
        self.membership = Membership(self.index, self.ids, self.lat, self.lon)
        hits = self.membership.hits()
        bounds = np.searchsorted(hits.incident, np.arange(len(self.index.ids) + 1))
        for iid in changed:
            for r in self.inside.pop(iid, set()):
                if r not in self.coming.get(iid, {}):
                    self._leave(r, f"incident:{iid}")
                self._dirty_people.add(r)
            j = self._slot.get(iid)
            if j is not None:
                for r in hits.traveller[bounds[j]:bounds[j + 1]].tolist():
                    self._enter(r, iid)
            self._dirty_incidents.add(iid)
        self._itinerary_hits()

    def _itinerary_hits(self) -> None:
        """Itinerary arrivals into each open area within the horizon (all of them: the
        window moves with time, and only the arrivals inside it are joined)."""
        it = self.itineraries
        now = from_us(self.now_us)
        new: dict[str, dict[int, int]] = {}
        places: dict[tuple[int, int], tuple[float, float]] = {}
        if len(it) and len(self.index.ids):
            t0, t1 = self.now_us, self.now_us + _td_us(self.horizon)
            soon = np.flatnonzero((it.arrive >= t0) & (it.arrive <= t1))
            if len(soon):
                hits = itinerary_affected(self.index, it.traveller[soon], it.to_lat[soon], it.to_lon[soon],
                                          it.arrive[soon].astype(np.float64) / 1e6, now, self.horizon)
                ms = hits.arrive.astype("datetime64[ms]").astype(np.int64)
                for t, j, a in zip(hits.traveller.tolist(), hits.incident.tolist(), ms.tolist()):
                    new.setdefault(self.index.ids[j], {})[t] = a * 1000
                # the arrival places, to give distances
                keys_ms = np.round(it.arrive[soon].astype(np.float64) / 1e6 * 1000.0).astype(np.int64)
                for t, la, lo, a in zip(it.traveller[soon].tolist(), it.to_lat[soon].tolist(),
                                        it.to_lon[soon].tolist(), keys_ms.tolist()):
                    places[(t, a * 1000)] = (la, lo)
        for iid in set(self.coming) | set(new):
            before, after = self.coming.get(iid, {}), new.get(iid, {})
            if before == after:
                continue
            self._dirty_incidents.add(iid)
            scope = f"incident:{iid}"
            for r in set(before) ^ set(after):
                self._dirty_people.add(r)
                if r in after:
                    self._join(r, scope)
                elif r not in self.inside.get(iid, ()):
                    self._leave(r, scope)
            for r in set(before) & set(after):
                if before[r] != after[r]:
                    self._dirty_people.add(r)
        self.coming = new
        self.coming_to = places

    # -- answers ---------------------------------------------------------------------------------

    def affected(self, incident_id: str) -> list[AffectedRow]:
        """Who is affected by an open incident: inside by position (with the distance from its
        centre), then arriving by itinerary within the horizon and not inside (earliest arrival)."""
        incident = self.incidents.get(incident_id)
        if incident is None:
            return []
        c_lat, c_lon = float(incident["lat"]), float(incident["lon"])
        inside = np.array(sorted(self.inside.get(incident_id, ())), dtype=np.int64)
        out = []
        if len(inside):
            d = haversine_km(c_lat, c_lon, self.lat[inside], self.lon[inside])
            out = [AffectedRow(int(r), "position", float(x)) for r, x in zip(inside.tolist(), d.tolist())]
        inside_set = self.inside.get(incident_id, set())
        for r, a in sorted(self.coming.get(incident_id, {}).items()):
            if r in inside_set:
                continue
            la, lo = self.coming_to.get((r, a), (math.nan, math.nan))
            out.append(AffectedRow(r, "itinerary", float(haversine_km(c_lat, c_lon, la, lo)), a))
        return out

    def affected_rows(self, incident_id: str) -> list[int]:
        rows = set(self.inside.get(incident_id, ())) | set(self.coming.get(incident_id, {}))
        return sorted(rows)

    def status_of(self, scope: str, row: int) -> str:
        return self.statuses.get(scope, {}).get(self.ids[row], DEFAULT_STATUS)

    def _region_code(self, region: str | None) -> int:
        code = self._region_codes.get(region)
        if code is None:
            code = self._region_codes[region] = len(self.region_names)
            self.region_names.append(region)
        return code

    def counts_by_region(self, incident_id: str) -> dict[str | None, dict[str, int]]:
        """The incident's counts (``accountability.counts``) for everyone (key None) and per
        region of the people's best-known positions: read from the tally kept as people
        join and leave, change status or region (no loop over the people)."""
        by_code: dict[int, dict[str, int]] = {}
        for (code, status), n in self.tally.get(incident_id, {}).items():
            by_code.setdefault(code, {})[status] = n
        everyone: dict[str, int] = {}
        for bucket in by_code.values():
            for status, n in bucket.items():
                everyone[status] = everyone.get(status, 0) + n
        out: dict[str | None, dict[str, int]] = {
            self.region_names[code]: _counts_of(bucket) for code, bucket in by_code.items() if code != 0}
        out[None] = _counts_of(everyone)
        return out

    def colour(self, row: int) -> str:
        """The person's worst status over the scopes they are in; "none" when in none."""
        scopes = self.scopes_of.get(row)
        if not scopes:
            return NOT_AFFECTED
        tid = self.ids[row]
        return worst(self.statuses.get(scope, {}).get(tid, DEFAULT_STATUS) for scope in scopes)

    def radius_used(self, incident_id: str) -> float | None:
        j = self._slot.get(incident_id)
        return None if j is None else self.index.radius_used(j)

    # -- what changed ----------------------------------------------------------------------------

    def touch(self, incident_ids: Iterable[str]) -> None:
        """Have these incidents' counts go out again at the next drain."""
        self._dirty_incidents.update(incident_ids)

    def touch_people(self) -> None:
        """Have everyone in a scope go out again at the next drain (as if they had just joined)."""
        rows = np.fromiter(self.scopes_of, dtype=np.int64, count=len(self.scopes_of))
        self.sent_colour[rows] = NOT_AFFECTED
        self._dirty_people.update(rows.tolist())

    def drain(self) -> Drained:
        """The incidents whose affected list or counts may have changed, and the people whose
        colour (status, affected) or position source changed, since the last drain."""
        incidents = sorted(self._dirty_incidents)
        rows = np.array(sorted(self._dirty_people), dtype=np.int64)
        self._dirty_incidents, self._dirty_people = set(), set()
        if len(rows):
            colour = np.array([self.colour(r) for r in rows.tolist()], dtype=object)
            changed = (colour != self.sent_colour[rows]) | (self.source[rows] != self.sent_source[rows])
            rows = rows[changed]
            self.sent_colour[rows] = colour[changed]
            self.sent_source[rows] = self.source[rows]
        return Drained(incidents, rows)


def _counts_of(tally: Mapping[str, int]) -> dict[str, int]:
    """``accountability.counts`` of a tally {status: how many} (without a loop per person:
    the same keys and rule, an unknown status counting as "no_response")."""
    out = counts(())
    for status, n in tally.items():
        out["total"] += n
        out[status if status in out and status != "total" else DEFAULT_STATUS] += n
    return out


def full_recompute(picture: PeoplePicture) -> dict[str, tuple[set[int], dict[int, int]]]:
    """Who is affected by each open incident, computed from scratch from the picture's
    evidence (no incremental state): {incident id: (rows inside, {row: arrival us})}. For tests."""
    p = best_positions(picture.now_us, len(picture.ids), (picture.c_lat, picture.c_lon, picture.c_at),
                       (picture.r_lat, picture.r_lon, picture.r_at), picture.itineraries,
                       (picture.duty_lat, picture.duty_lon), picture.max_age)
    areas = [IncidentArea.from_incident(i) for i in picture.incidents.values()]
    index = AreaIndex(areas, picture.default_radius_km, picture.buffer_km)
    out: dict[str, tuple[set[int], dict[int, int]]] = {iid: (set(), {}) for iid in index.ids}
    hits = index.join(p.lat, p.lon)
    for t, j in zip(hits.traveller.tolist(), hits.incident.tolist()):
        out[index.ids[j]][0].add(t)
    it = picture.itineraries
    if len(it) and len(index.ids):
        coming = itinerary_affected(index, it.traveller, it.to_lat, it.to_lon, it.arrive.astype(np.float64) / 1e6,
                                    from_us(picture.now_us), picture.horizon)
        ms = coming.arrive.astype("datetime64[ms]").astype(np.int64)
        for t, j, a in zip(coming.traveller.tolist(), coming.incident.tolist(), ms.tolist()):
            out[index.ids[j]][1][t] = a * 1000
    return out
