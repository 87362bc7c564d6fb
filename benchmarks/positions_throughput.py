"""Sustained position ingest: batched POST /api/v1/positions from several threads.

A fresh server is started. ``--threads`` threads, each with its own requests.Session
and a feed token, POST batches of ``--batch`` positions (random traveller ids out of
``--travellers``, points in mostly-land boxes on several continents) back to back for
``--seconds``. Request bodies are generated and JSON-encoded before the clock starts
(a pool that the threads cycle through), so the client spends its time sending, not
building JSON. Reported: positions accepted per second, batches per second, POST
latency; at the end GET /api/v1/positions (duty_officer token) must count exactly the
distinct travellers that were sent.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402

from common import Server, children_pids, format_stats, land_point, log, process_cpu_seconds, seed_travellers, summary_ms  # noqa: E402

TARGET_POSITIONS_PER_S = 20_000
POOL_BODIES = 96


def _make_pool(rng: random.Random, bodies: int, batch: int, travellers: int, timed: bool = False) -> list[tuple[bytes, list[str]]]:
    """Request bodies; with ``timed`` each report says when it was made (a minute apart per body,
    in the last two hours), so the server compares it with the one held (the pool is posted
    again and again: some reports come older than the one held, and are kept as history)."""
    pool = []
    base = datetime.now(timezone.utc) - timedelta(hours=2)
    for n in range(bodies):
        ids = [f"trv-{rng.randrange(travellers):06d}" for _ in range(batch)]
        positions = []
        for tid in ids:
            lat, lon = land_point(rng)
            report: dict[str, Any] = {"traveller_id": tid, "lat": lat, "lon": lon}
            if timed:
                report["time"] = (base + timedelta(minutes=n)).isoformat()
            positions.append(report)
        pool.append((json.dumps({"positions": positions}).encode(), ids))
    return pool


class Poster(threading.Thread):
    def __init__(self, index: int, url: str, token: str, pool: list[tuple[bytes, list[str]]], batch: int,
                 start_at: float, stop_at: float) -> None:
        super().__init__(name=f"poster-{index}", daemon=True)
        self.index = index
        self.url = url + "/api/v1/positions"
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        self.pool = pool
        self.batch = batch
        self.start_at = start_at
        self.stop_at = stop_at
        self.latencies: list[float] = []
        self.accepted = 0
        self.sent_bodies: set[int] = set()
        self.errors: list[str] = []

    def run(self) -> None:
        k = self.index * 7  # threads start at different places in the pool
        while time.perf_counter() < self.start_at:
            time.sleep(0.001)
        while time.perf_counter() < self.stop_at:
            body_index = k % len(self.pool)
            k += 1
            body, _ = self.pool[body_index]
            sent = time.perf_counter()
            try:
                answer = self.session.post(self.url, data=body, timeout=60)
            except requests.RequestException as exc:
                self.errors.append(repr(exc))
                if len(self.errors) > 20:
                    return
                continue
            done = time.perf_counter()
            if answer.status_code != 202:
                self.errors.append(f"{answer.status_code}: {answer.text[:300]}")
                if len(self.errors) > 20:
                    return
                continue
            accepted = int(answer.json()["accepted"])
            if accepted != self.batch:
                self.errors.append(f"accepted {accepted} of {self.batch}")
            self.sent_bodies.add(body_index)
            if done <= self.stop_at:  # only requests that finished inside the window count
                self.accepted += accepted
                self.latencies.append(done - sent)


def run(seconds: float = 20.0, threads: int = 4, batch: int = 2000, travellers: int = 50_000, seed: int = 2,
        warmup: float = 2.0, instrumented: bool = False, timed: bool = False) -> dict[str, Any]:
    rng = random.Random(seed)
    pool = _make_pool(rng, POOL_BODIES, batch, travellers, timed)
    server_stats = None
    with Server(instrumented=instrumented) as server:
        feed_token = server.token("bench-positions", "feed")
        read_token = server.token("bench-reader", "duty_officer")
        # A position of a traveller never imported is refused: import them all first (not timed).
        seed_travellers(server.url, feed_token, [f"trv-{i:06d}" for i in range(travellers)])
        log(f"[positions] server {server.url} (pid {server.pid}); {threads} threads x {batch}/batch, "
            f"{warmup:.0f} s warm-up + {seconds:.0f} s")
        redis_pids = children_pids(server.pid or 0)
        # Warm-up (not counted): every thread posts for ``warmup`` seconds.
        now = time.perf_counter()
        warm = [Poster(i, server.url, feed_token, pool, batch, now, now + warmup) for i in range(threads)]
        for t in warm:
            t.start()
        for t in warm:
            t.join(warmup + 120)
        if instrumented:
            server.stats(feed_token, reset=True)
        server_cpu0 = process_cpu_seconds(server.pid or 0)
        redis_cpu0 = sum(process_cpu_seconds(p) for p in redis_pids)
        bench_cpu0 = time.process_time()
        start_at = time.perf_counter() + 0.05
        stop_at = start_at + seconds
        posters = [Poster(i, server.url, feed_token, pool, batch, start_at, stop_at) for i in range(threads)]
        for t in posters:
            t.start()
        for t in posters:
            t.join(seconds + 120)
        elapsed = time.perf_counter() - start_at
        server_cpu = process_cpu_seconds(server.pid or 0) - server_cpu0
        redis_cpu = sum(process_cpu_seconds(p) for p in redis_pids) - redis_cpu0
        bench_cpu = time.process_time() - bench_cpu0
        still_running = [t.name for t in posters if t.is_alive()]
        if instrumented:
            server_stats = server.stats(feed_token)

        sent_ids: set[str] = set()
        for t in warm + posters:
            for i in t.sent_bodies:
                sent_ids.update(pool[i][1])
        answer = requests.get(f"{server.url}/api/v1/positions", headers={"Authorization": f"Bearer {read_token}"},
                              timeout=120)
        answer.raise_for_status()
        projected = answer.json()
        projected_ids = {p["traveller_id"] for p in projected["positions"]}

    latencies = [x for t in posters for x in t.latencies]
    accepted = sum(t.accepted for t in posters)
    errors = [e for t in warm + posters for e in t.errors]
    window = min(seconds, elapsed)
    result = {
        "seconds": seconds,
        "threads": threads,
        "batch": batch,
        "travellers": travellers,
        "batches": len(latencies),
        "accepted": accepted,
        "positions_per_s": accepted / window,
        "batches_per_s": len(latencies) / window,
        "post_ms": summary_ms(latencies),
        "errors": errors[:10],
        "error_count": len(errors),
        "still_running": still_running,
        "expected_travellers": len(sent_ids),
        "projected_count": int(projected["count"]),
        "projection_ok": int(projected["count"]) == len(sent_ids) and projected_ids == sent_ids,
        "server_cpu_s": server_cpu,
        "redis_cpu_s": redis_cpu,
        "bench_cpu_s": bench_cpu,
        "target_positions_per_s": TARGET_POSITIONS_PER_S,
        "instrumented": instrumented,
        "server_stats": server_stats,
        "window_s": window,
        "_raw_post_s": latencies,  # for pooling repeated runs (run_all.py); not printed
    }
    result["target_met"] = bool(result["positions_per_s"] >= TARGET_POSITIONS_PER_S and not errors
                                and result["projection_ok"])
    return result


def format_result(r: dict[str, Any]) -> str:
    s = r["post_ms"]
    lines = [
        "| measure | value |",
        "|---|---|",
        f"| posting threads x batch size | {r['threads']} x {r['batch']} (ids out of {r['travellers']:,}) |",
        f"| measured window | {r['seconds']:.0f} s (after warm-up) |",
        f"| positions accepted / s (target) | **{r['positions_per_s']:,.0f}** |",
        f"| batches / s | {r['batches_per_s']:.2f} |",
        f"| POST latency p50 / p90 / p99 / max (ms) | {s['p50']:.1f} / {s['p90']:.1f} / {s['p99']:.1f} / {s['max']:.1f} |",
        f"| errors | {r['error_count']} |",
        f"| distinct travellers sent / GET /api/v1/positions count | {r['expected_travellers']:,} / "
        f"{r['projected_count']:,} ({'match' if r['projection_ok'] else 'MISMATCH'}) |",
        f"| CPU in the window: server / redis / benchmark (s) | {r['server_cpu_s']:.1f} / {r['redis_cpu_s']:.1f} / "
        f"{r['bench_cpu_s']:.1f} |",
        f"| server CPU per batch (ms) | {1000 * r['server_cpu_s'] / max(r['batches'], 1):.1f} |",
    ]
    if r["errors"]:
        lines.append("")
        lines.append("first errors: " + "; ".join(r["errors"][:3]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--travellers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--instrument", action="store_true",
                        help="diagnosis: run benchmarks/serve_instrumented.py and print its stage timings")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--timed", action="store_true",
                        help="each report carries its time: the server compares it with the latest held (a read per batch)")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= 10_000:
        parser.error("--batch must be 1..10000 (the API's limit)")
    result = run(args.seconds, args.threads, args.batch, args.travellers, args.seed, instrumented=args.instrument,
                 timed=args.timed)
    print(format_result(result))
    if result["server_stats"]:
        print("\nserver stage timings (instrumented server):\n")
        print(format_stats(result["server_stats"], per=result["batches"], per_label="batch"))
    verdict = "MET" if result["target_met"] else "NOT MET"
    print(f"\ntarget >= {TARGET_POSITIONS_PER_S:,} positions/s: {verdict} ({result['positions_per_s']:,.0f}/s)")
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
