"""Drives a ``Scenario`` in a background thread for ``crisis demo``.

The scenario is pure; this thread gives it the time, and stores what it produces through
the same command handlers every feed and every duty officer uses (actor "simulator"), so
the demo shows exactly what real feeds and people would:

* at the start (the roster in a thread of its own once the first tick is done; a test
  ticking by hand stores it in the first tick): the travellers through the travel-tracking export's own schema
  (``crisis.feeds.travellers.parse_json``) and ``handlers.import_travellers``; the
  handsets through ``handlers_cot.add_device``; everyone's first position; the standby
  roster (``crisis.sim.roster``: officers, a month of rotations, leave with its gap)
  through ``handlers_roster.import_officers``, ``generate_rotation`` and ``add_leave``
  (on a kept database the demo's slots still to come, its leave and its open dispatches
  are cleared first, so a restart does not overlap the last run);
* every step: positions (``handlers.report_positions``), incident messages
  (``handlers.report_incident``), and the people actions (``crisis.sim.people``): the
  area and its phase (``handlers_areas.create_area``/``update_area``, whose movement list
  goes back to the scenario), the relocation's confirmation and each person's progress
  (``confirm_movement``, ``set_progress``), check-ins and status marks
  (``handlers_people.checkin``/``set_status``), and CoT documents from the handsets
  (``handlers_cot.ingest_cot``, the intake POST /api/v1/feeds/cot uses);
* the surge dispatch (``Step.roster``): the best-ranked available officer for the main
  incident (``views_roster.candidates``) through ``handlers_roster.create_dispatch``, then
  ``step_dispatch`` and ``report_dispatch_position`` along the way from their home.

A failing step (Redis restarting, a rejected message) is logged and the loop goes on: a
wall display must keep moving. Each failed action is counted in ``errors`` and kept (the
last 50) in ``failures``, so tests fail loudly on it. ``stop`` returns within about one
interval, or as soon as the step in progress finishes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any, Callable

from crisis import handlers_areas, handlers_cot, handlers_people, handlers_roster, views_roster
from crisis.adapters.device_store import DeviceStore
from crisis.adapters.feed_log import FeedLog
from crisis.adapters.position_store import PositionStore
from crisis.domain import accountability
from crisis.feeds import travellers as traveller_feed
from crisis.feeds.cot import DeviceIn
from crisis.domain.incidents import is_open
from crisis.domain.model import IncidentStatus
from crisis.feeds.schemas import IncidentPatch
from crisis.handlers import Deps, import_travellers, report_incident, report_positions, update_incident
from crisis.sim import people as pp
from crisis.sim import roster as sim_roster
from crisis.sim.scenario import Scenario, Step
from crisis.views_areas import areas as area_store

log = logging.getLogger(__name__)
ACTOR = "simulator"
RESTARTED = "Demo restarted."  # the note on what an earlier run left open and this one winds up
ORIGIN = {"source": "demo simulator"}
ROSTER_TRIES = 3  # the roster is stored at the start, tried again on the next ticks if refused


class SimulationRunner:
    def __init__(self, deps: Deps, positions_store: PositionStore, interval: float = 1.0,
                 scenario: Scenario | None = None, clock: Callable[[], datetime] | None = None,
                 feed_log: FeedLog | None = None, context: Any = None) -> None:
        """``context`` (a ``crisis.bootstrap.Context``) is needed for the people side: the
        area, check-in and handset commands take it."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        if context is None:
            raise ValueError("SimulationRunner needs the Context (context=...) for the people side of the demo")
        self._deps = deps
        self._positions = positions_store
        self._context = context
        self.interval = interval
        self.scenario = scenario if scenario is not None else Scenario()
        self._clock = clock or deps.clock
        self._feed_log = feed_log  # the "sim" row of the feed health page
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = False
        self._last: datetime | None = None
        self._failures = 0
        self._area_ids: dict[str, str] = {}  # scenario area key -> area id
        self._incident_ids: dict[str, str] = {}  # storyline source_id -> incident id
        self._dispatch_ids: dict[str, str | None] = {}  # story dispatch key -> dispatch id (None: not sent)
        self._roster_tries = 0
        self._roster_thread: threading.Thread | None = None
        self.roster: sim_roster.DemoRoster | None = None  # the roster stored at the start
        self.steps = 0
        self.errors = 0
        self.failures: list[str] = []  # the latest failed actions, for the log and tests
        self.done: Counter[str] = Counter()  # people actions stored, by kind

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def area_id(self, key: str = pp.AREA_KEY) -> str | None:
        return self._area_ids.get(key)

    def incident_id(self, source_id: str) -> str | None:
        return self._incident_ids.get(source_id)

    def dispatch_id(self, key: str) -> str | None:
        return self._dispatch_ids.get(key)

    def start(self) -> None:
        """Start the thread: import travellers, register handsets, report first positions, then step."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="crisis-simulator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("simulator thread still busy after %.0f s; left to finish as a daemon", timeout)

    def _run(self) -> None:
        # The roster is stored beside the ticks once the first is done, so the travellers
        # and the map come as fast as before.
        self._roster_thread = threading.Thread(target=self._roster_when_ready, name="crisis-simulator-roster",
                                               daemon=True)
        self._roster_thread.start()
        next_tick = time.monotonic()
        while not self._stop.is_set():
            try:
                self.tick()
                if self._failures:
                    log.info("simulator recovered after %d failed ticks", self._failures)
                self._failures = 0
            except Exception:  # keep the demo alive whatever one tick hits
                self.errors += 1
                self._failures += 1
                if self._failures == 1:
                    log.exception("simulator tick failed; retrying every %.1f s", self.interval)
                elif self._failures % 60 == 0:
                    log.warning("simulator still failing (%d ticks in a row)", self._failures)
            next_tick += self.interval
            delay = next_tick - time.monotonic()
            if delay < 0:  # fell behind (a slow step, a suspended laptop): don't try to catch up
                next_tick, delay = time.monotonic(), 0.0
            self._stop.wait(delay)

    def tick(self) -> None:
        """One step at the clock's time (the thread calls it every interval; tests may too)."""
        now = self._clock()
        if not self._ready:
            self._close_last_run()
            self._import(now)
            for batch in self.scenario.initial_batches(now):
                report_positions(self._deps, batch, ACTOR)
            self._ready, self._last = True, now
            self._roster_due(now)
            log.info("simulator started with %d travellers and %d handsets", len(self.scenario.ids),
                     len(self.scenario.handsets))
            return
        assert self._last is not None
        # Real elapsed time drives movement, clamped so a long stall is not one huge jump.
        dt = min(max((now - self._last).total_seconds(), 0.0), 10 * self.interval)
        self._last = now
        self._roster_due(now)
        self._store(self.scenario.step(now, dt))
        self.steps += 1
        if self._feed_log is not None:
            self._feed_log.accepted("sim")

    def _close_last_run(self) -> None:
        """On a kept database: the storyline incidents of an earlier run still open are closed,
        with a note (its story does not go on: this run tells its own under new source ids),
        so a restarted demo does not show each incident twice. None of this run exists yet."""
        for incident in self._deps.incidents.all():
            if incident.source == "sim" and is_open(incident):
                try:
                    stored = update_incident(self._deps, incident.id, IncidentPatch(status=IncidentStatus.CLOSED, note=RESTARTED),
                                             ACTOR)
                except Exception as exc:  # one that cannot be closed must not stop the demo
                    self._failed(f"simulator could not close {incident.id}", exc)
                    continue
                self._audit("incident.update", incident.id, before={"status": incident.status.value},
                            after={"status": "closed"}, detail={"note": RESTARTED, "stream_id": stored.event_id})

    def _import(self, now: datetime) -> None:
        """The scenario's travellers, through the export's schema and the import command;
        then its handsets. The demo's own data must all pass: anything refused raises."""
        parsed = traveller_feed.parse_json(json.dumps(self.scenario.profiles(now)))
        if parsed.rejected:
            raise RuntimeError(f"the demo's travellers were refused: {traveller_feed.public(parsed.rejected)[:5]}")
        result = import_travellers(self._deps, parsed.travellers, ACTOR)
        if result["rejected"]:
            raise RuntimeError(f"the demo's travellers were refused: {traveller_feed.public(result['rejected'])[:5]}")
        self._audit("travellers.import", "travellers", after={"accepted": result["accepted"], "updated": result["updated"]},
                    detail={"rejected": 0, "format": "json"})
        devices = DeviceStore(self._context.redis)
        for uid, traveller_id in self.scenario.devices():
            handlers_cot.add_device(self._deps, devices, DeviceIn(uid=uid, traveller_id=traveller_id), ACTOR)

    def _store(self, step: Step) -> None:
        for batch in step.positions:
            report_positions(self._deps, batch, ACTOR)
        for message in step.incidents:
            if self._stop.is_set():
                return
            try:
                stored = report_incident(self._deps, message, ACTOR)
                if message.source_id:
                    self._incident_ids[message.source_id] = stored.incident.id
            except Exception as exc:  # one rejected message must not drop the others
                self._failed(f"simulator message {message.source_id} rejected", exc)
        for action in step.people:
            if self._stop.is_set():
                return
            try:
                self._act(action)
                self.done[type(action).__name__] += 1
            except Exception as exc:  # one refused action must not drop the others
                self._failed(f"simulator {type(action).__name__} refused", exc)
        for roster_action in step.roster:
            if self._stop.is_set():
                return
            if self._dispatch_ids.get(roster_action.key, "") is None:
                continue  # its dispatch could not be sent: that failure is counted once
            try:
                self._dispatch(roster_action)
                self.done[type(roster_action).__name__] += 1
            except Exception as exc:
                if isinstance(roster_action, sim_roster.StartDispatch):
                    self._dispatch_ids[roster_action.key] = None
                self._failed(f"simulator {type(roster_action).__name__} refused", exc)

    def _audit(self, action: str, target: str, **values: Any) -> None:
        """The audit entry the API or a page records for the same change (so the shift log and
        the handover tell the demo's story as they would a real shift's), by "simulator"."""
        self._context.audit.record(action, actor=ACTOR, role=ACTOR, via=ACTOR, target=target, **values)

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        self.failures = [*self.failures[-49:], f"{what}: {_brief(exc)}"]
        log.warning("%s: %s", what, _brief(exc))

    # ---- the people actions, each through its real command ------------------------------
    def _act(self, action: pp.PeopleAction) -> None:
        ctx = self._context
        if isinstance(action, pp.AreaPhase):
            self._area_phase(action)
        elif isinstance(action, pp.ConfirmMovement):
            area_id = self._area(action.key)
            changed = handlers_areas.confirm_movement(ctx, area_id, action.safe_haven, action.mode,
                                                      action.expected_arrival, ACTOR)
            movement = changed.area["movement"]
            self._audit("movement.confirm", area_id, after={k: movement[k] for k in ("safe_haven", "mode", "expected_arrival")},
                        detail={"movement": movement["id"], "stream_id": changed.event_id})
        elif isinstance(action, pp.Progress):
            area_id = self._area(action.key)
            changed = handlers_areas.set_progress(ctx, area_id, action.traveller_id, action.progress, None, ACTOR)
            self._audit("movement.progress", area_id, after={"traveller_id": action.traveller_id, "progress": action.progress},
                        detail={"movement": changed.area["movement"]["id"], "stream_id": changed.event_id})
        elif isinstance(action, pp.CheckIn):
            recorded = handlers_people.checkin(ctx, action.traveller_id, action.status, None, action.lat, action.lon,
                                               action.note, ACTOR)
            self._audit("checkin.record", action.traveller_id, after={"status": action.status},
                        detail={"via": "checkin", "place": action.lat is not None, "event_id": recorded.event_id})
        elif isinstance(action, pp.MarkStatus):
            incident_id = self._incident_ids.get(action.incident_source_id)
            if incident_id is None:
                raise LookupError(f"no incident stored for {action.incident_source_id}")
            scope = accountability.incident_scope(incident_id)
            recorded = handlers_people.set_status(ctx, scope, action.traveller_id, action.status, action.note, ACTOR)
            self._audit("accountability.status_set", f"{scope}/{action.traveller_id}", after={"status": action.status},
                        detail={"note": action.note, "event_id": recorded.event_id})
        elif isinstance(action, pp.CotReport):
            result = handlers_cot.ingest_cot(ctx, action.body.encode(), ACTOR, ORIGIN)
            if result.rejected:
                raise ValueError(f"CoT refused: {result.rejected[:3]}")
        else:  # pragma: no cover - every action kind is handled above
            raise TypeError(f"unknown action {action!r}")

    def _area(self, key: str) -> str:
        area_id = self._area_ids.get(key)
        if area_id is None:
            raise LookupError(f"the area {key!r} has not been opened yet")
        return area_id

    def _area_phase(self, action: pp.AreaPhase) -> None:
        area_id = self._area_ids.get(action.key)
        if area_id is None:  # a demo restarted on a kept database goes on with its area
            area_id = next((a["id"] for a in area_store(self._context).all() if a.get("name") == action.name), None)
        if area_id is None:
            changed = handlers_areas.create_area(self._context, action.name, action.phase, action.geometry, None, ACTOR)
            opened = changed.area.get("movement")
            self._audit("area.create", changed.area["id"], after={"name": action.name, "phase": action.phase},
                        detail={"movement": opened["id"] if opened else None, "listed": len(opened["people"]) if opened else 0})
        else:
            before = next((a.get("phase") for a in area_store(self._context).all() if a.get("id") == area_id), None)
            changed = handlers_areas.update_area(self._context, area_id, ACTOR, phase=action.phase, note=action.note)
            self._audit("area.phase", area_id, before={"phase": before}, after={"phase": action.phase},
                        detail={"note": action.note, "stream_id": changed.event_id})
        self._area_ids[action.key] = changed.area["id"]
        movement = changed.area.get("movement")
        if movement is not None and action.phase >= 3:
            self.scenario.movement_listed([str(p["traveller_id"]) for p in movement["people"]])

    # ---- the standby roster and the surge dispatch ------------------------------------------
    def _roster_due(self, now: datetime) -> None:
        """Store the roster now unless it is stored, being stored (the thread started by
        ``start``), or refused ``ROSTER_TRIES`` times."""
        busy = self._roster_thread is not None and self._roster_thread.is_alive()
        if self.roster is None and not busy and self._roster_tries < ROSTER_TRIES:
            self._store_roster(now)

    def _roster_when_ready(self) -> None:
        while not self._ready and not self._stop.is_set():
            self._stop.wait(0.05)
        if not self._stop.is_set():
            self._store_roster(self._clock())

    def _store_roster(self, now: datetime) -> None:
        """The scenario's roster through the roster commands; a failure is counted and
        tried again on a later tick (``ROSTER_TRIES`` times in all)."""
        self._roster_tries += 1
        try:
            ctx = self._context
            plan = self.scenario.roster(now, views_roster.rules(ctx))
            imported = handlers_roster.import_officers(ctx, list(plan.officers), ACTOR)
            self._audit("roster.officers_import", "roster", after={"accepted": len(imported.accepted), "updated": len(imported.updated)},
                        detail={"rejected": 0, "format": "json"})
            self._clear_last_run(plan)
            for rotation in plan.rotations:
                params = rotation.params()
                slots = handlers_roster.generate_rotation(ctx, params, ACTOR)
                self._audit("roster.rotation", "roster", after={"slots": len(slots)}, detail=params)
            for leave in plan.leave:
                stored = handlers_roster.add_leave(ctx, leave, ACTOR)
                self._audit("roster.leave_add", stored.officer_id, after=stored.to_dict())
            self.roster = plan
            log.info("simulator roster: %d officers, %d rotations, %d leave periods", len(plan.officers),
                     len(plan.rotations), len(plan.leave))
        except Exception as exc:
            self._failed("simulator roster refused", exc)

    def _clear_last_run(self, plan: sim_roster.DemoRoster) -> None:
        """On a kept database: the demo officers' slots still to come, the demo's leave and
        the simulator's open dispatches go, so the new month does not overlap the last."""
        ctx = self._context
        current = views_roster.state(ctx)
        ours = {o.id for o in plan.officers}
        since = min(r.start for r in plan.rotations)
        for slot in current.slots:
            if slot.officer_id in ours and slot.end > since:
                handlers_roster.remove_slot(ctx, slot.id, ACTOR)
        for leave in current.leave:
            if leave.id.startswith(sim_roster.LEAVE_PREFIX) and leave.end > since:
                handlers_roster.remove_leave(ctx, leave.id, ACTOR)
        for dispatch in current.dispatches:
            if dispatch.active and dispatch.by == ACTOR:
                for status in sim_roster.WIND_UP[dispatch.status]:
                    handlers_roster.step_dispatch(ctx, dispatch.id, status, ACTOR, RESTARTED)

    def _dispatch(self, action: sim_roster.RosterAction) -> None:
        ctx = self._context
        if isinstance(action, sim_roster.StartDispatch):
            incident_id = self._incident_ids.get(action.incident_source_id)
            if incident_id is None:
                raise LookupError(f"no incident stored for {action.incident_source_id}")
            ranked = views_roster.candidates(ctx, incident_id, action.skills, action.languages)["candidates"]
            best = next((c for c in ranked if c["availability"] is None), None)
            if best is None:
                raise LookupError(f"nobody available to send to {action.incident_source_id}")
            sent = handlers_roster.create_dispatch(ctx, incident_id, best["officer_id"], action.note, ACTOR)
            self._dispatch_ids[action.key] = sent.id
            self._audit("dispatch.create", sent.id, after={"incident_id": sent.incident_id, "officer_id": sent.officer_id, "status": sent.status},
                        detail={"note": action.note, "slot_id": sent.slot_id, "promoted_slot_id": sent.promoted_slot_id})
            return
        dispatch_id = self._dispatch_ids.get(action.key)
        if dispatch_id is None:
            raise LookupError(f"no dispatch sent for {action.key}")
        if isinstance(action, sim_roster.StepDispatch):
            before = views_roster.store(ctx).dispatch(dispatch_id)
            after = handlers_roster.step_dispatch(ctx, dispatch_id, action.status, ACTOR, action.note)
            self._audit("dispatch.step", dispatch_id, before={"status": before.status if before else None},
                        after={"status": after.status}, detail={"note": action.note})
            return
        dispatch = views_roster.store(ctx).dispatch(dispatch_id)
        if dispatch is None or dispatch.origin is None or not dispatch.destination:
            raise LookupError(f"dispatch {dispatch_id} has no way to report along")
        lat, lon = sim_roster.along((dispatch.origin.lat, dispatch.origin.lon),
                                    (float(dispatch.destination["lat"]), float(dispatch.destination["lon"])),
                                    action.fraction)
        handlers_roster.report_dispatch_position(ctx, dispatch_id, lat, lon, ACTOR)


def _brief(exc: Any) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
