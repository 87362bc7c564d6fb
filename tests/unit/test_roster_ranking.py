"""Ranking officers for an incident (crisis.roster.ranking): geodesic distances checked against
published GeographicLib values and an independent Vincenty computation, ETAs by hand, and
each ordering rule: available first, then everyone with the required skills and languages,
then standby, then the earliest arrival; the unavailable last with their reason."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from crisis.roster.model import Dispatch, Home, Leave, Officer, RosterRules, Slot, Step
from crisis.roster.ranking import eta_terms, rank, rank_top
from crisis.roster.slots import availability

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RULES = RosterRules(skills=("hostage_incident_management", "first_aid"), cruise_kmh=800.0, overhead_hours=6.0,
                    off_standby_notice_hours=72.0, rest_days=7.0)

NAIROBI = Home("Nairobi", -1.2921, 36.8219, "KEN")
GOMA = (-1.6792, 29.2228)
GENEVA = Home("Geneva", 46.2044, 6.1432, "CHE")
SUVA = Home("Suva", -18.1416, 178.4419, "FJI")
APIA = (-13.8333, -171.7667)


def vincenty_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Vincenty's inverse formula on WGS84 (an independent path from pyproj's Karney algorithm)."""
    a, f = 6378137.0, 1 / 298.257223563
    b = a * (1 - f)
    lam0 = math.radians(lon2 - lon1)
    u1, u2 = math.atan((1 - f) * math.tan(math.radians(lat1))), math.atan((1 - f) * math.tan(math.radians(lat2)))
    su1, cu1, su2, cu2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    lam = lam0
    for _ in range(200):
        sl, cl = math.sin(lam), math.cos(lam)
        ss = math.hypot(cu2 * sl, cu1 * su2 - su1 * cu2 * cl)
        cs = su1 * su2 + cu1 * cu2 * cl
        sigma = math.atan2(ss, cs)
        sa = cu1 * cu2 * sl / ss
        c2a = 1 - sa * sa
        c2sm = cs - 2 * su1 * su2 / c2a if c2a else 0.0
        c = f / 16 * c2a * (4 + f * (4 - 3 * c2a))
        previous = lam
        lam = lam0 + (1 - c) * f * sa * (sigma + c * ss * (c2sm + c * cs * (-1 + 2 * c2sm * c2sm)))
        if abs(lam - previous) < 1e-13:
            break
    u_sq = c2a * (a * a - b * b) / (b * b)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    ds = big_b * ss * (c2sm + big_b / 4 * (cs * (-1 + 2 * c2sm * c2sm)
                                          - big_b / 6 * c2sm * (-3 + 4 * ss * ss) * (-3 + 4 * c2sm * c2sm)))
    return b * big_a * (sigma - ds) / 1000.0


def officer(id: str, home: Home = NAIROBI, skills: tuple[str, ...] = ("hostage_incident_management",),
            languages: tuple[str, ...] = ("ar", "fr")) -> Officer:
    return Officer(id, id.title(), home, "africa", "P4", skills, languages)


def slot(officer_id: str, role: str = "primary", readiness: int = 24, start: datetime = AT - DAY,
         end: datetime = AT + 2 * DAY, region: str | None = None) -> Slot:
    return Slot(f"s-{officer_id}-{role}", officer_id, start, end, readiness, role, region)


def dispatch(officer_id: str, status: str, created: datetime, returned: datetime | None = None) -> Dispatch:
    steps = [Step("requested", created, "duty")]
    if returned is not None:
        steps.append(Step("returned", returned, "duty"))
    return Dispatch(f"d-{officer_id}", "inc-goma", officer_id, status, created, "duty", tuple(steps))


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {row["officer_id"]: row for row in rows}


# distances and ETAs ------------------------------------------------------------------------

@pytest.mark.parametrize(("home", "point", "published_km"), [
    # GeographicLib's own examples (node geographiclib README; geographiclib Rust crate README)
    (Home("Wellington", -41.32, 174.81), (40.96, -5.50), 19959.679267),
    (Home("Berkeley", 37.87622, -122.23558), (-9.4047, 147.1597), 10700.471955),
])
def test_distance_matches_published_geodesics(home: Home, point: tuple[float, float], published_km: float) -> None:
    [row] = rank(point, [officer("x", home)], AT, [], [], [], RULES)
    assert row["distance_km"] == pytest.approx(published_km, abs=0.1)


