"""A reader's API latency while another client floods the live socket with ``sync``.

A fresh server is started (``crisis serve``, new data directory, feeds off) and seeded
with ``--incidents`` incidents and ``--travellers`` traveller positions, so that a full
resync (snapshot of incidents and positions) costs what it costs in a real centre.

Then one reader (requests.Session, duty_officer token) calls GET /api/v1/incidents back
to back for ``--seconds``: first on a quiet server, then while a flooder (a
python-socketio client in a process of its own, with a duty_officer token: the role
with the most to send) emits ``sync`` with no ids (each one asks for the whole picture)
every 10-50 ms, as the attacker in issue 6 did, then quiet again. The flooder counts the
answers: served, or refused as rate limited (the per-connection token bucket:
``CRISIS_SOCKET_EVENTS_PER_SECOND``, ``CRISIS_SOCKET_EVENT_BURST``).

Target: the reader's p99 under the flood within 2x of the quiet p99. The server's
resident memory is read from /proc before and after the flood.

    .venv/bin/python benchmarks/socket_flood.py [--seconds 15] [--events-per-second 2]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402

from common import ROOT, VENV_BIN, Server, land_point, log, machine_info, process_cpu_seconds, seed_travellers, summary_ms  # noqa: E402

NAMESPACE = "/live"
TARGET_RATIO = 2.0
FLOOD_MIN_S, FLOOD_MAX_S = 0.010, 0.050
INCIDENT_TYPES = ("armed_conflict", "civil_unrest", "terrorism", "crime", "earthquake", "flood", "wildfire")


def rss_mib(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def seed(server: Server, token: str, incidents: int, travellers: int, rng: random.Random) -> None:
    http = requests.Session()
    http.headers.update({"Authorization": f"Bearer {token}"})
    for n in range(incidents):
        lat, lon = land_point(rng)
        body = {"title": f"Seeded incident {n}", "type": rng.choice(INCIDENT_TYPES), "severity": rng.randint(1, 5),
                "lat": lat, "lon": lon, "radius_km": float(rng.randint(5, 80))}
        answer = http.post(f"{server.url}/api/v1/incidents", json=body, timeout=30)
        answer.raise_for_status()
    seed_travellers(server.url, token, [f"trv-{k:06d}" for k in range(travellers)])
    for start in range(0, travellers, 5000):
        batch = []
        for k in range(start, min(travellers, start + 5000)):
            lat, lon = land_point(rng)
            batch.append({"traveller_id": f"trv-{k:06d}", "lat": lat, "lon": lon})
        http.post(f"{server.url}/api/v1/positions", json=batch, timeout=60).raise_for_status()


def read_for(url: str, token: str, seconds: float) -> list[float]:
    """GET /api/v1/incidents back to back for ``seconds``; each call's duration."""
    http = requests.Session()
    http.headers.update({"Authorization": f"Bearer {token}"})
    http.get(f"{url}/api/v1/incidents", timeout=30).raise_for_status()  # warm the connection
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        answer = http.get(f"{url}/api/v1/incidents", timeout=30)
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
    return latencies


# -- the flooder (runs in a process of its own) -------------------------------------------


def flood(url: str, token: str, seconds: float, seed_value: int) -> dict[str, Any]:
    """Emit ``sync`` (no ids: the whole picture) every 10-50 ms for ``seconds``.

    A minimal Socket.IO client over websocket-client: frames are read and counted, never
    decoded (only acks are looked at), so the flooder's own CPU, on a machine shared with
    the server, stays small: what is measured is the server's cost."""
    import websocket

    rng = random.Random(seed_value)
    counts = {"sent": 0, "served": 0, "rate_limited": 0, "other": 0, "messages": 0, "bytes": 0}
    ws = websocket.create_connection(url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
                                     timeout=30, enable_multithread=True)
    if not ws.recv().startswith("0"):
        raise RuntimeError("unexpected engine.io open")
    ws.send("40" + NAMESPACE + "," + json.dumps({"token": token}))
    connected = threading.Event()
    done = threading.Event()
    ack_prefix = "43" + NAMESPACE + ","

    def read() -> None:
        while not done.is_set():
            try:
                frame = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                return
            counts["messages"] += 1
            counts["bytes"] += len(frame)
            if not isinstance(frame, str):
                continue
            if frame == "2":
                ws.send("3")  # engine.io ping
            elif frame.startswith("40" + NAMESPACE):
                connected.set()
            elif frame.startswith("44" + NAMESPACE):
                raise RuntimeError(f"connect refused: {frame[:200]}")
            elif frame.startswith(ack_prefix):
                if '"mode"' in frame:
                    counts["served"] += 1
                elif '"rate limited"' in frame:
                    counts["rate_limited"] += 1
                else:
                    counts["other"] += 1

    ws.settimeout(0.5)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not connected.wait(30):
        raise RuntimeError("the flooder did not connect")
    stop_at = time.monotonic() + seconds
    try:
        while time.monotonic() < stop_at:
            counts["sent"] += 1
            ws.send(f'42{NAMESPACE},{counts["sent"]}["sync",{{"last_id":null}}]')
            time.sleep(rng.uniform(FLOOD_MIN_S, FLOOD_MAX_S))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and counts["served"] + counts["rate_limited"] + counts["other"] < counts["sent"]:
            time.sleep(0.05)
    finally:
        done.set()
        reader.join(timeout=5)
        ws.close(timeout=1)
    return counts


def start_flooder(url: str, token: str, seconds: float, seed_value: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV_BIN / "python"), str(Path(__file__).resolve()), "--flooder", url, token, str(seconds), str(seed_value)],
        cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )


