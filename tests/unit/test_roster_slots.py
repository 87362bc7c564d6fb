"""Standby slots and leave (crisis.roster.slots): who is on standby at a moment (start
included, end excluded), leave and deployments overriding slots, who is next per region,
overlapping slots, and validation errors that name their field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crisis.errors import InputError
from crisis.roster.model import Dispatch, Home, Leave, Officer, RosterRules, Slot, Step
from crisis.roster.slots import (
    availability,
    next_up,
    on_standby,
    overlaps,
    reassign,
    swap,
    validate_leave,
    validate_slot,
    who_can_take,
)

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RULES = RosterRules(skills=("first_aid",), rest_days=7.0)
OFFICERS = {"ana", "ben", "cho", "dia"}


def slot(officer: str, start: datetime, days: float = 7, role: str = "primary", region: str | None = "africa",
         readiness: int = 24, id: str | None = None) -> Slot:
    return Slot(id or f"{officer}-{start:%m%d%H%M}-{role}", officer, start, start + timedelta(days=days), readiness,
                role, region)


def leave(officer: str, start: datetime, end: datetime, id: str = "l1") -> Leave:
    return Leave(id, officer, start, end)


def dispatch(officer: str, created: datetime, *steps: tuple[str, datetime]) -> Dispatch:
    all_steps = (Step("requested", created, "duty"), *(Step(s, at, "duty") for s, at in steps))
    return Dispatch(f"d-{officer}", "inc-1", officer, all_steps[-1].status, created, "duty", all_steps)


def standby_ids(at: datetime, slots: list[Slot], leaves: list[Leave] = [],  # noqa: B006 - never mutated
                dispatches: list[Dispatch] = []) -> list[str]:  # noqa: B006
    return [s["officer_id"] for s in on_standby(at, slots, leaves, dispatches, RULES)]


# --- who is on standby at a moment -------------------------------------------------------

def test_a_slot_covers_its_start_and_not_its_end() -> None:
    ana = slot("ana", T0)
    assert standby_ids(T0 - timedelta(microseconds=1), [ana]) == []
    assert standby_ids(T0, [ana]) == ["ana"]
    assert standby_ids(ana.end - timedelta(microseconds=1), [ana]) == ["ana"]
    assert standby_ids(ana.end, [ana]) == []


def test_at_a_handover_only_the_incoming_officer_is_on_standby() -> None:
    ana, ben = slot("ana", T0), slot("ben", T0 + 7 * DAY)
    assert standby_ids(T0 + 7 * DAY, [ana, ben]) == ["ben"]


def test_the_answer_carries_the_slot_and_until_its_end() -> None:
    ana = slot("ana", T0, role="alternate", readiness=48, region=None)
    assert on_standby(T0 + DAY, [ana], [], [], RULES) == [{
        "slot_id": ana.id, "officer_id": "ana", "readiness_hours": 48, "role": "alternate", "region": None,
        "until": "2026-06-08T08:00:00+00:00"}]


def test_on_standby_is_sorted_by_region_worldwide_last_then_primary_first_then_officer() -> None:
    slots = [slot("dia", T0, region=None), slot("cho", T0, region="europe_central_asia", role="alternate"),
             slot("ben", T0, region="europe_central_asia"), slot("ana", T0, region="europe_central_asia",
                                                                 role="alternate"),
             slot("eve", T0, region="africa")]
    answer = on_standby(T0, slots, [], [], RULES)
    assert [(s["region"], s["role"], s["officer_id"]) for s in answer] == [
        ("africa", "primary", "eve"), ("europe_central_asia", "primary", "ben"),
        ("europe_central_asia", "alternate", "ana"), ("europe_central_asia", "alternate", "cho"),
        (None, "primary", "dia")]


# --- leave, deployment and rest override a slot -----------------------------------------

def test_leave_overrides_a_slot_from_its_start_to_its_end() -> None:
    ana = slot("ana", T0)
    off = leave("ana", T0 + 2 * DAY, T0 + 4 * DAY)
    assert standby_ids(T0 + 2 * DAY - timedelta(seconds=1), [ana], [off]) == ["ana"]
    assert standby_ids(T0 + 2 * DAY, [ana], [off]) == []
    assert standby_ids(T0 + 3 * DAY, [ana], [off]) == []
    assert standby_ids(T0 + 4 * DAY, [ana], [off]) == ["ana"]


def test_until_is_the_start_of_the_next_leave_when_it_comes_before_the_slot_ends() -> None:
    ana = slot("ana", T0)
    off = leave("ana", T0 + 2 * DAY, T0 + 4 * DAY)
    assert on_standby(T0, [ana], [off], [], RULES)[0]["until"] == "2026-06-03T08:00:00+00:00"
    assert on_standby(T0 + 4 * DAY, [ana], [off], [], RULES)[0]["until"] == "2026-06-08T08:00:00+00:00"


def test_another_officers_leave_does_not_matter() -> None:
    assert standby_ids(T0, [slot("ana", T0)], [leave("ben", T0, T0 + DAY)]) == ["ana"]


WORKFLOW = ("requested", "accepted", "travelling", "on_site", "stood_down")


@pytest.mark.parametrize("status", WORKFLOW)
def test_a_deployed_officer_is_not_on_standby(status: str) -> None:
    ana = slot("ana", T0)
    steps = WORKFLOW[1:WORKFLOW.index(status) + 1]
    sent = dispatch("ana", T0 + DAY, *[(s, T0 + DAY) for s in steps])
    assert sent.status == status
    assert standby_ids(T0 + 2 * DAY, [ana], [], [sent]) == []
    assert availability("ana", T0 + 2 * DAY, [], [sent], RULES) == ("deployed", None)
    assert standby_ids(T0, [ana], [], [sent]) == ["ana"]  # not yet sent then


def test_a_declined_dispatch_leaves_the_officer_on_standby() -> None:
    sent = dispatch("ana", T0, ("declined", T0 + timedelta(hours=1)))
    assert standby_ids(T0 + DAY, [slot("ana", T0)], [], [sent]) == ["ana"]


def test_an_officer_resting_after_a_return_is_not_on_standby_until_the_rest_is_over() -> None:
    back = T0 + DAY
    sent = dispatch("ana", T0 - 10 * DAY, ("accepted", T0 - 10 * DAY), ("travelling", T0 - 9 * DAY),
                    ("on_site", T0 - 8 * DAY), ("stood_down", T0), ("returned", back))
    ana = slot("ana", T0 - 14 * DAY, days=30)
    assert availability("ana", T0, [], [sent], RULES) == ("deployed", None)  # still away then
    assert standby_ids(back, [ana], [], [sent]) == []
    assert availability("ana", back, [], [sent], RULES) == ("resting", back + 7 * DAY)
    assert standby_ids(back + 7 * DAY - timedelta(seconds=1), [ana], [], [sent]) == []
    assert standby_ids(back + 7 * DAY, [ana], [], [sent]) == ["ana"]
    assert availability("ana", back + 7 * DAY, [], [sent], RULES) == (None, None)


def test_availability_on_leave_is_until_the_end_of_back_to_back_leave() -> None:
    periods = [leave("ana", T0, T0 + 2 * DAY, "l1"), leave("ana", T0 + 2 * DAY, T0 + 5 * DAY, "l2"),
               leave("ana", T0 + 6 * DAY, T0 + 7 * DAY, "l3"), leave("ben", T0, T0 + 30 * DAY, "l4")]
    assert availability("ana", T0 + DAY, periods, [], RULES) == ("on_leave", T0 + 5 * DAY)
    assert availability("ana", T0 + 5 * DAY, periods, [], RULES) == (None, None)
    assert availability("ana", T0 - DAY, periods, [], RULES) == (None, None)


# --- who is next --------------------------------------------------------------------------

def test_next_up_answers_every_region_and_worldwide() -> None:
    slots = [slot("ana", T0 + DAY, region="africa"), slot("ben", T0 + 2 * DAY, region="africa"),
             slot("cho", T0 + 3 * DAY, region=None), slot("dia", T0 - DAY, region="americas")]
    answer = next_up(T0, slots, [], [], RULES)
    assert set(answer) == set(RULES.regions) | {"worldwide"}
    assert answer["africa"] == {"slot_id": slots[0].id, "officer_id": "ana", "start": "2026-06-02T08:00:00+00:00",
                                "end": "2026-06-09T08:00:00+00:00", "readiness_hours": 24, "role": "primary",
                                "region": "africa"}
    assert answer["worldwide"] is not None and answer["worldwide"]["officer_id"] == "cho"
    assert answer["americas"] is None  # dia's slot started before: on standby, not next
    assert answer["asia_pacific"] is None


def test_next_up_skips_an_officer_on_leave_at_the_slot_start() -> None:
    slots = [slot("ana", T0 + DAY), slot("ben", T0 + 2 * DAY)]
    off = leave("ana", T0 + DAY, T0 + 3 * DAY)
    assert next_up(T0, slots, [off], [], RULES)["africa"]["officer_id"] == "ben"  # type: ignore[index]
    assert next_up(T0, slots, [], [], RULES)["africa"]["officer_id"] == "ana"  # type: ignore[index]


def test_next_up_is_strictly_after_the_moment_and_primary_first_on_a_tie() -> None:
    slots = [slot("ben", T0, role="alternate", id="s1"), slot("cho", T0 + DAY, role="alternate", id="s2"),
             slot("dia", T0 + DAY, role="primary", id="s3")]
    assert next_up(T0, slots, [], [], RULES)["africa"]["slot_id"] == "s3"  # type: ignore[index]


# --- overlaps -----------------------------------------------------------------------------

def test_slots_of_one_officer_that_intersect_overlap() -> None:
    old = slot("ana", T0, id="old")
    new = slot("ana", T0 + 6 * DAY, id="new")
    errors = overlaps([new], [old])
    assert len(errors) == 1 and errors[0]["field"] == "slots[0].start" and "old" in errors[0]["message"]


def test_touching_slots_do_not_overlap() -> None:
    assert overlaps([slot("ana", T0 + 7 * DAY, id="new")], [slot("ana", T0, id="old")]) == []
    assert overlaps([slot("ana", T0 - 7 * DAY, id="new")], [slot("ana", T0, id="old")]) == []


def test_slots_of_different_officers_never_overlap() -> None:
    assert overlaps([slot("ben", T0, id="new")], [slot("ana", T0, id="old")]) == []


def test_replacing_a_slot_by_its_id_is_not_an_overlap_with_itself() -> None:
    old = slot("ana", T0, id="s1")
    moved = slot("ana", T0 + DAY, id="s1")
    assert overlaps([moved], [old]) == []
    assert overlaps([moved], [old, slot("ana", T0 + 7 * DAY, id="s2")])[0]["field"] == "slots[0].start"


def test_new_slots_overlapping_each_other_name_the_later_one() -> None:
    batch = [slot("ana", T0, id="a"), slot("ben", T0, id="b"), slot("ana", T0 + 3 * DAY, id="c")]
    errors = overlaps(batch, [])
    assert [e["field"] for e in errors] == ["slots[2].start"] and "slots[0]" in errors[0]["message"]


def test_a_slot_inside_another_overlaps() -> None:
    assert len(overlaps([slot("ana", T0 + DAY, days=1, id="n")], [slot("ana", T0, id="o")])) == 1
    assert len(overlaps([slot("ana", T0 - DAY, days=30, id="n")], [slot("ana", T0, id="o")])) == 1


# --- validation ---------------------------------------------------------------------------

def fields(errors: list[dict[str, str]]) -> list[str]:
    return [e["field"] for e in errors]


def test_a_valid_slot_has_no_errors() -> None:
    assert validate_slot(slot("ana", T0), OFFICERS) == []
    assert validate_slot(slot("ana", T0, region=None, role="alternate", readiness=48), OFFICERS, 3) == []


@pytest.mark.parametrize(("change", "field"), [
    ({"end": T0 - DAY}, "slots[2].end"),
    ({"end": T0}, "slots[2].end"),
    ({"readiness_hours": 36}, "slots[2].readiness_hours"),
    ({"role": "boss"}, "slots[2].role"),
    ({"officer_id": "zed"}, "slots[2].officer_id"),
    ({"region": "atlantis"}, "slots[2].region"),
    ({"start": T0.replace(tzinfo=None)}, "slots[2].start"),
    ({"end": (T0 + DAY).replace(tzinfo=None)}, "slots[2].end"),
])
def test_each_bad_slot_field_is_named(change: dict[str, Any], field: str) -> None:
    good = slot("ana", T0)
    bad = dataclasses.replace(good, **change)
    errors = validate_slot(bad, OFFICERS, 2)
    assert fields(errors) == [field]
    assert errors[0]["message"]


def test_a_naive_time_is_named_as_a_time_without_a_zone() -> None:
    bad = Slot("s", "ana", T0.replace(tzinfo=None), (T0 + DAY).replace(tzinfo=None), 24, "primary")
    errors = validate_slot(bad, OFFICERS)
    assert fields(errors) == ["start", "end"] and all("zone" in e["message"] for e in errors)


def test_every_error_of_a_slot_is_answered_at_once() -> None:
    bad = Slot("s", "zed", T0, T0 - DAY, 36, "boss", "atlantis")
    assert sorted(fields(validate_slot(bad, OFFICERS))) == ["end", "officer_id", "readiness_hours", "region", "role"]


def test_leave_validation_names_its_fields() -> None:
    assert validate_leave(leave("ana", T0, T0 + DAY), OFFICERS) == []
    assert fields(validate_leave(leave("zed", T0, T0 - DAY), OFFICERS, 1)) == ["leave[1].end", "leave[1].officer_id"]
    assert fields(validate_leave(Leave("l", "ana", T0, T0 + DAY, "holiday"), OFFICERS)) == ["kind"]
    assert fields(validate_leave(leave("ana", T0.replace(tzinfo=None), T0 + DAY), OFFICERS)) == ["start"]


# --- swaps and overrides ------------------------------------------------------------------

def test_a_swap_exchanges_the_officers_and_keeps_everything_else() -> None:
    a, b = slot("ana", T0, id="a"), slot("ben", T0 + 7 * DAY, role="alternate", id="b")
    a2, b2 = swap(a, b, "family event")
    assert (a2.id, a2.officer_id, a2.start, a2.role, a2.note) == ("a", "ben", T0, "primary", "family event")
    assert (b2.id, b2.officer_id, b2.start, b2.role, b2.note) == ("b", "ana", T0 + 7 * DAY, "alternate",
                                                                  "family event")


def test_a_swap_of_a_slot_with_itself_or_the_same_officer_is_refused() -> None:
    a = slot("ana", T0, id="a")
    with pytest.raises(InputError) as err:
        swap(a, a, "x")
    assert err.value.errors[0]["field"] == "slot_b"
    with pytest.raises(InputError):
        swap(a, slot("ana", T0 + 7 * DAY, id="b"), "x")


def test_reassign_puts_another_officer_on_the_slot() -> None:
    a = slot("ana", T0, id="a")
    moved = reassign(a, "cho", "ana sick")
    assert (moved.id, moved.officer_id, moved.start, moved.end, moved.note) == ("a", "cho", a.start, a.end,
                                                                                "ana sick")
    with pytest.raises(InputError) as err:
        reassign(a, "ana", "x")
    assert err.value.errors[0]["field"] == "officer_id"


def test_who_can_take_a_slot_says_why_not_and_lists_the_free_first_own_region_first() -> None:
    people = {oid: Officer(oid, name, Home("x", 0.0, 0.0), region, "P3") for oid, name, region in (
        ("ana", "Ana", "africa"), ("ben", "Ben", "africa"), ("cho", "Cho", "americas"), ("dia", "Dia", "africa"),
        ("eve", "Eve", "americas"), ("fay", "Fay", "africa"))}
    target = slot("ana", T0 + 2 * DAY, days=7)
    slots = [target, slot("ben", T0 + 8 * DAY, days=7, role="alternate", region=None)]  # meets its last day
    leaves = [Leave("l1", "dia", T0 + 3 * DAY, T0 + 4 * DAY, "unavailable")]
    dispatches = [dispatch("fay", T0 - 3 * DAY, ("accepted", T0 - 3 * DAY), ("travelling", T0 - 2 * DAY),
                           ("on_site", T0 - DAY), ("stood_down", T0), ("returned", T0 + DAY))]  # resting until T0 + 8 days
    said = who_can_take(target, people, slots, leaves, dispatches, RULES)
    assert said == [
        ("cho", None), ("eve", None),  # free (no one else of Africa is)
        ("ben", "on standby then (worldwide alternate)"),
        ("dia", "unavailable 4 Jun 08:00 to 5 Jun 08:00 UTC"),
        ("fay", "resting until 9 Jun 08:00 UTC"),
    ]
    # the slot's own region first among the free
    assert [oid for oid, why in who_can_take(target, people, [target], [], [], RULES)] == ["ben", "dia", "fay", "cho", "eve"]
