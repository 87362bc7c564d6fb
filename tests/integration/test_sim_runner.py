"""The simulator thread against a real (embedded) Redis, through the real handlers.

Uses the ``context`` fixture of tests/conftest.py: a crisis.bootstrap.Context on a fresh
embedded Redis.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import shapely
import shapely.geometry

from crisis import views, views_roster, views_shiftlog
from crisis.adapters.accounts import Principal
from crisis.adapters.audit import AuditQuery
from crisis.adapters.device_store import DeviceStore
from crisis.domain import accountability
from crisis.domain import areas as rules
from crisis.domain.regions import REGIONS
from crisis.domain.travellers import CATEGORIES
from crisis.sim import roster as sim_roster
from crisis.sim import story
from crisis.sim.runner import SimulationRunner
from crisis.sim.scenario import Scenario, Step
from crisis.views_areas import areas as area_store

ADMIN = Principal("root", "admin")


def _scenario(travellers: int = 500) -> Scenario:
    # The story starts a minute ago, so the first steps already carry incident messages.
    return Scenario(seed=1, travellers=travellers, start=datetime.now(timezone.utc) - timedelta(seconds=60))


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_runner_stores_travellers_positions_and_incidents(context: Any) -> None:
    runner = SimulationRunner(context.deps, context.deps.positions, interval=0.2, scenario=_scenario(),
                              feed_log=context.feed_log, context=context)
    runner.start()
    try:
        time.sleep(3.0)
    finally:
        began = time.monotonic()
        runner.stop()
        assert time.monotonic() - began < 3.0
    assert not runner.running
    assert runner.steps >= 5
    assert runner.failures == [] and runner.errors == 0
    assert context.deps.positions.count() == 500
    assert context.deps.positions.traveller_count() == 500
    sim = [i for i in context.deps.incidents.all() if i.source == "sim"]
    assert sim
    assert any(i.source_id and i.source_id.endswith("leb-1") for i in sim)
    # Every step counts as one message of the "sim" feed on the feed health page.
    assert int(context.feed_log.stats("sim")["accepted_total"]) == runner.steps
    # The travellers are real profiles, imported through the travellers' own command.
    profile = context.deps.travellers.get("T000001")
    assert profile is not None and profile["category"] in CATEGORIES and " " in profile["name"]
    assert profile["duty_station"]["country"] and profile["email"].endswith("example.org")


def test_runner_needs_the_context_for_the_people_side(context: Any) -> None:
    with pytest.raises(ValueError, match="Context"):
        SimulationRunner(context.deps, context.deps.positions, scenario=_scenario(50))


class _Flaky(Scenario):
    """Fails its first step, as a step would when Redis restarts under it."""

    failed = False

    def step(self, now: datetime, dt_seconds: float) -> Step:
        if not self.failed:
            self.failed = True
            raise RuntimeError("simulated failure")
        return super().step(now, dt_seconds)


def test_runner_survives_a_failing_step(context: Any) -> None:
    scenario = _Flaky(seed=2, travellers=50, start=datetime.now(timezone.utc))
    runner = SimulationRunner(context.deps, context.deps.positions, interval=0.1, scenario=scenario, context=context)
    runner.start()
    try:
        assert _wait(lambda: runner.steps >= 3, timeout=5.0)
    finally:
        runner.stop()
    assert runner.errors >= 1 and scenario.failed


class _Clock:
    """Simulated time, shared by the runner and the handlers (so an expected arrival passes)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def story_run(session_context: Any) -> dict[str, Any]:
    """A demo run of 7 simulated minutes on 1500 travellers, ticked by hand every 2 s,
    with what the stores held along the way."""
    context = session_context
    context.redis.flushdb()
    start = datetime.now(timezone.utc).replace(microsecond=0)
    clock = _Clock(start)
    real_clock = context.deps.clock
    context.deps.clock = clock
    try:
        scenario = Scenario(seed=3, travellers=1500, start=start, run_tag="it")
        runner = SimulationRunner(context.deps, context.deps.positions, scenario=scenario, clock=clock, context=context)
        runner.tick()  # import, handsets, first positions
        seen: dict[str, Any] = {"devices": DeviceStore(context.redis).all(), "accounted": {}, "areas": {}}
        for t in range(2, 422, 2):
            clock.now = start + timedelta(seconds=t)
            runner.tick()
            area_id = runner.area_id()
            if area_id is not None and t in (98, 104, 130, 420):
                seen["areas"][t] = area_store(context).get(area_id)
            if t == 100:
                seen["seen_100"] = {h.uid: DeviceStore(context.redis).seen(h.uid) for h in scenario.handsets}
            if t in (sim_roster.DISPATCH_AT, 300):
                seen.setdefault("dispatches", {})[t] = views_roster.dispatches(context)
            leb1 = runner.incident_id("sim-it-leb-1")
            if leb1 is not None and t % 30 == 0:
                statuses = context.roll.statuses(accountability.incident_scope(leb1))
                seen["accounted"][t] = accountability.counts(s["status"] for s in statuses.values())
        leb4 = runner.incident_id("sim-it-leb-4")
        assert leb4 is not None
        seen["affected_leb4"] = views.affected_people(context, ADMIN, leb4, clock.now)
        seen["burndown"] = views.incident_burndown(context, ADMIN, runner.incident_id("sim-it-leb-1") or "", clock.now)
        seen["positions"] = context.deps.travellers.latest_reports(scenario.ids)
        seen["raw_positions"] = {h.uid: context.redis.hget("crisis:positions", scenario.ids[h.index])
                                 for h in scenario.handsets}
        seen["seen"] = {h.uid: DeviceStore(context.redis).seen(h.uid) for h in scenario.handsets}
        seen["profiles"] = {p["id"]: p for p in context.deps.travellers.all()}
        seen["dispatches"][420] = views_roster.dispatches(context)
        seen["roster"] = views_roster.state(context)
        seen["coverage"] = views_roster.coverage(context, start, start + timedelta(days=30))
        real = datetime.now(timezone.utc)
        seen["log"] = views_shiftlog.log_entries(context, ADMIN, since=real - timedelta(hours=1), now=real + timedelta(hours=1))
        seen["audit"] = list(context.audit.entries(AuditQuery(since=real - timedelta(hours=1), until=real + timedelta(hours=1))))
        seen["desk_log"] = views_shiftlog.log_entries(context, Principal("desk", "regional_desk", "americas"),
                                                      since=real - timedelta(hours=1), now=real + timedelta(hours=1))
        return {"runner": runner, "scenario": scenario, "start": start, "now": clock.now, **seen}
    finally:
        context.deps.clock = real_clock


