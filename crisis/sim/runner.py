"""Drives a ``Scenario`` in a background thread for ``crisis demo``.

The scenario is pure; this thread gives it the time, and stores what it produces through
the same command handlers every feed uses (actor "simulator"), so the demo shows exactly
what real feeds would. A failing step (Redis restarting, a rejected message) is logged
and the loop goes on: a wall display must keep moving. ``stop`` returns within about one
interval, or as soon as the step in progress finishes.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any, Callable

from crisis.adapters.feed_log import FeedLog
from crisis.adapters.position_store import PositionStore
from crisis.handlers import Deps, report_incident, report_positions
from crisis.sim.scenario import Scenario, Step

log = logging.getLogger(__name__)
ACTOR = "simulator"


class SimulationRunner:
    def __init__(self, deps: Deps, positions_store: PositionStore, interval: float = 1.0,
                 scenario: Scenario | None = None, clock: Callable[[], datetime] | None = None,
                 feed_log: FeedLog | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._deps = deps
        self._positions = positions_store
        self.interval = interval
        self.scenario = scenario if scenario is not None else Scenario()
        self._clock = clock or deps.clock
        self._feed_log = feed_log  # the "sim" row of the feed health page
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = False
        self._last: datetime | None = None
        self._failures = 0
        self.steps = 0
        self.errors = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread: register travellers, report first positions, then step."""
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
        next_tick = time.monotonic()
        while not self._stop.is_set():
            try:
                self._tick()
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

    def _tick(self) -> None:
        now = self._clock()
        if not self._ready:
            self._positions.register_travellers(self.scenario.profiles())
            for batch in self.scenario.initial_batches(now):
                report_positions(self._deps, batch, ACTOR)
            self._ready, self._last = True, now
            log.info("simulator started with %d travellers", len(self.scenario.ids))
            return
        assert self._last is not None
        # Real elapsed time drives movement, clamped so a long stall is not one huge jump.
        dt = min(max((now - self._last).total_seconds(), 0.0), 10 * self.interval)
        self._last = now
        self._store(self.scenario.step(now, dt))
        self.steps += 1
        if self._feed_log is not None:
            self._feed_log.accepted("sim")

    def _store(self, step: Step) -> None:
        for batch in step.positions:
            report_positions(self._deps, batch, ACTOR)
        for message in step.incidents:
            if self._stop.is_set():
                return
            try:
                report_incident(self._deps, message, ACTOR)
            except Exception as exc:  # one rejected message must not drop the others
                self.errors += 1
                log.warning("simulator message %s rejected: %s", message.source_id, _brief(exc))


def _brief(exc: Any) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
