"""A real headless Chromium: log in, see an incident arrive on the map without reloading."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tests.conftest import PASSWORD, LiveServer, random_ref
from tests.testdata import read_sample

DOCS = Path(__file__).resolve().parents[2] / "docs"




# A point of the live map (canvas px) with no incident, traveller or other trace within 20 px:
# the basemap's own layers (Plotly's layout layers, the 1:10m detail) do not count.
FREE_SPOT = """() => {
  const map = window.crisisLive.layer.map, canvas = map.getCanvas();
  const w = canvas.clientWidth, h = canvas.clientHeight;
  const drawn = l => !l.startsWith('plotly-layout-layer') && !l.startsWith('crisis-detail') && l !== 'background';
  for (let y = 0.55; y < 0.95; y += 0.05) {
    for (let x = 0.40; x < 0.95; x += 0.05) {
      const px = x * w, py = y * h;
      const near = map.queryRenderedFeatures([[px - 20, py - 20], [px + 20, py + 20]]).filter(f => drawn(f.layer.id));
      if (!near.length) { return [px, py]; }
    }
  }
  return null;
}"""


def login(browser: object, live_server: LiveServer, role: str = "duty_officer", region: str | None = None) -> object:
    page = browser.new_page(viewport={"width": 1600, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(live_server.url + "/")
    assert "/login" in page.url
    page.fill("#username", live_server.user(role, region))
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("#live-map .maplibregl-canvas", timeout=30_000)
    page.wait_for_selector(".live-status.ok", timeout=15_000)
    return page


def map_incident_ids(page: object) -> list[str]:
    return page.evaluate(  # type: ignore[attr-defined, no-any-return]
        "() => { const g = document.querySelector('#live-map .js-plotly-plot');"
        " return Array.from((g.data[1] || {}).customdata || []); }"
    )


def traveller_points(page: object, prefix: str = "") -> list[list[float]]:
    """[lon, lat] of the travellers (ids starting with ``prefix``) as the map's travellers layer
    was last computed from (a MapLibre source of its own: ADR 004)."""
    return page.evaluate(  # type: ignore[attr-defined, no-any-return]
        """prefix => { const drawn = window.crisisLive.layer.drawn, out = [];
                       if (!drawn) { return out; }
                       drawn.ids.forEach((id, k) => { if (id.startsWith(prefix)) { out.push([drawn.lon[k], drawn.lat[k]]); } });
                       return out; }""",
        prefix,
    )


def test_incident_posted_through_the_api_appears_on_the_map_without_reload(browser: object, live_server: LiveServer) -> None:
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    positions = [{"traveller_id": f"B{i}", "lat": 33.5 + (i % 20) / 20, "lon": 35.3 + (i // 20) / 20} for i in range(200)]
    live_server.know(positions)
    assert requests.post(live_server.url + "/api/v1/positions", json=positions, headers=feed).status_code == 202
    page = login(browser, live_server)
    page.evaluate("() => { window.__sameDocument = true; }")  # proof that the page is not reloaded
    before = map_incident_ids(page)

    incident = {"title": "Airstrike near Tyre", "type": "armed_conflict", "severity": 5, "lat": 33.27, "lon": 35.2, "radius_km": 25}
    posted = requests.post(live_server.url + "/api/v1/incidents", json=incident, headers=feed).json()

    page.wait_for_function(
        "id => { const g = document.querySelector('#live-map .js-plotly-plot');"
        " return g && g.data[1].customdata && Array.from(g.data[1].customdata).includes(id); }",
        arg=posted["id"], timeout=10_000,
    )
    assert posted["id"] not in before
    assert page.evaluate("() => window.__sameDocument") is True
    assert "Airstrike near Tyre" in page.inner_text("#incident-list")
    # The affected area is drawn in an area layer (its MapLibre source holds the incident's
    # feature: crisis_live.js sets a new area straight into the source); travellers arrived as float32.
    page.wait_for_function(
        """id => { const gd = document.querySelector('#live-map .js-plotly-plot');
                   const map = gd._fullLayout.map._subplot.map;
                   return map.getStyle().layers
                     .filter(l => l.id.indexOf('plotly-layout-layer-') === 0 && l.type === 'fill')
                     .some(l => map.querySourceFeatures(l.source).some(f => f.properties && f.properties.id === id)); }""",
        arg=posted["id"], timeout=10_000,
    )
    page.wait_for_function("() => window.crisisLive.layer.stats.points >= 200", timeout=10_000)
    assert len(traveller_points(page)) >= 200
    assert "STALE" not in page.inner_text("#live-age")
    page.wait_for_timeout(500)
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "screenshot-live-map.png"))
    assert page.errors == []
    page.close()


def test_regional_desk_map_shows_only_its_region(browser: object, live_server: LiveServer) -> None:
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    page = login(browser, live_server, "regional_desk", "africa")
    beirut = requests.post(live_server.url + "/api/v1/incidents", json={"title": "Beirut unrest", "severity": 3, "lat": 33.89, "lon": 35.5}, headers=feed).json()
    nairobi = requests.post(live_server.url + "/api/v1/incidents", json={"title": "Nairobi robbery", "severity": 2, "lat": -1.29, "lon": 36.82}, headers=feed).json()
    page.wait_for_function(
        "id => Array.from(document.querySelector('#live-map .js-plotly-plot').data[1].customdata || []).includes(id)",
        arg=nairobi["id"], timeout=10_000,
    )
    assert beirut["id"] not in map_incident_ids(page)
    page.close()


def test_connection_loss_is_shown(browser: object, live_server: LiveServer) -> None:
    page = login(browser, live_server)
    page.evaluate("() => window.crisisLive.state.socket.io.engine.close()")
    page.wait_for_selector(".live-status.down", timeout=5_000)
    page.wait_for_selector(".live-status.ok", timeout=15_000)  # and it reconnects by itself
    page.close()


def test_duty_officer_reports_through_the_map_form_and_works_it_on_the_board(browser: object, live_server: LiveServer) -> None:
    page = login(browser, live_server)
    box = page.locator("#live-map .maplibregl-canvas").bounding_box()
    # Reporting is explicit: the button, then a click where no traveller is drawn (a click on
    # a traveller shows who it is instead) puts the pin there.
    page.click("#report-start")
    page.wait_for_selector("#report-locate", state="visible", timeout=20_000)
    # A spot with nothing drawn within 20 px (the session's server holds other tests' incidents
    # and travellers: a click on one opens it or shows who it is, as it should).
    free = page.evaluate(FREE_SPOT)
    assert free is not None, "no free spot on the map"
    page.mouse.click(box["x"] + free[0], box["y"] + free[1])
    page.wait_for_selector("#report-panel", state="visible", timeout=20_000)
    assert page.inner_text("#report-where").startswith("Pin at ")
    page.fill("#report-title", "Checkpoint shooting reported by warden")
    page.click("#report-type")
    page.get_by_role("option", name="Armed conflict - Exchange of fire", exact=True).click()
    page.click("#report-severity input[value='4']")
    page.fill("#report-radius", "15")
    page.click("#report-submit")
    page.wait_for_selector("#report-result:has-text('Reported:')", timeout=10_000)
    incident_id = page.inner_text("#report-result").rsplit("(", 1)[1].rstrip(").")
    page.wait_for_function(
        "id => Array.from(document.querySelector('#live-map .js-plotly-plot').data[1].customdata || []).includes(id)",
        arg=incident_id, timeout=10_000,
    )
    stored = live_server.context.deps.incidents.get(incident_id)
    assert stored is not None and stored.severity == 4 and stored.radius_km == 15 and stored.source == "ui"

    page.click("text=Incident board")
    row = page.locator(f".ag-row[row-id='{incident_id}']")
    row.wait_for(timeout=10_000)
    row.locator(".ag-cell[col-id='title']").click()
    page.wait_for_selector(f".incident-detail[data-incident-id='{incident_id}']", timeout=10_000)
    assert "Checkpoint shooting reported by warden" in page.inner_text("#incident-detail")
    page.click("#incident-detail button:has-text('Verify')")
    page.wait_for_selector("#incident-detail .detail-message:has-text('Saved.')", timeout=10_000)
    assert live_server.context.deps.incidents.get(incident_id).status.value == "verified"
    kinds = [h["kind"] for h in live_server.context.deps.incidents.history(incident_id)]
    assert kinds == ["reported", "status"]
    page.wait_for_function(
        "id => { const r = document.querySelector(`.ag-row[row-id='${id}'] .ag-cell[col-id='status']`); return r && r.innerText === 'verified'; }",
        arg=incident_id, timeout=10_000,
    )
    page.screenshot(path=str(DOCS / "screenshot-incident-board.png"))
    assert page.errors == []
    page.close()


def test_wall_display_has_no_report_form(browser: object, live_server: LiveServer) -> None:
    page = login(browser, live_server, "wall")
    assert page.locator("#report-panel").count() == 0
    page.close()


def test_feed_health_page_turns_red_for_a_failing_feed_and_lists_what_was_refused(browser: object, live_server: LiveServer) -> None:
    feed = {"Authorization": "Bearer " + live_server.token("feed"), "Content-Type": "application/xml"}
    page = login(browser, live_server)
    page.click("text=Feed health")
    page.wait_for_selector("#feed-grid .ag-row[row-id='cap']", timeout=15_000)
    wall = {"Authorization": "Bearer " + live_server.token("wall")}
    cap = requests.get(live_server.url + "/api/v1/feeds", headers=wall).json()["feeds"]["cap"]
    hostile = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><alert>&e;</alert>'
    # More refused than accepted in the last hour, the last one refused: the feed is failing.
    for _ in range(cap["accepted_last_hour"] - cap["rejected_last_hour"] + 1):
        assert requests.post(live_server.url + "/api/v1/feeds/cap", data=hostile, headers=feed).status_code == 400
    page.wait_for_selector("#feed-grid .ag-row[row-id='cap'].feed-row-bad", timeout=15_000)
    assert page.inner_text("#feed-grid .ag-row[row-id='cap'] .ag-cell[col-id='status']").strip() == "FAILING"
    assert "cap failing" in page.inner_text("#live-feeds")
    assert "root:" not in page.inner_text("#feed-grid")  # the entity was refused, never resolved
    page.wait_for_selector("#dead-letter-grid .ag-row .ag-cell[col-id='feed']:has-text('cap')", timeout=15_000)
    reason = page.inner_text("#dead-letter-grid .ag-row[row-index='0'] .ag-cell[col-id='reason']")
    assert "entit" in reason.lower() or "dtd" in reason.lower(), reason
    assert page.inner_text("#dead-letter-grid .ag-row[row-index='0'] .ag-cell[col-id='origin']").startswith("feed-")
    page.screenshot(path=str(DOCS / "screenshot-feed-health.png"))

    example = read_sample("cap", "example3.xml").decode().replace("</identifier>", f"-{random_ref()}</identifier>", 1)
    assert requests.post(live_server.url + "/api/v1/feeds/cap", data=example.encode(), headers=feed).status_code == 201
    page.wait_for_selector("#feed-grid .ag-row[row-id='cap']:not(.feed-row-bad)", timeout=15_000)
    assert page.inner_text("#feed-grid .ag-row[row-id='cap'] .ag-cell[col-id='status']").strip() == "OK"
    assert page.errors == []
    page.close()


def test_wall_display_sees_feed_health_but_not_the_refused_messages(browser: object, live_server: LiveServer) -> None:
    page = login(browser, live_server, "wall")
    page.click("text=Feed health")
    page.wait_for_selector("#feed-grid .ag-row[row-id='gdacs']", timeout=15_000)
    assert page.locator("#dead-letter-grid").count() == 0
    assert "shown to duty officers" in page.inner_text(".feeds-dead-letters")
    assert page.errors == []
    page.close()


def test_a_map_redraw_cut_off_by_leaving_the_page_raises_no_error(browser: object, live_server: LiveServer) -> None:
    """Plotly finishes a map redraw asynchronously; leaving the page purges the graph.

    Without the guard in crisis_live.js the rest of the redraw throws on the purged graph
    ("reading '_rangeSliderData'" or "'setLayoutProperty'"), uncaught errors seen when a
    duty officer leaves the live map while positions stream in. With it the purge waits
    for the redraw, which completes, and then still happens.
    """
    page = login(browser, live_server)
    outcome = page.evaluate(
        """async () => {
            const gd = document.createElement("div");
            gd.style.width = "400px"; gd.style.height = "300px";
            document.body.appendChild(gd);
            const figure = lat => [{type: "scattermap", lat: [lat], lon: [2]}];
            await Plotly.react(gd, figure(1), {map: {style: "white-bg"}});
            const drawing = Plotly.react(gd, figure(3), {map: {style: "white-bg", zoom: 2}});
            Plotly.purge(gd);
            gd.remove();
            const late = new Promise(resolve => setTimeout(() => resolve("still pending"), 5000));
            let outcome;
            try { outcome = await Promise.race([drawing.then(() => "quiet"), late]); } catch (err) { return String(err); }
            await new Promise(resolve => setTimeout(resolve, 50));
            return [outcome, gd._fullLayout === undefined ? "purged" : "left drawn"];
        }"""
    )
    assert outcome == ["quiet", "purged"], outcome
    # The guard is transparent for a graph that stays: the redraw completes and shows the new data.
    drawn = page.evaluate(
        """async () => {
            const gd = document.createElement("div");
            gd.style.width = "400px"; gd.style.height = "300px";
            document.body.appendChild(gd);
            await Plotly.react(gd, [{type: "scattermap", lat: [1], lon: [2]}], {map: {style: "white-bg"}});
            const same = await Plotly.react(gd, [{type: "scattermap", lat: [7], lon: [2]}], {map: {style: "white-bg"}});
            const lat = gd._fullData[0].lat[0];
            Plotly.purge(gd); gd.remove();
            return [same === gd, lat];
        }"""
    )
    assert drawn == [True, 7]
    assert page.errors == []
    page.close()


def test_travellers_keep_moving_on_the_map_under_a_steady_stream_of_positions(browser: object, live_server: LiveServer) -> None:
    """The travellers layer takes an update at most every TRAV_REDRAW_MS (crisis_live.js):
    positions that come meanwhile are merged into the next one, never dropped."""
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    page = login(browser, live_server)
    page.wait_for_function("() => window.crisisLive.layer.stats.updates >= 1", timeout=10_000)
    page.evaluate("() => { window.__draws = window.crisisLive.layer.stats.updates; }")
    prefix, steps = random_ref("M"), 30
    live_server.know([{"traveller_id": f"{prefix}-{i}", "lat": -60, "lon": -150 + i / 10} for i in range(300)])
    for step in range(steps):  # 30 batches of 300 travellers walking north, every 50 ms
        batch = [{"traveller_id": f"{prefix}-{i}", "lat": -60 + step * 0.5, "lon": -150 + i / 10} for i in range(300)]
        assert requests.post(live_server.url + "/api/v1/positions", json=batch, headers=feed).status_code == 202
        page.wait_for_timeout(50)
        if step == steps // 2:  # mid-stream: they are drawn while the stream runs, not only at the end
            deadline = time.monotonic() + 10
            while len(traveller_points(page, prefix)) < 300 and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            assert len(traveller_points(page, prefix)) == 300
            mid = page.evaluate("() => window.crisisLive.layer.stats.updates")
    final = -60 + (steps - 1) * 0.5
    deadline = time.monotonic() + 10
    while True:
        lats = [lat for _, lat in traveller_points(page, prefix)]
        if len([v for v in lats if abs(v - final) < 1e-3]) == 300 or time.monotonic() > deadline:
            break
        page.wait_for_timeout(200)
    assert len([v for v in lats if abs(v - final) < 1e-3]) == 300
    # None of the travellers is left behind at an earlier step.
    assert [v for v in lats if -60 - 1e-3 <= v < final - 1e-3] == []
    # Drawn mid-stream and again after it: the later positions were merged into a later update.
    assert page.evaluate("() => window.crisisLive.layer.stats.updates") > mid > page.evaluate("() => window.__draws")
    assert page.errors == []
    page.close()
