"""Event to pixel: incident POST -> its marker drawn on a live map in headless Chromium,
with 100,000 travellers streaming positions.

A fresh server is started (``crisis serve``, benchmarks/common.py). ``--travellers``
travellers get a position (POST /api/v1/positions in batches of 10,000), then a load
generator moves ``--moving`` of them every second (one batch a second, each a small step
like the demo's) for the whole run. A duty officer signs in in headless Chromium (Debian's
/usr/bin/chromium, the same flags as the browser tests) and opens the live map:

- **initial draw**: from the navigation to "/" until every traveller is in the map's
  travellers layer, its source has loaded, and clusters are rendered;
- then ``--incidents`` incidents are POSTed one after another (random ``--gap`` pauses).
  For each, the page stamps the moment MapLibre first *renders* a frame in which the
  incident's marker is under its position (``queryRenderedFeatures`` at the projected
  point, on the layers of Plotly's incident trace), on each ``render`` event. Latency =
  that moment (``performance.timeOrigin + performance.now()``, the same wall clock as the
  POST's ``time.time()``) - the POST sent;
- **main thread busy**: the renderer main thread's task time over the incident window
  (CDP ``Performance.getMetrics`` ``TaskDuration``, delta / wall time), and the long
  tasks (> 50 ms, PerformanceObserver) summed, as a cross-check.

Map frames are counted in the page (MapLibre ``render`` events: per second, per incident, in
the second after each POST), and every GeoJSON ``setData`` by source; ``--trace`` adds the
canvas readback time per frame; ``--alternate N`` switches the frame gate
(assets/crisis_live_frames.js) off and on every N incidents and compares the two in one run.

The travellers layer's own cost is reported too (crisis_live.js ``layer.stats``: updates,
main-thread ms per update). Chromium runs with --disable-gpu: WebGL is software
(SwiftShader) in the GPU process, so drawing costs CPU there, not on the page's main thread.

    .venv/bin/python benchmarks/event_to_pixel.py --travellers 100000 --incidents 40
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402

from common import Server, land_point, log, percentile, seed_positions, summary_ms  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
PASSWORD = "event to pixel benchmark"
TARGET_P95_MS = 1000.0
TARGET_BUSY = 0.50
DRAW_TIMEOUT_S = 180.0
MARKER_TIMEOUT_S = 20.0

# Stamps, in the page, when each new incident's marker is first rendered.
PROBE_JS = """() => {
  const gd = document.querySelector('#live-map .js-plotly-plot');
  const map = window.crisisLive.layer.map;
  const live = window.crisisLive.state;
  const trace = live.config.incident_trace;
  window.__drawn = {};
  window.__longTasks = [];
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) { window.__longTasks.push([e.startTime, e.duration]); }
  }).observe({type: 'longtask', buffered: false});
  const check = () => {
    const data = gd.data && gd.data[trace];
    const full = gd._fullData && gd._fullData[trace];
    if (!data || !full || !data.customdata) { return; }
    const prefix = 'plotly-trace-layer-' + full.uid;
    const ids = data.customdata;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (window.__drawn[id] !== undefined || !(window.__want || {})[id]) { continue; }
      const p = map.project([data.lon[i], data.lat[i]]);
      const box = [[p.x - 2, p.y - 2], [p.x + 2, p.y + 2]];
      const hit = map.queryRenderedFeatures(box).some(f => f.layer && f.layer.id.indexOf(prefix) === 0);
      if (hit) { window.__drawn[id] = performance.timeOrigin + performance.now(); }
    }
  };
  window.__renders = 0;
  window.__renderAt = [];
  map.on('render', () => { window.__renders += 1; window.__renderAt.push(performance.timeOrigin + performance.now()); check(); });
  // Every GeoJSON setData (the travellers', the incidents', Plotly's), by source id.
  window.__setData = {};
  const proto = Object.getPrototypeOf(map.getSource(window.crisisLive.TRAV_SOURCE));
  if (!proto.__benchWrapped) {
    const setData = proto.setData;
    proto.setData = function (d) {
      window.__setData[this.id] = (window.__setData[this.id] || 0) + 1;
      return setData.apply(this, arguments);
    };
    proto.__benchWrapped = true;
  }
  window.__want = {};
}"""

DRAWN_JS = """n => {
  const live = window.crisisLive;
  if (!live || !live.layer.map) { return false; }
  const map = live.layer.map, source = map.getSource(live.TRAV_SOURCE);
  if (!source || live.layer.stats.points < n || !source.loaded()) { return false; }
  const shown = map.queryRenderedFeatures({layers: live.TRAV_LAYERS});
  return shown.length > 0 ? performance.now() : false;
}"""


class Mover(threading.Thread):
    """Moves ``per_second`` random travellers a small step every second (one POST)."""

    def __init__(self, url: str, token: str, positions: dict[str, list[float]], per_second: int, seed: int) -> None:
        super().__init__(daemon=True, name="mover")
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.positions = positions
        self.ids = list(positions)
        self.per_second = per_second
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.posted = 0
        self.errors: list[str] = []
        self.post_s: list[float] = []

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            batch: list[dict[str, Any]] = []
            for tid in self.rng.sample(self.ids, min(self.per_second, len(self.ids))):
                lat, lon = self.positions[tid]
                lat = max(-85.0, min(85.0, lat + self.rng.uniform(-0.02, 0.02)))
                lon = ((lon + self.rng.uniform(-0.02, 0.02) + 180.0) % 360.0) - 180.0
                self.positions[tid] = [lat, lon]
                batch.append({"traveller_id": tid, "lat": round(lat, 6), "lon": round(lon, 6)})
            started = time.monotonic()
            try:
                answer = self.session.post(f"{self.url}/api/v1/positions", json=batch, timeout=30)
                if answer.status_code != 202:
                    self.errors.append(f"{answer.status_code}: {answer.text[:200]}")
                else:
                    self.posted += len(batch)
            except requests.RequestException as exc:
                self.errors.append(repr(exc))
            self.post_s.append(time.monotonic() - started)
            next_at += 1.0
            self.stop.wait(max(0.0, next_at - time.monotonic()))


def _renderers() -> list[int]:
    """Pids of the Chromium renderer processes (the page's main thread is each one's first thread)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"--type=renderer" in cmdline and b"chromium" in cmdline.split(b"\0")[0] and b"--extension-process" not in cmdline:
            found.append(int(proc.name))
    return found


