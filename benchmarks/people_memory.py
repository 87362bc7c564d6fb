"""Memory of a web process with 100,000 travellers and the live people picture loaded,
and the time of one tick's incremental update through the picture.

1. **Server, live import.** A fresh ``crisis serve`` (new data directory, embedded Redis,
   feeds off). 1,000 incidents are POSTed (areas as in ``benchmarks/affected.py``: circles
   with a radius, circles of the default radius, polygons), then 100,000 travellers
   (``POST /api/v1/travellers``, 2,500 per request; duty stations clustered around 300
   hubs; 30 % with an itinerary, some of it in the next 48 hours) and a position report for
   every one of them (``POST /api/v1/positions``, 5,000 per request). The server's live
   picture takes all of it from the streams as it arrives. When a socket client's
   ``affected`` ask (every open incident's counts) has stopped changing, the server's
   resident memory (VmRSS, and its high-water mark VmHWM) is read from /proc.
2. **Server, restart.** The same data directory, a new ``crisis serve``: the picture is
   loaded from Redis on the first tick. The time until the socket's ``affected`` ask
   answers with every incident, and the memory then.
3. **In process: one tick.** ``PeoplePicture`` with the same 100,000 travellers x 1,000
   incidents; each batch of 1,000 position updates goes through what a tick does (apply,
   drain, the counts per region of every changed incident).

    .venv/bin/python benchmarks/people_memory.py [--travellers 100000] [--incidents 1000] [--skip-server]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import requests
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from affected import make_world  # noqa: E402
from common import Server, log  # noqa: E402

from crisis.fusion.affected import IncidentArea, parse_default_radii  # noqa: E402
from crisis.fusion.people import PeoplePicture  # noqa: E402

TARGET_MB = 1024.0
TARGET_TICK_MS = 5.0  # the target for an incremental batch of 1,000 position updates
TRAVELLERS_PER_POST = 2_500
POSITIONS_PER_POST = 5_000
BATCHES = 21
CATEGORIES = ("international_staff", "national_staff", "dependant", "consultant", "visitor")


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024.0
    return out


def world(travellers: int, incidents: int, seed: int = 7) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray,
                                                                      list[IncidentArea]]:
    """Traveller profiles (duty stations at the world's points), report positions near
    them, and the incident areas."""
    rng = np.random.default_rng(seed)
    lat, lon, areas = make_world(rng, travellers, incidents)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    profiles = []
    for i in range(travellers):
        profile: dict[str, Any] = {
            "id": f"trv-{i:06d}", "name": f"Traveller {i}", "agency": "UNDP",
            "category": CATEGORIES[i % len(CATEGORIES)], "essential": i % 7 == 0,
            "duty_station": {"name": f"Station {i % 300}", "lat": round(float(lat[i]), 5), "lon": round(float(lon[i]), 5)},
            "phone": "+41 22 000 00 00", "email": f"trv-{i:06d}@example.org", "itinerary": [],
        }
        if profile["category"] == "dependant":  # of the staff member listed just before (same request)
            profile["dependant_of"] = f"trv-{i - 1:06d}"
        if rng.random() < 0.3:
            j = int(rng.integers(travellers))
            depart = now + timedelta(hours=float(rng.uniform(-72, 72)))
            arrive = depart + timedelta(hours=float(rng.uniform(1, 12)))
            segments = [({"name": "home", "lat": profile["duty_station"]["lat"], "lon": profile["duty_station"]["lon"]},
                         {"name": "there", "lat": round(float(lat[j]), 5), "lon": round(float(lon[j]), 5)}, depart, arrive)]
            if rng.random() < 0.5:
                back = arrive + timedelta(days=float(rng.uniform(1, 10)))
                segments.append((segments[0][1], segments[0][0], back, back + (arrive - depart)))
            profile["itinerary"] = [{"from": a, "to": b, "depart": d.isoformat(), "arrive": r.isoformat()}
                                    for a, b, d, r in segments]
        profiles.append(profile)
    step = rng.choice([0.01, 0.2, 3.0], travellers, p=[0.7, 0.25, 0.05])
    p_lat = np.clip(lat + rng.normal(0, 1, travellers) * step, -89.5, 89.5)
    p_lon = (lon + rng.normal(0, 1, travellers) * step + 180.0) % 360.0 - 180.0
    return profiles, p_lat, p_lon, areas


def _incident_body(area: IncidentArea, k: int) -> dict[str, Any]:
    body: dict[str, Any] = {"title": f"Incident {k}", "type": "civil_unrest", "severity": area.severity,
                            "lat": round(area.lat, 5), "lon": round(area.lon, 5)}
    if area.radius_km:
        body["radius_km"] = area.radius_km
    if area.geometry is not None:
        body["area"] = area.geometry
    return body


def _affected_all(client: socketio.Client) -> dict[str, Any]:
    return client.call("affected", None, namespace="/live", timeout=120)  # type: ignore[no-any-return]


def _wait_settled(client: socketio.Client, incidents: int, timeout_s: float = 900.0) -> tuple[float, dict[str, int]]:
    """Wait until every incident is listed and the totals stay the same over two asks a second
    apart; (seconds waited, the totals)."""
    started = time.monotonic()
    last: dict[str, int] | None = None
    while time.monotonic() - started < timeout_s:
        answer = _affected_all(client)
        totals = {m["incident"]: m["counts"]["total"] for m in answer.get("incidents", [])}
        if len(totals) >= incidents and totals == last:
            return time.monotonic() - started, totals
        last = totals
        time.sleep(1.0)
    raise RuntimeError(f"the picture did not settle within {timeout_s:.0f} s")


def _connect(url: str, token: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(url, namespaces=["/live"], auth={"token": token}, transports=["websocket"], wait_timeout=30)
    return client


def run_server(travellers: int, incidents: int) -> dict[str, Any]:
    profiles, p_lat, p_lon, areas = world(travellers, incidents)
    out: dict[str, Any] = {}
    first = Server(keep_data=True)
    data_dir = first.data_dir
    try:
        with first:
            officer = first.token("bench-officer", "duty_officer")
            feed = first.token("bench-feed", "feed")
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {officer}"
            out["rss_empty"] = rss_mb(first.pid or 0)
            t = time.monotonic()
            accepted = 0
            for k, area in enumerate(areas):
                answer = http.post(f"{first.url}/api/v1/incidents", json=_incident_body(area, k), timeout=60)
                if answer.status_code == 422 and area.geometry is not None:  # a polygon the API finds invalid
                    body = {key: v for key, v in _incident_body(area, k).items() if key != "area"}
                    answer = http.post(f"{first.url}/api/v1/incidents", json={**body, "radius_km": 50.0}, timeout=60)
                    out["polygons_as_circles"] = out.get("polygons_as_circles", 0) + 1
                answer.raise_for_status()
                accepted += 1
            out["incidents_s"] = time.monotonic() - t
            incidents = accepted
            http.headers["Authorization"] = f"Bearer {feed}"
            t = time.monotonic()
            for i in range(0, travellers, TRAVELLERS_PER_POST):
                answer = http.post(f"{first.url}/api/v1/travellers", json=profiles[i:i + TRAVELLERS_PER_POST], timeout=300)
                answer.raise_for_status()
                assert not answer.json()["rejected"], answer.json()["rejected"][:3]
            out["import_s"] = time.monotonic() - t
            t = time.monotonic()
            for i in range(0, travellers, POSITIONS_PER_POST):
                batch = [{"traveller_id": profiles[k]["id"], "lat": round(float(p_lat[k]), 6),
                          "lon": round(float(p_lon[k]), 6)} for k in range(i, min(i + POSITIONS_PER_POST, travellers))]
                answer = http.post(f"{first.url}/api/v1/positions", json=batch, timeout=300)
                answer.raise_for_status()
            out["positions_s"] = time.monotonic() - t
            client = _connect(first.url, officer)
            try:
                out["settle_s"], totals = _wait_settled(client, incidents)
                out["affected_pairs"] = sum(totals.values())
                out["rss_live"] = rss_mb(first.pid or 0)
                t = time.monotonic()
                full = client.call("people", namespace="/live", timeout=120)
                out["people_ask_s"] = time.monotonic() - t
                out["people_in_scope"] = len(full.get("ids", []))
            finally:
                client.disconnect()
            out["rss_live_after_ask"] = rss_mb(first.pid or 0)
            # the read model (GET .../affected answers from the live picture once it has caught up)
            biggest = max(totals, key=lambda k: totals[k])
            http.headers["Authorization"] = f"Bearer {officer}"
            t = time.monotonic()
            answer = http.get(f"{first.url}/api/v1/incidents/{biggest}/affected", timeout=600)
            answer.raise_for_status()
            out["affected_get_s"] = time.monotonic() - t
            out["affected_get_total"] = answer.json()["counts"]["total"]
            out["affected_get_picture_total"] = totals[biggest]
            out["rss_after_get"] = rss_mb(first.pid or 0)
        second = Server()
        shutil.rmtree(second.data_dir, ignore_errors=True)
        second.data_dir, second.log_path = data_dir, data_dir / "server-restart.log"
        second.env["CRISIS_DATA_DIR"] = str(data_dir)
        second.keep_data = False
        with second:
            t = time.monotonic()
            client = _connect(second.url, officer)
            try:
                out["restart_load_s"], totals = _wait_settled(client, incidents)
                out["restart_load_s"] = time.monotonic() - t
                out["restart_pairs"] = sum(totals.values())
                out["rss_restart"] = rss_mb(second.pid or 0)
            finally:
                client.disconnect()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def run_tick(travellers: int, incidents: int, batch: int = 1000, seed: int = 7) -> dict[str, Any]:
    """One tick's incremental update of the picture for a batch of position reports."""
    profiles, p_lat, p_lon, areas = world(travellers, incidents, seed)
    now = datetime.now(timezone.utc)
    incident_dicts = [{"id": a.id, "lat": a.lat, "lon": a.lon, "severity": a.severity, "radius_km": a.radius_km,
                       "area": a.geometry, "status": "active", "region": None} for a in areas]
    picture = PeoplePicture(parse_default_radii("1:5,2:10,3:25,4:50,5:100"), 0.0, timedelta(hours=24))
    t = time.perf_counter()
    reports = {p["id"]: (float(la), float(lo), now.isoformat()) for p, la, lo in zip(profiles, p_lat, p_lon)}
    picture.load(now, profiles, reports, {}, incident_dicts)
    load_s = time.perf_counter() - t
    rng = np.random.default_rng(seed + 1)
    times, cpu, changed_incidents, changed_people = [], [], 0, 0
    stamp = [now.isoformat()] * batch
    for _ in range(BATCHES):
        who = rng.choice(travellers, batch, replace=False)
        step = rng.choice([0.01, 0.2, 3.0], batch, p=[0.7, 0.25, 0.05])
        b_lat = np.clip(picture.lat[who] + rng.normal(0, 1, batch) * step, -89.5, 89.5)
        b_lon = (picture.lon[who] + rng.normal(0, 1, batch) * step + 180.0) % 360.0 - 180.0
        ids = [picture.ids[w] for w in who.tolist()]
        t, c = time.perf_counter(), time.thread_time()
        picture.apply_positions(ids, b_lat, b_lon, stamp, [None] * batch, now)
        drained = picture.drain()
        for iid in drained.incidents:
            picture.counts_by_region(iid)
        times.append((time.perf_counter() - t) * 1000.0)
        cpu.append((time.thread_time() - c) * 1000.0)
        changed_incidents += len(drained.incidents)
        changed_people += len(drained.people)
    t = time.perf_counter()
    picture.refresh(now + timedelta(seconds=30))
    refresh_ms = (time.perf_counter() - t) * 1000.0
    return {"load_s": load_s, "tick_ms": statistics.median(times), "tick_max_ms": max(times),
            "tick_best_ms": min(times), "_raw_tick_ms": times, "tick_cpu_ms": statistics.median(cpu),
            "tick_cpu_best_ms": min(cpu), "_raw_tick_cpu_ms": cpu, "batches": BATCHES, "batch": batch,
            "changed_incidents": changed_incidents, "changed_people": changed_people, "refresh_ms": refresh_ms}


def run(travellers: int = 100_000, incidents: int = 1_000, skip_server: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {"travellers": travellers, "incidents": incidents, "load": os.getloadavg()[0]}
    if not skip_server:
        log("people_memory: server with the live picture")
        result["server"] = run_server(travellers, incidents)
    log("people_memory: one tick in process")
    result["tick"] = run_tick(travellers, incidents)
    peak = max((result["server"][k]["VmRSS"] for k in ("rss_live", "rss_live_after_ask", "rss_restart",
                                                        "rss_after_get")),
               default=float("nan")) if not skip_server else float("nan")
    result["peak_rss_mb"] = peak
    result["memory_met"] = peak < TARGET_MB
    result["tick_met"] = result["tick"]["tick_ms"] < TARGET_TICK_MS
    result["target_met"] = result["memory_met"] and result["tick_met"]
    return result


def format_result(r: dict[str, Any]) -> str:
    lines = [f"## Web process memory with {r['travellers']:,} travellers and the live picture", ""]
    s = r.get("server")
    if s:
        lines += [
            "| measure | value |",
            "| --- | --- |",
            f"| server RSS, empty | {s['rss_empty']['VmRSS']:.0f} MiB |",
            f"| POST {r['incidents']:,} incidents ({s.get('polygons_as_circles', 0)} polygons the API refused as invalid "
            f"sent as 50 km circles) / {r['travellers']:,} travellers / {r['travellers']:,} positions | "
            f"{s['incidents_s']:.0f} s / {s['import_s']:.0f} s / {s['positions_s']:.0f} s |",
            f"| picture settled after the last POST | {s['settle_s']:.1f} s ({s['affected_pairs']:,} affected pairs) |",
            f"| **server RSS with the live picture** (VmRSS / VmHWM) | **{s['rss_live']['VmRSS']:.0f}** / "
            f"{s['rss_live']['VmHWM']:.0f} MiB |",
            f"| `people` ask (everyone in a scope: {s['people_in_scope']:,}) | {s['people_ask_s'] * 1000:.0f} ms; "
            f"RSS after {s['rss_live_after_ask']['VmRSS']:.0f} MiB |",
            f"| `GET /api/v1/incidents/{{id}}/affected` of the incident with the most people (answered from the "
            f"live picture once it has caught up with the log) | {s['affected_get_s']:.1f} s; {s['affected_get_total']:,} people "
            f"(the picture: {s['affected_get_picture_total']:,}); RSS after {s['rss_after_get']['VmRSS']:.0f} MiB |",
            f"| restart: picture loaded from Redis, answered | {s['restart_load_s']:.1f} s ({s['restart_pairs']:,} pairs) |",
            f"| **server RSS after the restart's load** (VmRSS / VmHWM) | **{s['rss_restart']['VmRSS']:.0f}** / "
            f"{s['rss_restart']['VmHWM']:.0f} MiB |",
        ]
    t = r["tick"]
    lines += [
        "",
        f"In process, {r['travellers']:,} travellers x {r['incidents']:,} incidents: picture loaded in {t['load_s']:.1f} s; "
        f"one tick with a batch of {t['batch']:,} position reports (apply, drain, counts of the changed incidents): "
        f"median **{t['tick_ms']:.2f} ms** wall (best {t['tick_best_ms']:.2f}, max {t['tick_max_ms']:.2f}), "
        f"{t['tick_cpu_ms']:.2f} ms of the thread's CPU (best {t['tick_cpu_best_ms']:.2f}) over "
        f"{t['batches']} batches; {t['changed_incidents']:,} incident and {t['changed_people']:,} person changes in all; "
        f"a time refresh of everyone (reports ageing, itineraries moving) {t['refresh_ms']:.0f} ms.",
        f"Load average at start {r['load']:.2f}.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--travellers", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=1_000)
    parser.add_argument("--skip-server", action="store_true", help="only the in-process tick")
    args = parser.parse_args()
    result = run(args.travellers, args.incidents, args.skip_server)
    print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