def finish_flooder(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
        raise RuntimeError(f"the flooder did not finish in time: {err[-2000:]}") from None
    if process.returncode != 0:
        raise RuntimeError(f"the flooder failed ({process.returncode}): {err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- the benchmark -------------------------------------------------------------------------


def run(seconds: float, incidents: int, travellers: int, events_per_second: float | None, seed_value: int,
        rounds: int = 3) -> dict[str, Any]:
    """``rounds`` alternations of a quiet phase and a flood phase (``seconds`` each in all),
    so that a change in the machine's other load hits both alike."""
    env = {} if events_per_second is None else {"CRISIS_SOCKET_EVENTS_PER_SECOND": str(events_per_second)}
    rng = random.Random(seed_value)
    phase = seconds / rounds
    quiet: list[float] = []
    flooded: list[float] = []
    cpu = {"quiet": 0.0, "flood": 0.0}
    counts: dict[str, int] = {}
    rss = {"before_flood": float("nan"), "during_flood": float("nan"), "after_flood": float("nan")}
    with Server(extra_env=env) as server:
        feed = server.token("bench-feed", "feed")
        reader = server.token("bench-reader", "duty_officer")
        flooder = server.token("bench-flooder", "duty_officer")
        log(f"seeding {incidents} incidents and {travellers} travellers")
        seed(server, feed, incidents, travellers, rng)
        time.sleep(1.0)
        rss["before_flood"] = rss_mib(server.pid)
        for n in range(rounds):
            log(f"round {n + 1}/{rounds}: quiet {phase:.0f} s, then {phase:.0f} s while a socket emits sync every "
                f"{FLOOD_MIN_S * 1000:.0f}-{FLOOD_MAX_S * 1000:.0f} ms")
            cpu_at = process_cpu_seconds(server.pid or 0)
            quiet += read_for(server.url, reader, phase)
            cpu["quiet"] += process_cpu_seconds(server.pid or 0) - cpu_at
            process = start_flooder(server.url, flooder, phase + 2.0, seed_value + n)
            try:
                time.sleep(1.0)  # the flood is under way (connect, first syncs) before the clock starts
                cpu_at = process_cpu_seconds(server.pid or 0)
                flooded += read_for(server.url, reader, phase)
                cpu["flood"] += process_cpu_seconds(server.pid or 0) - cpu_at
                rss["during_flood"] = max(rss_mib(server.pid), rss["during_flood"]) if n else rss_mib(server.pid)
                for key, value in finish_flooder(process, phase + 60).items():
                    counts[key] = counts.get(key, 0) + value
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
        rss["after_flood"] = rss_mib(server.pid)
    q, f = summary_ms(quiet), summary_ms(flooded)
    ratio = f["p99"] / q["p99"] if q["p99"] else float("inf")
    return {
        "seconds": seconds, "rounds": rounds, "incidents": incidents, "travellers": travellers,
        "events_per_second": events_per_second, "quiet": q, "flood": f,
        "server_cpu_s_per_s": {k: v / seconds for k, v in cpu.items()},
        "p99_ratio": ratio, "target_met": ratio <= TARGET_RATIO, "flooder": counts,
        "flood_seconds": rounds * (phase + 2.0), "rss_mib": rss, "machine": machine_info(),
        "_raw_quiet_s": quiet, "_raw_flood_s": flooded,  # for pooling runs (benchmarks/run_all.py)
    }


def format_result(r: dict[str, Any]) -> str:
    c = r["flooder"]
    limit = "server default" if r["events_per_second"] is None else f"{r['events_per_second']:g}/s"
    cpu = r["server_cpu_s_per_s"]
    lines = [
        f"### API latency of a reader while a socket floods `sync` ({r['incidents']} incidents, "
        f"{r['travellers']:,} travellers, socket event limit {limit})",
        "",
        f"{r['rounds']} rounds of quiet / flood, {r['seconds']:.0f} s of each in all.",
        "",
        "| phase | GET /api/v1/incidents calls | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | server CPU (s/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, key in (("quiet", "quiet"), ("a socket flooding sync", "flood")):
        s = r[key]
        lines.append(f"| {name} | {s['n']} | {s['p50']:.1f} | {s['p90']:.1f} | {s['p99']:.1f} | {s['max']:.1f} | "
                     f"{cpu[key]:.2f} |")
    lines += [
        "",
        f"Flooder: {c['sent']} `sync` sent in {r['flood_seconds']:.0f} s ({c['sent'] / r['flood_seconds']:.0f}/s), "
        f"{c['served']} served, {c['rate_limited']} refused as rate limited, {c['other']} other; "
        f"{c['messages']} frames received ({c['bytes'] / 1e6:.1f} MB).",
        f"Server memory (RSS): {r['rss_mib']['before_flood']:.0f} MiB before the floods, "
        f"{r['rss_mib']['during_flood']:.0f} MiB at most during, {r['rss_mib']['after_flood']:.0f} MiB after.",
        f"Machine: {r['machine']['nproc']} CPUs ({r['machine']['cpu']}), Python {r['machine']['python']}.",
        "",
        f"p99 under flood / quiet p99 = {r['p99_ratio']:.2f} (target <= {TARGET_RATIO:.0f}): "
        f"{'MET' if r['target_met'] else 'NOT MET'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--flooder":
        url, token, seconds, seed_value = argv[1], argv[2], float(argv[3]), int(argv[4])
        print(json.dumps(flood(url, token, seconds, seed_value)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=18.0, help="measured seconds of each kind (quiet, flood)")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of a quiet and a flood phase")
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--travellers", type=int, default=5000)
    parser.add_argument("--events-per-second", type=float, default=None,
                        help="CRISIS_SOCKET_EVENTS_PER_SECOND for the server (default: its own default)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.incidents, args.travellers, args.events_per_second, args.seed, args.rounds)
    print(format_result(result))
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