def _thread_cpu(pid: int, tid: int | None = None) -> float:
    """CPU seconds of a process (tid None) or of one of its threads."""
    path = Path(f"/proc/{pid}/stat") if tid is None else Path(f"/proc/{pid}/task/{tid}/stat")
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / 100.0


def _cpu_snapshot() -> dict[int, tuple[float, float]]:
    """{renderer pid: (its main thread's CPU s, the whole process's CPU s incl. MapLibre's workers)}."""
    return {pid: (_thread_cpu(pid, pid), _thread_cpu(pid)) for pid in _renderers()}


def _metric(cdp: Any, name: str) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == name))


def run(travellers: int = 100_000, incidents: int = 40, moving: int = 1000, min_gap_s: float = 1.0,
        max_gap_s: float = 2.0, seed: int = 11, variant: str = "gate", alternate: int = 0) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    rng = random.Random(seed)
    with Server() as server:
        feed_token = server.token("bench-feed", "feed")
        server.add_user("bench-officer", "duty_officer", PASSWORD)
        log(f"[event_to_pixel] server {server.url}; seeding {travellers:,} travellers")
        t0 = time.monotonic()
        positions = seed_positions(server.url, feed_token, travellers, lambda i: land_point(rng))
        seed_s = time.monotonic() - t0
        mover = Mover(server.url, feed_token, positions, moving, seed + 1)
        mover.start()
        try:
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    return _measure(chromium, server, feed_token, travellers, incidents, rng, min_gap_s, max_gap_s,
                                    mover, seed_s, moving, variant, alternate)
                finally:
                    chromium.close()
        finally:
            mover.stop.set()
            mover.join(10)