@pytest.mark.parametrize(("home", "point"), [(NAIROBI, GOMA), (GENEVA, GOMA), (SUVA, APIA),
                                             (Home("Anchorage", 61.2181, -149.9003), (35.6762, 139.6503))])
def test_distance_matches_vincenty(home: Home, point: tuple[float, float]) -> None:
    [row] = rank(point, [officer("x", home)], AT, [], [], [], RULES)
    assert row["distance_km"] == pytest.approx(vincenty_km(home.lat, home.lon, *point), abs=0.1)


def test_antimeridian_suva_to_apia_is_short() -> None:
    [row] = rank(APIA, [officer("x", SUVA)], AT, [], [], [], RULES)
    assert 1100 < row["distance_km"] < 1200  # across the date line, not round the world (~38,900 km)


def test_eta_is_readiness_plus_flight_plus_overheads() -> None:
    d = vincenty_km(NAIROBI.lat, NAIROBI.lon, *GOMA)  # about 847 km
    officers = [officer("ana"), officer("ben"), officer("cho")]
    slots = [slot("ana", readiness=24), slot("ben", "alternate", readiness=48)]
    rows = by_id(rank(GOMA, officers, AT, slots, [], [], RULES))
    assert rows["ana"]["eta_hours"] == pytest.approx(24 + d / 800 + 6, abs=0.01)
    assert rows["ben"]["eta_hours"] == pytest.approx(48 + d / 800 + 6, abs=0.01)
    assert rows["cho"]["eta_hours"] == pytest.approx(72 + d / 800 + 6, abs=0.01)
    assert rows["cho"]["readiness_hours"] == 72 and not rows["cho"]["on_standby"]
    assert eta_terms(RULES) == {"cruise_kmh": 800.0, "overhead_hours": 6.0, "off_standby_notice_hours": 72.0}


def test_reasons_read_in_plain_words() -> None:
    rows = rank(GOMA, [officer("ana", skills=("hostage_incident_management",), languages=("ar", "en"))], AT,
                [slot("ana", end=datetime(2026, 12, 2, 6, 0, tzinfo=UTC))], [], [], RULES,
                skills=["hostage_incident_management"], languages=["ar", "fr"])
    assert rows[0]["reasons"] == [
        "On standby (primary, 24 h) until 2 Dec 06:00 UTC",
        "Has hostage incident management; speaks Arabic",
        "Lacks: French",
        "847 km from Nairobi; can be there in 31.1 h",
    ]
    assert rows[0]["skills_matched"] == ["hostage_incident_management"]
    assert rows[0]["languages_matched"] == ["ar"] and rows[0]["languages_missing"] == ["fr"]


def test_standby_until_stops_at_the_next_leave() -> None:
    leave = [Leave("l1", "ana", AT + timedelta(hours=5), AT + 3 * DAY)]
    [row] = rank(GOMA, [officer("ana")], AT, [slot("ana")], leave, [], RULES)
    assert row["reasons"][0] == "On standby (primary, 24 h) until 1 Dec 17:00 UTC"


# the order ---------------------------------------------------------------------------------

def test_standby_ranks_above_not_on_standby_even_when_farther() -> None:
    near = officer("near")  # Nairobi, not on standby (50 h notice here): 57.1 h to Goma
    far = officer("far", GENEVA)  # Geneva, on 48 h standby: 61.2 h, later than `near`, still above
    quick_notice = dataclasses.replace(RULES, off_standby_notice_hours=50.0)
    rows = rank(GOMA, [near, far], AT, [slot("far", readiness=48)], [], [], quick_notice)
    assert [r["officer_id"] for r in rows] == ["far", "near"]
    assert rows[0]["on_standby"] and not rows[1]["on_standby"]
    assert rows[0]["eta_hours"] > rows[1]["eta_hours"]


