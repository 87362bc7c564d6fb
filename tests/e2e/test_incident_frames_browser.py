"""A new incident on the wall, in a real headless Chromium: drawn without waiting on the map.

On the wall (assets/crisis_wall.js) the incident markers are page elements of its own, over a
map whose incident trace is hidden. A new incident's marker is drawn in the task its socket
message arrives in, before crisis_live.js's flush; the map gets only the incident's area, set
into its severity's area source, with no Plotly redraw (each redraw is a map frame, whose
software-WebGL readback the three pages of a control room wait on: BENCHMARKS.md section 8).
"""

from __future__ import annotations

from typing import Any

import requests

from tests.conftest import LiveServer
from tests.e2e.test_browser import login
from tests.e2e.test_wall_browser import _wall

# Records, for each incident message, whether its marker is on the wall by the end of the task
# that received it (a microtask queued after the page's own handlers), and live Plotly redraws.
WATCH_JS = """() => {
  window.__sameTask = {};
  window.__reacts = 0;
  window.crisisLive.state.socket.on('incident', m => {
    const id = m.incident.id;
    Promise.resolve().then(() => {
      window.__sameTask[id] = Array.from(document.querySelectorAll('#wall-markers .wall-marker'))
        .some(e => e.dataset.incidentIds.split(' ').includes(id));
    });
  });
  const P = window.Plotly, react = P.react;
  // A live patch carries a datarevision (crisis_live.js mapPatch); the server's figure has none.
  P.react = function (gd, figure) {
    if (figure && figure.layout && figure.layout.datarevision !== undefined) { window.__reacts += 1; }
    return react.apply(P, arguments);
  };
  P.react.__crisisGuarded = true;
}"""

# True once the incident's area is a rendered feature of the wall's map at its centre.
AREA_DRAWN_JS = """([id, lat, lon]) => {
  const map = window.crisisLive.layer.map, p = map.project([lon, lat]);
  return map.queryRenderedFeatures([[p.x - 1, p.y - 1], [p.x + 1, p.y + 1]])
    .some(f => f.layer.id.indexOf('plotly-layout-layer-') === 0 && f.properties && f.properties.id === id);
}"""


def test_the_wall_draws_a_new_marker_at_once_and_its_area_without_a_plotly_redraw(
        live_server: LiveServer, browser: Any) -> None:
    page = _wall(browser, live_server, size=(1920, 1080))
    try:
        page.wait_for_function("() => window.crisisWall.state.map && window.crisisLive.state.ready && window.Plotly",
                               timeout=60_000)
        page.wait_for_timeout(2000)  # the first draw and fit settle
        page.evaluate(WATCH_JS)
        officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
        lat, lon = -30.0, -100.0  # the South Pacific: far from the places test_wall_browser.py stacks
        body: dict[str, Any] = {"title": "Wall frames check", "type": "armed_conflict", "severity": 4, "lat": lat, "lon": lon,
                "radius_km": 400}
        answer = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer, timeout=30)
        assert answer.status_code == 201, answer.text
        new = answer.json()["id"]
        page.wait_for_function("id => window.__sameTask[id] !== undefined", arg=new, timeout=20_000)
        assert page.evaluate("id => window.__sameTask[id]", new) is True
        # Its area is drawn on the map (severity 4's area source), and the map was not redrawn by Plotly.
        page.wait_for_function(AREA_DRAWN_JS, arg=[new, lat, lon], timeout=20_000)
        page.wait_for_selector(f"#wall-incident-list li[data-incident-id='{new}']", timeout=20_000)
        page.wait_for_timeout(500)
        assert page.evaluate("() => window.__reacts") == 0
        # The marker has the severity's colour class.
        classes = page.evaluate("""id => Array.from(document.querySelectorAll('#wall-markers .wall-marker'))
            .filter(e => e.dataset.incidentIds.split(' ').includes(id)).map(e => e.className)""", new)
        assert classes and "sev-bg-4" in classes[0], classes
        assert page.errors == []
    finally:
        page.context.close()


def test_a_new_incident_after_a_quiet_spell_goes_to_the_map_at_once(live_server: LiveServer, browser: Any) -> None:
    """assets/crisis_live.js flushes changes to Dash at most every 60 ms; the first change after
    a quiet 60 ms goes at once (setTimeout 0), not 60 ms later; a burst is still coalesced."""
    page: Any = login(browser, live_server)
    try:
        page.wait_for_function("() => window.crisisLive && window.crisisLive.state.ready", timeout=30_000)
        page.wait_for_timeout(1500)
        page.evaluate("""() => { window.__flushes = []; const st = window.setTimeout;
            window.setTimeout = function (fn, ms) {
              if (typeof fn === 'function' && fn.name === 'flush') { window.__flushes.push(ms || 0); }
              return st.apply(this, arguments); }; }""")
        feed = {"Authorization": "Bearer " + live_server.token("feed")}
        new = requests.post(live_server.url + "/api/v1/incidents", headers=feed, json={
            "title": "Flush check", "type": "flood", "severity": 2, "lat": -40.0, "lon": -150.0}, timeout=30).json()["id"]
        page.wait_for_function("id => window.crisisLive.state.incidents.has(id)", arg=new, timeout=15_000)
        page.wait_for_timeout(300)
        flushes = page.evaluate("() => window.__flushes")
        assert flushes and flushes[0] == 0, flushes
        assert page.errors == []
    finally:
        page.close()
