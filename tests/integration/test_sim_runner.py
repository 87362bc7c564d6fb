"""The simulator thread against a real (embedded) Redis, through the real handlers.

Uses the ``context`` fixture of tests/conftest.py: a crisis.bootstrap.Context on a fresh
embedded Redis.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from crisis.sim.runner import SimulationRunner
from crisis.sim.scenario import Scenario, Step


def _scenario(travellers: int = 500) -> Scenario:
    # The story starts a minute ago, so the first steps already carry incident messages.
    return Scenario(seed=1, travellers=travellers, start=datetime.now(timezone.utc) - timedelta(seconds=60))


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_runner_stores_travellers_positions_and_incidents(context: Any) -> None:
    runner = SimulationRunner(context.deps, context.deps.positions, interval=0.2, scenario=_scenario(),
                              feed_log=context.feed_log)
    runner.start()
    try:
        time.sleep(3.0)
    finally:
        began = time.monotonic()
        runner.stop()
        assert time.monotonic() - began < 3.0
    assert not runner.running
    assert runner.steps >= 5
    assert context.deps.positions.count() == 500
    assert context.deps.positions.traveller_count() == 500
    sim = [i for i in context.deps.incidents.all() if i.source == "sim"]
    assert sim
    assert any(i.source_id and i.source_id.endswith("leb-1") for i in sim)
    # Every step counts as one message of the "sim" feed on the feed health page.
    assert int(context.feed_log.stats("sim")["accepted_total"]) == runner.steps


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
    runner = SimulationRunner(context.deps, context.deps.positions, interval=0.1, scenario=scenario)
    runner.start()
    try:
        assert _wait(lambda: runner.steps >= 3, timeout=5.0)
    finally:
        runner.stop()
    assert runner.errors >= 1 and scenario.failed
