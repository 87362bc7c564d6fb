"""The people side of the demo scenario, pure (no clock, no database): the profiles as the
travel-tracking export, itineraries into Beirut, the phase III relocation, check-ins, CoT."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
import shapely
import shapely.geometry
from pyproj import Geod

from crisis.domain import areas as rules
from crisis.domain.travellers import CATEGORIES
from crisis.feeds import travellers as traveller_feed
from crisis.feeds.cot import parse_cot
from crisis.feeds.schemas import IncidentIn
from crisis.sim import people as pp
from crisis.sim import story
from crisis.sim.scenario import Scenario, Step

START = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
GEOD = Geod(ellps="WGS84")
BEY = (33.8209, 35.4884)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture(scope="module")
def profiles() -> list[dict[str, Any]]:
    return Scenario(travellers=5000, start=START).profiles()


def run_story(scenario: Scenario, until: float, dt: float = 1.0) -> list[tuple[float, Step]]:
    """Steps to ``until`` s, handing the phase III list back as the runner does: the real
    rule (``crisis.domain.areas.movement_list``) over the people inside the area."""
    records = {p["id"]: p for p in scenario.profiles()}
    scenario.initial_batches(START)
    out, t = [], 0.0
    while t + dt <= until:
        t += dt
        step = scenario.step(START + timedelta(seconds=t), dt)
        for action in step.people:
            if isinstance(action, pp.AreaPhase) and action.phase >= 3:
                inside = shapely.contains_xy(shapely.geometry.shape(action.geometry), scenario.move.lon, scenario.move.lat)
                scenario.movement_listed(rules.movement_list(action.phase, (records[scenario.ids[i]]
                                                                            for i in np.flatnonzero(inside))))
        out.append((t, step))
    return out


@pytest.fixture(scope="module")
def story_steps() -> tuple[Scenario, list[tuple[float, Step]]]:
    scenario = Scenario(seed=4, travellers=3000, start=START, run_tag="")
    return scenario, run_story(scenario, 430.0)


def actions(steps: list[tuple[float, Step]], kind: type) -> list[tuple[float, Any]]:
    return [(t, a) for t, s in steps for a in s.people if isinstance(a, kind)]


# ---- the profiles -------------------------------------------------------------------------


def test_every_profile_validates_through_the_real_traveller_schema(profiles: list[dict[str, Any]]) -> None:
    parsed = traveller_feed.parse_json(json.dumps(profiles))
    assert parsed.rejected == []
    assert len(parsed.travellers) == 5000
    assert {t.category for _, t in parsed.travellers} == set(CATEGORIES)


def test_categories_have_realistic_shares_and_essential_staff(profiles: list[dict[str, Any]]) -> None:
    shares = Counter(p["category"] for p in profiles)
    assert shares["national_staff"] > shares["international_staff"] > shares["dependant"] > shares["visitor"] > 0
    assert 0.45 <= shares["national_staff"] / 5000 <= 0.55
    essential = Counter(p["category"] for p in profiles if p["essential"])
    assert set(essential) == {"international_staff", "national_staff"}  # dependants, visitors, consultants never
    assert 0.25 < essential["international_staff"] / shares["international_staff"] < 0.5


def test_dependants_name_their_staff_member_and_live_with_them(profiles: list[dict[str, Any]]) -> None:
    by_id = {p["id"]: p for p in profiles}
    dependants = [p for p in profiles if p["category"] == "dependant"]
    assert len(dependants) > 100
    for p in dependants:
        staff = by_id[p["dependant_of"]]
        assert staff["category"] == "international_staff"
        assert staff["duty_station"] == p["duty_station"] and staff["agency"] == p["agency"]
        assert p["name"].split()[-1] == staff["name"].split()[-1]
    assert all("dependant_of" not in p for p in profiles if p["category"] != "dependant")


def test_contacts_are_invented_and_unique(profiles: list[dict[str, Any]]) -> None:
    emails = [p["email"] for p in profiles]
    assert len(set(emails)) == len(emails)
    assert all(e.endswith(".example.org") and e.count("@") == 1 for e in emails)
    assert all(p["phone"].startswith("+") for p in profiles)
    lebanon = [p for p in profiles if p["duty_station"]["country"] == "LBN"]
    assert lebanon and all(p["phone"].startswith("+961 ") for p in lebanon)


def test_some_fly_into_beirut_within_48_hours_and_a_few_just_after(profiles: list[dict[str, Any]]) -> None:
    def arrival_in_beirut(p: dict[str, Any]) -> datetime | None:
        return next((_time(s["arrive"]) for s in p["itinerary"] if s["to"] == "BEY"), None)

    arrivals = [a for a in map(arrival_in_beirut, profiles) if a is not None]
    soon = [a for a in arrivals if START < a <= START + timedelta(hours=48)]
    later = [a for a in arrivals if a > START + timedelta(hours=49)]
    assert len(soon) >= 20 and len(later) >= 1
    assert all(a <= START + timedelta(hours=60) for a in arrivals)
    for p in profiles:
        segments = p["itinerary"]
        for s in segments:
            assert _time(s["depart"]) < _time(s["arrive"]) and _time(s["depart"]).tzinfo is not None
        for before, after in zip(segments, segments[1:]):
            assert _time(before["arrive"]) <= _time(after["depart"]) and before["to"] == after["from"]
        if segments:
            assert _time(segments[0]["depart"]) > START  # nobody is in the air when the demo starts
    assert sum(bool(p["itinerary"]) for p in profiles) > 100  # ordinary trips elsewhere too


def test_beirut_airport_lies_inside_an_early_storyline_incident() -> None:
    """So the travellers flying in show as affected by itinerary within minutes."""
    messages = [m for t, m in story.storyline(0, "", START) if isinstance(m, IncidentIn) and t <= 180]
    hits = [m for m in messages if m.radius_km is not None and
            GEOD.inv(m.lon, m.lat, BEY[1], BEY[0])[2] <= m.radius_km * 1000.0]
    assert hits and hits[0].source_id == "sim-leb-4"


def test_travellers_flying_in_stay_at_their_duty_station_until_then() -> None:
    scenario = Scenario(seed=6, travellers=3000, start=START)
    before = scenario.positions()
    for t in range(1, 200, 5):
        scenario.step(START + timedelta(seconds=t), 5.0)
    after = scenario.positions()
    for i in scenario.inbound:
        assert not scenario.move.moving[i]
        assert before[scenario.ids[i]] == pytest.approx(after[scenario.ids[i]], abs=0.01)


# ---- the story ---------------------------------------------------------------------------


def test_the_area_goes_to_phase_three_early_and_the_relocation_is_confirmed(story_steps: Any) -> None:
    _, steps = story_steps
    phases = [(t, a.phase) for t, a in actions(steps, pp.AreaPhase)]
    assert phases == [(20.0, 2), (100.0, 3)]
    [(t, confirm)] = actions(steps, pp.ConfirmMovement)
    assert t == 115.0 and confirm.mode == "road" and confirm.safe_haven["name"].startswith("Amman")
    assert confirm.expected_arrival == START + timedelta(seconds=115 + story.RELOCATION_EXPECTED_S)
    geometry = actions(steps, pp.AreaPhase)[0][1].geometry
    assert geometry["type"] == "Polygon" and shapely.geometry.shape(geometry).is_valid


def test_listed_people_move_then_arrive_and_one_is_held_overdue(story_steps: Any) -> None:
    scenario, steps = story_steps
    progress = actions(steps, pp.Progress)
    moving = {a.traveller_id: t for t, a in progress if a.progress == "moving"}
    arrived = {a.traveller_id: t for t, a in progress if a.progress == "arrived"}
    assert len(moving) >= 5
    assert 120 <= min(moving.values()) and max(moving.values()) <= 180  # the convoys leave in minute 2-3
    assert set(arrived) == set(moving) - {scenario.held_id()}
    assert all(arrived[tid] > moving[tid] for tid in arrived)
    expected = actions(steps, pp.ConfirmMovement)[0][1].expected_arrival
    assert max(arrived.values()) < (expected - START).total_seconds()  # all but one on time
    checkins = {a.traveller_id: a for _, a in actions(steps, pp.CheckIn) if a.note and "Amman" in a.note}
    assert set(checkins) == set(arrived) and all(c.status == "safe" for c in checkins.values())
    held = [a for _, a in actions(steps, pp.CheckIn) if a.traveller_id == scenario.held_id() and a.note and "Masnaa" in a.note]
    assert held and held[0].status == "unsure"
    amman = np.array([scenario.positions()[tid] for tid in arrived])
    assert (np.abs(amman - [31.955, 35.91]) < 0.2).all()


def test_check_ins_accrue_over_minutes_mostly_safe(story_steps: Any) -> None:
    _, steps = story_steps
    checkins = actions(steps, pp.CheckIn)
    per_minute = Counter(int(t // 60) for t, _ in checkins)
    assert per_minute[0] > 0 and per_minute[1] > 0 and per_minute[2] > 0  # from the first minute on
    statuses = Counter(a.status for _, a in checkins)
    assert statuses["safe"] > 5 * (statuses["unsure"] + statuses["needs_help"]) > 0
    assert all(a.status in ("safe", "unsure", "needs_help") for _, a in checkins)
    placed = [a for _, a in checkins if a.lat is not None]
    assert 0.5 < len(placed) / len(checkins) < 0.95
    marks = actions(steps, pp.MarkStatus)
    assert marks and all(a.status == "unreachable" and t >= 240 for t, a in marks)
    for t, mark in marks:  # nobody who answered after their silence was noticed is marked unreachable
        assert not [c for tc, c in checkins if c.traveller_id == mark.traveller_id and t - 240 <= tc <= t]


def test_people_flying_in_say_their_flight_is_postponed_and_others_answer_serious_incidents(story_steps: Any) -> None:
    scenario, steps = story_steps
    inbound = {scenario.ids[i] for i in scenario.inbound}
    answers = [(t, a) for t, a in actions(steps, pp.CheckIn) if a.traveller_id in inbound]
    assert {a.traveller_id for _, a in answers} == inbound  # leb-4 covers Beirut airport from 170 s
    assert all(t >= 170 and a.status == "safe" and a.lat is None and "postponed" in (a.note or "") for t, a in answers)
    lebanon = {scenario.ids[i] for i in np.flatnonzero(scenario._st_lebanon[scenario.home])}
    elsewhere = [a for _, a in actions(steps, pp.CheckIn) if a.traveller_id not in lebanon | inbound]
    assert elsewhere  # background incidents of severity 3 and more get a roll-call too


def test_handsets_send_cot_that_maps_to_their_travellers(story_steps: Any) -> None:
    scenario, steps = story_steps
    owners = dict(scenario.devices())
    assert 3 <= len(owners) <= 5 and len(set(owners.values())) == len(owners)
    reports = actions(steps, pp.CotReport)
    assert reports
    fixes: Counter[str] = Counter()
    no_fix: Counter[str] = Counter()
    for t, report in reports:
        parsed = parse_cot(report.body.encode(), now=START + timedelta(seconds=t))
        assert parsed.rejected == []
        for event in parsed.events:
            assert event.uid in owners
            (no_fix if event.no_fix else fixes)[event.uid] += 1
            if event.no_fix:
                assert 60 <= t % 1800 < 150
    assert set(fixes) == set(owners)
    per_handset = 430 / 10
    assert all(n >= per_handset * 0.6 for n in fixes.values())
    assert len(no_fix) == 1 and sum(no_fix.values()) >= 8


def test_handset_carriers_are_placed_by_cot_not_by_the_simulator(story_steps: Any) -> None:
    scenario, steps = story_steps
    carriers = {scenario.ids[h.index] for h in scenario.handsets}
    reported = {p.traveller_id for _, s in steps for b in s.positions for p in b.positions}
    assert reported and not carriers & reported


def test_the_people_side_is_deterministic() -> None:
    a, b = (run_story(Scenario(seed=9, travellers=1500, start=START, run_tag=""), 200.0, dt=2.0) for _ in range(2))
    assert [(t, s.people) for t, s in a] == [(t, s.people) for t, s in b]
    assert Scenario(seed=9, travellers=1500, start=START).devices() != Scenario(seed=10, travellers=1500, start=START).devices()


def test_a_phase_lowered_closes_the_list_and_the_next_cycle_lists_anew() -> None:
    scenario = Scenario(seed=4, travellers=1500, start=START, run_tag="")
    steps = run_story(scenario, 1960.0, dt=10.0)
    phases = [(t, a.phase) for t, a in actions(steps, pp.AreaPhase)]
    assert phases == [(20.0, 2), (100.0, 3), (1200.0, 1), (1820.0, 2), (1900.0, 3)]
    confirmed = [t for t, _ in actions(steps, pp.ConfirmMovement)]
    assert confirmed == [120.0, 1920.0]  # 115 s into each cycle, seen at the next 10 s step
    moving = Counter(a.traveller_id for t, a in actions(steps, pp.Progress) if a.progress == "moving")
    second = {a.traveller_id for t, a in actions(steps, pp.Progress) if a.progress == "moving" and t > 1900}
    assert len([tid for tid in second if moving[tid] == 2]) > 0.8 * len(second)  # home again, listed again, leaving