def test_missing_skill_or_language_ranks_below_everyone_who_has_them() -> None:
    officers = [officer("lacks-skill", skills=()), officer("lacks-language", languages=("en",)),
                officer("has-all", GENEVA)]
    slots = [slot("lacks-skill"), slot("lacks-language", "alternate")]  # on standby, nearer: still below
    rows = rank(GOMA, officers, AT, slots, [], [], RULES, skills=["hostage_incident_management"], languages=["fr"])
    assert rows[0]["officer_id"] == "has-all" and not rows[0]["on_standby"]
    assert {r["officer_id"] for r in rows[1:]} == {"lacks-skill", "lacks-language"}
    assert by_id(rows)["lacks-skill"]["skills_missing"] == ["hostage_incident_management"]
    assert "Lacks: French" in by_id(rows)["lacks-language"]["reasons"]


def test_unavailable_listed_last_with_reason_never_dropped() -> None:
    officers = [officer("leave"), officer("deployed"), officer("resting"), officer("free", GENEVA, skills=())]
    slots = [slot("leave"), slot("deployed"), slot("resting")]  # their slots do not count
    leave = [Leave("l1", "leave", AT - DAY, datetime(2026, 12, 5, 0, 0, tzinfo=UTC))]
    dispatches = [dispatch("deployed", "travelling", AT - DAY),
                  dispatch("resting", "returned", AT - 10 * DAY, returned=AT - 2 * DAY)]
    rows = rank(GOMA, officers, AT, slots, leave, dispatches, RULES, skills=["hostage_incident_management"])
    assert len(rows) == 4
    assert rows[0]["officer_id"] == "free"  # lacks the skill, off standby, far: still above the unavailable
    rows_of = by_id(rows)
    assert rows_of["leave"]["availability"] == "on_leave" and rows_of["leave"]["reasons"][0] == "On leave until 5 Dec"
    assert rows_of["leave"]["available_from"] == "2026-12-05T00:00:00+00:00"
    assert rows_of["deployed"]["availability"] == "deployed" and rows_of["deployed"]["reasons"][0] == "Deployed to inc-goma"
    assert rows_of["resting"]["availability"] == "resting"
    assert rows_of["resting"]["reasons"][0] == "Resting after a deployment until 6 Dec 12:00 UTC"
    assert rows_of["resting"]["rested_days"] == 2.0 and rows_of["free"]["rested_days"] is None
    assert not any(rows_of[k]["on_standby"] for k in ("leave", "deployed", "resting"))


def test_a_deployed_officer_is_said_deployed_to_the_incident_by_title_when_the_caller_gives_it() -> None:
    officers = [officer("deployed"), officer("free", GENEVA)]
    dispatches = [dispatch("deployed", "travelling", AT - DAY)]
    titles = {"inc-goma": "Fighting near Goma"}
    named = rank_top(GOMA, officers, AT, [], [], dispatches, RULES, incident_title=titles.get).candidates
    assert by_id(named)["deployed"]["reasons"][0] == "Deployed to \u201cFighting near Goma\u201d (inc-goma)"
    unnamed = rank_top(GOMA, officers, AT, [], [], dispatches, RULES, incident_title=lambda _: None).candidates
    assert by_id(unnamed)["deployed"]["reasons"][0] == "Deployed to inc-goma"  # not the reader's incident: its id only


def test_earliest_arrival_first_then_officer_id() -> None:
    officers = [officer("b-near"), officer("a-near"), officer("far", GENEVA)]
    slots = [slot(o.id, region="africa") for o in officers]
    rows = rank(GOMA, officers, AT, slots, [], [], RULES)
    assert [r["officer_id"] for r in rows] == ["a-near", "b-near", "far"]
    assert [r["rank"] for r in rows] == [1, 2, 3]


def test_back_after_rest_is_available_with_rested_days() -> None:
    dispatches = [dispatch("ana", "returned", AT - 20 * DAY, returned=AT - 8 * DAY)]
    [row] = rank(GOMA, [officer("ana")], AT, [slot("ana")], [], dispatches, RULES)
    assert row["availability"] is None and row["on_standby"] and row["rested_days"] == 8.0


