"""Many live clients at once: incidents and positions fanned out to N Socket.IO clients.

A fresh server is started (``crisis serve``, new data directory, feeds off) in one of
several concurrency models (``--model``):

- ``threading``: today's default (``CRISIS_ASYNC_MODE=threading``): one OS thread per
  connection's reader and writer;
- ``gevent``: the same app under gevent (``CRISIS_ASYNC_MODE=gevent``: monkey-patched
  at start, greenlets instead of threads, simple-websocket on gevent's pywsgi);
- ``procs2``: two ``crisis serve`` processes (threading) on one data directory (one
  embedded Redis); each tails the log itself; the clients are spread over both
  (round robin, as a balancer would: no balancer hop measured here).

``--clients`` python-socketio ``AsyncClient``s (websocket transport, namespace /live,
duty_officer token: the role that receives everything) connect from this process, in
one asyncio loop. A poster process (its own, so that this loop's load does not skew the
POST timing) POSTs incidents at ``--incident-rate``/s and positions at
``--position-rate``/s (batches every 250 ms over ``--travellers`` travellers) for
``--seconds`` s. Both processes read CLOCK_MONOTONIC (time.perf_counter), so
POST-response -> client-handler latency is measured across them.

Reported per run: deliveries expected / received / lost, duplicates, incidents out of
stream order, POST-to-client p50/p90/p99/max, positions frames received and their
server-send -> client latency, disconnects, resyncs asked by the server ("resync"),
CPU of server / redis / this process, and the load average before and after (other
work on the machine skews every figure: read it with the load).

    .venv/bin/python benchmarks/socket_scale.py --clients 50,1000 --model threading
    .venv/bin/python benchmarks/socket_scale.py --clients 50,1000 --model gevent --markdown out.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402

from common import Server, children_pids, land_point, log, process_cpu_seconds, seed_travellers, summary_ms  # noqa: E402

NAMESPACE = "/live"
MODELS = ("threading", "gevent", "procs2")
INCIDENT_TYPES = ("armed_conflict", "civil_unrest", "terrorism", "crime", "earthquake", "flood", "wildfire")
CONNECT_CONCURRENCY = 25
DRAIN_TIMEOUT_S = 60.0
TARGET_P99_MS = 250.0


# -- the poster (its own process) --------------------------------------------------------


def poster_main(url: str, token: str, out: str, seconds: float, incident_rate: float, position_rate: float,
                travellers: int, seed: int) -> int:
    """POST incidents and positions at a steady rate; write what was posted to ``out``."""
    rng = random.Random(seed)
    posted: list[list[Any]] = []  # [id, sent, returned, stream_id]
    errors: list[str] = []
    position_batches = [0, 0]  # accepted, positions

    def incidents() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        t0 = time.perf_counter()
        for i in range(int(seconds * incident_rate)):
            delay = t0 + i / incident_rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            lat, lon = land_point(rng)
            body = {"title": f"scale {i}", "type": rng.choice(INCIDENT_TYPES), "severity": rng.randint(1, 5),
                    "lat": lat, "lon": lon, "description": "socket scale benchmark"}
            sent = time.perf_counter()
            try:
                answer = session.post(f"{url}/api/v1/incidents", json=body, timeout=30)
            except requests.RequestException as exc:
                errors.append(f"incident {i}: {exc!r}")
                continue
            returned = time.perf_counter()
            if answer.status_code != 201:
                errors.append(f"incident {i}: {answer.status_code} {answer.text[:200]}")
                continue
            data = answer.json()
            posted.append([data["id"], sent, returned, data["stream_id"]])

    def positions() -> None:
        if position_rate <= 0:
            return
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        per_batch = max(1, int(position_rate / 4))
        prng = random.Random(seed + 1)
        t0 = time.perf_counter()
        for k in range(int(seconds * 4)):
            delay = t0 + k * 0.25 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            rows = []
            for _ in range(per_batch):
                lat, lon = land_point(prng)
                rows.append({"traveller_id": f"T{prng.randrange(travellers):06d}", "lat": lat, "lon": lon})
            try:
                answer = session.post(f"{url}/api/v1/positions", json=rows, timeout=30)
            except requests.RequestException as exc:
                errors.append(f"positions {k}: {exc!r}")
                continue
            if answer.status_code == 202:
                position_batches[0] += 1
                position_batches[1] += len(rows)
            else:
                errors.append(f"positions {k}: {answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=incidents), threading.Thread(target=positions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Path(out).write_text(json.dumps({"posted": posted, "errors": errors, "position_batches": position_batches[0],
                                     "positions": position_batches[1]}))
    return 0


# -- the clients (this process, one asyncio loop) ----------------------------------------


class Watcher:
    """One python-socketio AsyncClient and what it received."""

    def __init__(self, index: int) -> None:
        import socketio

        self.index = index
        self.arrivals: dict[str, float] = {}  # incident id -> perf_counter of the handler
        self.stream_ids: list[str] = []  # of the incidents received, in arrival order (first copies)
        self.duplicates = 0
        self.out_of_order = 0
        self.last_id: str | None = None
        self.positions_id: str | None = None
        self.position_frames = 0
        self.position_lag: list[float] = []
        self.disconnects = 0
        self.resyncs = 0
        self.connects = 0
        self.closing = False
        self.auth: dict[str, Any] = {}
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.5, request_timeout=30)
        self.sio.on("incident", self._on_incident, namespace=NAMESPACE)
        self.sio.on("positions", self._on_positions, namespace=NAMESPACE)
        self.sio.on("resync", self._on_resync, namespace=NAMESPACE)
        self.sio.on("connect", self._on_connect, namespace=NAMESPACE)
        self.sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE)

    async def _on_incident(self, message: dict[str, Any]) -> None:
        now = time.perf_counter()
        incident_id = message["incident"]["id"]
        stream_id = message.get("stream_id") or ""
        if incident_id in self.arrivals:
            self.duplicates += 1
            return
        self.arrivals[incident_id] = now
        if self.last_id is not None and _id_key(stream_id) < _id_key(self.last_id):
            self.out_of_order += 1
        else:
            self.last_id = stream_id
        self.stream_ids.append(stream_id)

    async def _on_positions(self, message: dict[str, Any]) -> None:
        self.position_frames += 1
        sent_at = message.get("sent_at")
        if isinstance(sent_at, (int, float)):
            self.position_lag.append(time.time() - sent_at)
        self.positions_id = message.get("stream_id") or self.positions_id

    async def _sync(self) -> None:
        await self.sio.emit("sync", {"last_id": self.last_id, "positions_id": self.positions_id},
                            namespace=NAMESPACE)

    async def _on_resync(self, message: Any = None) -> None:
        self.resyncs += 1
        await self._sync()

    async def _on_connect(self) -> None:
        self.connects += 1
        if self.connects > 1:  # a reconnection: catch up from the last incident applied
            await self._sync()
        # Reconnections say they sync at once: the server then sends nothing live before
        # the replay (in stream order). The client reconnects with this same dict.
        self.auth["sync"] = True

    async def _on_disconnect(self, reason: Any = None) -> None:
        if not self.closing:
            self.disconnects += 1

    async def connect(self, url: str, token: str) -> None:
        self.auth["token"] = token
        await self.sio.connect(url, transports=["websocket"], namespaces=[NAMESPACE], auth=self.auth,
                               wait_timeout=60)


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms or 0), int(seq or 0)


async def _run_clients(urls: list[str], token: str, count: int, start_posting: Any) -> list[Watcher]:
    watchers = [Watcher(i) for i in range(count)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(w: Watcher) -> None:
        async with gate:
            await w.connect(urls[w.index % len(urls)], token)

    t0 = time.perf_counter()
    await asyncio.gather(*(connect(w) for w in watchers))
    log(f"[scale] {count} clients connected in {time.perf_counter() - t0:.1f} s")
    await asyncio.sleep(1.0)
    poster, expected_count = await asyncio.get_running_loop().run_in_executor(None, start_posting)
    # Wait for the poster, then until every client has every incident (bounded).
    while poster.poll() is None:
        await asyncio.sleep(0.2)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    expected = expected_count()
    while time.monotonic() < deadline:
        if all(len(w.arrivals) >= expected for w in watchers):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    for w in watchers:
        w.closing = True
    await asyncio.gather(*(w.sio.disconnect() for w in watchers), return_exceptions=True)
    return watchers


def run(clients: int, model: str, seconds: float, incident_rate: float, position_rate: float, travellers: int,
        seed: int = 1) -> dict[str, Any]:
    env = {"CRISIS_ASYNC_MODE": "gevent" if model == "gevent" else "threading"}
    load_before = os.getloadavg()
    servers: list[Server] = []
    workdir = Path(tempfile.mkdtemp(prefix="crisis-scale-"))
    out = workdir / "posted.json"
    try:
        first = Server(extra_env=env).start()
        servers.append(first)
        if model == "procs2":
            servers.append(Server(extra_env={**env, "CRISIS_DATA_DIR": str(first.data_dir)}).start())
        live_token = first.token("scale-live", "duty_officer")
        feed_token = first.token("scale-feed", "feed")
        seed_travellers(first.url, feed_token, [f"T{i:06d}" for i in range(travellers)])  # positions of unknown ids are refused
        redis_pids = children_pids(first.pid or 0)
        cpu0 = [process_cpu_seconds(s.pid or 0) for s in servers]
        redis0 = sum(process_cpu_seconds(p) for p in redis_pids)
        self0 = time.process_time()
        box: dict[str, Any] = {}

        def start_posting() -> tuple[subprocess.Popen[bytes], Any]:
            box["t0"] = time.perf_counter()
            proc = subprocess.Popen([sys.executable, __file__, "--post", first.url, feed_token, str(out), str(seconds),
                                     str(incident_rate), str(position_rate), str(travellers), str(seed)],
                                    stdin=subprocess.DEVNULL)
            box["proc"] = proc

            def expected_count() -> int:
                box["posted"] = json.loads(out.read_text())
                return len(box["posted"]["posted"])

            return proc, expected_count

        log(f"[scale] model {model}: {len(servers)} server(s), connecting {clients} clients")
        watchers = asyncio.run(_run_clients([s.url for s in servers], live_token, clients, start_posting))
        wall = time.perf_counter() - box["t0"]
        server_cpu = sum(process_cpu_seconds(s.pid or 0) - c for s, c in zip(servers, cpu0))
        redis_cpu = sum(process_cpu_seconds(p) for p in redis_pids) - redis0
        self_cpu = time.process_time() - self0
    finally:
        proc = box.get("proc") if "box" in locals() else None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for server in reversed(servers):
            server.stop()
        out.unlink(missing_ok=True)
        try:
            workdir.rmdir()
        except OSError:
            pass
    load_after = os.getloadavg()
    return analyse(box["posted"], watchers, {
        "model": model, "clients": clients, "seconds": seconds, "incident_rate": incident_rate,
        "position_rate": position_rate, "travellers": travellers, "wall_s": wall, "server_cpu_s": server_cpu,
        "redis_cpu_s": redis_cpu, "bench_cpu_s": self_cpu, "load_before": load_before, "load_after": load_after,
    })


def analyse(posted: dict[str, Any], watchers: list[Watcher], meta: dict[str, Any]) -> dict[str, Any]:
    rows = posted["posted"]
    returned = {r[0]: r[2] for r in rows}
    latencies: list[float] = []
    lost = 0
    for w in watchers:
        for incident_id, t in returned.items():
            arrival = w.arrivals.get(incident_id)
            if arrival is None:
                lost += 1
            else:
                latencies.append(arrival - t)
    lag = [x for w in watchers for x in w.position_lag]
    return {
        **meta,
        "incidents_posted": len(rows),
        "post_errors": posted["errors"][:5],
        "post_error_count": len(posted["errors"]),
        "positions_posted": posted["positions"],
        "deliveries_expected": len(rows) * len(watchers),
        "deliveries_received": len(latencies),
        "lost": lost,
        "duplicates": sum(w.duplicates for w in watchers),
        "out_of_order": sum(w.out_of_order for w in watchers),
        "latency_ms": summary_ms(latencies),
        "post_rtt_ms": summary_ms([r[2] - r[1] for r in rows]),
        "position_frames": sum(w.position_frames for w in watchers),
        "position_lag_ms": summary_ms(lag),
        "disconnects": sum(w.disconnects for w in watchers),
        "resyncs": sum(w.resyncs for w in watchers),
        "target_met": bool(lost == 0 and latencies and summary_ms(latencies)["p99"] < TARGET_P99_MS
                           and sum(w.disconnects for w in watchers) == 0),
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| model | clients | deliveries (lost) | out of order | POST->client p50 / p99 / max ms | "
        "positions frames (send->client p99 ms) | disconnects | resyncs | CPU server / redis / clients s | "
        "load avg before -> after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat, pos = r["latency_ms"], r["position_lag_ms"]
        lines.append(
            f"| {r['model']} | {r['clients']} | {r['deliveries_received']:,} / {r['deliveries_expected']:,} "
            f"(**{r['lost']}**) | {r['out_of_order']} | {lat.get('p50', 0):.0f} / **{lat.get('p99', 0):.0f}** / "
            f"{lat.get('max', 0):.0f} | {r['position_frames']:,} ({pos.get('p99', 0):.0f}) | {r['disconnects']} | "
            f"{r['resyncs']} | {r['server_cpu_s']:.0f} / {r['redis_cpu_s']:.0f} / {r['bench_cpu_s']:.0f} | "
            f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--post":
        url, token, out, seconds, irate, prate, travellers, seed = argv[1:9]
        return poster_main(url, token, out, float(seconds), float(irate), float(prate), int(travellers), int(seed))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="50,1000", help="comma-separated client counts, one run each")
    parser.add_argument("--model", default="threading", help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--incident-rate", type=float, default=20.0)
    parser.add_argument("--position-rate", type=float, default=2000.0)
    parser.add_argument("--travellers", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="append the raw results (JSON lines) here")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.model.split(",") if m.strip()]
    if any(m not in MODELS for m in models):
        parser.error(f"--model: one of {MODELS}")
    results = []
    for model in models:
        for n in (int(c) for c in args.clients.split(",")):
            result = run(n, model, args.seconds, args.incident_rate, args.position_rate, args.travellers)
            results.append(result)
            log(table([result]).splitlines()[-1])
            if args.json:
                with args.json.open("a") as fh:
                    fh.write(json.dumps(result) + "\n")
    text = table(results)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
