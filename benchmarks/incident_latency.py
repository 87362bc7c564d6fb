"""Incident fan-out latency: POST /api/v1/incidents -> "incident" event on every client.

A fresh server is started; ``--clients`` python-socketio clients (websocket transport,
namespace /live, duty_officer token) connect from this process. One more, dedicated
*probe* client runs in a separate process and speaks the Engine.IO 4 / Socket.IO 5 wire
protocol directly over websocket-client (no per-message thread, no GIL shared with the
50 clients), so client-side overhead can be told apart from server-side latency.

``--incidents`` incidents are POSTed one after another (random 5-20 ms pauses) through a
requests.Session. For every (incident, client) pair the latency is the time from the
POST's response returning to that client's "incident" handler running with that
incident id (time.perf_counter; the probe process reads the same CLOCK_MONOTONIC). A
latency can be negative: the gateway may push before the HTTP answer is read.

Breakdown rows (all on the same clock):
- POST round trip: POST sent -> response read
- probe: POST response -> raw websocket frame read by the out-of-process probe
- in-process frame: POST response -> frame read by a python-socketio client's
  engine.io read loop (hooked), before python-socketio's per-message thread and JSON
  decode; "frame -> handler" is that client-side dispatch
- XADD: the incident's stream id is Redis' clock in ms at XADD; rows using it have
  1 ms resolution

``--client-mode raw`` (diagnosis) replaces the 50 python-socketio clients by 50 raw
websocket clients spread over ``--raw-procs`` processes: the same server work, a much
lighter client, so what remains is mostly the server's own latency.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import selectors
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

from common import (  # noqa: E402
    Server, children_pids, format_stats, land_point, log, process_cpu_seconds, summary_ms,
)

NAMESPACE = "/live"
INCIDENT_TYPES = (
    "armed_conflict", "civil_unrest", "terrorism", "crime", "earthquake", "flood",
    "wildfire", "cyclone", "epidemic", "weather", "accident",
)
CONNECT_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 15.0
TARGET_P99_MS = 50.0
EVENT_PREFIX = '2/live,["incident"'  # socket.io EVENT packet, as engine.io MESSAGE data
WIRE_PREFIX = "4" + EVENT_PREFIX  # the same on the wire (engine.io MESSAGE = "4")


# -- in-process python-socketio clients --------------------------------------------------


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
        """Timestamp engine.io message packets as the read loop gets them (before the
        per-message thread python-socketio starts, and before its JSON decode)."""
        eio = self.client.eio
        original = eio._receive_packet
        frames = self.frames

        def receive(pkt: Any) -> Any:
            data = getattr(pkt, "data", None)
            if isinstance(data, str) and data.startswith(EVENT_PREFIX):
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


# -- raw websocket clients in a separate process -----------------------------------------


def raw_clients_main(url: str, token: str, out_path: str, stop_path: str, max_seconds: float, count: int) -> int:
    """``count`` minimal Socket.IO clients over websocket-client, one selector loop;
    each incident frame is timestamped when read and decoded only after the run."""
    import websocket

    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    deadline = time.monotonic() + max_seconds
    conns = []
    for _ in range(count):
        ws = websocket.create_connection(ws_url, timeout=10)
        opening = ws.recv()
        if not opening.startswith("0"):
            print(f"unexpected engine.io open: {opening[:200]}", file=sys.stderr)
            return 2
        ws.send("40" + NAMESPACE + "," + json.dumps({"token": token}))
        conns.append(ws)
    selector = selectors.DefaultSelector()
    for i, ws in enumerate(conns):
        selector.register(ws.sock, selectors.EVENT_READ, i)
    frames: list[list[tuple[float, str]]] = [[] for _ in conns]
    connected: set[int] = set()
    announced = False
    while time.monotonic() < deadline and not os.path.exists(stop_path):
        for key, _ in selector.select(timeout=0.5):
            i = key.data
            try:
                message = conns[i].recv()
            except websocket.WebSocketException as exc:
                print(f"connection {i} failed: {exc!r}", file=sys.stderr, flush=True)
                selector.unregister(key.fileobj)
                continue
            now = time.perf_counter()
            if not isinstance(message, str):
                continue
            if message.startswith(WIRE_PREFIX):
                frames[i].append((now, message))
            elif message == "2":  # engine.io ping
                conns[i].send("3")
            elif message.startswith("40" + NAMESPACE):
                connected.add(i)
            elif message.startswith("44" + NAMESPACE):
                print(f"connect refused: {message[:300]}", file=sys.stderr, flush=True)
                return 3
        if not announced and len(connected) == count:
            announced = True
            print("ready", flush=True)
    for ws in conns:
        try:
            ws.close(timeout=1)
        except Exception:  # noqa: BLE001
            pass
    result = []
    for conn_frames in frames:
        arrivals: dict[str, float] = {}
        duplicates = 0
        for now, message in conn_frames:
            incident_id = json.loads(message[len("42" + NAMESPACE + ","):])[1]["incident"]["id"]
            if incident_id in arrivals:
                duplicates += 1
            else:
                arrivals[incident_id] = now
        result.append({"arrivals": arrivals, "duplicates": duplicates})
    Path(out_path).write_text(json.dumps(result))
    return 0


class RawClients:
    """A subprocess holding ``count`` raw websocket clients (see raw_clients_main)."""

    def __init__(self, url: str, token: str, count: int, max_seconds: float) -> None:
        self.count = count
        self.dir = Path(tempfile.mkdtemp(prefix="crisis-rawclients-"))
        self.out = self.dir / "arrivals.json"
        self.stop_file = self.dir / "stop"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--raw-clients", url, token, str(self.out), str(self.stop_file),
             str(max_seconds), str(count)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )

    def wait_ready(self) -> None:
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(CONNECT_TIMEOUT_S + self.count)
        if not ready or ready[0].strip() != "ready":
            self.kill()
            raise RuntimeError("the raw websocket clients did not connect")

    def finish(self) -> list[dict[str, Any]]:
        self.stop_file.touch()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("the raw websocket clients did not stop") from None
        data = json.loads(self.out.read_text()) if self.out.exists() else []
        self._cleanup()
        return data  # type: ignore[no-any-return]

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
        probe: bool = True, client_mode: str = "socketio", raw_procs: int = 2,
        instrumented: bool = False, switch_interval: float | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    server_env = {}
    if switch_interval is not None:
        instrumented = True  # only the instrumented server reads the knob
        server_env["BENCH_SWITCH_INTERVAL"] = str(switch_interval)
    server_stats = None
    recorders: list[Recorder] = []
    raw_groups: list[RawClients] = []
    probe_client: RawClients | None = None
    max_seconds = incidents * 0.25 + 120
    with Server(instrumented=instrumented, extra_env=server_env) as server:
        live_token = server.token("bench-live", "duty_officer")
        feed_token = server.token("bench-feed", "feed")
        log(f"[incidents] server {server.url} (pid {server.pid}); connecting {clients} {client_mode} clients")
        try:
            t_connect = time.perf_counter()
            if client_mode == "socketio":
                recorders = [Recorder(i) for i in range(clients)]
                for recorder in recorders:
                    recorder.connect(server.url, live_token)
            else:
                procs = max(1, min(raw_procs, clients))
                sizes = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
                raw_groups = [RawClients(server.url, live_token, n, max_seconds) for n in sizes if n]
                for group in raw_groups:
                    group.wait_ready()
            connect_s = time.perf_counter() - t_connect
            if probe:
                probe_client = RawClients(server.url, live_token, 1, max_seconds)
                probe_client.wait_ready()
            time.sleep(0.5)  # let the welcome messages settle

            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {feed_token}"
            posted: list[tuple[str, float, float, str]] = []  # (id, sent, returned, stream_id)
            if instrumented:
                server.stats(feed_token, reset=True)
            redis_pids = children_pids(server.pid or 0)
            server_cpu0 = process_cpu_seconds(server.pid or 0)
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

            # Wait (bounded) until every in-process client has every incident; the raw
            # clients report only at the end, so give them the same time.
            expected = {p[0] for p in posted}
            deadline = time.monotonic() + (DRAIN_TIMEOUT_S if recorders else 2.0)
            while time.monotonic() < deadline:
                if recorders and all(expected <= r.arrivals.keys() for r in recorders):
                    break
                time.sleep(0.05)
            wall_s = time.perf_counter() - t_run
            server_cpu = process_cpu_seconds(server.pid or 0) - server_cpu0
            redis_cpu = sum(process_cpu_seconds(p) for p in redis_pids) - redis_cpu0
            self_cpu = time.process_time() - self_cpu0
            if instrumented:
                server_stats = server.stats(feed_token)
            raw_data = [conn for group in raw_groups for conn in group.finish()]
            raw_groups = []
            probe_data = probe_client.finish()[0] if probe_client else None
            probe_client = None
        finally:
            for group in raw_groups + ([probe_client] if probe_client else []):
                group.kill()
            closers = [threading.Thread(target=r.disconnect, daemon=True) for r in recorders]
            for t in closers:
                t.start()
            for t in closers:
                t.join(5)

    if client_mode == "socketio":
        measured = [(r.arrivals, r.duplicates) for r in recorders]
    else:
        measured = [(c["arrivals"], c["duplicates"]) for c in raw_data]
    return _analyse(posted, measured, recorders, probe_data, {
        "incidents": incidents, "clients": clients, "client_mode": client_mode, "connect_s": connect_s,
        "post_s": post_s, "wall_s": wall_s, "server_cpu_s": server_cpu, "redis_cpu_s": redis_cpu,
        "bench_cpu_s": self_cpu, "instrumented": instrumented, "server_stats": server_stats,
        "switch_interval": switch_interval,
    })


def _analyse(posted: list[tuple[str, float, float, str]], measured: list[tuple[dict[str, float], int]],
             recorders: list[Recorder], probe_data: dict[str, Any] | None, meta: dict[str, Any]) -> dict[str, Any]:
    returned = {p[0]: p[2] for p in posted}
    sent = {p[0]: p[1] for p in posted}
    order = [p[0] for p in posted]
    latencies: list[float] = []
    from_send: list[float] = []
    lost = 0
    duplicates = 0
    first_by_incident: dict[str, float] = {}
    last_by_incident: dict[str, float] = {}
    for arrivals, dups in measured:
        duplicates += dups
        for incident_id in order:
            arrival = arrivals.get(incident_id)
            if arrival is None:
                lost += 1
                continue
            latencies.append(arrival - returned[incident_id])
            from_send.append(arrival - sent[incident_id])
            first_by_incident[incident_id] = min(first_by_incident.get(incident_id, arrival), arrival)
            last_by_incident[incident_id] = max(last_by_incident.get(incident_id, arrival), arrival)

    # In-process clients: frames arrive in stream order on one websocket; pair the k-th
    # frame with the k-th incident when every frame was seen and the order agrees.
    frame_latencies: list[float] = []
    dispatch: list[float] = []
    out_of_order = 0
    for r in recorders:
        if len(r.frames) == len(order) and r.order == order:
            for incident_id, frame_t in zip(order, r.frames):
                frame_latencies.append(frame_t - returned[incident_id])
                dispatch.append(r.arrivals[incident_id] - frame_t)
        elif r.order != order[: len(r.order)]:
            out_of_order += 1

    offset = time.time() - time.perf_counter()  # stream ids are Redis wall-clock ms
    xadd = {p[0]: int(p[3].split("-")[0]) / 1000.0 - offset for p in posted}
    result: dict[str, Any] = {
        **meta,
        "pairs_expected": len(order) * len(measured),
        "pairs_received": len(latencies),
        "lost": lost,
        "duplicates": duplicates,
        "clients_out_of_order": out_of_order,
        "latency_ms": summary_ms(latencies),
        "latency_from_send_ms": summary_ms(from_send),
        "worst_client_per_incident_ms": summary_ms([last_by_incident[i] - returned[i] for i in last_by_incident]),
        "spread_first_to_last_ms": summary_ms([last_by_incident[i] - first_by_incident[i] for i in last_by_incident]),
        "post_rtt_ms": summary_ms([p[2] - p[1] for p in posted]),
        "frame_latency_ms": summary_ms(frame_latencies),
        "client_dispatch_ms": summary_ms(dispatch),
        "send_to_xadd_ms": summary_ms([xadd[i] - sent[i] for i in order]),
        "xadd_to_return_ms": summary_ms([returned[i] - xadd[i] for i in order]),
        "xadd_to_last_client_ms": summary_ms([last_by_incident[i] - xadd[i] for i in last_by_incident]),
    }
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
    result["_raw_latency_s"] = latencies  # for pooling repeated runs (run_all.py); not printed
    result["target_p99_ms"] = TARGET_P99_MS
    result["target_met"] = bool(lost == 0 and result["latency_ms"]["p99"] < TARGET_P99_MS)
    return result


def _row(name: str, s: dict[str, float]) -> str:
    return f"| {name} | {s['n']} | {s['p50']:.1f} | {s['p90']:.1f} | {s['p99']:.1f} | {s['max']:.1f} | {s['min']:.1f} |"


def format_result(r: dict[str, Any]) -> str:
    kind = "python-socketio clients in the benchmark process" if r["client_mode"] == "socketio" else (
        "raw websocket clients in separate processes")
    lines = [
        f"{r['incidents']} incidents x {r['clients']} {kind} = {r['pairs_expected']} deliveries; "
        f"received {r['pairs_received']}, **lost {r['lost']}**, duplicates {r['duplicates']}",
        "",
        "| measure (ms) | n | p50 | p90 | p99 | max | min |",
        "|---|---|---|---|---|---|---|",
        _row(f"**POST response -> \"incident\" received, all {r['clients']} clients (the target)**", r["latency_ms"]),
        _row("POST sent -> received, all clients", r["latency_from_send_ms"]),
        _row("POST response -> the last client received, per incident", r["worst_client_per_incident_ms"]),
        _row("first -> last client, per incident", r["spread_first_to_last_ms"]),
        _row("POST round trip", r["post_rtt_ms"]),
    ]
    if "probe" in r:
        lines.append(_row("dedicated probe (own process, raw websocket): POST response -> frame read",
                          r["probe"]["latency_ms"]))
    if r["client_mode"] == "socketio":
        lines += [
            _row("in-process clients: POST response -> raw frame read", r["frame_latency_ms"]),
            _row("in-process clients: raw frame -> handler ran (client-side dispatch)", r["client_dispatch_ms"]),
        ]
    lines += [
        _row("POST sent -> XADD (1 ms res.)", r["send_to_xadd_ms"]),
        _row("XADD -> POST response read (1 ms res.)", r["xadd_to_return_ms"]),
        _row("XADD -> the last client received (1 ms res.)", r["xadd_to_last_client_ms"]),
    ]
    if "probe" in r:
        lines.append(_row("XADD -> probe frame read (1 ms res.)", r["probe"]["xadd_to_arrival_ms"]))
    lines.append("")
    if "probe" in r:
        lines.append(f"probe: received {r['probe']['received']}, lost {r['probe']['lost']}, "
                     f"duplicates {r['probe']['duplicates']}. ")
    lines.append(
        f"Posting took {r['post_s']:.1f} s ({r['incidents'] / r['post_s']:.1f} incidents/s). CPU used meanwhile: "
        f"server {r['server_cpu_s']:.1f} s, redis {r['redis_cpu_s']:.1f} s, benchmark process "
        f"{r['bench_cpu_s']:.1f} s, in {r['wall_s']:.1f} s of wall time.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--raw-clients":
        url, token, out_path, stop_path, max_seconds, count = argv[1:7]
        return raw_clients_main(url, token, out_path, stop_path, float(max_seconds), int(count))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-probe", action="store_true", help="skip the dedicated out-of-process probe client")
    parser.add_argument("--client-mode", choices=("socketio", "raw"), default="socketio",
                        help="socketio: python-socketio clients in this process (the benchmark); "
                             "raw: raw websocket clients in --raw-procs processes (diagnosis)")
    parser.add_argument("--raw-procs", type=int, default=2)
    parser.add_argument("--instrument", action="store_true",
                        help="diagnosis: run benchmarks/serve_instrumented.py and print its stage timings")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="diagnosis: sys.setswitchinterval() in the (instrumented) server, e.g. 0.0005")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.incidents < 1 or args.clients < 1:
        parser.error("--incidents and --clients must be at least 1")
    result = run(args.incidents, args.clients, args.seed, probe=not args.no_probe, client_mode=args.client_mode,
                 raw_procs=args.raw_procs, instrumented=args.instrument,
                 switch_interval=args.switch_interval)
    print(format_result(result))
    if result["server_stats"]:
        print("\nserver stage timings (instrumented server):\n")
        print(format_stats(result["server_stats"], per=result["incidents"], per_label="incident"))
    verdict = "MET" if result["target_met"] else "NOT MET"
    print(f"\ntarget p99 < {TARGET_P99_MS:.0f} ms with 0 lost: {verdict} "
          f"(p99 {result['latency_ms']['p99']:.1f} ms, lost {result['lost']})")
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
