"""Workspaces: the wall, a duty officer and a regional desk open at once in one headless
Chromium; page load -> map drawn with data, and incident POST -> marker drawn on each page.

A fresh server is started (``crisis serve``, benchmarks/common.py). ``--travellers``
travellers get a position, ``--moving`` of them move every second for the whole run
(benchmarks/event_to_pixel.py's load generator), and ``--seed-incidents`` incidents are
posted before the pages open. Three accounts sign in, each in its own browser context of
one Chromium (Debian's /usr/bin/chromium, the browser tests' flags, software WebGL):

- **wall**: ``/wall`` when the server has it (role ``wall``), else ``/`` signed in as the
  wall account;
- **duty officer**: ``/``;
- **regional desk** (Middle East and North Africa): ``/``.

Every incident is placed in the desk's region (land between Jordan, Iraq and Saudi
Arabia), so each page must draw each one.

- **load**: ``--loads`` times, the three pages are navigated at once; for each, two times
  from its navigation start:

  - **picture**: the map's picture with the data painted (crisis/ui/map_preview.py: an
    ``<img>`` in the page's first HTML; its Element Timing ``renderTime``, the frame in which
    the browser painted it, as assets/crisis_preview.js records it). That the picture holds
    the data is checked once per page after the loads (its ``data-incidents``: every seeded
    incident);
  - **interactive**: the first moment the interactive map shows the data: every seeded
    incident drawn (a rendered MapLibre feature of the incident trace under its position, or
    on a wall its marker element ``[data-incident-ids]``) and the travellers layer rendered
    (when there are travellers);
- **incident**: ``--incidents`` incidents are POSTed ``--gap`` apart (random 1-2 s by
  default); on each page the moment its marker is first drawn (on a map page, the first
  MapLibre ``render`` in which it is there; on the wall, the moment its marker element is
  added, before the browser paints it) minus the POST sent (the same wall clock).

    .venv/bin/python benchmarks/workspaces.py --incidents 20
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402

from common import ROOT, Server, land_point, log, percentile, seed_positions, summary_ms  # noqa: E402
from event_to_pixel import CHROMIUM, CHROMIUM_ARGS, Mover  # noqa: E402

PASSWORD = "workspaces benchmark"
TARGET_P95_MS = 1000.0
DESK_REGION = "middle_east_north_africa"
# Land in the desk's region: Jordan, Iraq, northern Saudi Arabia.
INCIDENT_BOX = (25.0, 33.0, 38.0, 46.0)  # lat0, lat1, lon0, lon1
LOAD_TIMEOUT_S = 120.0
MARKER_TIMEOUT_S = 20.0

# True (performance.now()) once the page's map shows every incident in `want` and (when
# `travellers`) its travellers layer; false until then. A wall with its own markers is read
# from its marker elements.
DRAWN_JS = """([want, travellers]) => {
  const live = window.crisisLive;
  const wall = document.getElementById('wall-markers');
  if (!live || !live.layer || !live.layer.map || !live.state.config) { return false; }
  const map = live.layer.map;
  if (travellers > 0) {
    const source = map.getSource(live.TRAV_SOURCE);
    if (!source || !live.layer.stats.points || map.queryRenderedFeatures({layers: live.TRAV_LAYERS}).length === 0) {
      return false;
    }
  }
  if (wall) {
    const shown = new Set();
    wall.querySelectorAll('[data-incident-ids]').forEach(m => m.dataset.incidentIds.split(' ').forEach(i => shown.add(i)));
    return want.every(id => shown.has(id)) ? performance.now() : false;
  }
  const gd = document.querySelector('#live-map .js-plotly-plot');
  const trace = live.state.config.incident_trace;
  const data = gd && gd.data && gd.data[trace], full = gd && gd._fullData && gd._fullData[trace];
  if (!data || !full || !data.customdata) { return false; }
  const ids = Array.from(data.customdata), prefix = 'plotly-trace-layer-' + full.uid;
  for (const id of want) {
    const i = ids.indexOf(id);
    if (i < 0) { return false; }
    const p = map.project([data.lon[i], data.lat[i]]);
    const hit = map.queryRenderedFeatures([[p.x - 2, p.y - 2], [p.x + 2, p.y + 2]])
      .some(f => f.layer && f.layer.id.indexOf(prefix) === 0);
    if (!hit) { return false; }
  }
  return performance.now();
}"""

# When the map's picture was painted (performance.now() time), null if it never was.
PICTURE_JS = """() => { const p = window.crisisPreview;
  const got = performance.getEntriesByType('resource').filter(r => r.name.indexOf('/_crisis/map-preview.svg') >= 0)[0];
  const dash = performance.getEntriesByType('resource').filter(r => r.name.indexOf('dash_renderer') >= 0)[0];
  return p ? {painted: p.paintedAt !== null ? p.paintedAt : p.decodedAt, removed: p.removed, replaced: p.replacedAt,
              requested: got ? got.requestStart : null, received: got ? got.responseEnd : null,
              renderer: dash ? dash.responseEnd : null}
           : null; }"""

# Stamps, in the page, when each wanted incident's marker is first drawn.
PROBE_JS = """() => {
  window.__want = {};
  window.__drawn = {};
  const live = window.crisisLive, map = live.layer.map;
  const wall = document.getElementById('wall-markers');
  const now = () => performance.timeOrigin + performance.now();
  if (wall) {
    const check = () => {
      wall.querySelectorAll('[data-incident-ids]').forEach(m => m.dataset.incidentIds.split(' ').forEach(id => {
        if (window.__want[id] && window.__drawn[id] === undefined) { window.__drawn[id] = now(); }
      }));
    };
    new MutationObserver(check).observe(wall, {childList: true, subtree: true, attributes: true});
    window.__check = check;
    return 'wall';
  }
  const gd = document.querySelector('#live-map .js-plotly-plot');
  const trace = live.state.config.incident_trace;
  const check = () => {
    const data = gd.data && gd.data[trace], full = gd._fullData && gd._fullData[trace];
    if (!data || !full || !data.customdata) { return; }
    const prefix = 'plotly-trace-layer-' + full.uid, ids = data.customdata;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!window.__want[id] || window.__drawn[id] !== undefined) { continue; }
      const p = map.project([data.lon[i], data.lat[i]]);
      if (map.queryRenderedFeatures([[p.x - 2, p.y - 2], [p.x + 2, p.y + 2]])
            .some(f => f.layer && f.layer.id.indexOf(prefix) === 0)) { window.__drawn[id] = now(); }
    }
  };
  map.on('render', check);
  window.__check = check;
  return 'map';
}"""


def _incident_point(rng: random.Random) -> tuple[float, float]:
    lat0, lat1, lon0, lon1 = INCIDENT_BOX
    return round(rng.uniform(lat0, lat1), 5), round(rng.uniform(lon0, lon1), 5)


def _post_incident(session: requests.Session, url: str, rng: random.Random, title: str) -> tuple[str, float]:
    lat, lon = _incident_point(rng)
    body: dict[str, Any] = {"title": title, "type": "armed_conflict", "severity": rng.randint(1, 5), "lat": lat,
                            "lon": lon, "description": "workspaces benchmark"}
    if rng.random() < 0.5:
        body["radius_km"] = round(rng.uniform(5, 80), 1)
    sent = time.time()
    answer = session.post(f"{url}/api/v1/incidents", json=body, timeout=30)
    if answer.status_code != 201:
        raise RuntimeError(f"POST /incidents answered {answer.status_code}: {answer.text[:300]}")
    return str(answer.json()["id"]), sent


def run(travellers: int = 10_000, incidents: int = 20, seed_incidents: int = 10, loads: int = 5, moving: int = 200,
        min_gap_s: float = 1.0, max_gap_s: float = 2.0, seed: int = 17) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    rng = random.Random(seed)
    with Server() as server:
        feed_token = server.token("bench-feed", "feed")
        server.add_user("bench-officer", "duty_officer", PASSWORD)
        server.add_user("bench-desk", "regional_desk", PASSWORD, DESK_REGION)
        server.add_user("bench-wall", "wall", PASSWORD)
        # Dash routes every path in the page, so an unknown one is no 404: the page module tells.
        wall_path = "/wall" if (ROOT / "crisis" / "ui" / "pages" / "wall.py").exists() else "/"
        log(f"[workspaces] server {server.url}; wall page {wall_path}; seeding {travellers:,} travellers")
        # one in ten in the desk's region, so each page has some
        positions = seed_positions(server.url, feed_token, travellers,
                                   lambda i: _incident_point(rng) if i % 10 == 0 else land_point(rng),
                                   prefix="W") if travellers else {}
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {feed_token}"
        seeded = [_post_incident(session, server.url, rng, f"seeded {i}")[0] for i in range(seed_incidents)]
        mover = Mover(server.url, feed_token, positions, moving, seed + 1) if travellers and moving else None
        if mover:
            mover.start()
        try:
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    result = _measure(chromium, server, session, rng, wall_path, seeded, travellers, incidents, loads,
                                      min_gap_s, max_gap_s)
                finally:
                    chromium.close()
        finally:
            if mover:
                mover.stop.set()
                mover.join(10)
        result.update(travellers=travellers, moving_per_s=moving if mover else 0, seed_incidents=seed_incidents,
                      moved=mover.posted if mover else 0, mover_errors=len(mover.errors) if mover else 0,
                      load_average=Path("/proc/loadavg").read_text().split()[0])
        return result


def _measure(chromium: Any, server: Server, session: requests.Session, rng: random.Random, wall_path: str,
             seeded: list[str], travellers: int, incidents: int, loads: int, min_gap_s: float,
             max_gap_s: float) -> dict[str, Any]:
    views = {"wall": ("bench-wall", wall_path, {"width": 1920, "height": 1080}),
             "duty officer": ("bench-officer", "/", {"width": 1600, "height": 900}),
             "regional desk": ("bench-desk", "/", {"width": 1600, "height": 900})}
    pages: dict[str, Any] = {}
    errors: dict[str, list[str]] = {name: [] for name in views}
    for name, (user, _path, viewport) in views.items():
        page = chromium.new_context(viewport=viewport).new_page()
        page.on("pageerror", lambda exc, name=name: errors[name].append(str(exc)))
        page.goto(server.url + "/login")
        page.fill("#username", user)
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_load_state("networkidle", timeout=60_000)
        pages[name] = page
    # Page load -> map drawn with data, the three navigated at once.
    load_ms: dict[str, list[float]] = {name: [] for name in views}
    picture_ms: dict[str, list[float]] = {name: [] for name in views}
    unpainted: dict[str, int] = {name: 0 for name in views}
    steps: dict[str, list[dict[str, Any]]] = {name: [] for name in views}
    replaced_ms: dict[str, list[float]] = {name: [] for name in views}  # the picture removed, the map shown
    not_replaced: dict[str, int] = {name: 0 for name in views}  # the picture's request, answer, paint
    # One in ten travellers is in the desk's region: every page has some to draw.
    need_travellers = {name: travellers for name in views}
    for round_ in range(loads + 1):  # the first round warms the caches and is not counted
        for name, page in pages.items():
            page.goto(server.url + views[name][1], wait_until="commit")
        for name, page in pages.items():
            handle = page.wait_for_function(DRAWN_JS, arg=[seeded, need_travellers[name]], timeout=LOAD_TIMEOUT_S * 1000,
                                            polling=50)
            if round_ > 0:
                load_ms[name].append(float(handle.json_value()))
                try:  # the picture must go once the map is drawn (assets/crisis_preview.js): give it 10 s
                    page.wait_for_function("() => !window.crisisPreview || window.crisisPreview.removed !== null",
                                           timeout=10_000, polling=50)
                except Exception:  # noqa: BLE001 (Playwright's TimeoutError: counted below as not replaced)
                    pass
                shown = page.evaluate(PICTURE_JS)
                if shown and shown["replaced"] is not None:
                    replaced_ms[name].append(float(shown["replaced"]))
                else:
                    not_replaced[name] += 1
                if shown and shown["painted"] is not None:
                    picture_ms[name].append(float(shown["painted"]))
                    steps[name].append({k: round(v) if isinstance(v, float) else v for k, v in shown.items()})
                else:
                    unpainted[name] += 1
        log(f"[workspaces] load round {round_}: " + ", ".join(
            f"{n} picture {picture_ms[n][-1] if picture_ms[n] else float('nan'):.0f} / map {v[-1]:.0f} ms"
            for n, v in load_ms.items() if v))
    # The picture holds the data: every seeded incident (all in every page's view and scope).
    pictured: dict[str, int | None] = {}
    for name, page in pages.items():
        svg = page.evaluate("() => fetch('/_crisis/map-preview.svg?page=' + "
                            "(document.getElementById('wall-root') ? 'wall' : 'live')).then(r => r.ok ? r.text() : '')")
        found = re.search(r'data-incidents="(\d+)"', svg)
        pictured[name] = int(found.group(1)) if found else None
    # Incident POST -> marker drawn on each page.
    for page in pages.values():
        page.wait_for_timeout(1000)
        page.evaluate(PROBE_JS)
    posted: list[tuple[str, float]] = []
    log(f"[workspaces] posting {incidents} incidents")
    for i in range(incidents):
        incident_id, sent = _post_incident(session, server.url, rng, f"workspace {i}")
        for page in pages.values():
            page.evaluate("id => { window.__want[id] = true; window.__check(); }", incident_id)
        posted.append((incident_id, sent))
        time.sleep(rng.uniform(min_gap_s, max_gap_s))
    latency_s: dict[str, list[float]] = {}
    missing: dict[str, int] = {}
    for name, page in pages.items():
        deadline = time.monotonic() + MARKER_TIMEOUT_S
        drawn: dict[str, float] = {}
        while time.monotonic() < deadline:
            drawn = page.evaluate("() => window.__drawn")
            if all(p[0] in drawn for p in posted):
                break
            page.wait_for_timeout(200)
        latency_s[name] = [drawn[i] / 1000.0 - sent for i, sent in posted if i in drawn]
        missing[name] = sum(1 for i, _ in posted if i not in drawn)
    per_page: dict[str, Any] = {}
    for name in views:
        lat = sorted(latency_s[name])
        loaded = sorted(load_ms[name])
        painted = sorted(picture_ms[name])
        per_page[name] = {
            "picture_ms": summary_ms([v / 1000.0 for v in painted]) if painted else {},
            "picture_p95_ms": percentile(painted, 95) if painted else float("nan"),
            "picture_unpainted": unpainted[name],
            "picture_incidents": pictured[name],
            "replaced_ms": summary_ms([v / 1000.0 for v in sorted(replaced_ms[name])]) if replaced_ms[name] else {},
            "not_replaced": not_replaced[name],
            "path": views[name][1],
            "load_ms": summary_ms([v / 1000.0 for v in loaded]) if loaded else {},
            "load_p95_ms": percentile(loaded, 95) if loaded else float("nan"),
            "latency_ms": summary_ms(lat) if lat else {},
            "latency_p95_ms": percentile(lat, 95) * 1000 if lat else float("nan"),
            "drawn": len(lat),
            "missing": missing[name],
            "errors": errors[name][:3],
            "_raw_latency_s": lat,
            "_raw_load_ms": loaded,
            "_raw_picture_ms": painted,
            "_picture_steps": steps[name],
        }
    # The load target: the first map with the data on the screen, i.e. the picture (holding
    # every seeded incident, painted on every load); the interactive map's time is reported beside it.
    met = all(p["missing"] == 0 and p["latency_p95_ms"] < TARGET_P95_MS and p["picture_p95_ms"] < TARGET_P95_MS
              and p["picture_unpainted"] == 0 and p["picture_incidents"] == len(seeded) for p in per_page.values())
    interactive_met = all(p["load_p95_ms"] < TARGET_P95_MS for p in per_page.values())
    return {"pages": per_page, "incidents": incidents, "loads": loads, "wall_path": wall_path, "target_met": met,
            "interactive_met": interactive_met, "seeded": len(seeded)}


def format_result(r: dict[str, Any]) -> str:
    lines = [
        f"{r['travellers']:,} travellers ({r['moving_per_s']:,} moving each second), {r['seed_incidents']} incidents "
        f"before the pages open, {r['incidents']} POSTed while they are open, {r['loads']} loads of the three pages at "
        f"once; wall page `{r['wall_path']}` 1920x1080, the others 1600x900; load average at the end "
        f"{r['load_average']}.",
        "",
        "| page | load -> first map with data (picture), p50 / p95 (max) | load -> interactive map drawn with data, "
        "p50 / p95 (max) | incidents in the picture | incident POST -> marker drawn, p50 / p95 (max) | drawn | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in r["pages"].items():
        load, lat, pic = p["load_ms"], p["latency_ms"], p["picture_ms"]
        pic_text = f"{pic['p50']:.0f} / {p['picture_p95_ms']:.0f} ms ({pic['max']:.0f})" if pic else "-"
        if p["picture_unpainted"]:
            pic_text += f", not painted in {p['picture_unpainted']} loads"
        load_text = f"{load['p50']:.0f} / {p['load_p95_ms']:.0f} ms ({load['max']:.0f})" if load else "-"
        lat_text = f"{lat['p50']:.0f} / {p['latency_p95_ms']:.0f} ms ({lat['max']:.0f})" if lat else "-"
        lines.append(f"| {name} (`{p['path']}`) | {pic_text} | {load_text} | {p['picture_incidents']} of {r['seeded']} "
                     f"| {lat_text} | {p['drawn']} of {p['drawn'] + p['missing']} | {len(p['errors'])} |")
    lines.append("")
    lines.append("The picture replaced by the interactive map (removed, ms from navigation start), p50 / max: " + "; ".join(
        f"{name} " + (f"{p['replaced_ms']['p50']:.0f} / {p['replaced_ms']['max']:.0f}" if p["replaced_ms"] else "-")
        + (f", still shown 10 s after the map was drawn in {p['not_replaced']} loads" if p["not_replaced"] else "")
        for name, p in r["pages"].items()) + ".")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--travellers", type=int, default=10_000)
    parser.add_argument("--moving", type=int, default=200, help="travellers moved each second")
    parser.add_argument("--incidents", type=int, default=20, help="incidents POSTed while the pages are open")
    parser.add_argument("--seed-incidents", type=int, default=10, help="incidents posted before the pages open")
    parser.add_argument("--loads", type=int, default=5, help="timed loads of the three pages")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    result = run(args.travellers, args.incidents, args.seed_incidents, args.loads, args.moving, seed=args.seed)
    print(format_result(result))
    verdict = "MET" if result["target_met"] else "NOT MET"
    print(f"\ntarget p95 < {TARGET_P95_MS:.0f} ms for each page's first map with data (the picture) and each "
          f"incident: {verdict}; the interactive map drawn with data p95 < {TARGET_P95_MS:.0f} ms: "
          f"{'MET' if result['interactive_met'] else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
