"""The dispatch workflow (crisis.roster.dispatch): every step the workflow allows and the ones
it forbids (Conflict), an officer already deployed (Conflict), the alternate promoted when a
primary is sent (its slot split at the dispatch) and coverage then counting the promoted
primary; no alternate: coverage warns of the gap."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crisis.errors import Conflict, InputError
from crisis.roster.coverage import coverage
from crisis.roster.dispatch import ROAD_KM, TRANSITIONS, plan_dispatch, report_position, settle, step
from crisis.roster.model import (
    DISPATCH_STATUSES,
    Dispatch,
    Home,
    Leave,
    Officer,
    RosterRules,
    Slot,
    Step,
)
from crisis.roster.ranking import rank

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RULES = RosterRules(skills=("hostage_incident_management",), min_worldwide_24h=1, required_languages=(),
                    required_skills=(), regions=("africa", "europe_central_asia"))
GOMA = (-1.6792, 29.2228)
OFFICERS = {
    "ana": Officer("ana", "Ana", Home("Nairobi", -1.2921, 36.8219, "KEN"), "africa", "P4"),
    "ben": Officer("ben", "Ben", Home("Dakar", 14.7167, -17.4677, "SEN"), "africa", "P3"),
    "cho": Officer("cho", "Cho", Home("Geneva", 46.2044, 6.1432, "CHE"), "europe_central_asia", "P4"),
}
PRIMARY = Slot("p", "ana", T0, T0 + 7 * DAY, 24, "primary", "africa")
ALTERNATE = Slot("alt", "ben", T0, T0 + 7 * DAY, 48, "alternate", "africa")
OTHER_REGION = Slot("eu", "cho", T0, T0 + 7 * DAY, 24, "alternate", "europe_central_asia")


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def plan(officer: str = "ana", slots: list[Slot] | None = None, leave: list[Leave] | None = None,
         dispatches: list[Dispatch] | None = None, at: datetime = NOW) -> tuple[Dispatch, list[Slot], list[str]]:
    counter = itertools.count(1)
    return plan_dispatch("d1", "inc-goma", GOMA, OFFICERS[officer], at, "duty", "go",
                         [PRIMARY, ALTERNATE, OTHER_REGION] if slots is None else slots, leave or [],
                         dispatches or [], RULES, lambda: f"new-{next(counter)}")


def apply(slots: list[Slot], write: list[Slot], delete: list[str]) -> list[Slot]:
    """What the store does with plan_dispatch's answer: replace by id, add, delete."""
    by_id = {s.id: s for s in slots if s.id not in delete}
    by_id.update({s.id: s for s in write})
    return list(by_id.values())


def test_dispatching_a_primary_promotes_the_alternate() -> None:
    dispatch, write, delete = plan()
    assert dispatch.status == "requested" and dispatch.steps == (Step("requested", NOW, "duty", "go"),)
    assert dispatch.slot_id == "p" and dispatch.promoted_slot_id == "new-1" and delete == []
    assert sorted(write, key=lambda s: s.start) == [
        replace(ALTERNATE, end=NOW),
        Slot("new-1", "ben", NOW, T0 + 7 * DAY, 48, "primary", "africa", "promoted: ana dispatched to inc-goma")]
    assert dispatch.origin == OFFICERS["ana"].home and dispatch.destination == {"lat": GOMA[0], "lon": GOMA[1]}
    [row] = rank(GOMA, [OFFICERS["ana"]], NOW, [PRIMARY], [], [], RULES)
    assert dispatch.distance_km == row["distance_km"]
    assert dispatch.distance_km is not None and dispatch.eta is not None
    assert hours(dispatch.eta - NOW) == pytest.approx(24 + dispatch.distance_km / 800 + 6, abs=0.01)  # ranking's
    assert abs((dispatch.eta - NOW - timedelta(hours=row["eta_hours"])).total_seconds()) < 60


def test_coverage_shows_the_promoted_primary_and_no_gap() -> None:
    slots = [PRIMARY, ALTERNATE, OTHER_REGION]
    dispatch, write, delete = plan()
    after = apply(slots, write, delete)
    result = coverage(OFFICERS, after, [], [dispatch], T0, T0 + 7 * DAY, RULES)
    assert not [w for w in result["warnings"] if w["kind"] in ("dispatch_gap", "region_uncovered")]
    # africa: ana and ben until the dispatch, then ben alone (as primary)
    assert [(s["from"], s["count"]) for s in result["regions"]["africa"]] == [(T0.isoformat(), 2), (NOW.isoformat(), 1)]
    promoted = [s for s in after if s.id == dispatch.promoted_slot_id]
    assert promoted[0].role == "primary" and promoted[0].officer_id == "ben"


