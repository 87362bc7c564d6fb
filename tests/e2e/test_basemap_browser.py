"""The offline basemap in a real headless Chromium (assets/crisis_basemap.js).

At world zoom the world is drawn once, and none of the 1:10m detail is fetched; zoomed
in at a city the map draws its coasts and subdivision lines and names the city.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import pytest
import requests

from tests.conftest import PASSWORD, LiveServer
from tests.e2e.test_browser import login
from tests.e2e.test_map_scale_browser import _looks, _pixel, _zoom_to
from tests.e2e.test_people_pages_browser import bearer, open_page

BEIRUT = (33.89, 35.50)


def _fetched(page: Any, name: str) -> bool:
    return page.evaluate(  # type: ignore[no-any-return]
        "n => performance.getEntriesByType('resource').some(e => e.name.includes('/assets/basemap/' + n))", name)


def _settled(page: Any) -> None:
    page.evaluate("() => new Promise(r => { window.crisisLive.layer.map.once('idle', r); setTimeout(r, 3000); })")


def test_world_is_drawn_once_and_the_detail_waits_for_a_zoom(browser: Any, live_server: LiveServer) -> None:
    page: Any = login(browser, live_server)
    page.wait_for_function("() => window.crisisBasemap && window.crisisBasemap.stats.maps >= 1", timeout=10_000)
    assert page.evaluate("() => window.crisisLive.layer.map.getRenderWorldCopies()") is False
    # A wide wall-like map asked for the whole world: it shows one world, edge to edge
    # (MapLibre keeps the view within it), not copies side by side.
    page.set_viewport_size({"width": 2560, "height": 900})
    page.wait_for_timeout(500)
    view = page.evaluate(
        """async () => { const map = window.crisisLive.layer.map;
                         map.resize();
                         const idle = new Promise(r => { map.once('idle', r); setTimeout(r, 3000); });
                         map.jumpTo({center: [0, 0], zoom: 0}, {originalEvent: new MouseEvent('wheel')});
                         await idle;
                         const b = map.getBounds();
                         return {west: b.getWest(), east: b.getEast(), width: map.getCanvas().clientWidth,
                                 left: map.project([-180, 0]).x, right: map.project([180, 0]).x}; }"""
    )
    assert view["width"] > 1000, view  # wider than the world at zoom 0 (512 px): copies would show
    assert view["west"] >= -180.5 and view["east"] <= 180.5, view
    assert view["left"] > -3 and view["right"] < view["width"] + 3, view
    # The world view fetched none of the detail, and names no place.
    assert page.evaluate("() => !Object.keys(window.crisisLive.layer.map.getStyle().sources).some(s => s.startsWith('crisis-detail-'))")
    assert not _fetched(page, "detail/") and not _fetched(page, "places.json")
    assert page.locator("#live-map .crisis-place-label").count() == 0
    assert page.errors == []
    page.close()


def test_zoomed_in_at_a_city_the_map_shows_coasts_subdivisions_and_its_name(browser: Any, live_server: LiveServer) -> None:
    page: Any = login(browser, live_server)
    page.wait_for_function("() => window.crisisBasemap && window.crisisBasemap.stats.maps >= 1", timeout=10_000)
    _zoom_to(page, *BEIRUT, 8)
    page.wait_for_function(
        """() => { const map = window.crisisLive.layer.map, cells = map.__crisisCells || [];
                   return cells.length > 0 && cells.every(c => map.isSourceLoaded(window.crisisBasemap.prefix + c)); }""",
        timeout=30_000,
    )
    _settled(page)
    drawn = page.evaluate(
        """() => { const map = window.crisisLive.layer.map, out = {}, b = window.crisisBasemap;
                   b.kinds.forEach(k => { const ids = map.__crisisCells.map(c => b.prefix + c + '-' + k);
                                          out[k] = map.queryRenderedFeatures({layers: ids}).filter(f => f.properties.k === k).length; });
                   return out; }"""
    )
    assert all(n > 0 for n in drawn.values()), drawn  # land, subdivision lines, borders, coast
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('#live-map .crisis-place-label')).some(e => e.textContent === 'Beirut')",
        timeout=10_000,
    )
    label = page.locator("#live-map .crisis-place-label", has_text="Beirut").first
    assert label.is_visible()
    # The name sits at the city: its box starts at the city's point on the map.
    where = page.evaluate(
        """([lat, lon]) => { const map = window.crisisLive.layer.map, box = map.getCanvas().getBoundingClientRect();
                             const p = map.project([lon, lat]); return {x: box.left + p.x, y: box.top + p.y}; }""",
        list(BEIRUT),
    )
    bounds = label.bounding_box()
    assert abs(bounds["x"] - where["x"]) < 30 and abs(bounds["y"] + bounds["height"] / 2 - where["y"]) < 30, (bounds, where)
    labels = page.locator("#live-map .crisis-place-label").count()
    assert 1 <= labels <= 40
    # The sea west of Beirut is not land (the 10 m coast, where 110 m would have put land).
    sea = page.evaluate(
        """() => { const map = window.crisisLive.layer.map, box = map.getCanvas().getBoundingClientRect();
                   const p = map.project([35.2, 33.9]); return {x: box.left + p.x, y: box.top + p.y}; }"""
    )
    assert _looks(_pixel(page, sea)) == "white", _pixel(page, sea)
    page.screenshot(path="/tmp/basemap-beirut.png")
    assert page.errors == []
    page.close()


def _open(browser: Any, live_server: LiveServer, without_basemap_js: bool) -> Any:
    """The live map as login() opens it, optionally as before this change (crisis_basemap.js not served)."""
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    if without_basemap_js:
        page.route("**/assets/crisis_basemap.js*", lambda route: route.fulfill(body="", content_type="text/javascript"))
    page.goto(live_server.url + "/login")
    page.fill("#username", live_server.user())
    page.fill("#password", PASSWORD)
    return page


@pytest.mark.skipif(not os.environ.get("CRISIS_MEASURE_BASEMAP"), reason="a measurement: CRISIS_MEASURE_BASEMAP=1")
@pytest.mark.timeout(1800)
def test_measure_world_view_cost_with_and_without_the_basemap_script(browser: Any, live_server: LiveServer) -> None:
    """Main-thread time (CDP TaskDuration) of the first draw and of a 3 s pan at world zoom,
    with and without assets/crisis_basemap.js, runs alternating. Prints a table."""
    rows: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for run in range(int(os.environ.get("CRISIS_MEASURE_RUNS", "3"))):
        for variant in ("before", "after") if run % 2 == 0 else ("after", "before"):
            page = _open(browser, live_server, variant == "before")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            busy0, wall0 = _task(cdp), time.monotonic()
            page.click("#login-button")
            page.wait_for_selector("#live-map .maplibregl-canvas", timeout=60_000)
            page.wait_for_function("() => window.crisisLive && window.crisisLive.layer.map", timeout=60_000)
            page.evaluate("() => new Promise(r => { const m = window.crisisLive.layer.map;"
                          " if (m.loaded() && !m.isMoving()) { r(); } else { m.once('idle', r); } setTimeout(r, 20000); })")
            first = {"wall_s": time.monotonic() - wall0, "busy_s": _task(cdp) - busy0}
            page.evaluate("() => new Promise(r => { const m = window.crisisLive.layer.map; m.jumpTo({center: [0, 20], zoom: 2});"
                          " m.once('idle', r); setTimeout(r, 5000); })")
            page.wait_for_timeout(1000)
            busy1, wall1 = _task(cdp), time.monotonic()
            frames = page.evaluate(
                """() => new Promise(r => { const m = window.crisisLive.layer.map; let n = 0;
                     const count = () => { n += 1; }; m.on('render', count);
                     m.easeTo({center: [60, 20], duration: 3000, easing: t => t});
                     setTimeout(() => { m.off('render', count); r(n); }, 3200); })""")
            pan = {"wall_s": time.monotonic() - wall1, "busy_s": _task(cdp) - busy1, "frames": frames}
            rows[variant].append({"first_wall_s": first["wall_s"], "first_busy_s": first["busy_s"],
                                  "pan_frames": pan["frames"], "pan_busy_ms_per_frame": 1000 * pan["busy_s"] / max(1, frames)})
            print("run", run, variant, rows[variant][-1], flush=True)
            page.close()
    print("\nvariant | first draw wall s | first draw main-thread s | pan frames (3 s) | pan main-thread ms/frame")
    for variant, runs in rows.items():
        for r in runs:
            print(f"{variant} | {r['first_wall_s']:.2f} | {r['first_busy_s']:.2f} | {r['pan_frames']} | {r['pan_busy_ms_per_frame']:.1f}")
        med = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        print(f"{variant} median | {med['first_wall_s']:.2f} | {med['first_busy_s']:.2f} | {med['pan_frames']:.0f} | {med['pan_busy_ms_per_frame']:.1f}")


def _task(cdp: Any) -> float:
    return float(next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration"))


# A security area in the Jordanian desert, on land at every zoom of the detail.
DESERT_AREA = {"type": "Polygon", "coordinates": [[[36.6, 31.2], [37.6, 31.2], [37.6, 32.0], [36.6, 32.0], [36.6, 31.2]]]}


def test_zoomed_in_an_area_is_drawn_over_the_detailed_land(browser: Any, live_server: LiveServer) -> None:
    """The areas page's map has no travellers layer (which the figure's 1:110m coast line is
    set below): its 1:10m land must still go under the areas, not on top of the whole map."""
    officer = bearer(live_server.token("duty_officer"))
    made = requests.post(live_server.url + "/api/v1/areas", headers=officer, timeout=30,
                         json={"name": "Eastern desert", "phase": 3, "geometry": DESERT_AREA})
    assert made.status_code == 201, made.text
    page = open_page(browser, live_server, "/areas")
    map_js = "document.querySelector('#areas-map .js-plotly-plot')._fullLayout.map._subplot.map"
    page.wait_for_function(f"() => {{ try {{ return !!{map_js}; }} catch (e) {{ return false; }} }}", timeout=30_000)
    at = page.evaluate(
        f"""async () => {{ const map = {map_js};
             const idle = new Promise(r => {{ map.once('idle', r); setTimeout(r, 3000); }});
             map.jumpTo({{center: [37.1, 31.6], zoom: 7}}, {{originalEvent: new MouseEvent('wheel')}});
             await idle;
             const p = map.project([37.1, 31.6]), box = map.getCanvas().getBoundingClientRect();
             return {{x: box.left + p.x, y: box.top + p.y}}; }}""")
    page.wait_for_function(
        f"""() => {{ const map = {map_js}, cells = map.__crisisCells || [];
                   return cells.length > 0 && cells.every(c => map.isSourceLoaded(window.crisisBasemap.prefix + c)); }}""",
        timeout=30_000)
    page.evaluate(f"() => new Promise(r => {{ {map_js}.once('idle', r); setTimeout(r, 3000); }})")
    page.wait_for_timeout(300)
    order = page.evaluate(f"() => {map_js}.getStyle().layers.map(l => l.id)")
    details = [i for i, name in enumerate(order) if name.startswith("crisis-detail-")]
    traces = [i for i, name in enumerate(order) if name.startswith("plotly-trace-layer-")]
    assert details and traces and max(details) < min(traces), order  # the markers stay above the land
    red, green, blue = _pixel(page, at)
    # Inside the phase III area: the land tinted red (#e53935 at 25 %: about 224, 186, 189),
    # not the bare land (#dfe5ea) that a detail drawn on top would show.
    assert green < 210 and red > green + 20, (red, green, blue)
    assert page.errors == []
    page.context.close()
