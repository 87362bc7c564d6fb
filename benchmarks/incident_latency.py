"""Incident fan-out latency: POST /api/v1/incidents -> "incident" event on every client.

A fresh server is started; ``--clients`` python-socketio clients (websocket transport,
namespace /live, duty_officer token) connect from this process, plus one dedicated
*probe* client in a separate process that speaks the Engine.IO/Socket.IO wire protocol
directly over websocket-client (no per-message thread, no shared GIL with the 50
clients), so client-side overhead can be told apart from server-side latency.

``--incidents`` incidents are POSTed one after another (random 5-20 ms pauses) through a
requests.Session. For every (incident, client) pair the latency is the time from the
POST's response returning to that client's handler running with that incident id
(time.perf_counter; the probe process uses the same CLOCK_MONOTONIC clock). A latency
can be slightly negative: the gateway may push before the HTTP answer is read.

Breakdown columns (all from the same clock):
- post_rtt: POST sent -> response read
- probe: POST response -> raw websocket frame read by the out-of-process probe
- in-process frame: POST response -> frame read by a python-socketio client's engine.io
  read loop (hooked), i.e. before python-socketio's per-message thread and JSON decode
- in-process handler: POST response -> the "incident" handler ran (the measured number)
"""

from __future__ import annotations

import argparse
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
import socketio  # noqa: E402

from common import Server, children_pids, land_point, log, process_cpu_seconds, summary_ms  # noqa: E402

NAMESPACE = "/live"
INCIDENT_TYPES = (
    "armed_conflict", "civil_unrest", "terrorism", "crime", "earthquake", "flood",
    "wildfire", "cyclone", "epidemic", "weather", "accident",
)
CONNECT_TIMEOUT_S = 20.0
DRAIN_TIMEOUT_S = 15.0
TARGET_P99_MS = 50.0
FRAME_PREFIX = '2/live,["incident"'


# -- in-process clients ------------------------------------------------------------------