def test_without_an_alternate_coverage_warns_of_the_gap() -> None:
    dispatch, write, delete = plan(slots=[PRIMARY, OTHER_REGION])  # cho stands by for Europe, not Africa
    assert dispatch.slot_id == "p" and dispatch.promoted_slot_id is None and write == [] and delete == []
    result = coverage(OFFICERS, [PRIMARY, OTHER_REGION], [], [dispatch], T0, T0 + 7 * DAY, RULES)
    gaps = [w for w in result["warnings"] if w["kind"] == "dispatch_gap"]
    assert [(w["from"], w["to"], w["region"]) for w in gaps] == [(NOW.isoformat(), (T0 + 7 * DAY).isoformat(), "africa")]


def test_an_alternate_on_leave_is_not_promoted() -> None:
    leave = [Leave("l1", "ben", NOW - DAY, NOW + DAY)]
    dispatch, write, _ = plan(leave=leave)
    assert dispatch.promoted_slot_id is None and write == []


def test_an_alternate_starting_at_the_dispatch_becomes_primary_whole() -> None:
    late = replace(ALTERNATE, start=NOW)
    _dispatch, write, delete = plan(slots=[PRIMARY, late])
    assert delete == ["alt"]
    assert write == [Slot("new-1", "ben", NOW, late.end, 48, "primary", "africa", "promoted: ana dispatched to inc-goma")]


def test_dispatching_an_alternate_or_an_officer_off_standby_promotes_no_one() -> None:
    dispatch, write, _ = plan("ben")
    assert dispatch.slot_id == "alt" and dispatch.promoted_slot_id is None and write == []
    warned = coverage(OFFICERS, [PRIMARY, ALTERNATE], [], [dispatch], T0, T0 + 7 * DAY, RULES)["warnings"]
    assert [w["kind"] for w in warned] == ["region_uncovered"]  # Europe (no one on it); no dispatch gap
    dispatch, write, _ = plan("cho", slots=[PRIMARY, ALTERNATE])
    assert dispatch.slot_id is None and write == []
    assert dispatch.eta is not None and dispatch.distance_km is not None
    assert hours(dispatch.eta - NOW) == pytest.approx(72 + dispatch.distance_km / 800 + 6, abs=0.01)


def test_already_deployed_is_a_conflict_returned_is_not() -> None:
    away = Dispatch("d0", "inc-juba", "ana", "on_site", NOW - DAY, "duty", (Step("requested", NOW - DAY, "duty"),))
    with pytest.raises(Conflict, match="Ana is already deployed: sent to inc-juba"):
        plan(dispatches=[away])
    back = replace(away, status="returned", steps=(*away.steps, Step("returned", NOW - DAY / 2, "duty")))
    declined = replace(away, id="d00", status="declined")
    dispatch, write, _ = plan(dispatches=[back, declined])  # resting: allowed, the duty officer decides
    assert dispatch.status == "requested"
    assert dispatch.slot_id is None and write == []  # resting, so not on standby: nothing to promote
    assert dispatch.eta is not None and dispatch.distance_km is not None
    assert hours(dispatch.eta - NOW) == pytest.approx(72 + dispatch.distance_km / 800 + 6, abs=0.01)  # resting


