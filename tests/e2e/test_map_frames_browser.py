"""The frame gate of the live map (assets/crisis_live_frames.js), in a real headless Chromium.

With software WebGL every frame MapLibre renders costs the page's main thread a wait for the
canvas readback (BENCHMARKS.md section 8). A GeoJSON data update used to render twice: once
when the worker had the data (drawing the old tiles again) and once when the new tiles were
in. The gate holds a repaint while tiles in view are still loading: one frame per update,
the new data always drawn, a moving map never held.
"""

from __future__ import annotations

from typing import Any

import requests

from tests.conftest import LiveServer
from tests.e2e.test_browser import login

# Adds a GeoJSON source and circle layer of the test's own; returns a function (on window)
# that sets n points, waits until they are rendered and the map is idle, and answers how many
# frames that took.
N_POINTS = 5000
SETUP_JS = """() => {
  const map = window.crisisLive.layer.map;
  map.addSource('frames-test', {type: 'geojson', data: {type: 'FeatureCollection', features: []}});
  map.addLayer({id: 'frames-test', type: 'circle', source: 'frames-test', paint: {'circle-radius': 5, 'circle-color': '#000'}});
  window.__frames = 0;
  map.on('render', () => { window.__frames += 1; });
  const N_POINTS = __N_POINTS__;
  window.__update = async (shift) => {
    const features = [];
    // Enough points that MapLibre's worker takes longer than a frame to tile them (200 took under
    // one on a quiet machine: MapLibre alone then drew each update once too, and the comparison
    // below said nothing).
    for (let i = 0; i < N_POINTS; i++) {
      features.push({type: 'Feature', properties: {shift: shift},
                     geometry: {type: 'Point', coordinates: [-120 + (i % 100) * 1.6 + shift, -40 + Math.floor(i / 100) * 1.6]}});
    }
    await new Promise(resolve => setTimeout(resolve, 400));  // nothing else in flight
    const before = window.__frames, released = window.crisisLive.frames.released, started = performance.now();
    map.getSource('frames-test').setData({type: 'FeatureCollection', features: features});
    // Until the new points are on screen and the map has settled (idle), at most 5 s.
    for (;;) {
      await new Promise(resolve => setTimeout(resolve, 50));
      const shown = map.queryRenderedFeatures({layers: ['frames-test']});
      if (shown.length > 0 && shown[0].properties.shift === shift && map.areTilesLoaded()) { break; }
      if (performance.now() - started > 5000) { return {frames: window.__frames - before, drawn: false}; }
    }
    await new Promise(resolve => setTimeout(resolve, 400));
    return {frames: window.__frames - before, drawn: true, ms: performance.now() - started,
            released: window.crisisLive.frames.released - released};
  };
}""".replace("__N_POINTS__", str(N_POINTS))


def _settled(page: Any) -> None:
    page.wait_for_function("() => window.crisisLive && window.crisisLive.frames && window.crisisLive.frames.maps > 0",
                           timeout=30_000)
    page.wait_for_timeout(1500)


def test_a_data_update_is_drawn_in_one_frame_not_two(browser: Any, live_server: LiveServer) -> None:
    page: Any = login(browser, live_server)
    _settled(page)
    page.evaluate(SETUP_JS)
    page.evaluate("s => window.__update(s)", 0)  # the new layer's own first frames
    gated = [page.evaluate("s => window.__update(s)", shift) for shift in (1, 2, 3)]
    page.evaluate("() => { window.CRISIS_FRAME_GATE = false; }")
    ungated = [page.evaluate("s => window.__update(s)", shift) for shift in (4, 5, 6)]
    page.evaluate("() => { window.CRISIS_FRAME_GATE = true; }")
    assert all(u["drawn"] for u in gated + ungated), (gated, ungated)
    stats = page.evaluate("() => window.crisisLive.frames")
    # One frame per update with the gate (the new points in it), unless the hold ran out
    # (HOLD_MAX_MS, a very loaded machine: then the old tiles are drawn once more); MapLibre
    # alone draws more.
    assert [u["frames"] - u["released"] for u in gated] == [1, 1, 1], (gated, stats)
    assert any(u["frames"] == 1 for u in gated), (gated, stats)
    assert sum(u["frames"] for u in ungated) > sum(u["frames"] for u in gated), (gated, ungated)
    assert page.errors == []
    page.close()


