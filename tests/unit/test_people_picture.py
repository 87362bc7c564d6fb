"""The live people picture (crisis.fusion.people): the vectorised best-known position equals
the scalar rule, the incremental picture equals a full recompute on random data, and
hand-checked cases of who is affected, colours and counts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from crisis.domain.accountability import counts
from crisis.domain.travellers import Fix, best_known_position, duty_station_of, itinerary_of
from crisis.fusion.affected import parse_default_radii
from crisis.fusion.people import (
    NO_TIME,
    SOURCES,
    CONFIDENCES,
    Itineraries,
    PeoplePicture,
    best_positions,
    from_us,
    full_recompute,
    to_us,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
RADII = parse_default_radii("1:5,2:10,3:25,4:50,5:100")
HUBS = [(-1.29, 36.82), (33.89, 35.50), (31.95, 35.91), (-17.7, 179.9), (78.2, 15.6)]


def place(name: str, lat: float, lon: float) -> dict[str, Any]:
    return {"name": name, "lat": lat, "lon": lon}


def profile(tid: str, station: tuple[float, float] | None, segments: list[tuple[Any, ...]] = ()) -> dict[str, Any]:
    return {
        "id": tid, "name": tid, "agency": "UNDP", "category": "international_staff", "essential": False,
        "duty_station": None if station is None else {**place("office", *station), "country": None},
        "itinerary": [{"from": place("a", *a), "to": place("b", *b), "depart": d.isoformat(), "arrive": r.isoformat()}
                      for a, b, d, r in segments],
    }


# --- the vectorised rule equals the scalar one ----------------------------------------


def _random_time(rng: np.random.Generator) -> datetime:
    hours = rng.choice([rng.uniform(-60, 60), rng.choice([-24, -1, 0, 1, 24, -48, 48])])
    return NOW + timedelta(hours=float(hours), microseconds=int(rng.integers(0, 3)))


def _random_profiles(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        hub = HUBS[int(rng.integers(len(HUBS)))]
        station = None if rng.random() < 0.15 else (hub[0] + rng.normal(0, 1), hub[1] + rng.normal(0, 1))
        segments = []
        t = _random_time(rng)
        for _ in range(int(rng.integers(0, 4))):
            a = (float(rng.uniform(-80, 80)), float(rng.uniform(-180, 180)))
            b = HUBS[int(rng.integers(len(HUBS)))] if rng.random() < 0.6 else (
                float(rng.uniform(-80, 80)), float(rng.uniform(-180, 180)))
            depart = t if rng.random() < 0.8 else t - timedelta(hours=float(rng.uniform(0, 10)))  # some overlap
            arrive = depart + timedelta(hours=float(rng.uniform(0.5, 14)))
            segments.append((a, b, depart, arrive))
            t = arrive + timedelta(hours=float(rng.uniform(0, 30)))
        rng.shuffle(segments)  # the rule sorts them
        out.append(profile(f"t{i:04d}", station, segments))
    return out


def _random_fixes(rng: np.random.Generator, n: int, share: float) -> dict[int, Fix]:
    return {i: Fix(float(rng.uniform(-80, 80)), float(rng.uniform(-180, 180)), _random_time(rng))
            for i in range(n) if rng.random() < share}


def _columns(n: int, fixes: dict[int, Fix]) -> tuple[Any, Any, Any]:
    lat, lon, at = np.full(n, np.nan), np.full(n, np.nan), np.full(n, NO_TIME, dtype=np.int64)
    for i, f in fixes.items():
        lat[i], lon[i], at[i] = f.lat, f.lon, to_us(f.at)
    return lat, lon, at


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_best_position_equals_the_scalar_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 1500
    profiles = _random_profiles(rng, n)
    checkins, reports = _random_fixes(rng, n, 0.3), _random_fixes(rng, n, 0.4)
    for i in list(checkins)[:40]:  # ties: the check-in wins
        if i in reports:
            checkins[i] = Fix(checkins[i].lat, checkins[i].lon, reports[i].at)
    max_age = timedelta(hours=24)
    duty = np.array([[s.lat, s.lon] if (s := duty_station_of(p)) else [np.nan, np.nan] for p in profiles])
    itin = Itineraries.from_profiles(list(range(n)), profiles)
    got = best_positions(to_us(NOW), n, _columns(n, checkins), _columns(n, reports), itin, (duty[:, 0], duty[:, 1]), max_age)
    seen = set()
    for i, p in enumerate(profiles):
        want = best_known_position(NOW, checkins.get(i), reports.get(i), itinerary_of(p), duty_station_of(p), max_age)
        if want is None:
            assert SOURCES[got.source[i]] == "" and np.isnan(got.lat[i]), i
            seen.add("none")
            continue
        seen.add(want.source + ("-transit" if want.in_transit else ""))
        assert SOURCES[got.source[i]] == want.source, i
        assert got.lat[i] == pytest.approx(want.lat, abs=2e-6) and got.lon[i] == pytest.approx(want.lon, abs=2e-6), i
        assert from_us(int(got.at[i])) == want.at, i
        assert CONFIDENCES[got.confidence[i]] == want.confidence, i
        assert bool(got.in_transit[i]) == want.in_transit, i
    assert seen >= {"none", "checkin", "report", "itinerary", "itinerary-transit", "duty_station"}
    # only some rows: the same answers, in the rows' order
    rows = np.array([5, 3, 900, 17], dtype=np.int64)
    part = best_positions(to_us(NOW), n, _columns(n, checkins), _columns(n, reports), itin, (duty[:, 0], duty[:, 1]),
                          max_age, rows)
    assert np.array_equal(part.source, got.source[rows]) and np.array_equal(part.at, got.at[rows])


# --- incremental equals a full recompute --------------------------------------------------


def _incident(iid: str, rng: np.random.Generator, status: str = "active") -> dict[str, Any]:
    hub = HUBS[int(rng.integers(len(HUBS)))]
    lat, lon = hub[0] + rng.normal(0, 0.5), ((hub[1] + rng.normal(0, 0.5) + 180) % 360) - 180
    kind = rng.random()
    out = {"id": iid, "lat": float(lat), "lon": float(lon), "severity": int(rng.integers(1, 6)), "status": status,
           "region": "r1", "radius_km": None, "area": None}
    if kind < 0.4:
        out["radius_km"] = float(rng.choice([20, 60, 150]))
    elif kind < 0.7:
        d = float(rng.uniform(0.3, 1.5))
        ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
        out["area"] = {"type": "Polygon", "coordinates": [ring]}
    return out


def _assert_matches(picture: PeoplePicture) -> None:
    full = full_recompute(picture)
    assert set(full) == set(picture.incidents)
    for iid, (inside, coming) in full.items():
        assert picture.inside.get(iid, set()) == inside, iid
        assert picture.coming.get(iid, {}) == coming, iid
    # everyone's scopes follow from the memberships
    scopes: dict[int, set[str]] = {}
    for iid, (inside, coming) in full.items():
        for r in inside | set(coming):
            scopes.setdefault(r, set()).add(f"incident:{iid}")
    for area_id, people in picture.movements.items():
        for tid in people:
            if tid in picture.row:
                scopes.setdefault(picture.row[tid], set()).add(f"area:{area_id}")
    assert picture.scopes_of == scopes
    # the counts (tallied without a loop per person) are accountability.counts of everyone's status
    for iid in full:
        rows = picture.affected_rows(iid)
        statuses = [picture.status_of(f"incident:{iid}", r) for r in rows]
        by_region = picture.counts_by_region(iid)
        assert by_region[None] == counts(statuses), iid
        for region in {picture.region[r] for r in rows} - {None}:
            assert by_region[region] == counts(s for r, s in zip(rows, statuses) if picture.region[r] == region)


@pytest.mark.parametrize("buffer_km", [0.0, 15.0])
def test_incremental_updates_match_a_full_recompute(buffer_km: float) -> None:
    rng = np.random.default_rng(11 + int(buffer_km))
    profiles = _random_profiles(rng, 600)
    incidents = [_incident(f"i{k}", rng) for k in range(12)]
    picture = PeoplePicture(RADII, buffer_km, timedelta(hours=24), locate=_regions)
    picture.load(NOW, profiles[:400], reports={"t0001": (33.89, 35.5, NOW.isoformat())}, incidents=incidents)
    _assert_matches(picture)
    now = NOW
    next_incident = 12
    for step in range(40):
        action = step % 5
        if action == 0:  # a batch of positions, some near hubs
            who = rng.choice(len(picture.ids), 80, replace=False)
            hub = np.array([HUBS[int(h)] for h in rng.integers(0, len(HUBS), 80)])
            lat = np.clip(hub[:, 0] + rng.normal(0, 1, 80), -89, 89)
            lon = ((hub[:, 1] + rng.normal(0, 1, 80) + 180) % 360) - 180
            times = [(now - timedelta(hours=float(h))).isoformat() for h in rng.uniform(-1, 30, 80)]
            picture.apply_positions([picture.ids[w] for w in who], lat, lon, times, None, now)
        elif action == 1:  # incidents added, moved, closed
            k = int(rng.integers(0, next_incident))
            if rng.random() < 0.4:
                picture.apply_incidents([_incident(f"i{next_incident}", rng)])
                next_incident += 1
            elif rng.random() < 0.5:
                picture.apply_incidents([_incident(f"i{k}", rng)])
            else:
                picture.apply_incidents([{**_incident(f"i{k}", rng), "status": "closed"}])
        elif action == 2:  # itineraries changed, new travellers
            start = int(rng.integers(0, 550))
            fresh = _random_profiles(rng, 50)
            picture.apply_travellers([{**p, "id": profiles[start + j]["id"]} for j, p in enumerate(fresh)], now)
        elif action == 3:  # check-ins with a place
            who = rng.choice(len(picture.ids), 10, replace=False)
            picture.apply_checkins([picture.ids[w] for w in who], rng.uniform(-1.5, -1.0, 10), rng.uniform(36.5, 37, 10),
                                   [now.isoformat()] * 10, now)
        elif action == 4 and step % 2:  # statuses, some of people not affected, one unknown
            who = rng.choice(len(picture.ids), 30, replace=False)
            for w, status in zip(who.tolist(), rng.choice(["safe", "needs_help", "unsure", "unreachable", "??"], 30)):
                picture.apply_status(f"incident:i{int(rng.integers(0, next_incident))}", picture.ids[w], str(status))
        else:  # time goes by
            now += timedelta(hours=float(rng.uniform(0.5, 7)))
            picture.refresh(now)
        _assert_matches(picture)
    assert sum(len(v) for v in picture.inside.values()) > 20 and sum(len(v) for v in picture.coming.values()) > 0


# --- hand-checked -----------------------------------------------------------------------------


NAIROBI = (-1.2921, 36.8219)


def _regions(lat: Any, lon: Any) -> tuple[Any, Any]:
    region = np.where(np.asarray(lat) < 0, "africa", "mena").astype(object)
    return region.copy(), region


def _nairobi_picture() -> PeoplePicture:
    picture = PeoplePicture(RADII, 0.0, timedelta(hours=24), locate=_regions)
    picture.load(NOW, [profile("A", NAIROBI), profile("B", (33.89, 35.50)), profile("C", None)],
                 incidents=[{"id": "inc", "lat": NAIROBI[0], "lon": NAIROBI[1], "radius_km": 20, "severity": 3,
                             "status": "active", "region": "africa"}])
    return picture


def test_a_position_moving_someone_in_changes_the_incident_and_the_person() -> None:
    picture = _nairobi_picture()
    assert picture.affected_rows("inc") == [picture.row["A"]]
    assert picture.colour(picture.row["A"]) == "no_response" and picture.colour(picture.row["B"]) == "none"
    assert picture.drain().incidents == []  # the load's state is not a change
    picture.apply_positions(["B"], [NAIROBI[0] + 0.09], [NAIROBI[1]], [NOW.isoformat()], ["africa"], NOW)
    drained = picture.drain()
    assert drained.incidents == ["inc"]
    assert [picture.ids[r] for r in drained.people] == ["B"]  # colour none -> no_response, source -> report
    rows = picture.affected("inc")
    assert [(picture.ids[a.row], a.reason) for a in rows] == [("A", "position"), ("B", "position")]
    assert rows[1].distance_km == pytest.approx(10.0, rel=0.01)
    assert picture.counts_by_region("inc")[None]["total"] == 2
    # a status: the counts and the person's colour change
    picture.apply_status("incident:inc", "B", "needs_help")
    drained = picture.drain()
    assert drained.incidents == ["inc"] and [picture.ids[r] for r in drained.people] == ["B"]
    assert picture.colour(picture.row["B"]) == "needs_help"
    counts = picture.counts_by_region("inc")
    assert counts[None] == {"total": 2, "safe": 0, "needs_help": 1, "unsure": 0, "unreachable": 0, "no_response": 1}
    assert counts["africa"]["total"] == 2 and "mena" not in counts
    # moving out again: unaffected, colour "none"
    picture.apply_positions(["B"], [33.9], [35.5], [NOW.isoformat()], ["mena"], NOW)
    drained = picture.drain()
    assert drained.incidents == ["inc"] and picture.colour(picture.row["B"]) == "none"
    assert picture.affected_rows("inc") == [picture.row["A"]]
    # closing the incident: nobody is affected
    picture.apply_incidents([{"id": "inc", "lat": NAIROBI[0], "lon": NAIROBI[1], "radius_km": 20, "severity": 3,
                              "status": "closed", "region": "africa"}])
    drained = picture.drain()
    assert drained.incidents == ["inc"] and [picture.ids[r] for r in drained.people] == ["A"]
    assert picture.colour(picture.row["A"]) == "none" and picture.affected("inc") == []


def test_regions_split_the_counts() -> None:
    picture = _nairobi_picture()
    picture.apply_positions(["B"], [NAIROBI[0] + 0.05], [NAIROBI[1]], [NOW.isoformat()], ["mena"], NOW)
    counts = picture.counts_by_region("inc")
    assert counts[None]["total"] == 2 and counts["africa"]["total"] == 1 and counts["mena"]["total"] == 1


def test_an_itinerary_within_48_hours_affects_and_at_49_hours_does_not() -> None:
    far = (51.5, -0.12)
    soon = [(far, NAIROBI, NOW + timedelta(hours=42), NOW + timedelta(hours=47))]
    late = [(far, NAIROBI, NOW + timedelta(hours=44), NOW + timedelta(hours=49))]
    picture = PeoplePicture(RADII, 0.0, timedelta(hours=24), locate=_regions)
    picture.load(NOW, [profile("S", far, soon), profile("L", far, late)],
                 incidents=[{"id": "inc", "lat": NAIROBI[0], "lon": NAIROBI[1], "radius_km": 20, "severity": 3,
                             "status": "active", "region": "africa"}])
    rows = picture.affected("inc")
    assert [(picture.ids[a.row], a.reason) for a in rows] == [("S", "itinerary")]
    assert from_us(rows[0].arrive_us or 0) == NOW + timedelta(hours=47) and rows[0].distance_km == pytest.approx(0, abs=0.01)
    picture.refresh(NOW + timedelta(hours=2))  # now L arrives in 47 hours
    assert {picture.ids[a.row] for a in picture.affected("inc")} == {"S", "L"}
    assert picture.drain().incidents == ["inc"]


def test_a_movement_colours_its_people() -> None:
    picture = _nairobi_picture()
    area = {"id": "south", "movement": {"closed_at": None, "people": [{"traveller_id": "B", "progress": "to_move"}]}}
    picture.apply_area(area)
    assert picture.colour(picture.row["B"]) == "no_response"
    picture.apply_status("area:south", "B", "safe")
    assert picture.colour(picture.row["B"]) == "safe"
    picture.apply_area({**area, "movement": {**area["movement"], "closed_at": NOW.isoformat()}})
    assert picture.colour(picture.row["B"]) == "none"


def test_the_vectorised_rule_at_the_exact_boundaries() -> None:
    """now exactly at an arrival, at the end of the stay after the last arrival, at the start
    of the wait before the first departure, at a departure: as the scalar rule."""
    max_age = timedelta(hours=24)
    a, b, c = (0.0, 10.0), (5.0, 20.0), (10.0, 30.0)
    leg1 = (a, b, NOW - timedelta(hours=5), NOW)  # arrives now; the next leaves later
    leg2 = (b, c, NOW + timedelta(hours=3), NOW + timedelta(hours=6))
    cases = [
        profile("arrives-now", None, [leg1, leg2]),
        profile("stay-ends-now", None, [(a, b, NOW - max_age - timedelta(hours=2), NOW - max_age)]),
        profile("wait-starts-now", None, [(a, b, NOW + max_age, NOW + max_age + timedelta(hours=2))]),
        profile("departs-now", None, [(a, b, NOW, NOW + timedelta(hours=2))]),
        profile("last-arrives-now", None, [(a, b, NOW - timedelta(hours=2), NOW)]),
    ]
    n = len(cases)
    none = (np.full(n, np.nan), np.full(n, np.nan), np.full(n, NO_TIME, dtype=np.int64))
    got = best_positions(to_us(NOW), n, none, none, Itineraries.from_profiles(list(range(n)), cases), None, max_age)
    for i, p in enumerate(cases):
        want = best_known_position(NOW, None, None, itinerary_of(p), None, max_age)
        assert want is not None, p["id"]
        assert (SOURCES[got.source[i]], from_us(int(got.at[i])), bool(got.in_transit[i])) == (
            want.source, want.at, want.in_transit), p["id"]
        assert (got.lat[i], got.lon[i]) == pytest.approx((want.lat, want.lon), abs=2e-6), p["id"]


def test_a_report_older_than_the_one_held_moves_no_one_in_the_live_picture() -> None:
    """As the positions projection: the newest by its time, whatever order the log gives them
    (two batches of one person committed in the other order; several in one batch)."""
    picture = _nairobi_picture()
    inside, outside = (NAIROBI[0] + 0.05, NAIROBI[1]), (33.9, 35.5)
    picture.apply_positions(["B"], [inside[0]], [inside[1]], [NOW.isoformat()], ["africa"], NOW)
    assert picture.row["B"] in picture.affected_rows("inc")
    earlier = (NOW - timedelta(hours=3)).isoformat()
    picture.apply_positions(["B"], [outside[0]], [outside[1]], [earlier], ["mena"], NOW)
    assert picture.row["B"] in picture.affected_rows("inc") and picture.r_region[picture.row["B"]] == "africa"
    # one batch, the newer first: the newer stays
    later = (NOW + timedelta(minutes=1)).isoformat()
    picture.apply_positions(["B", "B"], [outside[0], inside[0]], [outside[1], inside[1]], [later, NOW.isoformat()],
                            ["mena", "africa"], NOW)
    assert picture.row["B"] not in picture.affected_rows("inc") and picture.r_region[picture.row["B"]] == "mena"
