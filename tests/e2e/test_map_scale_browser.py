"""The live map with many travellers, in a real headless Chromium (docs/adr/004-travellers-layer.md).

20,000 travellers stream in over the socket: they are drawn as clusters at world zoom
(MapLibre clusters them in its worker) and as points when zoomed in; a new incident is
drawn without re-sending the travellers; colours follow the accountability status of the
"people" messages; a wall's hover shows no one's identity, a duty officer's click shows
the name from the travellers API.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import requests

from tests.conftest import LiveServer, random_ref
from tests.e2e.test_browser import login

TRAVELLERS = 20_000
RED = (0xD7, 0x19, 0x1C)  # STATUS_COLOURS of "needs_help" in crisis_live.js
BLUE = (0x1F, 0x4E, 0x79)  # "none": not affected


def _post_positions(live_server: LiveServer, positions: list[dict[str, Any]]) -> None:
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    live_server.know(positions)
    for start in range(0, len(positions), 10_000):
        answer = requests.post(live_server.url + "/api/v1/positions", json=positions[start:start + 10_000], headers=feed)
        assert answer.status_code == 202, answer.text


def _crowd(prefix: str) -> list[dict[str, Any]]:
    """20,000 travellers on a grid over South America (away from the other tests' points)."""
    return [{"traveller_id": f"{prefix}-{i}", "lat": -35 + (i % 200) * 0.1, "lon": -70 + (i // 200) * 0.2}
            for i in range(TRAVELLERS)]


def _wait_drawn(page: Any, at_least: int) -> None:
    page.wait_for_function(
        """n => { const live = window.crisisLive, map = live.layer.map;
                  const source = map && map.getSource(live.TRAV_SOURCE);
                  return !!source && live.layer.stats.points >= n && source.loaded()
                         && map.queryRenderedFeatures({layers: live.TRAV_LAYERS}).length > 0; }""",
        arg=at_least, timeout=30_000,
    )


def _rendered(page: Any) -> dict[str, int]:
    return page.evaluate(  # type: ignore[no-any-return]
        """() => { const live = window.crisisLive, map = live.layer.map;
                   const shown = map.queryRenderedFeatures({layers: live.TRAV_LAYERS});
                   const clusters = shown.filter(f => f.properties.cluster);
                   return {clusters: clusters.length, points: shown.length - clusters.length,
                           clustered: clusters.reduce((s, f) => s + f.properties.point_count, 0)}; }"""
    )


def _zoom_to(page: Any, lat: float, lon: float, zoom: float) -> dict[str, float]:
    """Centre the map there; the point's place on the page once MapLibre has settled."""
    # Plotly sets the view of its first draw when that completes: until then, a jump may be undone.
    # The figure may be drawn before its map is wired to the live layer (or re-wired after a
    # redraw): wait for a map, and take the current one on every try.
    page.wait_for_function("() => !!(window.crisisLive && window.crisisLive.layer.map)", timeout=30_000)
    return page.evaluate(  # type: ignore[no-any-return]
        """async ([lat, lon, zoom]) => {
             let map = window.crisisLive.layer.map;
             for (let tries = 0; tries < 40; tries++) {
               map = window.crisisLive.layer.map || map;
               // 'idle' never comes while the map keeps rendering (a busy machine): wait at most 3 s
               const idle = new Promise(resolve => { map.once('idle', resolve); setTimeout(resolve, 3000); });
               // As a user's move (an event behind it), which Plotly keeps across its redraws.
               map.jumpTo({center: [lon, lat], zoom: zoom}, {originalEvent: new MouseEvent('wheel')});
               await idle;
               await new Promise(resolve => setTimeout(resolve, 250));
               // (At world zoom MapLibre may shift the centre to keep the world in view.)
               if (Math.abs(map.getZoom() - zoom) < 0.01) {
                 const p = map.project([lon, lat]), box = map.getCanvas().getBoundingClientRect();
                 return {x: box.left + p.x, y: box.top + p.y};
               }
             }
             const c = map.getCenter();
             throw new Error('the map did not stay at the view asked for: ' + JSON.stringify([map.getZoom(), c]));
           }""",
        [lat, lon, zoom],
    )


def _settled_colour(page: Any, at: dict[str, float], want: str, timeout_s: float = 10.0) -> tuple[int, int, int]:
    """The colour at a page point once it is ``want`` (as ``_looks`` names it), or the last one
    read after ``timeout_s``: on a busy machine the layer's tiles at a new zoom are drawn a few
    frames after MapLibre's 'idle' gave up waiting (a white pixel once in CI's fresh clone)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rgb = _pixel(page, at)
        if _looks(rgb) == want or time.monotonic() > deadline:
            return rgb
        page.wait_for_timeout(250)


def _pixel(page: Any, at: dict[str, float]) -> tuple[int, int, int]:
    """The colour on screen at a page point (from a screenshot, decoded by the page itself)."""
    png = page.screenshot(clip={"x": at["x"], "y": at["y"], "width": 1, "height": 1})
    rgb = page.evaluate(
        """src => new Promise(resolve => { const img = new Image();
             img.onload = () => { const c = document.createElement('canvas'); c.width = 1; c.height = 1;
               const g = c.getContext('2d'); g.drawImage(img, 0, 0); resolve(Array.from(g.getImageData(0, 0, 1, 1).data).slice(0, 3)); };
             img.src = src; })""",
        "data:image/png;base64," + base64.b64encode(png).decode(),
    )
    return tuple(rgb)  # type: ignore[return-value]


BASEMAP = (0xDF, 0xE5, 0xEA)  # the land fill (map_figure), and white: what else may be under a point


def _looks(rgb: tuple[int, int, int]) -> str:
    """Which of the colours it is nearest to (a point is drawn slightly translucent)."""
    palette = {"red": RED, "blue": BLUE, "basemap": BASEMAP, "white": (255, 255, 255)}
    return min(palette, key=lambda name: sum((a - b) ** 2 for a, b in zip(rgb, palette[name])))


def _wait_in_layer(page: Any, traveller_id: str) -> None:
    """Until the travellers layer holds this traveller and its source has loaded."""
    page.wait_for_function(
        """id => { const live = window.crisisLive, k = live.state.trav.index.get(id), map = live.layer.map;
                   const source = map && map.getSource(live.TRAV_SOURCE);
                   return k !== undefined && live.layer.sent[k] === 1 && !!source && source.loaded(); }""",
        arg=traveller_id, timeout=15_000,
    )


def _people(page: Any, ids: list[str], status: str, affected: bool) -> None:
    """A "people" message as the socket layer re-announces it (the contract of crisis_live.js)."""
    page.evaluate(
        """([ids, status, affected]) => document.dispatchEvent(new CustomEvent('crisis:people', {detail: {
             ids: ids, status: ids.map(() => status), affected: ids.map(() => affected),
             source: ids.map(() => 'report'), at: ids.map(() => Date.now() / 1000 - 90)}}))""",
        [ids, status, affected],
    )


def test_many_travellers_are_clustered_and_an_incident_is_drawn_without_resending_them(browser: Any, live_server: LiveServer) -> None:
    prefix = random_ref("S")
    _post_positions(live_server, _crowd(prefix))
    page: Any = login(browser, live_server)
    _wait_drawn(page, TRAVELLERS)
    # World zoom: a few clusters hold the 20,000 (not 20,000 circles).
    shown = _rendered(page)
    assert shown["clusters"] > 0 and shown["clustered"] >= TRAVELLERS * 0.9, shown
    assert shown["clusters"] + shown["points"] < 2_000, shown

    # Watch what a new incident costs: Plotly's redraws and the travellers source.
    page.evaluate(
        """() => { const live = window.crisisLive, source = live.layer.map.getSource(live.TRAV_SOURCE);
                   window.__sent = {setData: 0, largest: 0};
                   const setData = source.setData.bind(source);
                   source.setData = d => { window.__sent.setData += 1;
                                           window.__sent.largest = Math.max(window.__sent.largest, d.features.length);
                                           return setData(d); }; }"""
    )
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    incident = requests.post(live_server.url + "/api/v1/incidents", headers=feed, json={
        "title": "Flooding in Mendoza", "type": "flood", "severity": 4, "lat": -32.9, "lon": -68.8, "radius_km": 30}).json()
    page.wait_for_function(
        "id => Array.from(document.querySelector('#live-map .js-plotly-plot').data[1].customdata || []).includes(id)",
        arg=incident["id"], timeout=10_000,
    )
    page.wait_for_timeout(500)
    sent = page.evaluate("() => window.__sent")
    # The travellers were not sent again for it: the layer changes only with the travellers
    # (those whose status changed with the incident), and then as cells, never 20,000 points.
    assert sent["largest"] < TRAVELLERS / 10, sent
    # Plotly's figure holds the incidents only: its redraw never carries the travellers.
    points = page.evaluate("() => document.querySelector('#live-map .js-plotly-plot').data.map(t => t.lat ? t.lat.length : 0)")
    assert points[0] == 0 and 0 < sum(points) < 100, points
    assert page.errors == []
    page.close()


def test_colours_follow_the_accountability_status(browser: Any, live_server: LiveServer) -> None:
    prefix = random_ref("C")
    # Two travellers alone in the South Atlantic, far from every other test's points.
    _post_positions(live_server, [{"traveller_id": f"{prefix}-a", "lat": -45.0, "lon": -20.0},
                                  {"traveller_id": f"{prefix}-b", "lat": -45.0, "lon": -19.0}])
    page: Any = login(browser, live_server)
    _wait_in_layer(page, f"{prefix}-a")
    _wait_in_layer(page, f"{prefix}-b")
    at = _zoom_to(page, -45.0, -20.0, 9)
    calm = _settled_colour(page, at, "blue")
    assert _looks(calm) == "blue", calm  # not affected by anything: the calm colour

    before = page.evaluate("() => window.crisisLive.layer.stats.updates")
    _people(page, [f"{prefix}-a"], "needs_help", True)
    page.wait_for_function("n => window.crisisLive.layer.stats.updates > n", arg=before, timeout=5_000)
    page.evaluate("() => new Promise(r => { window.crisisLive.layer.map.once('idle', r); setTimeout(r, 3000); })")
    alarm = _settled_colour(page, at, "red")
    assert _looks(alarm) == "red", alarm
    feature = page.evaluate(
        """([x, y]) => { const map = window.crisisLive.layer.map, box = map.getCanvas().getBoundingClientRect();
                         const f = map.queryRenderedFeatures([x - box.left, y - box.top], {layers: window.crisisLive.TRAV_LAYERS});
                         return f.length ? f[0].properties : null; }""",
        [at["x"], at["y"]],
    )
    assert feature == {"r": 5, "a": 1}, feature  # needs help, and affected (the ring)

    # At world zoom the cluster holding both takes the worst status of the two: red.
    world = _zoom_to(page, -45.0, -19.5, 1.2)
    cluster = page.evaluate(
        """([x, y]) => { const map = window.crisisLive.layer.map, box = map.getCanvas().getBoundingClientRect();
                         const p = [x - box.left, y - box.top];
                         const f = map.queryRenderedFeatures([[p[0] - 6, p[1] - 6], [p[0] + 6, p[1] + 6]], {layers: window.crisisLive.TRAV_LAYERS});
                         return f.length ? f[0].properties : null; }""",
        [world["x"], world["y"]],
    )
    assert cluster is not None and cluster.get("cluster") and cluster["r"] == 5 and cluster["h"] == 1, cluster
    assert page.errors == []
    page.close()


def test_hover_shows_who_to_an_officer_and_no_identity_to_a_wall(browser: Any, live_server: LiveServer) -> None:
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    tid = random_ref("P")
    profile: dict[str, Any] = {"id": tid, "name": "Amira Haddad", "agency": "UNICEF", "category": "international_staff",
               "essential": False, "duty_station": {"name": "Amman office", "lat": 31.95, "lon": 35.91},
               "phone": "+962 555", "email": "amira@example.org"}
    answer = requests.post(live_server.url + "/api/v1/travellers", json=[profile], headers=officer)
    assert answer.status_code == 200 and answer.json()["accepted"] + answer.json()["updated"] == 1, answer.text
    _post_positions(live_server, [{"traveller_id": tid, "lat": -50.0, "lon": -30.0}])

    page: Any = login(browser, live_server)
    _wait_in_layer(page, tid)
    at = _zoom_to(page, -50.0, -30.0, 9)
    page.mouse.move(at["x"] - 20, at["y"])
    page.mouse.move(at["x"], at["y"])
    page.wait_for_selector("#live-map .trav-tip", state="visible", timeout=5_000)
    hover = page.inner_text("#live-map .trav-tip")
    assert tid in hover and "status: not affected" in hover and "position report" in hover, hover
    page.mouse.click(at["x"], at["y"])  # a click asks the travellers API, which names the person to an officer
    page.wait_for_function("() => document.querySelector('#live-map .trav-tip').innerText.includes('Amira Haddad')",
                           timeout=10_000)
    assert page.locator("#report-panel").is_hidden()  # a click on a person does not start a report
    page.close()

    wall: Any = login(browser, live_server, "wall")
    assert wall.evaluate("() => window.crisisLive.state.identities") is False
    assert wall.evaluate("id => window.crisisLive.state.trav.index.has(id)", tid) is False  # pseudonyms only
    _wait_drawn(wall, 1)
    at = _zoom_to(wall, -50.0, -30.0, 9)
    wall.mouse.move(at["x"] - 20, at["y"])
    wall.mouse.move(at["x"], at["y"])
    wall.wait_for_selector("#live-map .trav-tip", state="visible", timeout=5_000)
    wall.mouse.click(at["x"], at["y"])
    wall.wait_for_timeout(1000)
    shown = wall.inner_text("#live-map .trav-tip")
    assert "identity not shown" in shown, shown
    assert "Amira" not in shown and tid not in shown and "UNICEF" not in shown, shown
    assert "Amira" not in wall.content()
    assert wall.errors == []
    wall.close()


def test_clicking_an_incident_shows_who_it_affects(browser: Any, live_server: LiveServer) -> None:
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    tid = random_ref("Q")
    profile: dict[str, Any] = {"id": tid, "name": "Jonas Berg", "agency": "WFP", "category": "consultant", "essential": False,
               "duty_station": {"name": "Field office", "lat": -55.0, "lon": -40.0}, "phone": "+1 555",
               "email": "jonas@example.org"}
    assert requests.post(live_server.url + "/api/v1/travellers", json=[profile], headers=officer).status_code == 200
    _post_positions(live_server, [{"traveller_id": tid, "lat": -55.0, "lon": -40.0}])
    incident = requests.post(live_server.url + "/api/v1/incidents", headers=feed, json={
        "title": "Storm at the field office", "type": "weather", "severity": 3, "lat": -55.0, "lon": -40.1,
        "radius_km": 20}).json()
    page: Any = login(browser, live_server)
    page.wait_for_function(
        "id => Array.from(document.querySelector('#live-map .js-plotly-plot').data[1].customdata || []).includes(id)",
        arg=incident["id"], timeout=10_000,
    )
    at = _zoom_to(page, -55.0, -40.1, 7)
    page.mouse.move(at["x"] - 20, at["y"])
    page.mouse.move(at["x"], at["y"])
    page.wait_for_timeout(300)
    page.mouse.click(at["x"], at["y"])
    page.wait_for_selector("#incident-panel-people .map-person", timeout=10_000)
    panel = page.inner_text("#incident-panel").lower()
    assert "storm at the field office" in panel and "jonas berg" in panel and "1 affected" in panel, panel
    assert page.locator("#report-panel").is_hidden()  # a click on an incident does not start a report
    # The counts follow the "affected" messages (crisis:affected) while it is shown.
    page.evaluate(
        """id => document.dispatchEvent(new CustomEvent('crisis:affected', {detail: {incident: id,
             counts: {total: 1, safe: 1, needs_help: 0, unsure: 0, unreachable: 0, no_response: 0},
             accounted_pct: 100.0, radius_km_used: 20, at: new Date().toISOString()}}))""",
        incident["id"],
    )
    page.wait_for_selector("#incident-panel-counts:has-text('100.0 % accounted for')", timeout=5_000)
    assert page.errors == []
    page.close()


def test_a_page_opened_later_draws_the_affected_in_their_status_at_once(browser: Any, live_server: LiveServer) -> None:
    """Statuses set before the page opened colour the map at once (not only as they change),
    and a person placed only by their duty station (no position report) is drawn too."""
    tid = random_ref("DS")
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    station = {"name": "Station in the South Atlantic", "lat": -52.0, "lon": -25.0}
    imported = requests.post(live_server.url + "/api/v1/travellers", headers=officer, json=[{
        "id": tid, "name": "Ana Station", "agency": "WFP", "category": "visitor", "essential": False,
        "duty_station": station, "phone": "+1 555", "email": "ana@example.org"}])
    assert imported.status_code == 200, imported.text
    incident = requests.post(live_server.url + "/api/v1/incidents", headers=officer, json={
        "title": "Storm at the station", "type": "weather", "severity": 3, "lat": -52.1, "lon": -25.0, "radius_km": 30}).json()
    marked = requests.put(f"{live_server.url}/api/v1/incidents/{incident['id']}/people/{tid}", headers=officer,
                          json={"status": "needs_help"})
    assert marked.status_code == 200, marked.text

    page: Any = login(browser, live_server)
    _wait_in_layer(page, tid)
    state = page.evaluate(
        """id => { const t = window.crisisLive.state.trav, k = t.index.get(id);
                   return {lat: t.lat[k], lon: t.lon[k], rank: t.rank[k], affected: t.aff[k]}; }""", tid)
    assert abs(state["lat"] - station["lat"]) < 1e-3 and abs(state["lon"] - station["lon"]) < 1e-3, state
    assert (state["rank"], state["affected"]) == (5, 1), state  # needs help (the rank of "needs_help"), affected
    at = _zoom_to(page, station["lat"], station["lon"], 9)
    alarm = _settled_colour(page, at, "red")
    assert _looks(alarm) == "red", alarm
    assert page.errors == []
    page.close()
