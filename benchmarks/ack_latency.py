"""Acknowledgement latency of writes: embedded server vs primary + replica (+ 3 Sentinels),
without and with WAIT (CRISIS_WAIT_REPLICAS=1).

For each configuration a ``crisis serve`` is started on a fresh data directory (benchmarks/common.py Server):

* ``embedded``: the product's default, one embedded redis-server, appendfsync always;
* ``sentinel, WAIT 0``: REDIS_SENTINELS pointing at benchmarks/layout_redis.py (a primary
  and one replica on this machine, both appendfsync always, three Sentinels);
* ``sentinel, WAIT 1``: the same, CRISIS_WAIT_REPLICAS=1: a write is answered only once
  the replica has it.

The three servers run at once and are measured in round robin (one request to each in turn,
so that each meets the same background load). One client per server (a requests.Session,
keep-alive), one request at a time: ``--incidents``
incidents (POST /api/v1/incidents) and ``--batches`` position batches of ``--batch-size``
positions (POST /api/v1/positions); the latency is request sent -> answer read (2xx
required). ``--warmup`` requests of each kind are not counted.

    .venv/bin/python benchmarks/ack_latency.py [--markdown PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from datetime import datetime, timezone
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Server, land_point, log, machine_info, seed_travellers, summary_ms  # noqa: E402
from layout_redis import _default_binary, start_redis_ha  # noqa: E402


def _timed(session: requests.Session, url: str, body: Any) -> float:
    started = time.perf_counter()
    answer = session.post(url, json=body, timeout=60)
    elapsed = time.perf_counter() - started
    if answer.status_code // 100 != 2:
        raise RuntimeError(f"POST {url}: {answer.status_code} {answer.text[:300]}")
    return elapsed


class Target:
    """One configuration's server and its client session."""

    def __init__(self, label: str, server: Server) -> None:
        self.label = label
        self.server = server
        self.session = requests.Session()
        # A name of its own: the two Sentinel servers share one Redis, and so the accounts.
        token = server.token(f"bench-feed-{server.port}", "feed")
        self.session.headers["Authorization"] = "Bearer " + token
        # The travellers _batch reports on (a position of one never imported is refused).
        seed_travellers(server.url, token, [f"T{i:06d}" for i in range(TRAVELLERS)])
        self.incident_s: list[float] = []
        self.position_s: list[float] = []

    def post(self, path: str, body: Any) -> float:
        return _timed(self.session, f"{self.server.url}/api/v1/{path}", body)


def _incident(rng: random.Random, i: int) -> dict[str, Any]:
    lat, lon = land_point(rng)
    return {"title": f"Benchmark incident {i}", "type": "flood", "severity": 1 + i % 5, "lat": lat, "lon": lon}


TRAVELLERS = 20_000  # the ids positions are reported for, imported first


def _batch(rng: random.Random, i: int, size: int) -> list[dict[str, Any]]:
    rows = []
    for j in range(size):
        lat, lon = land_point(rng)
        rows.append({"traveller_id": f"T{(i * size + j) % TRAVELLERS:06d}", "lat": lat, "lon": lon})
    return rows


def measure(targets: list[Target], args: argparse.Namespace, rng: random.Random) -> None:
    """Round robin over the configurations, one request at a time: each one meets the same
    background load (other jobs on the machine) as the others."""
    for i in range(args.warmup):
        for target in targets:
            target.post("incidents", _incident(rng, -i))
            target.post("positions", _batch(rng, i, args.batch_size))
    for i in range(args.incidents):
        body = _incident(rng, i)
        for target in targets:
            target.incident_s.append(target.post("incidents", body))
    batches = [_batch(rng, i, args.batch_size) for i in range(args.batches)]  # built before timing
    for rows in batches:
        for target in targets:
            target.position_s.append(target.post("positions", rows))


def redis_level(sentinels: list[str], service: str, n: int) -> dict[int, dict[str, float]]:
    """The event log's write alone (EventLog.append: MULTI, XADD of an incident-sized event,
    HSET projection, EXEC; then WAIT 1 for the waiting client), through the product's
    client, WAIT 0 and WAIT 1 alternating."""
    from crisis.adapters.eventlog import EventLog
    from crisis.adapters.redis_ha import WaitPolicy, connect, parse_sentinels
    from crisis.domain.events import Event

    clients = {r: connect("", parse_sentinels(sentinels), service, WaitPolicy(r, 1000)) for r in (0, 1)}
    logs = {r: EventLog(c) for r, c in clients.items()}
    payload = {"incident": {"id": "inc-bench", "title": "x" * 60, "description": "y" * 300, "severity": 3}}
    timings: dict[int, list[float]] = {0: [], 1: []}
    for i in range(n + 20):
        for replicas, log_ in logs.items():
            event = Event(type="incident.reported", time=datetime.now(timezone.utc), actor="bench", payload=payload)
            started = time.perf_counter()
            log_.append("bench:ack", event, lambda pipe, i=i: pipe.hset("bench:ack:projection", f"inc-{i}", "z" * 400))
            if i >= 20:
                timings[replicas].append(time.perf_counter() - started)
    clients[0].delete("bench:ack", "bench:ack:projection")
    for client in clients.values():
        client.close()
    return {r: summary_ms(t) for r, t in timings.items()}


