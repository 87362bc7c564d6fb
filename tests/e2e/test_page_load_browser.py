"""Opening a map page, in a real headless Chromium: what it must not do again (BENCHMARKS.md
section 10).

- The page's scripts and styles under /assets/ (linked with Dash's cache-buster ``?m=``) are
  kept by the browser: a second load asks the server for none of them.
- The map's first figure, drawn by the server, already holds the incidents: the page does not
  redraw the map with the same incidents when its socket's snapshot comes in (one Plotly draw,
  not two); a new incident still redraws it.
- dcc.Graph loads the partial plotly.js bundle (assets/vendor/README.md): the same version as
  Dash's, with the trace types the pages draw, at the address Dash gives it.
- The map's pixels hold the basemap's land and an incident area, on the duty officer's page and
  the wall: a map whose first frame waited for its data (assets/crisis_basemap.js) painted no
  fill and no line while MapLibre's state said they were drawn (docs/adr/009-page-load.md).
"""

from __future__ import annotations

from typing import Any

import requests

from crisis.ui.shell import PLOTLY_TRACES
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
                                    head: window.crisisLive.state.mountedHead,
                                    zoom: window.crisisLive.layer.map && window.crisisLive.layer.map.getZoom(),
                                    mounted: window.crisisLive.state.mounted && window.crisisLive.state.mounted.places,
                                    drawn: window.crisisLive.state.drawn.places})""")
    # Nothing newer than the figure came (no incident changed on the server meanwhile): no redraw.
    assert seen["head"] and seen["last"], seen
    # (One more is right when the map's zoom groups the incidents into other places than the
    # server's figure did: crisis_places.js; then the places drawn are no longer the figure's.)
    if _stream_order(seen["last"]) <= _stream_order(seen["head"]):
        assert seen["draws"] == 1 or (seen["draws"] == 2 and seen["drawn"] != seen["mounted"]), seen
    # A new incident is still drawn: one patch, the new marker under its place.
    second = _post(live_server, "Pushed over the socket", -3.0, 25.0)
    page.wait_for_function(MARKER_DRAWN, arg=second, timeout=15_000)
    assert page.evaluate("() => window.__mapDraws") >= 2
    assert page.errors == []
    page.close()


def test_the_page_runs_the_partial_plotly_bundle(browser: Any, live_server: LiveServer) -> None:
    page: Any = login(browser, live_server)
    seen = page.evaluate("""() => ({version: window.Plotly.version,
        traces: Object.keys(window.Plotly.PlotSchema.get().traces).sort(),
        sources: performance.getEntriesByType('resource').map(r => new URL(r.name).pathname).filter(p => /plotly[^/]*\\.js$/.test(p))})""")
    from plotly.offline import get_plotlyjs_version  # type: ignore[import-untyped]

    assert seen["version"] == get_plotlyjs_version()
    assert seen["traces"] == sorted(PLOTLY_TRACES), seen["traces"]
    assert seen["sources"] == ["/_dash-component-suites/plotly/package_data/plotly.min.js"], seen["sources"]
    head = page.evaluate("url => fetch(url).then(r => r.text()).then(t => t.slice(0, 300))", seen["sources"][0])
    assert "custom bundle: core, scattermap, bar" in head, head
    assert page.errors == []
    page.close()


# The map's pixels: the page's screenshot of the map, decoded by the browser (a 2D canvas on a
# blank page) and counted by colour. MapLibre's state (layers in the style, queryRenderedFeatures)
# can say a layer is drawn while its tiles hold nothing to paint (ADR 009, Status); only the
# pixels tell.
LAND = (0xDF, 0xE5, 0xEA)  # the offline basemap's fill (crisis/layers/map_figure.py basemap_layers)
WALL_LAND = (0x2C, 0x3A, 0x48)  # the wall's (crisis/ui/pages/wall.py)
SEVERE = (0xD7, 0x19, 0x1C)  # severity 4 (crisis/layers/incidents.py SEVERITY_COLOURS)


def _over(colour: tuple[int, int, int], opacity: float, under: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(round(opacity * c + (1 - opacity) * u) for c, u in zip(colour, under, strict=True))


# An incident area over land (fill opacity 0.25, map_figure._area_layers)
AREA_ON_LAND, AREA_ON_WALL_LAND = _over(SEVERE, 0.25, LAND), _over(SEVERE, 0.25, WALL_LAND)

COUNT_COLOURS = """async ([png, colours, tolerance]) => {
  const bytes = Uint8Array.from(atob(png), c => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height), ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data, counts = colours.map(() => 0);
  for (let i = 0; i < data.length; i += 4) {
    for (let k = 0; k < colours.length; k++) {
      const c = colours[k];
      if (Math.abs(data[i] - c[0]) <= tolerance && Math.abs(data[i + 1] - c[1]) <= tolerance
          && Math.abs(data[i + 2] - c[2]) <= tolerance) { counts[k] += 1; }
    }
  }
  return {counts: counts, pixels: data.length / 4};
}"""


def _map_colours(browser: Any, page: Any, selector: str, colours: list[tuple[int, ...]], enough: list[int],
                 timeout_ms: int = 20_000) -> dict[str, Any]:
    """Screenshots of the map (``selector``) until every colour has ``enough`` pixels (within
    3 per channel) or ``timeout_ms`` passed; the last count."""
    import base64
    import time

    blank = browser.new_page()
    deadline = time.monotonic() + timeout_ms / 1000
    try:
        while True:
            raw = page.locator(selector).screenshot(timeout=15_000)
            png = base64.b64encode(raw).decode()
            seen: dict[str, Any] = blank.evaluate(COUNT_COLOURS, [png, [list(c) for c in colours], 3])
            if all(n >= e for n, e in zip(seen["counts"], enough, strict=True)) or time.monotonic() > deadline:
                return seen
            page.wait_for_timeout(500)
    finally:
        blank.close()


def test_the_map_paints_the_basemap_and_the_incident_areas(browser: Any, live_server: LiveServer) -> None:
    """Duty officer's page and the wall: the countries (the basemap's fill) and an incident's
    area are in the map's pixels, not only in MapLibre's state."""
    from tests.e2e.test_wall_browser import _wall

    incident = requests.post(live_server.url + "/api/v1/incidents", headers={
        "Authorization": "Bearer " + live_server.token("feed")}, json={
        "title": "A wide flood", "type": "flood", "severity": 4, "lat": 9.5, "lon": 20.5, "radius_km": 1500})
    assert incident.status_code == 201, incident.text
    duty: Any = login(browser, live_server)
    duty.wait_for_function(MARKER_DRAWN, arg=str(incident.json()["id"]), timeout=30_000)
    seen = _map_colours(browser, duty, "#live-map", [LAND, AREA_ON_LAND], [20_000, 200])
    # the land: a good part of the world view (1600x900, zoom 1.2); the area: ~7,000 px at 1,500 km
    assert seen["counts"][0] >= 20_000, ("basemap land not painted", seen)
    assert seen["counts"][1] >= 200, ("incident area not painted", seen)
    assert duty.errors == []
    duty.close()

    wall: Any = _wall(browser, live_server, size=(1920, 1080))
    wall.wait_for_selector("#wall-map .maplibregl-canvas", timeout=30_000)
    seen = _map_colours(browser, wall, "#wall-map", [WALL_LAND, AREA_ON_WALL_LAND], [20_000, 200])
    assert seen["counts"][0] >= 20_000, ("basemap land not painted on the wall", seen)
    assert seen["counts"][1] >= 200, ("incident area not painted on the wall", seen)
    assert wall.errors == []
    wall.context.close()