def test_a_moving_map_is_never_held_and_a_new_incident_is_drawn(browser: Any, live_server: LiveServer) -> None:
    page: Any = login(browser, live_server)
    _settled(page)
    # A map the user moves is never held: every frame it asks for while moving is drawn.
    moved = page.evaluate(
        """async () => { const map = window.crisisLive.layer.map, stats = window.crisisLive.frames;
                         let n = 0; const count = () => { n += 1; };
                         const held = stats.held;
                         map.on('render', count);
                         // holds from the ease's start to its end (once it has ended, a frame may be held
                         // again: a later move, Plotly's own after the ease, would count those)
                         const heldWhileMoving = new Promise(resolve => map.once('moveend', () => resolve(stats.held - held)));
                         map.easeTo({center: [30, 10], zoom: 2.5, duration: 800}, {originalEvent: new MouseEvent('wheel')});
                         // data arriving while the map moves (a GeoJSON source set again: its tiles reload,
                         // what the gate holds a still map for) must not hold a frame of the move
                         const [id] = Object.entries(map.getStyle().sources).find(([, s]) => s.type === 'geojson');
                         for (const at of [200, 400]) {
                           setTimeout(() => { const src = map.getSource(id); src.setData(src.serialize().data); }, at);
                         }
                         await new Promise(resolve => setTimeout(resolve, 1000));
                         map.off('render', count); return {frames: n, held: await heldWhileMoving}; }"""
    )
    assert moved["frames"] >= 2 and moved["held"] == 0, moved
    # A new incident is drawn (its marker rendered under its place), not held back.
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    incident = requests.post(live_server.url + "/api/v1/incidents", headers=feed, json={
        "title": "Frame gate check", "type": "flood", "severity": 4, "lat": 0.0, "lon": 22.0, "radius_km": 40}).json()
    page.wait_for_function(
        """id => { const gd = document.querySelector('#live-map .js-plotly-plot'), map = window.crisisLive.layer.map;
                   const trace = window.crisisLive.state.config.incident_trace;
                   const data = gd.data[trace], full = gd._fullData[trace];
                   const i = Array.from(data.customdata || []).indexOf(id);
                   if (i < 0) { return false; }
                   const p = map.project([data.lon[i], data.lat[i]]);
                   return map.queryRenderedFeatures([[p.x - 2, p.y - 2], [p.x + 2, p.y + 2]])
                     .some(f => f.layer && f.layer.id.indexOf('plotly-trace-layer-' + full.uid) === 0); }""",
        arg=incident["id"], timeout=10_000,
    )
    assert page.errors == []
    page.close()


def test_an_incident_redraw_leaves_the_basemap_and_other_areas_alone(browser: Any, live_server: LiveServer) -> None:
    """Plotly removes and adds again, at every redraw, each layout layer whose ``below`` another
    one shares, and MapLibre tiles its source again (crisis/layers/map_figure.py LAYER_BELOW);
    a layer whose source the figure assigns is replaced too, with a new source (a frame more).
    An incident redraws its own trace and sets its area into its severity's area source
    (assets/crisis_live.js applyAreas): no layout layer is removed, the new areas are drawn."""
    page: Any = login(browser, live_server)
    _settled(page)
    page.evaluate("""() => { const map = window.crisisLive.layer.map; window.__removed = []; window.__sourced = [];
                             const remove = map.removeLayer, removeSource = map.removeSource;
                             map.removeLayer = function (id) { window.__removed.push(id); return remove.apply(this, arguments); };
                             map.removeSource = function (id) { window.__sourced.push(id); return removeSource.apply(this, arguments); }; }""")
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    ids = []
    # In the eastern Pacific: far from the places tests/e2e/test_wall_browser.py stacks (one live server).
    for n, (lat, lon) in enumerate(((-10.0, -120.0), (-25.0, -85.0))):
        ids.append(requests.post(live_server.url + "/api/v1/incidents", headers=feed, json={
            "title": f"Layers check {n}", "type": "flood", "severity": 2, "lat": lat, "lon": lon, "radius_km": 300}).json()["id"])
    # Both markers and both areas drawn: the areas are rendered features of the severity-2 area
    # layer (the figure's layout layer 3: basemap fill, line, severity 1, 2, ...) at their centres.
    page.wait_for_function(
        """ids => { const gd = document.querySelector('#live-map .js-plotly-plot'), map = window.crisisLive.layer.map;
                    const data = gd.data[window.crisisLive.state.config.incident_trace];
                    const cd = Array.from(data.customdata || []);
                    if (!ids.every(id => cd.includes(id)) || window.crisisLive.state.mapSentAt) { return false; }
                    return ids.every(id => { const i = cd.indexOf(id), p = map.project([data.lon[i], data.lat[i]]);
                      return map.queryRenderedFeatures([[p.x - 1, p.y - 1], [p.x + 1, p.y + 1]]).some(f =>
                        f.layer.id.indexOf('plotly-layout-layer-') === 0 && f.layer.id.endsWith('-3') && f.properties.id === id); }); }""",
        arg=ids, timeout=15_000,
    )
    page.wait_for_timeout(1000)
    removed = page.evaluate("() => window.__removed")
    assert not [r for r in removed if r.startswith("plotly-layout-layer-")], removed
    assert page.evaluate("() => window.__sourced") == []
    # Style order: every basemap and area layer under the travellers, the travellers under the markers.
    order = page.evaluate("() => window.crisisLive.layer.map.getStyle().layers.map(l => l.id)")
    points = order.index("crisis-travellers-points")
    assert order[points - 1] == "crisis-travellers-clusters", order
    assert not [i for i in order[points:] if i.startswith("plotly-layout-layer-")], order
    assert points < order.index("plotly-trace-layer-incidents-circle"), order
    # Closed: its marker and area go (the figure's own layer source is the server's first one).
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    closed = requests.patch(live_server.url + f"/api/v1/incidents/{ids[0]}", headers=officer, json={"status": "closed"},
                            timeout=30)
    assert closed.status_code == 200, closed.text
    page.wait_for_function(
        """id => { const map = window.crisisLive.layer.map;
                   const p = map.project([-120.0, -10.0]);
                   return !map.queryRenderedFeatures([[p.x - 1, p.y - 1], [p.x + 1, p.y + 1]]).some(f =>
                     f.properties && f.properties.id === id); }""",
        arg=ids[0], timeout=15_000,
    )
    assert page.errors == []
    page.close()