def test_the_whole_workflow_and_every_forbidden_step() -> None:
    dispatch, _, _ = plan()
    for i, status in enumerate(["accepted", "travelling", "on_site", "stood_down", "returned"]):
        dispatch = step(dispatch, status, NOW + timedelta(hours=i + 1), f"user{i}", "ok")
        assert dispatch.status == status and dispatch.steps[-1] == Step(status, NOW + timedelta(hours=i + 1), f"user{i}", "ok")
    assert [s.status for s in dispatch.steps] == ["requested", "accepted", "travelling", "on_site", "stood_down", "returned"]
    assert dispatch.returned_at() == NOW + timedelta(hours=5)
    allowed = {(a, b) for a, bs in TRANSITIONS.items() for b in bs}
    assert allowed == {("requested", "accepted"), ("requested", "declined"), ("accepted", "travelling"),
                       ("travelling", "on_site"), ("on_site", "stood_down"), ("stood_down", "returned"),
                       ("requested", "cancelled"), ("accepted", "cancelled"), ("travelling", "cancelled")}
    base, _, _ = plan()
    for a, b in itertools.product(DISPATCH_STATUSES, DISPATCH_STATUSES):
        if (a, b) in allowed:
            continue
        with pytest.raises(Conflict) as error:
            step(replace(base, status=a), b, NOW, "duty", "why")
        assert str(error.value).startswith(f"cannot go from {a} to {b}; next: ")
    with pytest.raises(Conflict, match="cannot go from requested to on_site; next: accepted, declined, cancelled"):
        step(base, "on_site", NOW, "duty")
    with pytest.raises(InputError) as bad:
        step(base, "flying", NOW, "duty")
    assert bad.value.errors[0]["field"] == "status"


def test_report_position() -> None:
    dispatch, _, _ = plan()
    moved = report_position(dispatch, 0.5, 33.25, NOW + DAY)
    assert moved.position == {"lat": 0.5, "lon": 33.25, "at": (NOW + DAY).isoformat()}
    with pytest.raises(InputError) as bad:
        report_position(dispatch, 91.0, 0.0, NOW)
    assert bad.value.errors[0]["field"] == "position.lat"
    done = replace(dispatch, status="returned")
    with pytest.raises(Conflict):
        report_position(done, 0.0, 0.0, NOW)


def test_a_cancellation_needs_a_reason_is_final_and_is_no_deployment() -> None:
    from crisis.roster.slots import availability
    dispatch, _, _ = plan()
    dispatch = step(dispatch, "accepted", NOW, "duty")
    with pytest.raises(InputError) as bad:
        step(dispatch, "cancelled", NOW, "duty", "  ")
    assert bad.value.errors[0]["field"] == "note" and "say why" in bad.value.errors[0]["message"]
    gone = step(dispatch, "cancelled", NOW + timedelta(hours=1), "duty", "wrong officer picked")
    assert gone.status == "cancelled" and not gone.active and gone.steps[-1].note == "wrong officer picked"
    for status in DISPATCH_STATUSES:
        with pytest.raises(Conflict):
            step(gone, status, NOW, "duty", "again")
    # No rest after it (only a return starts one): available again at once, and on standby.
    assert availability("ana", NOW + timedelta(hours=2), [], [gone], RULES)[0] is None
    # A returned one, by contrast, rests.
    back = replace(gone, status="returned", steps=(*gone.steps, Step("returned", NOW + timedelta(hours=1), "duty")))
    assert availability("ana", NOW + timedelta(hours=2), [], [back], RULES)[0] == "resting"


@pytest.mark.parametrize("status", ["declined", "cancelled"])
def test_a_declined_or_cancelled_dispatch_gives_the_promoted_alternate_back(status: str) -> None:
    slots = [PRIMARY, ALTERNATE, OTHER_REGION]
    dispatch, write, delete = plan()
    after = apply(slots, write, delete)
    later = NOW + timedelta(hours=3)
    ended = step(dispatch, status, later, "duty", "not going")
    counter = itertools.count(1)
    back_write = settle(ended, later, after, lambda: f"back-{next(counter)}")
    restored = apply(after, back_write, [])
    # ben was primary from the dispatch to now (he was), and is the alternate again from now on
    ben = sorted((s for s in restored if s.officer_id == "ben"), key=lambda s: s.start)
    assert [(s.start, s.end, s.role) for s in ben] == [(T0, NOW, "alternate"), (NOW, later, "primary"),
                                                        (later, T0 + 7 * DAY, "alternate")]
    assert ben[-1].note == f"alternate again: dispatch d1 {status}"
    # coverage: ana (her primary slot, available again) and ben from now: no gap, two on standby
    result = coverage(OFFICERS, restored, [], [ended], T0, T0 + 7 * DAY, RULES)
    assert not [w for w in result["warnings"] if w["kind"] == "dispatch_gap"]
    assert {s["count"] for s in result["regions"]["africa"]} == {2}
    # nothing to give back for a step that is not an end, or without a promotion
    assert settle(step(dispatch, "accepted", later, "duty"), later, after, lambda: "x") == []
    lone, _, _ = plan(slots=[PRIMARY, OTHER_REGION])
    assert settle(step(lone, status, later, "duty", "no"), later, [PRIMARY, OTHER_REGION], lambda: "x") == []


