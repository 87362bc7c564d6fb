"""The demo's standby roster and surge dispatch (crisis.sim.roster), without a database:
a seed and a start fix everything; the roster's own rules (crisis.roster) judge it."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pycountry
import pytest
from pyproj import Geod

from crisis.config import Settings
from crisis.domain.regions import REGIONS
from crisis.roster import rotations
from crisis.roster.coverage import coverage
from crisis.roster.dispatch import TRANSITIONS
from crisis.roster.model import Leave, RosterRules
from crisis.roster.slots import on_standby, overlaps, validate_leave, validate_slot
from crisis.sim import roster as sim
from crisis.sim.places import STATIONS
from crisis.sim.scenario import Scenario

START = datetime(2026, 11, 30, 18, 5, tzinfo=timezone.utc)
RULES = RosterRules.from_settings(Settings())
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def demo() -> sim.DemoRoster:
    return sim.build(7, START, RULES)


def _coverage(demo: sim.DemoRoster, leave: list[Leave], rules: RosterRules = RULES,
              start: datetime = START) -> dict[str, Any]:
    officers = {o.id: o for o in demo.officers}
    return coverage(officers, demo.slots, leave, [], start, start + timedelta(days=30), rules)


def test_about_two_hundred_officers_at_real_duty_stations_in_every_region(demo: sim.DemoRoster) -> None:
    officers = demo.officers
    assert 190 <= len(officers) <= 210
    assert len({o.id for o in officers}) == len(officers) and len({o.name for o in officers}) == len(officers)
    by_region = Counter(o.region for o in officers)
    assert set(by_region) == set(REGIONS) and min(by_region.values()) >= 25
    stations = {(round(s.lat, 4), round(s.lon, 4)): s for s in STATIONS}
    for officer in officers:
        station = stations[(officer.home.lat, officer.home.lon)]  # a real duty station's place
        assert officer.home.name == station.city
        assert sim.region_of(station) == officer.region
        if station.country == "XK":
            assert officer.home.country is None
        else:
            country = pycountry.countries.get(alpha_3=officer.home.country)
            assert country is not None and country.alpha_2 == station.country
        assert -90 <= officer.home.lat <= 90 and -180 <= officer.home.lon <= 180
        assert officer.grade and officer.contact and officer.contact.endswith("@example.org")
    cities = {(o.region, o.home.name) for o in officers}
    assert ("africa", "Nairobi") in cities or ("africa", "Addis Ababa") in cities
    assert len({o.home.name for o in officers}) >= 60  # spread, not piled on a few cities


def test_skills_come_from_the_vocabulary_and_languages_are_iso_639_1(demo: sim.DemoRoster) -> None:
    for officer in demo.officers:
        assert officer.skills and set(officer.skills) <= set(RULES.skills)
        assert len(set(officer.skills)) == len(officer.skills)
        assert officer.languages and len(set(officer.languages)) == len(officer.languages)
        for code in officer.languages:
            assert code == code.lower() and pycountry.languages.get(alpha_2=code) is not None, code
    n = len(demo.officers)
    share = {code: count / n for code, count in Counter(c for o in demo.officers for c in o.languages).items()}
    assert {"ar", "fr", "es", "ru", "zh", "en"} <= set(share)
    assert share["en"] > 0.85 and 0.15 < share["fr"] < 0.5 and 0.15 < share["ar"] < 0.4 and 0.1 < share["es"] < 0.3
    assert share["ru"] < 0.15 and share["zh"] < 0.1
    # Arabic in the Middle East, mostly.
    mena = [o for o in demo.officers if o.region == "middle_east_north_africa"]
    assert sum("ar" in o.languages for o in mena) > 0.7 * len(mena)  # Iran speaks Persian
    skills = Counter(s for o in demo.officers for s in o.skills)
    assert set(skills) == set(RULES.skills)


def test_the_same_seed_and_start_give_the_same_roster(demo: sim.DemoRoster) -> None:
    assert sim.build(7, START, RULES) == demo
    other = sim.build(8, START, RULES)
    assert [o.to_dict() for o in other.officers] != [o.to_dict() for o in demo.officers]
    later = sim.build(7, START + timedelta(days=40), RULES)
    assert later.officers == demo.officers and later.slots[0].start == demo.slots[0].start + timedelta(days=40)
    with pytest.raises(ValueError):
        sim.build(7, START.replace(tzinfo=None), RULES)


def test_a_month_of_rotations_per_region_and_worldwide_without_overlaps(demo: sim.DemoRoster) -> None:
    assert [r.region for r in demo.rotations] == [*REGIONS, None]
    officers = {o.id: o for o in demo.officers}
    pools = [set(r.officer_ids) for r in demo.rotations]
    assert sum(map(len, pools)) == len(set().union(*pools))  # nobody on two rotations
    for rotation in demo.rotations:
        assert all(rotation.region in (None, officers[i].region) for i in rotation.officer_ids)
        # The generator's own answer for the parameters the API would take.
        p = rotation.params()
        again = rotations.generate(p["officers"], datetime.fromisoformat(p["from"]), p["weeks"], p["period_days"],
                                   rotation.handover, p["pattern"], lambda: "x", region=p["region"],
                                   readiness_hours=p["readiness_hours"],
                                   alternate_readiness_hours=p["alternate_readiness_hours"])
        assert [(s.officer_id, s.start, s.end, s.role) for s in again] == \
            [(s.officer_id, s.start, s.end, s.role) for s in rotation.slots]
    slots = demo.slots
    assert len({s.id for s in slots}) == len(slots)
    assert overlaps(slots, []) == []
    assert [e for i, s in enumerate(slots) for e in validate_slot(s, officers, i)] == []
    # Cover from before the start to past the roster page's 30 days, for every region.
    assert min(s.start for s in slots) <= START and max(s.end for s in slots) >= START + timedelta(days=30)
    for hour in range(0, 30 * 24, 5):
        at = START + timedelta(hours=hour)
        on = [s for s in slots if s.covers(at)]
        assert {s.region for s in on if s.role == "primary"} == {*REGIONS, None}, at


def test_the_planned_leave_opens_the_french_gap_and_only_it(demo: sim.DemoRoster) -> None:
    gap = demo.gap
    assert gap is not None and gap.kind == "language_missing" and gap.language == "fr"
    # From the month's second day: on the roster page's 30 days from the first minute.
    assert START < gap.start <= START + timedelta(days=3) and gap.end - gap.start == timedelta(days=2)
    officers = {o.id: o for o in demo.officers}
    assert [e for leave in demo.leave for e in validate_leave(leave, officers)] == []
    warnings = _coverage(demo, list(demo.leave))["warnings"]
    assert [(w["kind"], w.get("language"), w["from"], w["to"]) for w in warnings] == \
        [("language_missing", "fr", gap.start.isoformat(), gap.end.isoformat())]
    # The only French speakers on standby then are those who went on leave.
    standby = on_standby(gap.start - timedelta(minutes=1), demo.slots, list(demo.leave), [], RULES)
    speakers = {e["officer_id"] for e in standby if "fr" in officers[e["officer_id"]].languages}
    assert speakers and speakers <= set(gap.officer_ids)
    assert all("fr" in officers[i].languages for i in gap.officer_ids)


def test_without_that_leave_the_roster_holds_all_month(demo: sim.DemoRoster) -> None:
    assert demo.gap is not None
    others = [leave for leave in demo.leave if leave.officer_id not in demo.gap.officer_ids]
    assert others  # ordinary leave of officers off the roster stays: it opens no gap
    assert _coverage(demo, others)["warnings"] == []
    assert _coverage(demo, [])["warnings"] == []


@pytest.mark.parametrize("start", [datetime(2026, 12, 30, 23, 59, tzinfo=timezone.utc),
                                   datetime(2027, 3, 27, 7, 0, tzinfo=timezone.utc)])
def test_any_start_gets_its_gap_across_month_and_year_ends(start: datetime) -> None:
    demo = sim.build(3, start, RULES)
    assert demo.gap is not None and start < demo.gap.start < start + timedelta(days=3)
    warnings = _coverage(demo, list(demo.leave), start=start)["warnings"]
    assert [(w["kind"], w.get("language")) for w in warnings] == [("language_missing", "fr")]


def test_other_settings_other_vocabulary_and_required_languages() -> None:
    rules = replace(RULES, skills=("first_aid", "hostage_incident_management", "mediation"),
                    required_languages=("ar", "pt"))  # few speak Portuguese: the pool carrying it is taught
    demo = sim.build(5, START, rules)
    assert {s for o in demo.officers for s in o.skills} <= set(rules.skills)
    assert demo.gap is not None and demo.gap.language == "ar"
    warnings = _coverage(demo, list(demo.leave), rules)["warnings"]
    assert [(w["kind"], w.get("language")) for w in warnings] == [("language_missing", "ar")]
    assert _coverage(demo, [], rules)["warnings"] == []


def test_the_gap_never_takes_anything_else_below_the_minimums() -> None:
    # Seven at 24 h worldwide is exactly what the rotations give: the gap's leave would take
    # one of them, so no window fits, and the demo shows no gap rather than a second one.
    rules = replace(RULES, min_worldwide_24h=7)
    demo = sim.build(7, START, rules)
    assert demo.gap is None
    assert _coverage(demo, list(demo.leave), rules)["warnings"] == []


def test_the_surge_dispatch_walks_the_workflow_and_reports_its_way() -> None:
    actions = sim.dispatch_story(1, 1800.0, "sim-x-leb-1-r1")
    times = [t for t, _ in actions]
    assert times == sorted(times) and times[0] == 1800.0 + sim.DISPATCH_AT
    start = actions[0][1]
    assert isinstance(start, sim.StartDispatch) and start.incident_source_id == "sim-x-leb-1-r1"
    assert {a.key for _, a in actions} == {"surge-1"}
    statuses = ["requested"] + [a.status for _, a in actions if isinstance(a, sim.StepDispatch)]
    for before, after in zip(statuses, statuses[1:]):
        assert after in TRANSITIONS[before], (before, after)
    assert statuses[-1] == "returned"
    moves = [(t, a.fraction) for t, a in actions if isinstance(a, sim.ReportPosition)]
    travelling = next(t for t, a in actions if isinstance(a, sim.StepDispatch) and a.status == "travelling")
    on_site = next(t for t, a in actions if isinstance(a, sim.StepDispatch) and a.status == "on_site")
    assert len(moves) >= 10 and all(travelling < t <= on_site for t, _ in moves)
    fractions = [f for _, f in moves]
    assert fractions == sorted(fractions) and 0 < fractions[0] < 0.1 and fractions[-1] == 1.0
    assert on_site - 1800.0 - sim.DISPATCH_AT <= 300  # followed over a few minutes


def test_along_the_geodesic_from_home_to_the_incident() -> None:
    doha, south_lebanon = (25.285, 51.51), (33.25, 35.40)
    assert sim.along(doha, south_lebanon, 0.0) == pytest.approx(doha, abs=1e-5)
    assert sim.along(doha, south_lebanon, 1.0) == pytest.approx(south_lebanon, abs=1e-5)
    lat, lon = sim.along(doha, south_lebanon, 0.25)
    whole = GEOD.inv(doha[1], doha[0], south_lebanon[1], south_lebanon[0])[2]
    done = GEOD.inv(doha[1], doha[0], lon, lat)[2]
    left = GEOD.inv(lon, lat, south_lebanon[1], south_lebanon[0])[2]
    assert done == pytest.approx(whole / 4, rel=1e-3) and done + left == pytest.approx(whole, rel=1e-5)
    # Across the antimeridian: Suva to Apia stays in the Pacific.
    lat, lon = sim.along((-18.12, 178.45), (-13.83, -171.76), 0.5)
    assert abs(lon) > 170


def test_the_scenario_carries_the_roster_and_each_cycle_dispatch() -> None:
    scenario = Scenario(seed=2, travellers=100, start=START, run_tag="")
    assert scenario.roster(START, RULES) == sim.build(2, START, RULES)
    seen = []
    t = 0.0
    while t < 430.0:
        t += 5.0
        step = scenario.step(START + timedelta(seconds=t), 5.0)
        seen += [(t, a) for a in step.roster]
    first = seen[0]
    assert first[0] == sim.DISPATCH_AT and isinstance(first[1], sim.StartDispatch)
    assert first[1].incident_source_id == "sim-leb-1" and first[1].languages == ("ar",)
    assert [a.status for _, a in seen if isinstance(a, sim.StepDispatch)] == ["accepted", "travelling", "on_site"]