def _measure(chromium: Any, server: Server, feed_token: str, travellers: int, incidents: int, rng: random.Random,
             min_gap_s: float, max_gap_s: float, mover: Mover, seed_s: float, moving: int,
             variant: str = "gate", alternate: int = 0) -> dict[str, Any]:
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    if variant == "before":
        # For comparison: every frame MapLibre asks for is drawn, as before the frame gate
        # (assets/crisis_live_frames.js reads this switch when it wires a map).
        page.add_init_script("window.CRISIS_FRAME_GATE = false;")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/login")
    page.fill("#username", "bench-officer")
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("#live-map .maplibregl-canvas", timeout=60_000)
    # The measured first draw: a fresh navigation to the live map, signed in.
    log("[event_to_pixel] measuring the initial draw")
    page.goto(server.url + "/")
    handle = page.wait_for_function(DRAWN_JS, arg=travellers, timeout=DRAW_TIMEOUT_S * 1000, polling=50)
    initial_draw_ms = float(handle.json_value())
    page.wait_for_selector(".live-status.ok", timeout=30_000)
    page.wait_for_timeout(3000)  # let the first burst settle
    page.evaluate(PROBE_JS)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    if PROFILE:
        cdp.send("Profiler.enable")
        cdp.send("Profiler.start")
    trace: list[dict[str, Any]] = []
    readback: dict[str, float] = {}
    if TRACE:
        traced = threading.Event()
        cdp.on("Tracing.dataCollected", lambda params: trace.extend(params["value"]))
        cdp.on("Tracing.tracingComplete", lambda params: traced.set())
        cdp.send("Tracing.start", {"categories": TRACE_CATEGORIES, "transferMode": "ReportEvents"})
    layer0 = page.evaluate("() => Object.assign({}, window.crisisLive.layer.stats)")
    busy0, wall0 = _metric(cdp, "TaskDuration"), time.monotonic()
    cpu0 = _cpu_snapshot()
    page_t0 = page.evaluate("() => performance.now()")

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {feed_token}"
    posted: list[tuple[str, float, float]] = []
    log(f"[event_to_pixel] posting {incidents} incidents")
    blocks: list[dict[str, Any]] = []

    def close_block() -> None:
        if blocks:
            b = blocks[-1]
            b["renders"] = page.evaluate("() => window.__renders") - b["renders0"]
            b["busy_s"] = _metric(cdp, "TaskDuration") - b["busy0"]
            b["wall_s"] = time.monotonic() - b["wall0"]

    for i in range(incidents):
        if alternate and i % alternate == 0:
            close_block()
            gate_on = (i // alternate) % 2 == 1
            page.evaluate("on => { window.CRISIS_FRAME_GATE = on; }", gate_on)
            blocks.append({"gate": gate_on, "first": i, "renders0": page.evaluate("() => window.__renders"),
                           "busy0": _metric(cdp, "TaskDuration"), "wall0": time.monotonic()})
        lat, lon = land_point(rng)
        body: dict[str, Any] = {"title": f"pixel {i}", "type": "armed_conflict", "severity": rng.randint(1, 5), "lat": lat,
                "lon": lon, "description": "event to pixel"}
        if rng.random() < 0.5:
            body["radius_km"] = round(rng.uniform(5, 150), 1)
        sent = time.time()
        answer = session.post(f"{server.url}/api/v1/incidents", json=body, timeout=30)
        returned = time.time()
        if answer.status_code != 201:
            raise RuntimeError(f"POST /incidents answered {answer.status_code}: {answer.text[:300]}")
        incident_id = answer.json()["id"]
        page.evaluate("id => { window.__want[id] = true; }", incident_id)
        posted.append((incident_id, sent, returned))
        page.wait_for_timeout(rng.uniform(min_gap_s, max_gap_s) * 1000)
    close_block()
    deadline = time.monotonic() + MARKER_TIMEOUT_S
    drawn: dict[str, float] = {}
    while time.monotonic() < deadline:
        drawn = page.evaluate("() => window.__drawn")
        if all(p[0] in drawn for p in posted):
            break
        page.wait_for_timeout(200)
    busy1, wall1 = _metric(cdp, "TaskDuration"), time.monotonic()
    cpu1 = _cpu_snapshot()
    if PROFILE:
        _print_profile(cdp.send("Profiler.stop")["profile"])
    if TRACE:
        cdp.send("Tracing.end")
        while not traced.is_set():
            page.wait_for_timeout(200)
        readback = _print_trace(trace)
    page_t1 = page.evaluate("() => performance.now()")
    long_tasks = page.evaluate("([a, b]) => window.__longTasks.filter(t => t[0] >= a && t[0] <= b)", [page_t0, page_t1])
    layer1 = page.evaluate("() => Object.assign({}, window.crisisLive.layer.stats)")
    renders = page.evaluate("() => window.__renders")
    render_at = page.evaluate("() => window.__renderAt")
    set_data = page.evaluate("() => window.__setData")
    frames1 = page.evaluate("() => Object.assign({}, window.crisisLive.frames || {})")
    window_s = wall1 - wall0
    latencies = [drawn[i] / 1000.0 - sent for i, sent, _ in posted if i in drawn]
    from_return = [drawn[i] / 1000.0 - ret for i, _, ret in posted if i in drawn]
    updates = layer1["updates"] - layer0["updates"]
    result: dict[str, Any] = {
        "travellers": travellers,
        "variant": variant,
        "moving_per_s": moving,
        "incidents": incidents,
        "seed_s": seed_s,
        "initial_draw_ms": initial_draw_ms,
        "drawn": len(latencies),
        "missing": len(posted) - len(latencies),
        "latency_ms": summary_ms(latencies),
        "latencies_in_order_ms": [round((drawn[i] / 1000.0 - sent) * 1000) if i in drawn else None
                                  for i, sent, _ in posted],
        "layer_stats": layer1,
        "frame_gate": frames1,
        "latency_p95_ms": percentile(sorted(latencies), 95) * 1000 if latencies else float("nan"),
        "from_response_ms": summary_ms(from_return),
        "window_s": window_s,
        "busy_share": (busy1 - busy0) / window_s if window_s else float("nan"),
        "long_tasks": len(long_tasks),
        "long_task_share": sum(t[1] for t in long_tasks) / ((page_t1 - page_t0) or 1.0),
        "layer_updates": updates,
        # Recomputations that would have drawn the same pixels, so not sent (crisis_live.js).
        "layer_updates_skipped": layer1.get("skipped", 0) - layer0.get("skipped", 0),
        # The busiest renderer is the page's (the login page's is gone): CPU, not wall, so
        # not inflated by waiting for a core on a loaded machine.
        "main_cpu_share": max((cpu1[p][0] - cpu0[p][0] for p in cpu1 if p in cpu0), default=float("nan")) / window_s,
        "renderer_cpu_share": max((cpu1[p][1] - cpu0[p][1] for p in cpu1 if p in cpu0), default=float("nan")) / window_s,
        "load_average": Path("/proc/loadavg").read_text().split()[0],
        "map_frames_per_s": renders / window_s if window_s else float("nan"),
        "map_frames": renders,
        # Frames per incident: all frames of the window over the incidents; and the frames in
        # the 1 s after each POST (its own, the rings it changes, and any travellers update then).
        "frames_per_incident": renders / len(posted) if posted else float("nan"),
        "frames_within_1s": summary_count([sum(1 for t in render_at if sent <= t / 1000.0 < sent + 1.0)
                                           for _, sent, _ in posted]),
        "set_data": set_data,
        "readback": readback,
        "layer_update_ms_mean": (layer1["totalMs"] - layer0["totalMs"]) / updates if updates else float("nan"),
        "layer_update_ms_max": layer1["maxMs"],
        "layer_points": layer1["points"],
        "layer_full_sets": layer1["full"],
        "moved": mover.posted,
        "mover_errors": len(mover.errors),
        "mover_post_ms": summary_ms(mover.post_s),
        "page_errors": errors,
        "_raw_latency_s": latencies,  # for pooling runs (run_all.py); not printed
    }
    if blocks:
        # The frame gate off and on in turns, on the same page, server and load (--alternate).
        by_variant: dict[str, Any] = {}
        for b in blocks:
            ids = [p[0] for p in posted[b["first"]:b["first"] + alternate]]
            sent_at = {p[0]: p[1] for p in posted}
            v = by_variant.setdefault("gate" if b["gate"] else "before",
                                      {"blocks": 0, "incidents": 0, "renders": 0, "busy_s": 0.0, "wall_s": 0.0, "lat": []})
            v["blocks"] += 1
            v["incidents"] += len(ids)
            v["renders"] += b["renders"]
            v["busy_s"] += b["busy_s"]
            v["wall_s"] += b["wall_s"]
            v["lat"] += [drawn[i] / 1000.0 - sent_at[i] for i in ids if i in drawn]
        for v in by_variant.values():
            v["frames_per_incident"] = v["renders"] / v["incidents"] if v["incidents"] else float("nan")
            v["frames_per_s"] = v["renders"] / v["wall_s"] if v["wall_s"] else float("nan")
            v["busy_share"] = v["busy_s"] / v["wall_s"] if v["wall_s"] else float("nan")
            v["busy_ms_per_frame"] = 1000 * v["busy_s"] / v["renders"] if v["renders"] else float("nan")
            v["latency_ms"] = summary_ms(v["lat"]) if v["lat"] else {}
            v["latency_p95_ms"] = percentile(sorted(v["lat"]), 95) * 1000 if v["lat"] else float("nan")
            del v["lat"]
        result["alternate"] = {"every": alternate, "variants": by_variant}
    result["target_met"] = bool(result["missing"] == 0 and result["latency_p95_ms"] < TARGET_P95_MS
                                and result["busy_share"] < TARGET_BUSY)
    page.close()
    return result


PROFILE = False
TRACE = False
TRACE_CATEGORIES = "devtools.timeline,disabled-by-default-devtools.timeline,toplevel,gpu,cc"


def summary_count(values: list[int]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {"mean": float("nan"), "p50": float("nan"), "max": float("nan")}
    return {"mean": sum(values) / len(values), "p50": float(values[len(values) // 2]), "max": float(values[-1])}


def _print_trace(events: list[dict[str, Any]], top: int = 20) -> dict[str, float]:
    """Diagnosis: where the page's main thread spends its task time over the incident window, in
    wall time and in CPU time (trace events' ``dur`` and ``tdur``; nested events include their
    children). A large wall time with little CPU is a wait: for a core, or for the GPU process."""
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    spans = [e for e in events if e.get("ph") == "X"]
    per_thread: dict[tuple[int, int], int] = {}
    for e in spans:
        per_thread[(e["pid"], e["tid"])] = per_thread.get((e["pid"], e["tid"]), 0) + 1
    mains = [k for k, name in threads.items() if name == "CrRendererMain"]
    if not mains:
        log("[event_to_pixel] trace: no renderer main thread found")
        return {}
    main = max(mains, key=lambda k: per_thread.get(k, 0))
    by_name: dict[str, list[float]] = {}
    for e in spans:
        if (e["pid"], e["tid"]) == main:
            row = by_name.setdefault(e["name"], [0, 0.0, 0.0])
            row[0] += 1
            row[1] += e.get("dur", 0) / 1000.0
            row[2] += e.get("tdur", 0) / 1000.0
    log("[event_to_pixel] page main thread, trace events by wall time (count, wall ms, CPU ms):")
    for name, (n, wall, cpu) in sorted(by_name.items(), key=lambda kv: -kv[1][1])[:top]:
        log(f"  {n:6.0f} {wall:9.0f} {cpu:9.0f}  {name}")
    # The per-frame cost: the synchronous readback of the WebGL canvas (software compositing).
    reads = [e.get("dur", 0) / 1000.0 for e in spans if (e["pid"], e["tid"]) == main and e["name"] == "GLES2::ReadPixels"]
    reads.sort()
    if not reads:
        return {}
    return {"count": float(len(reads)), "total_ms": sum(reads), "mean_ms": sum(reads) / len(reads),
            "p50_ms": reads[len(reads) // 2], "max_ms": reads[-1]}


def _print_profile(profile: dict[str, Any], top: int = 25) -> None:
    """Diagnosis: the page's JavaScript self time by function over the incident window."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    counts: dict[int, int] = {}
    for sample in profile.get("samples", []):
        counts[sample] = counts.get(sample, 0) + 1
    deltas = profile.get("timeDeltas", [])
    per_sample = (sum(deltas) / len(deltas) / 1000.0) if deltas else 0.0
    by_fn: dict[str, float] = {}
    for node_id, n in counts.items():
        frame = nodes[node_id]["callFrame"]
        key = f"{frame['functionName'] or '(anonymous)'} {frame['url'].rsplit('/', 1)[-1][:40]}:{frame['lineNumber']}"
        by_fn[key] = by_fn.get(key, 0.0) + n * per_sample
    total = sum(by_fn.values()) or 1.0
    log("[event_to_pixel] JS self time by function (ms, share):")
    for key, ms in sorted(by_fn.items(), key=lambda kv: -kv[1])[:top]:
        log(f"  {ms:9.0f}  {100 * ms / total:5.1f} %  {key}")


def format_result(r: dict[str, Any]) -> str:
    s = r["latency_ms"]
    lines = [
        f"{r['travellers']:,} travellers ({r['moving_per_s']:,} moving each second: {r['moved']:,} positions posted "
        f"during the run, {r['mover_errors']} refused; POST p50 {r['mover_post_ms']['p50']:.0f} ms), "
        f"{r['incidents']} incidents, live map in headless Chromium 1600x900"
        f"{' (frame gate switched off, as before)' if r.get('variant') == 'before' else ''}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| initial draw: navigation -> all {r['travellers']:,} travellers in the layer and rendered | "
        f"{r['initial_draw_ms']:,.0f} ms |",
        f"| **incident POST sent -> marker rendered, p50 / p95** | **{s['p50']:.0f} / {r['latency_p95_ms']:.0f} ms** "
        f"(max {s['max']:.0f}, min {s['min']:.0f}; {r['drawn']} drawn, {r['missing']} never) |",
        f"| POST response -> marker rendered, p50 / p99 | {r['from_response_ms']['p50']:.0f} / "
        f"{r['from_response_ms']['p99']:.0f} ms |",
        f"| **main thread busy (CDP TaskDuration / wall)** | **{100 * r['busy_share']:.1f} %** over "
        f"{r['window_s']:.0f} s |",
        f"| page's main thread CPU time / wall (not inflated by waiting for a core) | {100 * r['main_cpu_share']:.1f} % "
        f"(the whole renderer process, with MapLibre's workers: {100 * r['renderer_cpu_share']:.1f} % of a core; "
        f"load average {r['load_average']}) |",
        f"| long tasks (> 50 ms) | {r['long_tasks']}, {100 * r['long_task_share']:.1f} % of the window |",
        f"| travellers layer updates in the window | {r['layer_updates']}, {r.get('layer_updates_skipped', 0)} of them "
        f"not sent (the same pixels) (main thread {r['layer_update_ms_mean']:.1f} "
        f"ms each on average, max {r['layer_update_ms_max']:.0f} ms over the page's life; the last one drawn "
        f"{r['layer_stats'].get('workerMs', float('nan')):.0f} ms after it was sent) |",
        f"| map frames rendered (MapLibre render events) | {r['map_frames_per_s']:.1f} per second, "
        f"{r['map_frames']} in all: {r['frames_per_incident']:.2f} per incident; in the 1 s after a POST mean "
        f"{r['frames_within_1s']['mean']:.2f}, max {r['frames_within_1s']['max']:.0f} |",
        f"| GeoJSON setData calls in the window, by source | "
        f"{', '.join(f'{k}: {v}' for k, v in sorted(r['set_data'].items())) or '-'} |",
        f"| seeding {r['travellers']:,} positions | {r['seed_s']:.1f} s |",
    ]
    if r.get("readback"):
        rb = r["readback"]
        lines.append(f"| canvas readbacks (GLES2::ReadPixels on the main thread, from the trace) | {rb['count']:.0f}, "
                     f"mean {rb['mean_ms']:.0f} ms, p50 {rb['p50_ms']:.0f} ms, max {rb['max_ms']:.0f} ms; "
                     f"{rb['total_ms'] / 1000:.1f} s of {r['window_s']:.0f} s |")
    if r.get("alternate"):
        lines += ["", f"Frame gate off and on in turns, every {r['alternate']['every']} incidents (same page, server "
                  "and load):", "",
                  "| variant | incidents | frames per incident | frames per second | main thread busy (wall) | "
                  "busy ms per frame | latency p50 / p95 |", "|---|---|---|---|---|---|---|"]
        for name, v in r["alternate"]["variants"].items():
            lat = v["latency_ms"]
            lines.append(f"| {name} | {v['incidents']} ({v['blocks']} blocks) | {v['frames_per_incident']:.2f} | "
                         f"{v['frames_per_s']:.2f} | {100 * v['busy_share']:.1f} % | {v['busy_ms_per_frame']:.0f} | "
                         f"{(str(round(lat['p50'])) + ' / ' + str(round(v['latency_p95_ms'])) + ' ms') if lat else '-'} |")
    if r["page_errors"]:
        lines.append(f"| page errors | {len(r['page_errors'])}: {r['page_errors'][:3]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--travellers", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=40)
    parser.add_argument("--moving", type=int, default=1000, help="travellers moved each second")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--variant", choices=("gate", "before"), default="gate",
                        help="diagnosis: 'before' switches the frame gate off (assets/crisis_live_frames.js)")
    parser.add_argument("--alternate", type=int, default=0, metavar="N",
                        help="diagnosis: the frame gate off and on in turns every N incidents, compared in one run")
    parser.add_argument("--profile", action="store_true", help="diagnosis: print the page's JS self time by function")
    parser.add_argument("--trace", action="store_true",
                        help="diagnosis: print the page's main thread trace events by wall and CPU time")
    args = parser.parse_args(argv)
    global PROFILE, TRACE
    PROFILE = args.profile
    TRACE = args.trace
    result = run(args.travellers, args.incidents, args.moving, seed=args.seed, variant=args.variant,
                 alternate=args.alternate)
    print(format_result(result))
    verdict = "MET" if result["target_met"] else "NOT MET"
    print(f"\ntarget p95 < {TARGET_P95_MS:.0f} ms and main thread busy < {100 * TARGET_BUSY:.0f} %: {verdict}")
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