def test_the_eta_en_route_drops_the_readiness_notice_and_follows_the_position() -> None:
    dispatch, _, _ = plan()  # ana, on standby at 24 h, from Nairobi to Goma
    assert dispatch.distance_km is not None and dispatch.eta is not None
    assert hours(dispatch.eta - NOW) == pytest.approx(24 + dispatch.distance_km / 800 + 6, abs=0.01)
    accepted = step(dispatch, "accepted", NOW + timedelta(hours=1), "duty", rules=RULES)
    assert accepted.eta == dispatch.eta  # still getting ready: the notice stands
    leaving = NOW + timedelta(hours=2)
    travelling = step(accepted, "travelling", leaving, "duty", rules=RULES)
    assert travelling.eta is not None
    assert hours(travelling.eta - leaving) == pytest.approx(dispatch.distance_km / 800 + 6, abs=0.01)  # no notice
    # 30 km out: by road, no airport
    near = report_position(travelling, GOMA[0] + 0.27, GOMA[1], leaving + timedelta(hours=5), RULES)
    assert near.eta is not None and 0.4 < hours(near.eta - (leaving + timedelta(hours=5))) < 0.6
    assert ROAD_KM >= 30
    # a position while only accepted, or without the rules, leaves the ETA alone
    assert report_position(accepted, 0.0, 30.0, NOW, RULES).eta == dispatch.eta
    assert report_position(travelling, 0.0, 30.0, NOW).eta == travelling.eta


def test_a_stood_down_officer_is_expected_home_after_the_journey_back() -> None:
    dispatch, _, _ = plan()  # ana, from Nairobi to Goma
    assert dispatch.distance_km is not None and dispatch.return_eta is None
    on_site = step(step(step(dispatch, "accepted", NOW, "duty", rules=RULES), "travelling", NOW, "duty", rules=RULES),
                   "on_site", NOW + DAY, "duty", rules=RULES)
    assert on_site.return_eta is None  # not yet on the way back
    released = NOW + 5 * DAY
    stood_down = step(on_site, "stood_down", released, "duty", rules=RULES)
    assert stood_down.return_eta is not None
    # from the incident (no position reported) to Nairobi: flight time and overheads, no notice
    assert hours(stood_down.return_eta - released) == pytest.approx(dispatch.distance_km / 800 + 6, abs=0.01)
    # reported 30 km from home: by road
    near_home = report_position(stood_down, -1.2921 + 0.27, 36.8219, released + timedelta(hours=7), RULES)
    assert near_home.return_eta is not None
    assert 0.4 < hours(near_home.return_eta - (released + timedelta(hours=7))) < 0.6
    assert near_home.eta == stood_down.eta  # the arrival on site is history
    assert Dispatch.from_dict(near_home.to_dict()) == near_home  # kept in the log and the projection
    # without the rules, or without a place to come back to, no guess
    assert step(on_site, "stood_down", released, "duty").return_eta is None
    assert step(replace(on_site, origin=None), "stood_down", released, "duty", rules=RULES).return_eta is None
    # the ranking says it
    ranked = rank(GOMA, [OFFICERS["ana"]], released + timedelta(hours=1), [], [], [stood_down], RULES)
    assert ranked[0]["reasons"][0].startswith("Deployed to inc-goma: stood down, expected home ")
    assert ranked[0]["reasons"][0].endswith(", then resting 7 days")


def test_sending_an_officer_on_leave_or_resting_needs_a_reason() -> None:
    leave = [Leave("l1", "ana", NOW - DAY, NOW + 2 * DAY)]
    counter = itertools.count(1)
    with pytest.raises(InputError) as bad:
        plan_dispatch("d1", "inc-goma", GOMA, OFFICERS["ana"], NOW, "duty", "  ", [PRIMARY], leave, [], RULES,
                      lambda: f"new-{next(counter)}")
    assert bad.value.errors[0]["field"] == "note"
    assert bad.value.errors[0]["message"].startswith("Ana is on leave until 5 Dec 15:00 UTC: say why they are sent anyway")
    dispatch, _, _ = plan(leave=leave)  # with a note ("go"): the duty officer decided
    assert dispatch.note == "go" and dispatch.slot_id is None
