"""The roster commands and read models on the real Redis: bad input refused naming the
field, leave overriding slots, swaps and overrides as events with their actor, a dispatch
promoting the alternate (and coverage following), the dispatch workflow, and what a
regional desk and a wall receive."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisis import handlers_roster as roster
from crisis import views_roster
from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.bootstrap import Context
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import IncidentIn, IncidentPatch
from crisis.handlers import report_incident, update_incident
from crisis.roster.model import Leave, Slot
from tests.integration.test_roster_store import T0, officer, slot

DUTY = Principal("duty", "duty_officer")
WALL = Principal("wall", "wall")
AFRICA_DESK = Principal("desk-af", "regional_desk", "africa")
AMERICAS_DESK = Principal("desk-am", "regional_desk", "americas")


@pytest.fixture
def clock(context: Context, monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    now = [T0]
    monkeypatch.setattr(context.deps, "clock", lambda: now[0])
    return now


def _fields(exc: pytest.ExceptionInfo[InputError]) -> list[str]:
    return [e["field"] for e in exc.value.errors]


def _incident(context: Context, lat: float = -4.04, lon: float = 39.67, title: str = "Flood in Mombasa") -> str:
    return report_incident(context.deps, IncidentIn(title=title, type="flood", severity=4, lat=lat, lon=lon),
                           "tester").incident.id


def _events(context: Context) -> list[Any]:
    return list(context.deps.log.replay(keys.ROSTER_STREAM))


@pytest.fixture
def team(context: Context, clock: list[datetime]) -> dict[str, Slot]:
    """o1 primary and o2 alternate for Africa around T0; o3 and o4 (Americas) off standby."""
    roster.import_officers(context, [officer("o1"), officer("o2"), officer("o3"),
                                     officer("o4", region="americas", lat=40.7, lon=-74.0)], "importer")
    primary, alternate = roster.add_slots(context, [slot("o1", T0 - timedelta(days=1), 72),
                                                    slot("o2", T0 - timedelta(days=1), 72, role="alternate")], "duty")
    return {"primary": primary, "alternate": alternate}


# --- slots ---------------------------------------------------------------------------------
def test_overlapping_slots_are_refused_naming_the_field(context: Context, team: dict[str, Slot]) -> None:
    with pytest.raises(InputError) as among:
        roster.add_slots(context, [slot("o3", T0, 24), slot("o3", T0 + timedelta(hours=12), 24)], "duty")
    assert _fields(among) == ["slots[1].start"]
    with pytest.raises(InputError) as stored:
        roster.add_slots(context, [slot("o3", T0 + timedelta(days=5), 24), slot("o1", T0 + timedelta(hours=1), 5)],
                         "duty")
    assert _fields(stored) == ["slots[1].start"] and team["primary"].id in stored.value.errors[0]["message"]
    # Touching slots (one ends when the next starts) do not overlap.
    after = roster.add_slots(context, [slot("o1", team["primary"].end, 24)], "duty")
    assert after[0].start == team["primary"].end
    # Nothing of a refused list was stored.
    assert len(context.roster.slots()) == 3 and len(_events(context)) == 3


def test_bad_slot_values_name_their_fields(context: Context, team: dict[str, Slot]) -> None:
    with pytest.raises(InputError) as rules:
        roster.add_slots(context, [Slot("", "ghost", T0, T0 - timedelta(hours=1), 36, "backup", "atlantis")], "duty")
    assert set(_fields(rules)) == {"slots[0].officer_id", "slots[0].end", "slots[0].readiness_hours",
                                   "slots[0].role", "slots[0].region"}
    with pytest.raises(InputError) as parsed:
        roster.parse_slots([{"officer_id": "o3", "start": "2026-03-02T12:00:00", "end": "2026-03-03T12:00:00Z"},
                            {"officer_id": "o3", "start": "soon", "end": "2026-03-03T12:00:00+01:00",
                             "readiness_hours": "many", "colour": "red"}])
    assert set(_fields(parsed)) == {"slots[0].start", "slots[1].start", "slots[1].readiness_hours", "slots[1].colour"}
    assert "without a zone" in parsed.value.errors[0]["message"]
    good = roster.parse_slots([{"officer_id": "o3", "start": "2026-03-05T12:00:00+02:00", "end": "2026-03-06T10:00:00Z",
                                "readiness_hours": 48, "role": "alternate"}])
    assert good[0].start == datetime(2026, 3, 5, 10, tzinfo=timezone.utc) and good[0].readiness_hours == 48


def test_patch_and_remove_a_slot(context: Context, team: dict[str, Slot], clock: list[datetime]) -> None:
    spare = roster.add_slots(context, [slot("o3", T0 + timedelta(days=4), 24)], "duty")[0]
    with pytest.raises(InputError) as overlap:
        roster.patch_slot(context, spare.id, {"officer_id": "o1", "start": T0.isoformat()}, "duty")
    assert _fields(overlap) == ["start"]
    with pytest.raises(InputError) as naive:
        roster.patch_slot(context, spare.id, {"end": "2026-03-07T00:00:00"}, "duty")
    assert _fields(naive) == ["end"]
    with pytest.raises(InputError) as readiness:
        roster.patch_slot(context, spare.id, {"readiness_hours": 12}, "duty")
    assert _fields(readiness) == ["readiness_hours"]
    with pytest.raises(NotFound):
        roster.patch_slot(context, "slot-none", {"note": "x"}, "duty")

    changed = roster.patch_slot(context, spare.id, {"end": "2026-03-08T12:00:00Z", "region": "americas"}, "planner")
    assert changed.end == datetime(2026, 3, 8, 12, tzinfo=timezone.utc) and changed.region == "americas"
    assert context.roster.slot(spare.id) == changed
    assert roster.patch_slot(context, spare.id, {"region": "americas"}, "planner") == changed  # no change, no event
    last = _events(context)[-1]
    assert last.type == "roster.slot_changed" and last.actor == "planner"
    assert last.payload["before"]["region"] == "africa" and last.payload["slot"]["region"] == "americas"

    assert roster.remove_slot(context, spare.id, "duty") == changed
    assert context.roster.slot(spare.id) is None
    assert _events(context)[-1].type == "roster.slot_removed"
    with pytest.raises(NotFound):
        roster.remove_slot(context, spare.id, "duty")


def test_rotation_parameters_are_checked_and_its_slots_stored(context: Context, team: dict[str, Slot]) -> None:
    with pytest.raises(InputError) as bad:
        roster.generate_rotation(context, {"officers": ["o3", "ghost"], "from": "2026-04-01T00:00:00", "weeks": 2,
                                           "handover": "8h", "pattern": "round_robin"}, "planner")
    assert set(_fields(bad)) == {"officers", "from", "handover"}
    with pytest.raises(InputError) as overlap:  # o1 is already on standby at T0
        roster.generate_rotation(context, {"officers": ["o1", "o3"], "from": T0.isoformat(), "weeks": 1,
                                           "handover": "12:00", "pattern": "round_robin"}, "planner")
    assert _fields(overlap)[0].endswith(".start")
    made = roster.generate_rotation(context, {"officers": ["o3", "o4"], "from": "2026-04-01T00:00:00Z", "weeks": 1,
                                              "period_days": 7, "handover": "08:00", "pattern": "paired"}, "planner")
    assert [(s.officer_id, s.role) for s in made] == [("o3", "primary"), ("o4", "alternate")]
    assert made[0].start == datetime(2026, 4, 1, 8, tzinfo=timezone.utc)
    assert {s.id for s in made} <= {s.id for s in context.roster.slots()}


# --- leave ---------------------------------------------------------------------------------
def test_leave_overrides_a_slot_until_removed(context: Context, team: dict[str, Slot], clock: list[datetime]) -> None:
    with pytest.raises(InputError) as bad:
        roster.add_leave(context, Leave("", "ghost", T0, T0 - timedelta(days=1)), "duty")
    assert set(_fields(bad)) == {"officer_id", "end"}
    with pytest.raises(InputError) as parsed:
        roster.parse_leave({"officer_id": "o1", "start": "2026-03-02", "end": "2026-03-03T00:00:00Z", "kind": "holiday"})
    assert set(_fields(parsed)) == {"start", "kind"}

    on = views_roster.standby(context, T0)
    assert [(e["officer_id"], e["role"]) for e in on["standby"]] == [("o1", "primary"), ("o2", "alternate")]
    leave = roster.add_leave(context, roster.parse_leave({"officer_id": "o1", "start": "2026-03-02T06:00:00Z",
                                                          "end": "2026-03-03T00:00:00Z", "note": "sick"}), "duty")
    assert leave.id.startswith("leave-") and context.roster.leave() == [leave]
    assert [e["officer_id"] for e in views_roster.standby(context, T0)["standby"]] == ["o2"]
    assert _events(context)[-1].type == "roster.leave_added" and _events(context)[-1].actor == "duty"

    assert roster.remove_leave(context, leave.id, "duty") == leave
    assert [e["officer_id"] for e in views_roster.standby(context, T0)["standby"]] == ["o1", "o2"]
    with pytest.raises(NotFound):
        roster.remove_leave(context, leave.id, "duty")


# --- swaps and overrides ----------------------------------------------------------------------
def test_swap_and_override_are_events_with_their_actor(context: Context, team: dict[str, Slot]) -> None:
    later = roster.add_slots(context, [slot("o3", T0 + timedelta(days=3), 48)], "duty")[0]
    a, b = roster.swap_slots(context, team["primary"].id, later.id, "o1 asked to swap", "duty-anna")
    assert (a.officer_id, b.officer_id) == ("o3", "o1") and a.note == "o1 asked to swap"
    assert context.roster.slot(team["primary"].id) == a
    swap = _events(context)[-1]
    assert swap.type == "roster.swap" and swap.actor == "duty-anna" and swap.payload["note"] == "o1 asked to swap"
    assert [s["officer_id"] for s in swap.payload["slots"]] == ["o3", "o1"]
    assert [s["officer_id"] for s in swap.payload["before"]] == ["o1", "o3"]

    # A swap that would put an officer on standby twice at once is refused.
    o2_later, o4_soon = roster.add_slots(context, [slot("o2", T0 + timedelta(days=5), 24),
                                                   slot("o4", T0 + timedelta(days=1), 24, region="americas")], "duty")
    with pytest.raises(InputError) as refused:  # o2 would get o4's slot, inside o2's alternate slot
        roster.swap_slots(context, o2_later.id, o4_soon.id, None, "duty")
    assert _fields(refused) == ["slot_b"] and team["alternate"].id in refused.value.errors[0]["message"]
    with pytest.raises(InputError) as itself:
        roster.swap_slots(context, o2_later.id, o2_later.id, None, "duty")
    assert _fields(itself) == ["slot_b"]
    assert context.roster.slot(o2_later.id) == o2_later

    with pytest.raises(InputError) as unknown:
        roster.override_slot(context, team["alternate"].id, "ghost", "x", "duty")
    assert _fields(unknown) == ["officer_id"]
    with pytest.raises(InputError) as busy:  # o3 now holds the primary slot at that time
        roster.override_slot(context, team["alternate"].id, "o3", "x", "duty")
    assert _fields(busy) == ["officer_id"]
    with pytest.raises(NotFound):
        roster.override_slot(context, "slot-none", "o3", "x", "duty")
    changed = roster.override_slot(context, later.id, "o2", "o1 in hospital", "duty-ben")
    assert changed.officer_id == "o2" and changed.note == "o1 in hospital"
    override = _events(context)[-1]
    assert override.type == "roster.override" and override.actor == "duty-ben"
    assert override.payload["before"]["officer_id"] == "o1" and override.payload["note"] == "o1 in hospital"


# --- dispatch --------------------------------------------------------------------------------
def _region_count(cover: dict[str, Any], region: str, at: datetime) -> int:
    for segment in cover["regions"][region]:
        if datetime.fromisoformat(segment["from"]) <= at < datetime.fromisoformat(segment["to"]):
            return int(segment["count"])
    raise AssertionError(f"no segment at {at}")


def test_dispatching_a_primary_promotes_the_alternate_and_coverage_follows(
        context: Context, team: dict[str, Slot], clock: list[datetime]) -> None:
    incident = _incident(context)
    later = T0 + timedelta(hours=6)
    before = views_roster.coverage(context, T0 - timedelta(hours=1), T0 + timedelta(days=3))
    assert _region_count(before, "africa", later) == 2

    clock[0] = T0 + timedelta(minutes=1)
    dispatch = roster.create_dispatch(context, incident, "o1", "closest with flood experience", "duty-anna")
    assert dispatch.status == "requested" and dispatch.slot_id == team["primary"].id
    assert dispatch.steps[0].by == "duty-anna" and dispatch.eta is not None and dispatch.distance_km
    assert dispatch.destination == {"lat": -4.04, "lon": 39.67}
    promoted = context.roster.slot(str(dispatch.promoted_slot_id))
    assert promoted is not None and promoted.officer_id == "o2" and promoted.role == "primary"
    assert promoted.start == clock[0] and promoted.end == team["alternate"].end
    kept = context.roster.slot(team["alternate"].id)
    assert kept is not None and kept.role == "alternate" and kept.end == clock[0]
    created = _events(context)[-1]
    assert created.type == "dispatch.created" and created.actor == "duty-anna"
    assert {s["id"] for s in created.payload["slots"]} == {promoted.id, kept.id}

    on = views_roster.standby(context, later)["standby"]
    assert [(e["officer_id"], e["role"]) for e in on] == [("o2", "primary")]
    after = views_roster.coverage(context, T0 - timedelta(hours=1), T0 + timedelta(days=3))
    assert _region_count(after, "africa", later) == 1
    assert not [w for w in after["warnings"] if w["kind"] == "dispatch_gap"]

    listed = views_roster.dispatches(context, incident=incident)
    assert [d["id"] for d in listed] == [dispatch.id]
    assert listed[0]["officer_name"] == "Officer o1" and listed[0]["incident_title"] == "Flood in Mombasa"
    assert len(listed[0]["path"]) == 64
    assert listed[0]["path"][0] == [36.82, -1.29] and listed[0]["path"][-1] == [39.67, -4.04]
    assert views_roster.dispatches(context, officer="o2") == []
    assert [d["id"] for d in views_roster.dispatches(context, status="active")] == [dispatch.id]
    assert views_roster.dispatch(context, dispatch.id)["id"] == dispatch.id


def test_a_primary_without_alternate_leaves_a_gap_warned(context: Context, clock: list[datetime]) -> None:
    roster.import_officers(context, [officer("o1")], "importer")
    primary = roster.add_slots(context, [slot("o1", T0 - timedelta(days=1), 72)], "duty")[0]
    dispatch = roster.create_dispatch(context, _incident(context), "o1", None, "duty")
    assert dispatch.slot_id == primary.id and dispatch.promoted_slot_id is None
    cover = views_roster.coverage(context, T0 - timedelta(hours=1), T0 + timedelta(days=3))
    gaps = [w for w in cover["warnings"] if w["kind"] == "dispatch_gap"]
    assert len(gaps) == 1 and gaps[0]["officer_id"] == "o1"
    assert [w for w in views_roster.coverage(context, T0, T0 + timedelta(days=3), WALL)["warnings"]
            if w["kind"] == "dispatch_gap"] == [{k: v for k, v in gaps[0].items() if k != "officer_id"}]


def test_dispatch_refusals(context: Context, team: dict[str, Slot], clock: list[datetime]) -> None:
    incident = _incident(context)
    with pytest.raises(NotFound):
        roster.create_dispatch(context, "inc-none", "o1", None, "duty")
    with pytest.raises(NotFound):
        roster.create_dispatch(context, incident, "ghost", None, "duty")
    first = roster.create_dispatch(context, incident, "o3", None, "duty")
    assert first.slot_id is None and first.promoted_slot_id is None  # off standby: nobody promoted
    other = _incident(context, 9.0, 38.7, "Unrest in Addis")
    with pytest.raises(Conflict, match="already deployed"):
        roster.create_dispatch(context, other, "o3", None, "duty")
    assert len(views_roster.dispatches(context)) == 1

    update_incident(context.deps, other, IncidentPatch(status="closed"), "tester")
    with pytest.raises(Conflict, match="closed"):
        roster.create_dispatch(context, other, "o2", None, "duty")
    assert len(context.roster.dispatches()) == 1


def test_the_workflow_steps_and_refuses_what_it_forbids(context: Context, team: dict[str, Slot],
                                                         clock: list[datetime]) -> None:
    incident = _incident(context)
    dispatch = roster.create_dispatch(context, incident, "o3", None, "duty")
    with pytest.raises(Conflict, match="cannot go from requested to on_site"):
        roster.step_dispatch(context, dispatch.id, "on_site", "duty")
    with pytest.raises(InputError) as unknown:
        roster.step_dispatch(context, dispatch.id, "flying", "duty")
    assert _fields(unknown) == ["status"]
    with pytest.raises(NotFound):
        roster.step_dispatch(context, "disp-none", "accepted", "duty")
    for n, status in enumerate(("accepted", "travelling", "on_site", "stood_down", "returned"), start=1):
        clock[0] = T0 + timedelta(hours=n)
        current = roster.step_dispatch(context, dispatch.id, status, f"by-{status}", note=f"{status} now")
        if status == "travelling":
            moved = roster.report_dispatch_position(context, dispatch.id, -2.5, 38.0, "o3")
            assert moved.position == {"lat": -2.5, "lon": 38.0, "at": clock[0].isoformat()}
    assert current.status == "returned"
    stored = context.roster.dispatch(dispatch.id)
    assert stored is not None and [s.status for s in stored.steps] == [
        "requested", "accepted", "travelling", "on_site", "stood_down", "returned"]
    assert stored.steps[-1].by == "by-returned" and stored.steps[-1].at == T0 + timedelta(hours=5)
    assert stored.position is not None  # kept
    with pytest.raises(Conflict):
        roster.step_dispatch(context, dispatch.id, "accepted", "duty")
    with pytest.raises(Conflict):
        roster.report_dispatch_position(context, dispatch.id, 0.0, 0.0, "o3")
    with pytest.raises(InputError) as off:
        roster.report_dispatch_position(context, dispatch.id, 95.0, 0.0, "o3")
    assert _fields(off) == ["position.lat"]
    steps = [e for e in _events(context) if e.type == "dispatch.step"]
    assert [e.actor for e in steps] == ["by-accepted", "by-travelling", "by-on_site", "by-stood_down", "by-returned"]
    # Returned: no longer deployed, may be sent again (resting is the duty officer's call).
    again = roster.create_dispatch(context, incident, "o3", "again", "duty")
    assert again.status == "requested"


# --- views ---------------------------------------------------------------------------------
def test_path_unwraps_longitudes_across_the_antimeridian() -> None:
    fiji, samoa = (-18.1, 178.4), (-13.8, -171.8)
    line = views_roster.path(fiji, samoa)
    lons = [p[0] for p in line]
    assert len(line) == 64 and line[0] == [178.4, -18.1]
    assert max(abs(b - a) for a, b in zip(lons, lons[1:])) < 1.0  # no streak across the map
    assert lons[-1] == pytest.approx(-171.8 + 360.0)  # runs on past 180
    back = views_roster.path(samoa, fiji)
    assert back[0] == [-171.8, -13.8] and back[-1][0] == pytest.approx(178.4 - 360.0)


def test_candidates_check_their_terms(context: Context, team: dict[str, Slot]) -> None:
    incident = _incident(context)
    with pytest.raises(InputError) as bad:
        views_roster.candidates(context, incident, ["juggling"], ["xx"])
    assert set(_fields(bad)) == {"skills", "languages"}
    with pytest.raises(NotFound):
        views_roster.candidates(context, "inc-none")
    answer = views_roster.candidates(context, incident, ["first_aid"], ["EN"])
    assert answer["incident"]["id"] == incident and answer["languages"] == ["en"]
    assert answer["eta_terms"]["cruise_kmh"] == context.settings.roster_cruise_kmh
    assert [c["officer_id"] for c in answer["candidates"]][:2] == ["o1", "o2"]
    assert len(answer["candidates"]) == 4


def test_a_regional_desk_and_a_wall_receive_their_cut(context: Context, team: dict[str, Slot],
                                                       clock: list[datetime]) -> None:
    kenya = _incident(context)
    region = context.deps.incidents.get(kenya).region  # type: ignore[union-attr]
    assert region == "africa"
    peru = _incident(context, -12.05, -77.04, "Quake in Lima")
    roster.create_dispatch(context, kenya, "o1", "note", "duty-anna")
    roster.create_dispatch(context, peru, "o4", None, "duty-anna")

    assert [o["id"] for o in views_roster.officers(context, DUTY)] == ["o1", "o2", "o3", "o4"]
    assert [o["id"] for o in views_roster.officers(context, AMERICAS_DESK)] == ["o4"]
    for seen in views_roster.officers(context, WALL):
        assert not {"id", "name", "contact", "home"} & set(seen)
    with pytest.raises(NotFound):
        views_roster.officer(context, "o1", AMERICAS_DESK)
    assert views_roster.officer(context, "o1", AFRICA_DESK)["contact"] == "o1@example.org"

    assert [d["incident_id"] for d in views_roster.dispatches(context, viewer=AFRICA_DESK)] == [kenya]
    assert [d["incident_id"] for d in views_roster.dispatches(context, viewer=AMERICAS_DESK)] == [peru]
    with pytest.raises(NotFound):
        views_roster.dispatch(context, views_roster.dispatches(context, incident=peru)[0]["id"], AFRICA_DESK)
    full = views_roster.dispatches(context, incident=kenya, viewer=DUTY)[0]
    assert full["officer_id"] == "o1" and full["officer_name"] == "Officer o1" and full["by"] == "duty-anna"
    for seen in views_roster.dispatches(context, viewer=WALL):
        assert not {"officer_id", "officer_name", "by"} & set(seen)
        assert all("by" not in s for s in seen["steps"])
        assert len(seen["path"]) == 64 and seen["eta"] and seen["status"] == "requested"

    at = T0 + timedelta(hours=1)
    wall = views_roster.standby(context, at, WALL)
    assert wall["standby"] and all("officer_id" not in e and "officer_name" not in e for e in wall["standby"])
    assert [e["officer_id"] for e in views_roster.standby(context, at, AFRICA_DESK)["standby"]] == ["o2"]
    # cover is aggregate: the Americas desk is told Africa's standby, never who
    elsewhere = views_roster.standby(context, at, AMERICAS_DESK)
    assert [(e["region"], e["role"]) for e in elsewhere["standby"]] == [(e["region"], e["role"]) for e in wall["standby"]]
    assert all(not {"officer_id", "officer_name", "note"} & set(e) for e in elsewhere["standby"])
    assert all(e is None or "officer_id" not in e for e in elsewhere["next"].values())
    assert [s["officer_id"] for s in views_roster.slots(context, officer="o2", viewer=AFRICA_DESK)] == ["o2", "o2"]
    assert views_roster.slots(context, viewer=AMERICAS_DESK) == []
    assert all("officer_id" not in s for s in views_roster.slots(context, viewer=WALL))

    # Coverage is aggregate: every reader gets the same timelines.
    window = (T0, T0 + timedelta(days=2))
    assert views_roster.coverage(context, *window, AMERICAS_DESK)["regions"] == \
        views_roster.coverage(context, *window)["regions"]
