"""Security phases and movement lists (crisis.domain.areas), and who is inside an area
(crisis.views_areas.inside): the rules, checked by hand on a constructed population."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from crisis.domain import areas as rules
from crisis.domain.travellers import CATEGORIES
from crisis.views_areas import inside

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def population() -> list[dict[str, Any]]:
    """One person of every category, essential and not."""
    return [{"id": f"{category}-{'ess' if essential else 'non'}", "category": category, "essential": essential}
            for category, essential in itertools.product(CATEGORIES, (True, False))]


RELOCATED = {  # phases III and IV
    "dependant-ess", "dependant-non", "visitor-ess", "visitor-non", "consultant-ess", "consultant-non",
    "international_staff-non",
}
EVACUATED = RELOCATED | {"international_staff-ess"}  # phase V: everyone but national staff


def test_the_population_covers_every_category() -> None:
    assert {p["category"] for p in population()} == set(CATEGORIES) and len(population()) == 10


@pytest.mark.parametrize(("phase", "expected"), [
    (0, set()), (1, set()), (2, set()), (3, RELOCATED), (4, RELOCATED), (5, EVACUATED),
])
def test_each_phase_lists_exactly_the_people_its_rule_names(phase: int, expected: set[str]) -> None:
    listed = rules.movement_list(phase, population())
    assert set(listed) == expected
    assert len(listed) == len(set(listed))
    assert not any(tid.startswith("national_staff") for tid in listed)


def test_national_staff_are_never_listed_automatically_at_any_phase() -> None:
    for phase in range(6):
        for essential in (True, False):
            assert not rules.on_list(phase, "national_staff", essential)


def test_the_list_keeps_the_given_order_and_each_person_once() -> None:
    people = population()
    listed = rules.movement_list(5, people + people[:3])
    assert listed == [p["id"] for p in people if p["id"] in EVACUATED]


def test_phase_names_and_actions() -> None:
    assert [rules.movement_action(p) for p in range(6)] == [None, None, None, "relocation", "relocation", "evacuation"]
    assert [rules.movement_out_of_country(p) for p in range(6)] == [False] * 4 + [True, True]
    assert rules.phase_name(3) == "III relocation" and rules.phase_name(4) == "IV programme suspension"
    assert rules.phase_name(0) == "0 none" and rules.phase_name(5) == "V evacuation"
    assert rules.is_phase(5) and not rules.is_phase(6) and not rules.is_phase(True) and not rules.is_phase(-1)


def _open(phase: int = 3, people: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return rules.open_movement("mov-1", "area-1", phase, population() if people is None else people, NOW)


def test_a_movement_opens_with_everyone_to_move() -> None:
    movement = _open(4)
    assert movement["action"] == "relocation" and movement["out_of_country"] is True and movement["phase"] == 4
    assert {p["traveller_id"] for p in movement["people"]} == RELOCATED
    assert all(p["progress"] == "to_move" and p["added_by"] == "phase" for p in movement["people"])
    assert movement["counts"] == {"to_move": 7, "moving": 0, "arrived": 0, "stayed": 0, "overdue": 0, "total": 7}
    with pytest.raises(ValueError):
        _open(2)


def test_raising_iii_to_v_extends_the_list_and_keeps_progress() -> None:
    movement = rules.set_progress(_open(3), "visitor-non", "moving", None, "duty", NOW)
    newcomer = {"id": "late-consultant", "category": "consultant", "essential": False}
    raised = rules.extend_movement(movement, 5, population() + [newcomer], NOW + timedelta(minutes=5))
    assert raised["action"] == "evacuation" and raised["phase"] == 5 and raised["out_of_country"]
    assert {p["traveller_id"] for p in raised["people"]} == EVACUATED | {"late-consultant"}
    progress = {p["traveller_id"]: p["progress"] for p in raised["people"]}
    assert progress["visitor-non"] == "moving" and progress["international_staff-ess"] == "to_move"
    assert raised["id"] == movement["id"]


def test_extending_keeps_people_who_have_left_the_area_and_lowering_within_iii_v_keeps_the_list() -> None:
    movement = _open(5)
    lowered = rules.extend_movement(movement, 3, [], NOW)  # nobody inside any more
    assert lowered["action"] == "relocation"
    assert {p["traveller_id"] for p in lowered["people"]} == EVACUATED


def test_closing_keeps_the_movement_whole() -> None:
    movement = rules.set_progress(_open(3), "dependant-ess", "arrived", None, "duty", NOW)
    closed = rules.close_movement(movement, NOW + timedelta(hours=1))
    assert closed["closed_at"] == (NOW + timedelta(hours=1)).isoformat()
    assert closed["people"] == movement["people"] and closed["counts"]["arrived"] == 1


@pytest.mark.parametrize(("current", "new", "allowed"), [
    ("to_move", "moving", True), ("to_move", "arrived", True), ("to_move", "stayed", True),
    ("moving", "arrived", True), ("moving", "stayed", True), ("moving", "to_move", True),
    ("stayed", "to_move", True), ("stayed", "moving", True), ("stayed", "arrived", False),
    ("arrived", "moving", False), ("arrived", "to_move", False), ("arrived", "stayed", False),
])
def test_progress_transitions(current: str, new: str, allowed: bool) -> None:
    if allowed:
        rules.check_progress(current, new, "a reason")
    else:
        with pytest.raises(rules.ProgressError, match=f"from {current} to {new}"):
            rules.check_progress(current, new, "a reason")


def test_stayed_needs_a_reason_and_unknown_progress_is_refused() -> None:
    for reason in (None, "", "   "):
        with pytest.raises(rules.ProgressError, match="reason"):
            rules.check_progress("to_move", "stayed", reason)
    with pytest.raises(rules.ProgressError):
        rules.check_progress("to_move", "flying", None)
    movement = rules.set_progress(_open(3), "visitor-ess", "stayed", " looks after her mother ", "duty", NOW)
    person = next(p for p in movement["people"] if p["traveller_id"] == "visitor-ess")
    assert person["reason"] == "looks after her mother" and person["progress_by"] == "duty"
    again = rules.set_progress(movement, "visitor-ess", "moving", None, "duty", NOW)
    assert "reason" not in next(p for p in again["people"] if p["traveller_id"] == "visitor-ess")
    with pytest.raises(KeyError):
        rules.set_progress(movement, "nobody", "moving", None, "duty", NOW)


def test_overdue_is_past_the_expected_arrival_and_not_arrived() -> None:
    expected = NOW + timedelta(hours=2)
    for progress, late in (("to_move", True), ("moving", True), ("arrived", False), ("stayed", False)):
        person = {"progress": progress}
        assert rules.overdue(person, expected, expected + timedelta(seconds=1)) is late
        assert rules.overdue(person, expected, expected) is False  # at the time itself: not yet
        assert rules.overdue(person, None, expected + timedelta(days=9)) is False  # not confirmed: never
    assert rules.overdue({"progress": "moving"}, expected.isoformat(), expected + timedelta(minutes=1))


def test_counts_and_overdue_follow_the_clock() -> None:
    movement = rules.confirm_movement(_open(3), {"name": "Amman", "lat": 31.95, "lon": 35.93}, "road",
                                      NOW + timedelta(hours=4), NOW)
    movement = rules.set_progress(movement, "dependant-ess", "arrived", None, "d", NOW)
    movement = rules.set_progress(movement, "dependant-non", "moving", None, "d", NOW)
    movement = rules.set_progress(movement, "visitor-ess", "stayed", "refused", "d", NOW)
    assert movement["counts"] == {"to_move": 4, "moving": 1, "arrived": 1, "stayed": 1, "overdue": 0, "total": 7}
    later = rules.with_overdue(movement, NOW + timedelta(hours=5))
    assert later["counts"]["overdue"] == 5
    assert {p["traveller_id"] for p in later["people"] if p["overdue"]} == RELOCATED - {"dependant-ess", "visitor-ess"}
    with pytest.raises(ValueError, match="mode"):
        rules.confirm_movement(movement, {"name": "x", "lat": 0, "lon": 0}, "boat", NOW, NOW)
    with pytest.raises(ValueError, match="zone"):
        rules.confirm_movement(movement, {"name": "x", "lat": 0, "lon": 0}, "air", NOW.replace(tzinfo=None), NOW)


def test_a_duty_officer_adds_national_staff_by_hand_and_removes_with_a_reason() -> None:
    movement = _open(3)
    added = rules.add_person(movement, "national_staff-ess", "national_staff", "officer", "threatened", NOW)
    entry = added["people"][-1]
    assert (entry["traveller_id"], entry["added_by"], entry["progress"]) == ("national_staff-ess", "officer", "to_move")
    with pytest.raises(ValueError, match="already"):
        rules.add_person(added, "national_staff-ess", "national_staff", "officer", None, NOW)
    removed = rules.remove_person(added, "visitor-non", "officer", "left last week", NOW)
    assert "visitor-non" not in {p["traveller_id"] for p in removed["people"]}
    assert removed["removed"][-1]["reason"] == "left last week" and removed["removed"][-1]["by"] == "officer"
    with pytest.raises(rules.ProgressError):
        rules.remove_person(added, "visitor-ess", "officer", "  ", NOW)
    with pytest.raises(KeyError):
        rules.remove_person(removed, "visitor-non", "officer", "twice", NOW)
    # a later raise does not put a removed person back
    raised = rules.extend_movement(removed, 5, population(), NOW)
    assert "visitor-non" not in {p["traveller_id"] for p in raised["people"]}
    # but an officer may add them again
    back = rules.add_person(raised, "visitor-non", "visitor", "officer", None, NOW)
    assert "visitor-non" in {p["traveller_id"] for p in back["people"]} and not back["removed"]


# --- who is inside ------------------------------------------------------------------------

SQUARE = {"type": "Polygon", "coordinates": [[[35.0, 33.0], [36.0, 33.0], [36.0, 34.0], [35.0, 34.0], [35.0, 33.0]]]}


def test_inside_a_polygon_edges_included() -> None:
    area = {"id": "a", "geometry": SQUARE, "centre": {"lat": 33.5, "lon": 35.5}}
    mask = inside(area, [33.5, 33.0, 34.5, np.nan], [35.5, 35.5, 35.5, np.nan], [None] * 4)
    assert mask.tolist() == [True, True, False, False]


def test_inside_a_multipolygon_across_the_antimeridian() -> None:
    fiji = {"type": "MultiPolygon", "coordinates": [
        [[[178.0, -19.0], [180.0, -19.0], [180.0, -16.0], [178.0, -16.0], [178.0, -19.0]]],
        [[[-180.0, -19.0], [-179.0, -19.0], [-179.0, -16.0], [-180.0, -16.0], [-180.0, -19.0]]],
    ]}
    area = {"id": "fj", "geometry": fiji, "centre": {"lat": -17.5, "lon": 179.5}}
    mask = inside(area, [-17.5, -17.5, -17.5, -17.5], [179.0, -179.5, -178.0, 0.0], [None] * 4)
    assert mask.tolist() == [True, True, False, False]


def test_inside_a_country_area_by_the_country_of_the_position() -> None:
    area = {"id": "lb", "geometry": None, "country": "LBN"}
    assert inside(area, [33.9, 31.9, 33.8], [35.5, 35.9, 35.6], ["LBN", "JOR", None]).tolist() == [True, False, False]
    assert inside({"id": "x"}, [1.0], [1.0], ["LBN"]).tolist() == [False]


def test_a_checkin_at_the_safe_haven_is_an_arrival_and_elsewhere_changes_nothing() -> None:
    from crisis.domain.areas import ARRIVAL_RADIUS_KM, progress_from_checkin

    movement = {"safe_haven": {"name": "Amman", "lat": 31.95, "lon": 35.93},
                "people": [{"traveller_id": "a", "progress": "to_move"}, {"traveller_id": "m", "progress": "moving"},
                           {"traveller_id": "s", "progress": "stayed"}, {"traveller_id": "r", "progress": "arrived"}]}
    assert progress_from_checkin(movement, "a", 31.96, 35.94) == "arrived"
    assert progress_from_checkin(movement, "m", 31.95, 35.93) == "arrived"
    # 0.2 degrees of latitude is about 22 km (inside); 0.25 about 27.7 km (outside the 25 km)
    assert ARRIVAL_RADIUS_KM == 25.0
    assert progress_from_checkin(movement, "a", 31.95 + 0.2, 35.93) == "arrived"
    assert progress_from_checkin(movement, "a", 31.95 + 0.25, 35.93) is None
    assert progress_from_checkin(movement, "a", 33.27, 35.20) is None  # still in Tyre
    assert progress_from_checkin(movement, "s", 31.95, 35.93) is None  # stayed: a duty officer's call
    assert progress_from_checkin(movement, "r", 31.95, 35.93) is None  # already arrived
    assert progress_from_checkin(movement, "nobody", 31.95, 35.93) is None
    assert progress_from_checkin({**movement, "safe_haven": None}, "a", 31.95, 35.93) is None  # not confirmed yet