def test_the_story_runs_through_the_real_commands_without_a_refusal(story_run: dict[str, Any]) -> None:
    runner = story_run["runner"]
    assert runner.failures == [] and runner.errors == 0
    assert {"AreaPhase", "ConfirmMovement", "Progress", "CheckIn", "CotReport"} <= set(runner.done)
    assert len(story_run["profiles"]) == 1500
    assert {d["uid"] for d in story_run["devices"]} == {uid for uid, _ in story_run["scenario"].devices()}


def test_phase_three_lists_who_must_move_and_the_relocation_is_tracked(story_run: dict[str, Any]) -> None:
    areas, profiles, scenario = story_run["areas"], story_run["profiles"], story_run["scenario"]
    assert areas[98]["phase"] == 2 and areas[98]["movement"] is None
    assert areas[98]["name"] == story.AREA_NAME
    opened = areas[104]
    assert opened["phase"] == 3
    listed = [p["traveller_id"] for p in opened["movement"]["people"]]
    assert len(listed) >= 5
    # The rule: dependants, visitors, consultants, non-essential international staff, inside.
    polygon = shapely.geometry.shape(story.AREA_GEOMETRY)
    for tid in listed:
        profile = profiles[tid]
        assert rules.on_list(3, profile["category"], profile["essential"]), profile
    confirmed = areas[130]["movement"]
    assert confirmed["safe_haven"]["name"].startswith("Amman") and confirmed["mode"] == "road"
    assert confirmed["counts"]["moving"] > 0  # the convoys have left
    assert {p["progress"] for p in confirmed["people"]} <= {"to_move", "moving"}
    final = rules.with_overdue(areas[420]["movement"], story_run["now"])
    by_id = {p["traveller_id"]: p for p in final["people"]}
    held = scenario.held_id()
    assert held in by_id and by_id[held]["progress"] == "moving" and by_id[held]["overdue"]
    arrived = [p for p in final["people"] if p["progress"] == "arrived"]
    assert len(arrived) >= len(listed) - 2 and final["counts"]["overdue"] >= 1
    # Arrivals checked in at the safe haven: the last known place is in Amman.
    for person in arrived:
        lat, lon, _ = story_run["positions"][person["traveller_id"]]
        assert abs(lat - 31.955) < 0.2 and abs(lon - 35.91) < 0.2
        assert not shapely.contains_xy(polygon, lon, lat)


