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
from crisis.roster.dispatch import TRANSITIONS, plan_dispatch, report_position, step
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
    with pytest.raises(Conflict, match="already deployed to inc-juba"):
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
                       ("travelling", "on_site"), ("on_site", "stood_down"), ("stood_down", "returned")}
    base, _, _ = plan()
    for a, b in itertools.product(DISPATCH_STATUSES, DISPATCH_STATUSES):
        if (a, b) in allowed:
            continue
        with pytest.raises(Conflict) as error:
            step(replace(base, status=a), b, NOW, "duty")
        assert str(error.value).startswith(f"cannot go from {a} to {b}; next: ")
    with pytest.raises(Conflict, match="cannot go from requested to on_site; next: accepted, declined"):
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
