"""The short soak (about 2 minutes): load through HAProxy while a web instance, the feeds
process and the Redis primary are each killed once (SIGKILL); then nothing acknowledged is
lost, every client's picture equals the server's and no pending entry is left.

It runs benchmarks/soak.py (the 10-minute run is ``benchmarks/soak.py --minutes 10``) on the
real layout: two ``crisis serve`` and one ``crisis feeds`` behind Debian's HAProxy
(benchmarks/layout_web.py), a Redis primary, a replica and three Sentinels
(benchmarks/layout_redis.py), writes acknowledged after WAIT 1. A missing HAProxy is a
failure, not a skip (``make haproxy`` installs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import soak  # noqa: E402


@pytest.mark.timeout(600)  # about 2 minutes; restarts are slower on a loaded machine
def test_short_soak_loses_nothing_acknowledged() -> None:
    args = soak.parse_args([
        "--minutes", "1", "--instances", "2", "--clients", "4",
        "--incident-rate", "2", "--position-rate", "1", "--batch", "100", "--checkin-rate", "1",
        "--dispatch-rate", "0.5", "--quake-every", "4", "--poll-every", "1", "--travellers", "500",
        # one fault of each kind (a shuffled cycle), the first 8 s in, then 12 s (+-20 %) after each is over;
        # the load goes on until the third is over and 10 s more (at least the minute)
        "--first-fault", "8", "--fault-every", "12", "--max-faults", "3", "--seed", "8",
        # a client drops its link for 3 s about every 10 s (writes go on) and resyncs from its last ids
        "--blip-every", "10",
    ])
    report = soak.run(args)
    f = report.figures
    print(soak.table(report))
    assert report.ok, "\n".join(report.problems)
    assert f["lost"] == 0
    assert f["faults"] == {"web instance": 1, "feeds process": 1, "redis primary": 1}, f["fault_log"]
    assert f["pictures_differing"] == 0 and f["pending_left"] == 0 and f["quakes_missing"] == 0
    # the load went on: writes of every kind were acknowledged, before and after the faults
    assert all(acked > 0 for acked, _ in f["per_kind"].values()), f["per_kind"]
    assert f["acknowledged"] >= 100, f
    # clients came back and resynced from their last ids (after the instance kill, and after their link drops)
    assert f["clients_resynced"] >= 1 and f["blips"] >= 3, f