def test_check_ins_accrue_and_the_burndown_falls(story_run: dict[str, Any]) -> None:
    accounted = story_run["accounted"]
    times = sorted(accounted)
    done = [accounted[t]["safe"] + accounted[t]["unsure"] + accounted[t]["needs_help"] for t in times]
    assert done[-1] > done[0] and done == sorted(done)
    assert accounted[times[-1]]["safe"] > accounted[times[-1]]["needs_help"]
    burndown = story_run["burndown"]
    unaccounted = [p["unaccounted"] for p in burndown["points"]]
    assert burndown["total"] > 10 and unaccounted[0] > unaccounted[-1]


def test_travellers_flying_into_beirut_are_affected_by_itinerary(story_run: dict[str, Any]) -> None:
    scenario, affected = story_run["scenario"], story_run["affected_leb4"]
    by_itinerary = {p["traveller_id"] for p in affected["people"] if p["reason"] == "itinerary"}
    inbound = {scenario.ids[i] for i in scenario.inbound}
    assert inbound and inbound <= by_itinerary
    assert not by_itinerary & {scenario.ids[i] for i in scenario.late_inbound}  # 49 h and more: not yet
    # They checked in (their flight postponed), and the check-in counted in this incident.
    statuses = {p["traveller_id"]: p["status"] for p in affected["people"]}
    assert {statuses[tid] for tid in inbound} == {"safe"}


def test_handsets_report_by_cot_and_map_to_their_travellers(story_run: dict[str, Any]) -> None:
    scenario = story_run["scenario"]
    assert scenario.handsets
    for handset in scenario.handsets:
        seen = story_run["seen"][handset.uid]
        assert seen is not None and seen["callsign"] == handset.callsign
        raw = story_run["raw_positions"][handset.uid]
        assert raw is not None
        source = json.loads(raw)[3]
        assert source in ("cot", "checkin")  # after the first report, only the handset (or a check-in) places them
    beirut = [h for h in scenario.handsets if h.no_fix is not None]
    assert beirut  # the one that loses its fix: recorded as seen without a place, never drawn at 0,0
    for handset in beirut:
        lost = story_run["seen_100"][handset.uid]
        assert lost["fix"] is False and lost["lat"] is None
    for tid in (scenario.ids[h.index] for h in scenario.handsets):
        lat, lon, _ = story_run["positions"][tid]
        assert abs(lat) > 1 and abs(lon) > 1


def test_the_demo_roster_is_stored_through_the_roster_commands(story_run: dict[str, Any]) -> None:
    plan, stored = story_run["runner"].roster, story_run["roster"]
    assert plan is not None and len(plan.officers) >= 190
    assert set(stored.officers) == {o.id for o in plan.officers}
    assert stored.officers[plan.officers[0].id] == plan.officers[0]
    # A month of rotations made by the generator: the same duties as planned (ids are the store's).
    def duty(slot: Any) -> tuple[Any, ...]:
        return slot.officer_id, slot.start, slot.end, slot.role, slot.region, slot.readiness_hours
    planned, kept = set(map(duty, plan.slots)), set(map(duty, stored.slots))
    # ... but for the alternate promoted when the dispatch took the primary: split at the dispatch.
    (promoted,) = planned - kept
    pieces = sorted(kept - planned, key=lambda d: d[1])
    assert [p[0] for p in pieces] == [promoted[0]] * 2 and [p[3] for p in pieces] == ["alternate", "primary"]
    assert (pieces[0][1], pieces[0][2], pieces[1][2]) == (promoted[1], pieces[1][1], promoted[2])
    assert pieces[0][2] == stored.dispatches[0].created_at
    assert {r.region for r in plan.rotations} == {None, *REGIONS}
    assert max(s.end for s in stored.slots) >= story_run["start"] + timedelta(days=30)
    assert {leave.id for leave in stored.leave} == {leave.id for leave in plan.leave}