def test_who_lacks_less_ranks_above_who_lacks_more() -> None:
    """Among those who lack something, one who lacks only the language ranks above one who
    lacks both, whatever their standby and distance (all before either)."""
    officers = [officer("lacks-both", skills=(), languages=("en",)), officer("lacks-language", GENEVA, languages=("en",)),
                officer("has-all", SUVA)]
    slots = [slot("lacks-both")]  # on standby and nearer: still below one who lacks less
    rows = rank(GOMA, officers, AT, slots, [], [], RULES, skills=["hostage_incident_management"], languages=["fr"])
    assert [r["officer_id"] for r in rows] == ["has-all", "lacks-language", "lacks-both"]


def test_order_and_availability_hold_on_a_random_roster() -> None:
    """Every rule at once on 300 officers, and availability exactly as slots.availability says."""
    rng = random.Random(8)
    homes = [NAIROBI, GENEVA, SUVA, Home("Bangkok", 13.7563, 100.5018), Home("Panama", 8.9824, -79.5199)]
    officers = [officer(f"o{i:03d}", rng.choice(homes), tuple(rng.sample(RULES.skills, rng.randint(0, 2))),
                        tuple(rng.sample(["ar", "fr", "en", "es"], rng.randint(0, 3)))) for i in range(300)]
    slots, leave, dispatches = [], [], []
    for o in officers:
        if rng.random() < 0.5:
            slots.append(slot(o.id, rng.choice(["primary", "alternate"]), rng.choice([24, 48])))
        if rng.random() < 0.15:
            leave.append(Leave(f"l-{o.id}", o.id, AT - rng.randint(0, 3) * DAY, AT + rng.randint(1, 5) * DAY))
        if rng.random() < 0.1:
            back = AT - rng.randint(1, 12) * DAY
            dispatches.append(dispatch(o.id, "returned", back - 5 * DAY, returned=back))
        elif rng.random() < 0.05:
            dispatches.append(dispatch(o.id, "on_site", AT - DAY))
    rows = rank(GOMA, officers, AT, slots, leave, dispatches, RULES, skills=["first_aid"], languages=["ar"])
    assert len(rows) == 300 and [r["rank"] for r in rows] == list(range(1, 301))
    assert all(a["score"] > b["score"] for a, b in itertools.pairwise(rows))
    for row in rows:
        why, until = availability(row["officer_id"], AT, leave, dispatches, RULES)
        assert (row["availability"], row["available_from"]) == (why, until.isoformat() if until else None)
    keys = [(r["availability"] is not None, len(r["skills_missing"]) + len(r["languages_missing"]), not r["on_standby"],
             r["eta_hours"]) for r in rows]
    assert keys == sorted(keys)
    assert {r["availability"] for r in rows} == {None, "on_leave", "deployed", "resting"}


def test_a_limited_answer_is_the_head_of_the_whole_ranking_and_counts_the_unavailable() -> None:
    from crisis.roster.ranking import rank_top

    officers = [officer("leave"), officer("deployed"), officer("resting"), officer("free", GENEVA, skills=()),
                officer("near"), officer("far", SUVA)]
    slots = [slot("leave"), slot("near")]
    leave = [Leave("l1", "leave", AT - DAY, datetime(2026, 12, 5, 0, 0, tzinfo=UTC))]
    dispatches = [dispatch("deployed", "travelling", AT - DAY),
                  dispatch("resting", "returned", AT - 10 * DAY, returned=AT - 2 * DAY)]
    whole = rank(GOMA, officers, AT, slots, leave, dispatches, RULES)
    for limit in (0, 1, 3, 6, 10):
        top = rank_top(GOMA, officers, AT, slots, leave, dispatches, RULES, limit=limit)
        assert top.candidates == whole[:limit]
        assert top.total == 6 and top.unavailable == {"on_leave": 1, "deployed": 1, "resting": 1}
    assert rank_top(GOMA, officers, AT, slots, leave, dispatches, RULES).candidates == whole