def run(args: argparse.Namespace) -> list[tuple[str, str, dict[str, float]]]:
    rng = random.Random(7)
    rows: list[tuple[str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="crisis-ack-ha-") as tmp:
        ha = start_redis_ha(tmp, binary=args.binary)
        servers: list[Server] = []
        try:
            for replicas, stats in redis_level(ha.sentinels, ha.service, args.redis_writes).items():
                rows.append((f"primary + replica, WAIT {replicas}: Redis only", "transaction", stats))
                log(f"Redis-level transaction, WAIT {replicas}: p50 {stats['p50']:.2f} ms, p99 {stats['p99']:.2f} ms")
            configurations = [
                ("embedded (1 server, fsync always)", {}),
                ("primary + replica + 3 Sentinels, WAIT 0", ha.env()),
                ("primary + replica + 3 Sentinels, WAIT 1", {**ha.env(), "CRISIS_WAIT_REPLICAS": "1",
                                                             "CRISIS_WAIT_TIMEOUT_MS": "1000"}),
            ]
            targets = []
            for label, extra_env in configurations:
                log(f"{label}: starting crisis serve")
                servers.append(Server(extra_env=extra_env).start())
                targets.append(Target(label, servers[-1]))
            measure(targets, args, rng)
            for target in targets:
                for kind, values in (("incident", target.incident_s), ("positions", target.position_s)):
                    stats = summary_ms(values)
                    rows.append((target.label, kind, stats))
                    log(f"{target.label} {kind}: p50 {stats['p50']:.1f} ms, p99 {stats['p99']:.1f} ms (n={stats['n']})")
        finally:
            for server in servers:
                server.stop()
            ha.stop()
    return rows


def markdown(rows: list[tuple[str, str, dict[str, float]]], args: argparse.Namespace, load: tuple[float, ...]) -> str:
    info = machine_info()
    binary = args.binary or _default_binary()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    lines = [
        "## Write acknowledgement latency: embedded vs primary + replica, without and with WAIT (H2)",
        "",
        f"Command: `.venv/bin/python benchmarks/ack_latency.py --incidents {args.incidents} --batches {args.batches} "
        f"--batch-size {args.batch_size} --redis-writes {args.redis_writes}`",
        f"Machine: {info['nproc']} cores ({info['cpu']}), Python {info['python']}; load average at the start "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other jobs were running: absolute figures are noisy, "
        "the configurations were measured in round robin, one request each in turn, so each met the same load). Every server: appendonly yes, "
        "appendfsync always; the replica on the same machine (loopback). "
        f"Server: {Path(binary).name} ({version.split(' sha=')[0]}), for the data nodes and the Sentinels "
        "(the embedded row runs the product's default binary).",
        "",
        "| configuration | request | n | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, kind, s in rows:
        what = {"incident": "POST incident", "transaction": "EventLog.append (MULTI/XADD/HSET/EXEC)"}.get(
            kind, f"POST {args.batch_size} positions")
        lines.append(f"| {label} | {what} | {s['n']} | {s['p50']:.1f} | {s['p90']:.1f} | {s['p99']:.1f} | {s['max']:.1f} |")
    lines += [
        "",
        "What it means: one client, one request at a time, time from sending the POST to reading its 2xx answer. "
        "The Redis-only rows time the event log's transaction alone (no HTTP, no handler), so the cost of WAIT "
        "is seen without the noise of the web request. WAIT 1 adds the replica's round trip to every write, "
        "including, here, the replica's own fsync (appendfsync always: it acknowledges after fsyncing; WAIT itself "
        "only promises that the replica applied the write); with the replica on another machine add the network "
        "round trip. "
        "Without WAIT an acknowledged write can be lost if the primary dies before replicating it; with WAIT 1 "
        "it cannot (one node lost), and a write the replica does not confirm within CRISIS_WAIT_TIMEOUT_MS is "
        "answered 503 instead (docs/adr/007-redis-failover-and-wait.md). A POST makes three writes, each followed "
        "by its WAIT: the event's transaction, the audit entry and the feed counters; so WAIT 1 costs about three "
        "replica round trips per request. One WAIT after a request's last write would cover them all (replication "
        "is one ordered stream): a possible optimisation, not done.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--redis-writes", type=int, default=1000, help="Redis-level transactions per WAIT setting")
    parser.add_argument("--binary", default=None, help="redis-server binary (default: the product's embedded one)")
    parser.add_argument("--markdown", type=Path, default=None, help="write the section to this file")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = run(args)
    text = markdown(rows, args, load)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