def test_the_leave_opens_a_gap_the_roster_warns_of(story_run: dict[str, Any]) -> None:
    gap, start = story_run["runner"].roster.gap, story_run["start"]
    assert gap is not None and start < gap.start < start + timedelta(days=5)
    warnings = story_run["coverage"]["warnings"]
    french = [w for w in warnings if w["kind"] == "language_missing" and w["language"] == "fr"]
    assert [(w["from"], w["to"]) for w in french] == [(gap.start.isoformat(), gap.end.isoformat())]
    assert "French" in french[0]["message"]
    # Nothing else falls short over the month (the dispatch promoted an alternate).
    assert [w for w in warnings if w not in french] == []


def test_a_surge_officer_is_dispatched_and_followed_to_southern_lebanon(story_run: dict[str, Any]) -> None:
    runner, seen = story_run["runner"], story_run["dispatches"]
    assert runner.done["StartDispatch"] == 1 and runner.done["ReportPosition"] >= 10
    dispatch_id = runner.dispatch_id("surge-0")
    incident_id = runner.incident_id("sim-it-leb-1")
    assert dispatch_id is not None and incident_id is not None

    def find(t: int) -> dict[str, Any]:
        return next(d for d in seen[t] if d["id"] == dispatch_id)

    sent = find(int(sim_roster.DISPATCH_AT))
    assert sent["status"] == "requested" and sent["incident_id"] == incident_id and sent["by"] == "simulator"
    officer = story_run["roster"].officers[sent["officer_id"]]
    assert "ar" in officer.languages and sent["slot_id"] is not None  # an Arabic speaker on standby
    assert len(sent["path"]) == views_roster.PATH_POINTS
    underway = find(300)
    assert [s["status"] for s in underway["steps"]] == ["requested", "accepted", "travelling"]
    position, origin, destination = underway["position"], underway["origin"], underway["destination"]
    assert position is not None
    # Reported on the way: part of the distance from home, the rest still to go.
    from pyproj import Geod
    geod = Geod(ellps="WGS84")
    whole = geod.inv(origin["lon"], origin["lat"], destination["lon"], destination["lat"])[2]
    done = geod.inv(origin["lon"], origin["lat"], position["lon"], position["lat"])[2]
    left = geod.inv(position["lon"], position["lat"], destination["lon"], destination["lat"])[2]
    assert whole > 50_000 and 0.3 * whole < done < 0.7 * whole and abs(done + left - whole) < 1000
    arrived = find(420)
    assert arrived["status"] == "on_site"
    assert abs(arrived["position"]["lat"] - destination["lat"]) < 1e-3


