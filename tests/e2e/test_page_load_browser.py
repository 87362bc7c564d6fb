"""Opening a map page, in a real headless Chromium: what it must not do again (BENCHMARKS.md
section 10).

- The page's scripts and styles under /assets/ (linked with Dash's cache-buster ``?m=``) are
  kept by the browser: a second load asks the server for none of them.
- The map's first figure, drawn by the server, already holds the incidents: the page does not
  redraw the map with the same incidents when its socket's snapshot comes in (one Plotly draw,
  not two); a new incident still redraws it.
"""

from __future__ import annotations

from typing import Any

import requests

from tests.conftest import LiveServer
from tests.e2e.test_browser import login

# Counts Plotly draws of the live map (Plotly is loaded lazily by dcc.Graph: caught when set).
COUNT_DRAWS = """
(() => {
  window.__mapDraws = 0;
  let plotly;
  Object.defineProperty(window, 'Plotly', {configurable: true, get: () => plotly, set: (P) => {
    plotly = P;
    if (!P || P.__drawCounted) { return; }
    P.__drawCounted = true;
    const react = P.react;
    P.react = function (gd) {
      const el = typeof gd === 'string' ? document.getElementById(gd) : gd;
      if (el && el.closest && el.closest('#live-map')) { window.__mapDraws += 1; }
      return react.apply(this, arguments);
    };
  }});
})();
"""

MARKER_DRAWN = """id => { const gd = document.querySelector('#live-map .js-plotly-plot'), map = window.crisisLive.layer.map;
  if (!window.crisisLive.state.config) { return false; }  // the map may be wired before the socket starts
  const trace = window.crisisLive.state.config.incident_trace;
  const data = gd && gd.data[trace], full = gd && gd._fullData[trace];
  const i = data ? Array.from(data.customdata || []).indexOf(id) : -1;
  if (i < 0 || !map) { return false; }
  const p = map.project([data.lon[i], data.lat[i]]);
  return map.queryRenderedFeatures([[p.x - 2, p.y - 2], [p.x + 2, p.y + 2]])
    .some(f => f.layer && f.layer.id.indexOf('plotly-trace-layer-' + full.uid) === 0); }"""


def _stream_order(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _post(live_server: LiveServer, title: str, lat: float, lon: float) -> str:
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    answer = requests.post(live_server.url + "/api/v1/incidents", headers=feed, json={
        "title": title, "type": "flood", "severity": 3, "lat": lat, "lon": lon, "radius_km": 30})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_a_second_load_asks_for_no_page_script_or_style(browser: Any, live_server: LiveServer) -> None:
    page: Any = login(browser, live_server)
    page.goto(live_server.url + "/")
    page.wait_for_selector("#live-map .maplibregl-canvas", timeout=30_000)
    assets = page.evaluate(
        """() => performance.getEntriesByType('resource')
             .filter(r => new URL(r.name).pathname.startsWith('/assets/') && new URL(r.name).searchParams.has('m'))
             .map(r => [r.name, r.transferSize])"""
    )
    assert len(assets) >= 10, assets  # crisis_live.js, crisis_wall.js, app.css, ...
    # transferSize 0: from the browser's cache, no request (a 304 revalidation has headers to transfer)
    assert [a for a in assets if a[1] != 0] == [], assets
    answer = requests.get(assets[0][0])
    assert answer.status_code == 200
    assert "max-age=31536000" in answer.headers["Cache-Control"], answer.headers
    # Without the cache-buster an address may change content: not kept.
    bare = requests.get(assets[0][0].split("?")[0])
    assert "max-age=31536000" not in bare.headers.get("Cache-Control", ""), bare.headers
    assert page.errors == []
    page.close()


def test_the_servers_figure_is_not_redrawn_with_the_same_incidents(browser: Any, live_server: LiveServer) -> None:
    first = _post(live_server, "Drawn by the server", 9.5, 20.5)
    page: Any = login(browser, live_server)
    page.add_init_script(COUNT_DRAWS)
    page.goto(live_server.url + "/")
    page.wait_for_function(MARKER_DRAWN, arg=first, timeout=30_000)
    page.wait_for_selector(".live-status.ok", timeout=15_000)
    page.wait_for_timeout(1500)  # the socket's snapshot is in and flushed
    assert page.evaluate("id => window.crisisLive.state.incidents.has(id)", first)  # the snapshot is applied
    seen = page.evaluate("""() => ({draws: window.__mapDraws, last: window.crisisLive.state.lastIncidentId,
                                    head: window.crisisLive.state.mountedHead})""")
    # Nothing newer than the figure came (no incident changed on the server meanwhile): no redraw.
    assert seen["head"] and seen["last"], seen
    if _stream_order(seen["last"]) <= _stream_order(seen["head"]):
        assert seen["draws"] == 1, seen
    # A new incident is still drawn: one patch, the new marker under its place.
    second = _post(live_server, "Pushed over the socket", -3.0, 25.0)
    page.wait_for_function(MARKER_DRAWN, arg=second, timeout=15_000)
    assert page.evaluate("() => window.__mapDraws") >= 2
    assert page.errors == []
    page.close()