class Recorder:
    """One python-socketio client and what it received."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.arrivals: dict[str, float] = {}
        self.duplicates = 0
        self.frames: list[float] = []  # perf_counter of each raw "incident" frame, in order
        self.order: list[str] = []  # incident ids in handler order
        self.client = socketio.Client(reconnection=False, request_timeout=10)
        self.client.on("incident", self._on_incident, namespace=NAMESPACE)

    def _on_incident(self, message: dict[str, Any]) -> None:
        now = time.perf_counter()
        incident_id = message["incident"]["id"]
        if incident_id in self.arrivals:
            self.duplicates += 1
            return
        self.arrivals[incident_id] = now
        self.order.append(incident_id)

    def _hook_frames(self) -> None:
        """Timestamp raw engine.io message frames as the read loop gets them (before the
        per-message thread python-socketio starts and its JSON decode)."""
        eio = self.client.eio
        original = eio._receive_packet
        frames = self.frames

        def receive(pkt: Any) -> Any:
            data = getattr(pkt, "data", None)
            if isinstance(data, str) and data.startswith(FRAME_PREFIX):
                frames.append(time.perf_counter())
            return original(pkt)

        eio._receive_packet = receive

    def connect(self, url: str, token: str) -> None:
        self._hook_frames()
        self.client.connect(
            url, transports=["websocket"], namespaces=[NAMESPACE], auth={"token": token},
            wait_timeout=CONNECT_TIMEOUT_S,
        )

    def disconnect(self) -> None:
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass


# -- the out-of-process probe ------------------------------------------------------------


def probe_main(url: str, token: str, out_path: str, stop_path: str, max_seconds: float) -> int:
    """A minimal Socket.IO client over websocket-client: timestamps each incident frame."""
    import websocket

    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    deadline = time.monotonic() + max_seconds
    ws = websocket.create_connection(ws_url, timeout=10)
    opening = ws.recv()
    if not opening.startswith("0"):
        print(f"unexpected engine.io open: {opening[:200]}", file=sys.stderr)
        return 2
    ws.send("40" + NAMESPACE + "," + json.dumps({"token": token}))
    ws.settimeout(0.5)
    frames: list[tuple[float, str]] = []
    connected = False
    while time.monotonic() < deadline:
        if os.path.exists(stop_path):
            break
        try:
            message = ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        now = time.perf_counter()
        if not isinstance(message, str):
            continue
        if message == "2":  # engine.io ping
            ws.send("3")
        elif message.startswith("4" + FRAME_PREFIX):  # engine.io MESSAGE + socket.io EVENT
            frames.append((now, message))  # decoded after the run, off the hot path
        elif message.startswith("40" + NAMESPACE) and not connected:
            connected = True
            print("ready", flush=True)
        elif message.startswith("44" + NAMESPACE):
            print(f"connect refused: {message[:300]}", file=sys.stderr, flush=True)
            return 3
    ws.close()
    arrivals: dict[str, float] = {}
    duplicates = 0
    for now, message in frames:
        incident_id = json.loads(message[len("42" + NAMESPACE + ","):])[1]["incident"]["id"]
        if incident_id in arrivals:
            duplicates += 1
        else:
            arrivals[incident_id] = now
    Path(out_path).write_text(json.dumps({"arrivals": arrivals, "duplicates": duplicates}))
    return 0


class Probe:
    def __init__(self, url: str, token: str, max_seconds: float) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="crisis-probe-"))
        self.out = self.dir / "arrivals.json"
        self.stop_file = self.dir / "stop"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--probe", url, token, str(self.out), str(self.stop_file), str(max_seconds)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(CONNECT_TIMEOUT_S)
        if not ready or ready[0].strip() != "ready":
            self.kill()
            raise RuntimeError("the probe client did not connect")

    def finish(self) -> dict[str, Any]:
        self.stop_file.touch()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("the probe did not stop") from None
        data = json.loads(self.out.read_text()) if self.out.exists() else {"arrivals": {}, "duplicates": 0}
        self._cleanup()
        return data

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        for path in (self.out, self.stop_file):
            path.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass


# -- the benchmark -----------------------------------------------------------------------


def _connect_all(recorders: list[Recorder], url: str, token: str) -> None:
    for recorder in recorders:
        recorder.connect(url, token)


def _incident_body(rng: random.Random, i: int) -> dict[str, Any]:
    lat, lon = land_point(rng)
    body: dict[str, Any] = {
        "title": f"benchmark incident {i}",
        "type": rng.choice(INCIDENT_TYPES),
        "severity": rng.randint(1, 5),
        "lat": lat,
        "lon": lon,
        "description": "load test",
    }
    if rng.random() < 0.5:  # half have an affected radius: the push then carries a circle
        body["radius_km"] = round(rng.uniform(5, 150), 1)
    return body


def run(incidents: int = 500, clients: int = 50, seed: int = 1, min_gap_ms: float = 5, max_gap_ms: float = 20,
        probe: bool = True) -> dict[str, Any]:
    rng = random.Random(seed)
    with Server() as server:
        live_token = server.token("bench-live", "duty_officer")
        feed_token = server.token("bench-feed", "feed")
        log(f"[incidents] server {server.url} (pid {server.pid}); connecting {clients} clients")
        recorders = [Recorder(i) for i in range(clients)]
        probe_client: Probe | None = None
        try:
            t_connect = time.perf_counter()
            _connect_all(recorders, server.url, live_token)
            connect_s = time.perf_counter() - t_connect
            if probe:
                probe_client = Probe(server.url, live_token, max_seconds=incidents * 0.2 + 120)
            time.sleep(0.5)  # let welcome messages settle

            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {feed_token}"
            posted: list[tuple[str, float, float, str]] = []  # (id, sent, returned, stream_id)
            server_cpu0 = process_cpu_seconds(server.pid or 0)
            redis_pids = children_pids(server.pid or 0)
            redis_cpu0 = sum(process_cpu_seconds(p) for p in redis_pids)
            self_cpu0 = time.process_time()
            t_run = time.perf_counter()
            log(f"[incidents] posting {incidents} incidents")
            for i in range(incidents):
                body = _incident_body(rng, i)
                sent = time.perf_counter()
                answer = session.post(f"{server.url}/api/v1/incidents", json=body, timeout=30)
                returned = time.perf_counter()
                if answer.status_code != 201:
                    raise RuntimeError(f"POST /incidents answered {answer.status_code}: {answer.text[:500]}")
                data = answer.json()
                posted.append((data["id"], sent, returned, data["stream_id"]))
                time.sleep(rng.uniform(min_gap_ms, max_gap_ms) / 1000.0)
            post_s = time.perf_counter() - t_run

            # Wait (bounded) until every client has every incident.
            expected = {p[0] for p in posted}
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while time.monotonic() < deadline:
                if all(expected <= r.arrivals.keys() for r in recorders):
                    break
                time.sleep(0.05)
            wall_s = time.perf_counter() - t_run
            server_cpu = process_cpu_seconds(server.pid or 0) - server_cpu0
            redis_cpu = sum(process_cpu_seconds(p) for p in redis_pids) - redis_cpu0
            self_cpu = time.process_time() - self_cpu0
            probe_data = probe_client.finish() if probe_client else None
            probe_client = None
        finally:
            if probe_client is not None:
                probe_client.kill()
            closers = [threading.Thread(target=r.disconnect, daemon=True) for r in recorders]
            for t in closers:
                t.start()
            for t in closers:
                t.join(5)

    return _analyse(posted, recorders, probe_data, {
        "incidents": incidents, "clients": clients, "connect_s": connect_s, "post_s": post_s, "wall_s": wall_s,
        "server_cpu_s": server_cpu, "redis_cpu_s": redis_cpu, "bench_cpu_s": self_cpu,
    })


def _analyse(posted: list[tuple[str, float, float, str]], recorders: list[Recorder], probe_data: dict[str, Any] | None,
             meta: dict[str, Any]) -> dict[str, Any]:
    returned = {p[0]: p[2] for p in posted}
    sent = {p[0]: p[1] for p in posted}
    order = [p[0] for p in posted]
    latencies: list[float] = []
    from_send: list[float] = []
    frame_latencies: list[float] = []
    dispatch: list[float] = []  # frame read -> handler ran, same client, same incident
    lost = 0
    duplicates = 0
    out_of_order = 0
    worst_by_incident: dict[str, float] = {}
    for r in recorders:
        duplicates += r.duplicates
        for incident_id in order:
            arrival = r.arrivals.get(incident_id)
            if arrival is None:
                lost += 1
                continue
            latency = arrival - returned[incident_id]
            latencies.append(latency)
            from_send.append(arrival - sent[incident_id])
            worst_by_incident[incident_id] = max(worst_by_incident.get(incident_id, -1e9), latency)
        # Frames arrive in stream order on one websocket; pair the k-th frame with the
        # k-th incident when every frame was seen and the handler order agrees.
        if len(r.frames) == len(order) and r.order == order:
            for incident_id, frame_t in zip(order, r.frames):
                frame_latencies.append(frame_t - returned[incident_id])
                dispatch.append(r.arrivals[incident_id] - frame_t)
        elif r.order != order[: len(r.order)]:
            out_of_order += 1
    per_incident_worst = list(worst_by_incident.values())
    result: dict[str, Any] = {
        **meta,
        "pairs_expected": len(order) * len(recorders),
        "pairs_received": len(latencies),
        "lost": lost,
        "duplicates": duplicates,
        "clients_out_of_order": out_of_order,
        "latency_ms": summary_ms(latencies),
        "latency_from_send_ms": summary_ms(from_send),
        "worst_client_per_incident_ms": summary_ms(per_incident_worst),
        "post_rtt_ms": summary_ms([p[2] - p[1] for p in posted]),
        "frame_latency_ms": summary_ms(frame_latencies),
        "client_dispatch_ms": summary_ms(dispatch),
    }
    # XADD time from the stream id (Redis wall clock, 1 ms resolution) mapped to perf_counter.
    offset = time.time() - time.perf_counter()
    xadd = {p[0]: int(p[3].split("-")[0]) / 1000.0 - offset for p in posted}
    result["send_to_xadd_ms"] = summary_ms([xadd[i] - sent[i] for i in order])
    result["xadd_to_return_ms"] = summary_ms([returned[i] - xadd[i] for i in order])
    if probe_data is not None:
        arrivals = probe_data["arrivals"]
        probe_lat = [arrivals[i] - returned[i] for i in order if i in arrivals]
        result["probe"] = {
            "received": len(probe_lat),
            "lost": len(order) - len(probe_lat),
            "duplicates": probe_data["duplicates"],
            "latency_ms": summary_ms(probe_lat),
            "xadd_to_arrival_ms": summary_ms([arrivals[i] - xadd[i] for i in order if i in arrivals]),
        }
    p99 = result["latency_ms"]["p99"]
    result["target_p99_ms"] = TARGET_P99_MS
    result["target_met"] = bool(lost == 0 and p99 < TARGET_P99_MS)
    return result


def format_result(r: dict[str, Any]) -> str:
    def row(name: str, s: dict[str, float]) -> str:
        return (f"| {name} | {s['n']} | {s['p50']:.2f} | {s['p90']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | "
                f"{s['min']:.2f} |")

    lines = [
        f"{r['incidents']} incidents x {r['clients']} socket clients = {r['pairs_expected']} deliveries; "
        f"received {r['pairs_received']}, lost {r['lost']}, duplicates {r['duplicates']}",
        "",
        "| measure (ms) | n | p50 | p90 | p99 | max | min |",
        "|---|---|---|---|---|---|---|",
        row(f"POST response -> \"incident\" handler, all {r['clients']} clients (target)", r["latency_ms"]),
        row("POST sent -> handler, all clients", r["latency_from_send_ms"]),
        row("worst client per incident (POST response -> handler)", r["worst_client_per_incident_ms"]),
        row("POST round trip", r["post_rtt_ms"]),
    ]
    if "probe" in r:
        lines.append(row("dedicated out-of-process probe: POST response -> frame read", r["probe"]["latency_ms"]))
    lines += [
        row("in-process clients: POST response -> raw frame read", r["frame_latency_ms"]),
        row("in-process clients: raw frame -> handler (client overhead)", r["client_dispatch_ms"]),
        row("POST sent -> XADD (stream id clock, 1 ms res.)", r["send_to_xadd_ms"]),
        row("XADD -> POST response read (1 ms res.)", r["xadd_to_return_ms"]),
    ]
    if "probe" in r:
        lines.append(row("XADD -> probe frame read (1 ms res.)", r["probe"]["xadd_to_arrival_ms"]))
        lines.append("")
        lines.append(f"probe: received {r['probe']['received']}, lost {r['probe']['lost']}, "
                     f"duplicates {r['probe']['duplicates']}")
    lines += [
        "",
        f"posting took {r['post_s']:.1f} s ({r['incidents'] / r['post_s']:.1f} incidents/s); CPU during the run: "
        f"server {r['server_cpu_s']:.1f} s, redis {r['redis_cpu_s']:.1f} s, benchmark process {r['bench_cpu_s']:.1f} s "
        f"(wall {r['wall_s']:.1f} s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--probe":
        url, token, out_path, stop_path, max_seconds = argv[1:6]
        return probe_main(url, token, out_path, stop_path, float(max_seconds))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-probe", action="store_true", help="skip the out-of-process probe client")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    result = run(args.incidents, args.clients, args.seed, probe=not args.no_probe)
    print(format_result(result))
    verdict = "MET" if result["target_met"] else "NOT MET"
    print(f"\ntarget p99 < {TARGET_P99_MS:.0f} ms with 0 lost: {verdict} "
          f"(p99 {result['latency_ms']['p99']:.2f} ms, lost {result['lost']})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
