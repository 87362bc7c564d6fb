"""The map's picture (crisis/ui/map_preview.py, assets/crisis_preview.js) in a real headless
Chromium: shown before the interactive map, in its view, then replaced by it; never left as if
live when the map fails; refused without a session.

The interactive map is held back by holding the request for plotly.js (dcc.Graph cannot draw
without it): the picture alone is then on the screen, and is read pixel by pixel.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import requests

from crisis.auth import display
from crisis.layers.incidents import SEVERITY_COLOURS
from crisis.adapters.accounts import Principal
from crisis.layers.incidents import world_px
from crisis.layers.preview import WALL_COLOURS
from crisis.ui.map_preview import PREVIEW_PATH, live_view
from tests.conftest import PASSWORD, LiveServer, random_ref

PLOTLY = "**/plotly.min.js*"
SOCKET = "**/socket.io/**"
MAP_LOADED = """() => { const gd = document.querySelector('#live-map .js-plotly-plot');
  const sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
  return !!(sub && sub.map && sub.map.loaded()); }"""

# The colour of the screenshot's pixel at (x, y) (page coordinates).
PIXEL = """async ([png, x, y]) => {
  const bytes = Uint8Array.from(atob(png), c => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height), ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  return Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
}"""

# Where the interactive map puts a point (page px), once drawn.
PROJECT = """([lon, lat]) => {
  const gd = document.querySelector('#live-map .js-plotly-plot');
  const map = gd._fullLayout.map._subplot.map, box = map.getContainer().getBoundingClientRect();
  const p = map.project([lon, lat]);
  return [box.left + p.x, box.top + p.y];
}"""


# At the moment the picture leaves the page: does the interactive map hold the incident
# markers under their points (MapLibre's rendered features of the incident trace, or on the
# wall its marker elements), Plotly's sources loaded? true, or what was missing.
AT_REMOVAL = """() => {
  window.__atRemoval = null;
  const drawn = () => {
    const gd = document.querySelector('#live-map .js-plotly-plot');
    const sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    const map = sub && sub.map;
    if (!map) { return 'no map'; }
    // Plotly's sources (basemap, areas, incidents) loaded; not map.loaded(): the travellers'
    // source is updated as positions stream in.
    if (!map.getLayersOrder().filter(id => id.indexOf('plotly-') === 0)
          .every(id => { const l = map.getLayer(id); return !l.source || map.isSourceLoaded(l.source); })) {
      return 'sources loading';
    }
    if (document.getElementById('wall-root')) {
      return document.querySelectorAll('#wall-markers [data-incident-ids]').length > 0 || 'no markers';
    }
    const data = gd.data[1];
    return data.lon.length > 0 && Array.from(data.lon).every((lon, i) => {
      if (data.marker && Array.isArray(data.marker.opacity) && data.marker.opacity[i] === 0) { return true; }  // stacked under another
      const p = map.project([lon, data.lat[i]]);
      return map.queryRenderedFeatures([[p.x - 2, p.y - 2], [p.x + 2, p.y + 2]])
        .some(f => f.layer && f.layer.id.indexOf('plotly-trace-layer-incidents') === 0);
    });
  };
  new MutationObserver((changes, observer) => {
    if (window.__atRemoval === null && !document.getElementById('map-preview')
        && changes.some(c => Array.from(c.removedNodes).some(n => n.id === 'map-preview'))) {
      try { window.__atRemoval = drawn(); } catch (err) { window.__atRemoval = String(err); }
      observer.disconnect();
    }
  }).observe(document, {childList: true, subtree: true});
}"""


def _hex(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _near(seen: list[int], want: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(seen, want, strict=True))


def _post(live_server: LiveServer, title: str, lat: float, lon: float, severity: int) -> str:
    answer = requests.post(live_server.url + "/api/v1/incidents", headers={
        "Authorization": "Bearer " + live_server.token("feed")}, json={
        "title": title, "type": "flood", "severity": severity, "lat": lat, "lon": lon}, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _signed_in(browser: Any, live_server: LiveServer, role: str = "duty_officer", region: str | None = None) -> Any:
    # 1400 px: the map's box (984 px) is narrower than the world at the world view's zoom
    # (1,176 px), so MapLibre's view is the figure's whatever the order of its resizes (a box
    # wider than the world is zoomed into, or not, by timing: docs/adr/009-page-load.md).
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(live_server.url + "/login")
    page.fill("#username", live_server.user(role, region))
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("#live-map .maplibregl-canvas", timeout=60_000)
    return page


def _hold_plotly(page: Any) -> list[Any]:
    held: list[Any] = []
    page.route(PLOTLY, lambda route: held.append(route))
    return held


def _release(page: Any, held: list[Any]) -> None:
    for route in held:
        route.continue_()
    page.unroute(PLOTLY)


def _picture_shown(page: Any) -> None:
    page.wait_for_function("() => window.crisisPreview && window.crisisPreview.paintedAt !== null", timeout=30_000)
    # Dash has drawn the page: the picture stands on the map's box.
    page.wait_for_selector("#live-map", state="attached", timeout=30_000)
    page.wait_for_timeout(300)  # crisis_preview.js places it every 100 ms


def _check_view(page: Any, points: list[tuple[float, float, str]], hold_socket: bool = False) -> None:
    """Hold the map, read the picture's pixels where the map, once drawn, puts each point.
    With ``hold_socket`` (the wall, whose markers come from the socket's picture): the map is
    let draw first, and the picture must stay until the markers are there."""
    held = _hold_plotly(page)
    socket: list[Any] = []
    if hold_socket:
        page.route(SOCKET, lambda route: socket.append(route))
    page.add_init_script(f"({AT_REMOVAL})();")
    page.goto(page.url.split("#")[0], wait_until="commit")
    _picture_shown(page)
    assert page.evaluate("() => document.querySelector('#live-map .maplibregl-canvas') === null")  # no map yet
    assert page.locator("#map-preview").is_visible()
    tag = page.locator(".map-preview-tag").inner_text()
    assert "Picture, not live" in tag, tag
    png = base64.b64encode(page.screenshot()).decode()
    _release(page, held)
    if hold_socket:
        page.wait_for_function(MAP_LOADED, timeout=60_000)
        page.wait_for_timeout(500)  # crisis_preview.js checks every 100 ms
        assert page.locator("#map-preview").count() == 1  # the map is drawn, its markers are not: still there
        for route in socket:
            route.continue_()
        page.unroute(SOCKET)
    page.wait_for_function("() => window.crisisPreview.removed === 'replaced'", timeout=60_000)
    assert page.locator("#map-preview").count() == 0
    assert page.evaluate("() => window.__atRemoval") is True  # removed once the map had drawn its data
    for lon, lat, colour in points:
        x, y = page.evaluate(PROJECT, [lon, lat])
        seen = page.evaluate(PIXEL, [png, round(x), round(y)])
        assert _near(seen, _hex(colour)), (lon, lat, x, y, seen, colour)


def test_the_picture_shows_first_in_the_maps_view_then_the_map_replaces_it(browser: Any,
                                                                           live_server: LiveServer) -> None:
    # Far apart and where no other test puts one, so each is its own place: one marker, its colour
    # (a stacked place has its count, white, at its centre).
    lat_a, lon_a = 48.0, 67.0    # Kazakhstan
    lat_b, lon_b = -23.0, 121.0  # Western Australia, far from the centre: a wrong scale or centre misses it
    _post(live_server, "Preview flood", lat_a, lon_a, 5)
    _post(live_server, "Preview fire", lat_b, lon_b, 1)
    page = _signed_in(browser, live_server)
    _check_view(page, [(lon_a, lat_a, SEVERITY_COLOURS[5]), (lon_b, lat_b, SEVERITY_COLOURS[1])])
    # Replaced only once the map had drawn its data: the incident is in the map's pixels now.
    png = base64.b64encode(page.screenshot()).decode()
    x, y = page.evaluate(PROJECT, [lon_a, lat_a])
    assert _near(page.evaluate(PIXEL, [png, round(x), round(y)]), _hex(SEVERITY_COLOURS[5]))
    assert page.errors == []
    page.context.close()


def test_a_desks_picture_opens_on_its_region_with_its_incidents_only(browser: Any, live_server: LiveServer) -> None:
    lat, lon = 27.0, 43.0   # northern Saudi Arabia: the desk's region
    _post(live_server, "In the region", lat, lon, 4)
    _post(live_server, "Elsewhere", -15.0, -60.0, 4)
    page = _signed_in(browser, live_server, "regional_desk", "middle_east_north_africa")
    _check_view(page, [(lon, lat, SEVERITY_COLOURS[4])])
    # The picture itself, as the desk gets it: the incident in its region, not the other.
    svg = page.evaluate("url => fetch(url).then(r => r.text())", PREVIEW_PATH + "?page=live")
    zoom = live_view(Principal("desk", "regional_desk", region="middle_east_north_africa"))[2]
    circles = [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([-\d.]+)" cy="([-\d.]+)"', svg)]

    def drawn(lon: float, lat: float) -> bool:
        x, y = world_px(lon, lat, zoom)
        return any(abs(cx - x) < 1 and abs(cy - y) < 1 for cx, cy in circles)

    assert drawn(lon, lat) and not drawn(-60.0, -15.0), circles
    page.context.close()


def test_the_walls_picture_is_the_world_fitted_with_its_markers(browser: Any, live_server: LiveServer) -> None:
    lat, lon = 46.8, 103.0  # Mongolia: alone, so its own marker (no count at its centre)
    _post(live_server, "Wall preview", lat, lon, 4)
    token = display.add_display(live_server.context.accounts, random_ref("wall-preview-"))
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(display.display_url(live_server.url, token))
    page.wait_for_selector("#wall-map .maplibregl-canvas", timeout=90_000)
    _check_view(page, [(lon, lat, WALL_COLOURS[4])], hold_socket=True)
    assert page.errors == []
    context.close()


def test_without_the_live_map_the_picture_goes_and_says_so(browser: Any, live_server: LiveServer) -> None:
    page = _signed_in(browser, live_server)
    held = _hold_plotly(page)
    page.goto(live_server.url + "/", wait_until="commit")
    _picture_shown(page)
    page.wait_for_selector("#map-preview.failed", timeout=30_000)  # 15 s after the page opened
    assert page.locator("#map-preview-picture").count() == 0       # the picture is gone
    note = page.locator(".map-preview-tag").inner_text()
    assert "Live map not loaded" in note, note
    assert page.evaluate("() => window.crisisPreview.failedAt") >= 15_000
    # The map after all: the note goes with it.
    _release(page, held)
    page.wait_for_function("() => window.crisisPreview.removed === 'replaced'", timeout=60_000)
    assert page.locator("#map-preview").count() == 0
    page.context.close()


def test_the_picture_is_refused_without_rights_and_never_stored(live_server: LiveServer) -> None:
    anonymous = requests.get(live_server.url + PREVIEW_PATH, allow_redirects=False, timeout=10)
    assert anonymous.status_code == 401 and "<svg" not in anonymous.text
    feed = requests.get(live_server.url + PREVIEW_PATH, timeout=10,
                        headers={"Authorization": "Bearer " + live_server.token("feed")})
    assert feed.status_code == 403 and "<svg" not in feed.text
    officer = live_server.session()
    answer = officer.get(live_server.url + PREVIEW_PATH + "?page=wall", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("image/svg+xml")
    assert answer.headers["Cache-Control"] == "no-store"
    page = officer.get(live_server.url + "/", timeout=10)
    assert f'src="{PREVIEW_PATH}?page=live"' in page.text
    assert "map-preview" not in officer.get(live_server.url + "/people", timeout=10).text