def test_the_shift_log_tells_the_story_the_simulator_acted(story_run: dict[str, Any]) -> None:
    """The simulator's changes are audited as the API's and the pages' are, so the shift log
    and the handover say that the area went to phase III, the relocation was confirmed,
    people moved and checked in, and an officer was sent, by "simulator"."""
    texts = [(e["text"].split(":")[0], e.get("by")) for e in story_run["log"] if e["auto"]]
    for words in ("Security area created", "Security phase changed", "Movement confirmed", "Movement progress",
                  "Check-in", "Surge officer dispatched", "Dispatch moved on", "Rotation laid out",
                  "Surge officers imported", "Travellers imported", "Leave recorded"):
        assert (words, "simulator") in texts, (words, sorted(set(texts)))
    phase = next(e for e in story_run["log"] if e["text"].startswith("Security phase changed"))
    assert "phase 3" in phase["text"] and phase["what"], phase
    # A mass of check-ins is grouped per minute with its counts (the shift's decisions stay in
    # the log); every check-in is counted once, and one needing help is an entry of its own.
    audited = [e for e in story_run["audit"] if e["action"] == "checkin.record"]
    shown = [e for e in story_run["log"] if e["text"].startswith("Check-in")]
    assert len(shown) < len(audited) / 3, (len(shown), len(audited))
    assert sum(e.get("count", 1) for e in shown) == len(audited)
    grouped = next(e for e in shown if e.get("count", 1) > 1)
    assert grouped["text"].startswith(f"Check-in: {grouped['count']} people (") and "safe" in grouped["text"], grouped
    helped = [e for e in audited if e["after"]["status"] == "needs_help"]
    assert helped and len([e for e in shown if "needs help" in e["text"] and "count" not in e]) == len(helped)
    # A desk elsewhere sees what is for every region (the import, the rotations), not Lebanon's.
    desk = {e["text"].split(":")[0] for e in story_run["desk_log"] if e["auto"]}
    assert "Rotation laid out" in desk and "Movement confirmed" not in desk and "Surge officer dispatched" not in desk, desk


def test_a_demo_restarted_on_a_kept_database_starts_a_fresh_month(context: Any) -> None:
    """The last run's slots still to come, its leave and its open dispatch are cleared
    through the commands, so the new month neither overlaps nor doubles the gap."""
    first = datetime.now(timezone.utc).replace(microsecond=0)
    clock = _Clock(first)
    real_clock = context.deps.clock
    context.deps.clock = clock
    try:
        runs = []
        for start in (first, first + timedelta(hours=30)):
            clock.now = start
            scenario = Scenario(seed=5, travellers=60, start=start)
            runner = SimulationRunner(context.deps, context.deps.positions, scenario=scenario, clock=clock,
                                      context=context)
            runner.tick()
            for t in range(10, 260, 10):
                clock.now = start + timedelta(seconds=t)
                runner.tick()
            runs.append(runner)
        state = views_roster.state(context)
        cover = views_roster.coverage(context, clock.now, clock.now + timedelta(days=25))
    finally:
        context.deps.clock = real_clock
    for runner in runs:
        assert runner.failures == [] and runner.errors == 0 and runner.roster is not None
    # The first run's storyline incidents still open are closed with the note; the second's are its own, open.
    first_ids, second_ids = (set(r._incident_ids.values()) for r in runs)
    assert first_ids and second_ids and not first_ids & second_ids
    for incident_id in first_ids:
        closed = context.deps.incidents.get(incident_id)
        assert closed.status.value == "closed", (incident_id, closed.status)
    assert any(e.get("target") in first_ids and e.get("actor") == "simulator" and (e.get("detail") or {}).get("note") == "Demo restarted."
               for e in context.audit.query(AuditQuery(action="incident.update", limit=500)))
    assert all(context.deps.incidents.get(i).status.value != "closed" for i in second_ids)
    old, new = (state_dispatch for state_dispatch in state.dispatches)
    assert old.status == "returned" and old.steps[-1].note == "Demo restarted."
    assert new.status == "travelling" and new.officer_id != old.officer_id  # the first is resting
    assert {leave.id for leave in state.leave} == {leave.id for leave in runs[1].roster.leave}
    gap = runs[1].roster.gap
    assert gap is not None
    assert [(w["kind"], w["from"]) for w in cover["warnings"]] == [("language_missing", gap.start.isoformat())]


def test_the_running_demo_stores_its_roster_beside_the_ticks(context: Any) -> None:
    runner = SimulationRunner(context.deps, context.deps.positions, interval=0.1, scenario=_scenario(50),
                              context=context)
    runner.start()
    try:
        assert _wait(lambda: runner.roster is not None, timeout=30.0)
        assert _wait(lambda: runner.steps >= 3, timeout=10.0)
    finally:
        runner.stop()
    assert runner.failures == [] and runner.errors == 0
    stored = views_roster.state(context)
    assert runner.roster is not None and len(stored.officers) == len(runner.roster.officers)
    assert len(stored.slots) == len(runner.roster.slots) and len(stored.leave) == len(runner.roster.leave)
