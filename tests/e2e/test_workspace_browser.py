"""The duty officer workspace on the live map (/), in a real headless Chromium.

- A list item or an incident marker opens the incident beside the map (#incident-panel):
  facts with the event's age and the last update, our people (needs help first, "%
  accounted for"), the movements under way around it and the best 5 surge candidates;
  a dispatch is 3 clicks from the landing page (open, Send, Confirm).
- Reporting is explicit: "Report an incident", then a map click, typed coordinates or a
  place name from the offline gazetteer puts a pin; a click on the map alone reports nothing.
- The incident list changes only what changed: no DOM change while positions stream,
  text stays selected, and an item can be clicked meanwhile.
- The lifecycle buttons: next step first, fixed order, Close asks first; a closed
  incident stays on the list, greyed, under a heading that says for how long.
- Form errors in plain words.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from crisis.bootstrap import Context
from tests.conftest import LiveServer, random_ref
from tests.e2e.test_areas_api import SOUTH, import_population
from tests.e2e.test_map_scale_browser import _zoom_to
from tests.e2e.test_people_pages_browser import open_page
from tests.e2e.test_roster_browser import _seed

PIN = """() => { const map = window.crisisLive.layer.map, s = map && map.getSource('crisis-report-pin');
                 const d = s && s.serialize().data; return d && d.features.length ? d.features[0].geometry.coordinates : null; }"""


@pytest.fixture
def opened(browser: Any, live_server: LiveServer) -> Any:
    """open(path): a signed-in duty officer's page; every page is closed after the test, passed or not."""
    pages: list[Any] = []

    def open_(path: str) -> Any:
        page = open_page(browser, live_server, path)
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.context.close()
    

def _post_incident(live_server: LiveServer, **fields: Any) -> dict[str, Any]:
    body = {"title": "Incident " + random_ref(), "type": "riot", "severity": 3, "lat": 10.0, "lon": 10.0, **fields}
    answer = requests.post(live_server.url + "/api/v1/incidents", json=body,
                           headers={"Authorization": "Bearer " + live_server.token("feed")}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _item(incident_id: str) -> str:
    return f"#incident-list li[data-incident-id='{incident_id}']"


def test_a_list_item_opens_the_incident_and_a_dispatch_takes_three_clicks(context: Context, live_server: LiveServer,
                                                                          opened: Any) -> None:
    incident = _seed(context, live_server)  # three officers on standby, an incident near Beirut
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    import_population(live_server, officer)  # travellers in Tyre (inside SOUTH) and Beirut
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "South Lebanon", "phase": 3, "geometry": SOUTH},
                         headers=officer, timeout=30)
    assert area.status_code == 201, area.text
    page = opened("/")
    clicks = 0

    page.wait_for_selector(_item(incident), timeout=30_000)
    page.click(_item(incident))
    clicks += 1
    page.wait_for_selector("#incident-panel-facts [data-fact='age']", timeout=30_000)
    facts = page.inner_text("#incident-panel-facts").lower()
    assert "event age" in facts and "last update" in facts and "reported 20" in facts, facts
    assert "Kidnapping near Beirut" in page.inner_text("#incident-panel-title")
    assert page.locator("#report-panel").is_hidden()  # opening an incident is not reporting one
    page.wait_for_selector("#incident-panel-people:has-text('% accounted for')", timeout=30_000)
    page.wait_for_selector("#incident-panel-movements .ip-movement", timeout=30_000)
    movement = page.inner_text("#incident-panel-movements")
    assert "South Lebanon" in movement and "relocation" in movement and "to move" in movement, movement
    page.wait_for_selector("#incident-panel-candidates .candidate-send", timeout=30_000)
    ranked = page.eval_on_selector_all("#incident-panel-candidates li.candidate", "els => els.map(e => e.dataset.officerId)")
    assert ranked[0] == "OF-AMIRA" and set(ranked) == {"OF-AMIRA", "OF-JEAN", "OF-KOFI"}, ranked
    assert page.get_attribute("#incident-panel-open", "href") == f"/incident/{incident}"

    page.click("#incident-panel-candidates .candidate-send[data-officer-id='OF-AMIRA']")
    clicks += 1
    page.wait_for_selector("#incident-panel-confirm:visible", timeout=20_000)
    assert "Amira Haddad" in page.inner_text("#incident-panel-confirm-box")
    assert context.roster.dispatches() == []  # Send alone dispatches no one
    page.click("#incident-panel-confirm")
    clicks += 1
    page.wait_for_selector("#incident-panel-dispatch-result.dispatch-done", timeout=30_000)
    assert "Dispatched Amira Haddad" in page.inner_text("#incident-panel-dispatch-result")
    dispatches = context.roster.dispatches()
    assert [(d.officer_id, d.incident_id, d.status) for d in dispatches] == [("OF-AMIRA", incident, "requested")]
    assert clicks == 3
    assert page.errors == []


def test_a_marker_opens_the_incident_and_reporting_is_explicit(context: Context, live_server: LiveServer, opened: Any) -> None:
    incident = _post_incident(live_server, title="Roadblock at the border", lat=-20.0, lon=-50.0, severity=4)
    page = opened("/")
    page.wait_for_function(
        "id => { const g = document.querySelector('#live-map .js-plotly-plot');"
        " return !!g && !!g.data && Array.from(g.data[1].customdata || []).includes(id); }",
        arg=incident["id"], timeout=30_000)
    page.wait_for_function("() => !!window.crisisLive.layer.map", timeout=30_000)
    at = _zoom_to(page, -20.0, -50.0, 6)
    page.mouse.move(at["x"] - 20, at["y"])
    page.mouse.move(at["x"], at["y"])
    page.wait_for_timeout(300)
    page.mouse.click(at["x"], at["y"])  # the marker
    page.wait_for_selector("#incident-panel-title:has-text('Roadblock at the border')", timeout=30_000)
    assert page.locator("#report-panel").is_hidden()
    # An empty spot of the map, without "Report an incident": nothing is reported, no pin.
    page.mouse.click(at["x"] + 150, at["y"] + 120)
    page.wait_for_timeout(500)
    assert page.locator("#report-panel").is_hidden() and page.evaluate(PIN) is None

    # Report: the button, then a click on the map puts the pin there and opens the form.
    page.click("#report-start")
    page.wait_for_selector("#report-locate:visible", timeout=20_000)
    page.mouse.click(at["x"] + 150, at["y"] + 120)
    page.wait_for_selector("#report-panel:visible", timeout=20_000)
    pin = page.wait_for_function(PIN, timeout=20_000).json_value()
    assert -25 < pin[1] < -20 and -50 < pin[0] < -45, pin  # south-east of the marker, where clicked
    assert page.inner_text("#report-where").startswith("Pin at ")
    # Typed coordinates move it.
    page.fill("#report-place", "33.89, 35.5")
    page.click("#report-place-go")
    page.wait_for_function(PIN.replace("return d && d.features.length ? d.features[0].geometry.coordinates : null;",
                                       "return d && d.features.length && Math.abs(d.features[0].geometry.coordinates[1] - 33.89) < 1e-6;"),
                           timeout=20_000)
    assert "33.8900, 35.5000" in page.inner_text("#report-where")
    # A place name from the offline gazetteer; an unknown one is said in words.
    page.fill("#report-place", "Nowhere-on-earth")
    page.press("#report-place", "Enter")
    page.wait_for_selector("#report-place-message:has-text('No place called')", timeout=20_000)
    page.fill("#report-place", "Kenya")
    page.click("#report-place-go")
    page.wait_for_selector("#report-place-message:has-text('KEN')", timeout=20_000)
    pin = page.wait_for_function(PIN.replace("return d && d.features.length ? d.features[0].geometry.coordinates : null;",
                                             "return d && d.features.length && d.features[0].geometry.coordinates[1] < 5 ? "
                                             "d.features[0].geometry.coordinates : null;"), timeout=20_000).json_value()
    assert -5 < pin[1] < 5 and 33 < pin[0] < 42, pin  # Kenya
    # A town of the offline gazetteer (GeoNames places of 15,000 people or more).
    page.fill("#report-place", "Beirut")
    page.click("#report-place-go")
    page.wait_for_selector("#report-place-message:has-text('Pin at Beirut')", timeout=20_000)
    page.fill("#report-place", "Kenya")
    page.click("#report-place-go")
    page.wait_for_function(PIN.replace("return d && d.features.length ? d.features[0].geometry.coordinates : null;",
                                       "return d && d.features.length && d.features[0].geometry.coordinates[1] < 5 ? "
                                       "d.features[0].geometry.coordinates : null;"), timeout=20_000)
    # An error in words, then the report.
    page.click("#report-submit")
    page.wait_for_selector("#report-result:has-text('Give the incident a title.')", timeout=30_000)
    said = page.inner_text("#report-result")
    assert "Field required" not in said and "Choose the type of incident." in said, said  # both at once, not "other"
    page.fill("#report-title", "Protest at the ministry")
    page.click("#report-type")
    page.get_by_role("option", name="Civil unrest - Demonstration", exact=True).click()
    page.click("#report-submit")
    # (has-text ignores case: "Not reported: ..." would match "Reported:")
    page.wait_for_function("() => document.getElementById('report-result').textContent.startsWith('Reported:')", timeout=30_000)
    incident_id = page.inner_text("#report-result").rsplit("(", 1)[1].rstrip(").")
    stored = context.deps.incidents.get(incident_id)
    assert stored is not None and stored.approximate and stored.country == "KEN" and stored.source == "ui"
    page.wait_for_function(PIN.replace("return d && d.features.length ? d.features[0].geometry.coordinates : null;",
                                       "return !d || d.features.length === 0;"), timeout=20_000)  # the pin goes
    assert page.errors == []


def _stream_positions(live_server: LiveServer, stop: threading.Event) -> threading.Thread:
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    live_server.know([{"traveller_id": f"S{i}", "lat": -10 + i % 50 * 0.01, "lon": 20 + i * 0.01} for i in range(200)])

    def run() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            batch = [{"traveller_id": f"S{i}", "lat": -10 + (i + n) % 50 * 0.01, "lon": 20 + i * 0.01} for i in range(200)]
            requests.post(live_server.url + "/api/v1/positions", json=batch, headers=feed, timeout=30)
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


COUNT_MUTATIONS = """() => { window.__mutations = []; const list = document.getElementById('incident-list');
    const key = node => node.dataset ? (node.dataset.incidentId || node.dataset.note || '?') : '?';
    window.__observer = new MutationObserver(records => records.forEach(r => {
        if (r.target === list) {  // an item added, removed or moved: that item
            Array.from(r.addedNodes).concat(Array.from(r.removedNodes)).forEach(n => window.__mutations.push(key(n)));
            return; }
        const item = (r.target.closest ? r.target : r.target.parentElement).closest('li');
        window.__mutations.push(item ? key(item) : 'list'); }));
    window.__observer.observe(list, {childList: true, subtree: true, characterData: true, attributes: true}); }"""


def test_the_list_changes_only_what_changed_while_positions_stream(context: Context, live_server: LiveServer,
                                                                    opened: Any) -> None:
    incidents = [_post_incident(live_server, title=f"Incident {n}", severity=1 + n % 5, lat=5.0 + n, lon=5.0 + n)
                 for n in range(8)]
    page = opened("/")
    for incident in incidents:
        page.wait_for_selector(_item(incident["id"]), timeout=30_000)
    stop = threading.Event()
    thread = _stream_positions(live_server, stop)
    try:
        page.wait_for_function("() => window.crisisLive.layer.stats.points >= 200", timeout=30_000)
        page.evaluate(COUNT_MUTATIONS)
        # Select an item's title text while positions stream: it stays selected.
        title = _item(incidents[3]["id"]) + " .incident-title"
        page.evaluate("""sel => { const r = document.createRange(); r.selectNodeContents(document.querySelector(sel));
                                  const s = window.getSelection(); s.removeAllRanges(); s.addRange(r); }""", title)
        page.wait_for_timeout(5_000)
        mutations = page.evaluate("() => window.__mutations.length")
        assert mutations <= 2, page.evaluate("() => window.__mutations")  # was 80 in 5 s when rebuilt
        assert page.evaluate("() => window.getSelection().toString()") == "Incident 3"
        # A change to one incident changes that item only.
        page.evaluate("() => { window.__mutations = []; }")
        answer = requests.patch(f"{live_server.url}/api/v1/incidents/{incidents[5]['id']}", json={"title": "Incident 5 renamed"},
                                headers={"Authorization": "Bearer " + live_server.token("duty_officer")}, timeout=30)
        assert answer.status_code == 200, answer.text
        page.wait_for_selector(_item(incidents[5]["id"]) + ":has-text('Incident 5 renamed')", timeout=30_000)
        page.wait_for_timeout(300)
        touched = set(page.evaluate("() => window.__mutations"))
        assert touched == {incidents[5]["id"]}, touched
        # Clickable while positions stream.
        page.evaluate("() => window.getSelection().removeAllRanges()")
        page.click(_item(incidents[2]["id"]))
        page.wait_for_selector("#incident-panel-title:has-text('Incident 2')", timeout=30_000)
        assert "picked" in (page.get_attribute(_item(incidents[2]["id"]), "class") or "")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert page.errors == []


def test_lifecycle_next_step_first_close_asks_and_a_closed_incident_stays_greyed(context: Context, live_server: LiveServer,
                                                                                opened: Any) -> None:
    incident = _post_incident(live_server, title="Shooting at the checkpoint", severity=4)
    page = opened("/")
    page.wait_for_selector(_item(incident["id"]), timeout=30_000)
    page.click(_item(incident["id"]))
    steps = "() => Array.from(document.querySelectorAll('#incident-panel-lifecycle button')).map(b => b.textContent)"
    page.wait_for_selector("#incident-panel-lifecycle button", timeout=30_000)
    assert page.evaluate(steps) == ["Verify", "Mark active", "Mark contained", "Close"]
    assert page.get_attribute("#incident-panel-lifecycle button >> nth=0", "class").count("lifecycle-next") == 1
    page.click("#incident-panel-lifecycle button:has-text('Verify')")
    page.wait_for_selector("#incident-panel-lifecycle[data-status='verified']", timeout=30_000)
    assert page.evaluate(steps) == ["Mark active", "Mark contained", "Close"]
    page.wait_for_selector("#incident-panel-facts [data-fact='status'] dd:has-text('verified')", timeout=30_000)
    # Close asks first: dismissed, nothing changes.
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.click("#incident-panel-lifecycle button:has-text('Close')")
    page.wait_for_timeout(800)
    assert asked and "Close this incident?" in asked[0]
    assert context.deps.incidents.get(incident["id"]).status.value == "verified"
    page.once("dialog", lambda d: d.accept())
    page.click("#incident-panel-lifecycle button:has-text('Close')")
    page.wait_for_selector("#incident-panel-lifecycle[data-status='closed']", timeout=30_000)
    assert context.deps.incidents.get(incident["id"]).status.value == "closed"
    assert page.evaluate(steps) == ["Reopen"]
    # Still on the list, greyed, under a heading that says for how long.
    page.wait_for_selector(_item(incident["id"]) + ".incident-closed", timeout=30_000)
    assert "Closed in the last 60 min" in page.inner_text("#incident-list li.incident-closed-head")
    order = page.eval_on_selector_all("#incident-list li", "els => els.map(e => e.dataset.incidentId || e.dataset.note)")
    assert order.index("__closed") < order.index(incident["id"])
    assert page.errors == []


def _open_board(opened: Any) -> Any:
    page = opened("/incidents")
    page.set_viewport_size({"width": 1920, "height": 1080})
    return page


def test_board_age_and_updated_apart_stale_visible_at_1920_closed_greyed_and_detail_live(
        context: Context, live_server: LiveServer, opened: Any) -> None:
    drought = _post_incident(live_server, title="Drought in the south", type="drought", severity=2,
                             reported_at="2019-06-01T00:00:00Z", lat=-15.0, lon=30.0)
    riot = _post_incident(live_server, title="Riot in the capital", severity=4, lat=12.0, lon=15.0)
    page = _open_board(opened)
    row = f".ag-center-cols-container .ag-row[row-id='{drought['id']}']"
    page.wait_for_selector(row, timeout=30_000)
    age = page.inner_text(row + " .ag-cell[col-id='reported_at']")
    updated = page.inner_text(row + " .ag-cell[col-id='updated_at']")
    assert age.endswith(" y") and float(age.split()[0]) >= 5, age  # since the event: years
    assert updated.endswith((" s", " min")), updated  # since the last update: just now
    headers = page.eval_on_selector_all("#incident-grid .ag-header-cell", "els => els.map(e => e.getAttribute('col-id'))")
    assert "reported_at" in headers and "updated_at" in headers
    # The Stale column is on screen at 1920 x 1080, inside the grid, not scrolled off.
    stale = page.locator("#incident-grid .ag-header-cell[col-id='stale']").bounding_box()
    grid = page.locator("#incident-grid").bounding_box()
    assert stale is not None and stale["x"] + stale["width"] <= grid["x"] + grid["width"] + 1, (stale, grid)
    assert stale["x"] + stale["width"] <= 1920

    # The detail follows the incident live (reopened, closed... by someone else).
    page.click(f".ag-row[row-id='{riot['id']}'] .ag-cell[col-id='title']")
    page.wait_for_selector(f".incident-detail[data-incident-id='{riot['id']}']", timeout=30_000)
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    answer = requests.patch(f"{live_server.url}/api/v1/incidents/{riot['id']}", json={"status": "active"}, headers=officer, timeout=30)
    assert answer.status_code == 200, answer.text
    page.wait_for_selector("#incident-detail .fact:has-text('active')", timeout=30_000)
    # Closed: still on the board, greyed, while the filter says how long closed ones stay.
    answer = requests.patch(f"{live_server.url}/api/v1/incidents/{riot['id']}", json={"status": "closed"}, headers=officer, timeout=30)
    assert answer.status_code == 200, answer.text
    page.wait_for_selector(f".ag-center-cols-container .ag-row.row-closed[row-id='{riot['id']}']", timeout=30_000)
    assert "greyed, for 60 min" in page.inner_text("#board-closed-note")
    assert page.errors == []


def test_board_lifecycle_buttons_in_workflow_order_and_close_asks(context: Context, live_server: LiveServer, opened: Any) -> None:
    incident = _post_incident(live_server, title="Carjacking on the airport road", severity=3)
    page = _open_board(opened)
    page.wait_for_selector(f".ag-row[row-id='{incident['id']}'] .ag-cell[col-id='title']", timeout=30_000)
    page.click(f".ag-row[row-id='{incident['id']}'] .ag-cell[col-id='title']")
    buttons = "() => Array.from(document.querySelectorAll('#incident-detail .detail-actions button')).map(b => b.textContent)"
    page.wait_for_selector("#incident-detail .detail-actions button", timeout=30_000)
    assert page.evaluate(buttons) == ["Verify", "Mark active", "Mark contained", "Close"]
    assert "lifecycle-next" in (page.get_attribute("#incident-detail .detail-actions button >> nth=0", "class") or "")
    page.once("dialog", lambda d: d.dismiss())
    page.click("#incident-detail .detail-actions button:has-text('Close')")
    page.wait_for_timeout(1_000)
    assert context.deps.incidents.get(incident["id"]).status.value == "reported"
    page.once("dialog", lambda d: d.accept())
    page.click("#incident-detail .detail-actions button:has-text('Close')")
    deadline = time.monotonic() + 30
    while context.deps.incidents.get(incident["id"]).status.value != "closed" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert context.deps.incidents.get(incident["id"]).status.value == "closed"
    page.wait_for_selector("#incident-detail .detail-actions button:has-text('Reopen')", timeout=30_000)
    assert page.errors == []


NOBODY_JS = """(detail) => document.dispatchEvent(new CustomEvent('crisis:affected', {detail}))"""


def _affected(incident_id: str, total: int, safe: int) -> dict[str, Any]:
    counts = {"total": total, "safe": safe, "needs_help": 0, "unsure": 0, "unreachable": 0, "no_response": total - safe}
    return {"incident": incident_id, "counts": counts, "accounted_pct": 100.0 * safe / total if total else 0.0,
            "radius_km_used": 20, "at": "2026-01-01T00:00:00Z"}


def test_nobody_affected_is_said_not_100_or_0_percent(live_server: LiveServer, opened: Any) -> None:
    """An incident where nobody of ours is: the workspace panel and the incident page say so, live."""
    incident = _post_incident(live_server, title="Squall over the open ocean", lat=-45.0, lon=-130.0, severity=2)
    page = opened("/")
    page.wait_for_selector(_item(incident["id"]), timeout=30_000)
    page.click(_item(incident["id"]))
    page.wait_for_selector("#incident-panel-counts", timeout=30_000)
    counts = page.inner_text("#incident-panel-counts")
    assert counts == "Nobody of ours is affected so far.", counts

    page.goto(live_server.url + f"/incident/{incident['id']}")
    page.wait_for_selector("#people-pct-label", timeout=30_000)
    assert page.inner_text("#people-pct-label") == "Nobody of ours is affected"
    assert page.inner_text("#people-pct") == "" and "%" not in page.inner_text("#people-counts")
    page.wait_for_selector(".live-status.ok", timeout=15_000)
    # Live: somebody is affected, then nobody again (assets/crisis_people.js). Every text the
    # counts take is recorded: the page's own re-read (a second later) puts back the real ones.
    page.evaluate("""() => { window.__pct = [];
        const note = () => { const n = document.getElementById('people-pct'), l = document.getElementById('people-pct-label');
                             if (n && l) { window.__pct.push(n.innerText + '|' + l.innerText); } };
        new MutationObserver(note).observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
    page.evaluate(NOBODY_JS, _affected(incident["id"], 2, 1))
    page.wait_for_function("() => window.__pct.includes('50.0|% accounted for')", timeout=10_000)
    page.evaluate("() => { window.__pct.length = 0; }")
    page.evaluate(NOBODY_JS, _affected(incident["id"], 0, 0))
    page.wait_for_function("() => window.__pct.includes('|Nobody of ours is affected')", timeout=10_000)
    page.wait_for_timeout(300)
    shown = page.evaluate("() => window.__pct")
    assert not [t for t in shown if t.startswith(("0.0|", "100.0|"))], shown  # never a % of nobody, even for a moment
    assert page.inner_text("#people-pct") == ""
    assert page.errors == []


CONTRAST = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const lum = c => { const v = rgb(c).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
                     return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const list = document.createElement('ul'); list.className = 'map-people-list';
  list.innerHTML = '<li class="map-person status-needs_help" data-status="needs_help"><span class="map-person-status">need help</span>' +
                   '<span class="map-person-who">A. Person</span><span class="map-person-meta">2.0 km from the centre</span></li>';
  document.querySelector('.shell-main').appendChild(list);
  const row = list.firstChild, bg = getComputedStyle(row).backgroundColor;
  const out = {};
  row.querySelectorAll('span').forEach(s => { out[s.className] = ratio(getComputedStyle(s).color, bg); });
  list.remove();
  return {background: bg, ratios: out};
}"""


def test_a_person_needing_help_in_the_incident_panel_is_readable(live_server: LiveServer, opened: Any) -> None:
    """The row is loud (white on red): its status, name and distance must all read on it (WCAG AA, 4.5:1)."""
    page = opened("/")
    page.wait_for_selector("#incident-list", timeout=30_000)
    shown = page.evaluate(CONTRAST)
    assert shown["background"] not in ("rgba(0, 0, 0, 0)", "transparent"), shown  # loud, not plain
    assert all(ratio >= 4.5 for ratio in shown["ratios"].values()), shown
    # The map's legend names the incident severities too, above the traveller colours, inside the map.
    sev, trav, live = (page.locator(sel).first.bounding_box() for sel in (".live-map .sev-legend", ".live-map .trav-legend:not(.sev-legend)", ".live-map"))
    assert sev and trav and live, (sev, trav, live)
    assert sev["y"] + sev["height"] <= trav["y"] + 1 and sev["x"] >= live["x"] and trav["y"] + trav["height"] <= live["y"] + live["height"]
    assert "5 critical" in page.inner_text(".live-map .sev-legend")


def test_a_desk_is_told_of_other_regions_officers_by_where_they_stand_not_who(context: Context, live_server: LiveServer,
                                                                            browser: Any) -> None:
    from tests.e2e.test_roster_browser import MENA, NAMES

    incident = _seed(context, live_server)  # Amira (Middle East, the desk's), Jean (Europe), Kofi (Africa), near Beirut
    desk = open_page(browser, live_server, "/", role="regional_desk", region=MENA)
    try:
        desk.wait_for_selector(_item(incident), timeout=30_000)
        desk.click(_item(incident))
        desk.wait_for_selector("#incident-panel-candidates li.candidate", timeout=30_000)
        items = desk.eval_on_selector_all("#incident-panel-candidates li.candidate", """els => els.map(e => ({
            id: e.dataset.officerId, outside: e.classList.contains('outside'), text: e.innerText}))""")
        assert items[0]["id"] == "OF-AMIRA" and NAMES[0] in items[0]["text"] and not items[0]["outside"], items
        others = [i for i in items if i["outside"]]
        assert others and all(i["id"] == "" and i["text"].startswith("an officer of ") and " km" in i["text"] for i in others), items
        assert {"an officer of Europe and Central Asia", "an officer of Africa"} <= {i["text"].split("\n")[0] for i in others}, items
        panel = desk.inner_text("#incident-panel-candidates")
        assert NAMES[1] not in panel and NAMES[2] not in panel and "OF-JEAN" not in panel and "OF-KOFI" not in panel, panel
        assert desk.locator("#incident-panel-candidates .candidate-send").count() == 0  # the duty officers dispatch
        assert desk.errors == []
    finally:
        desk.context.close()


def test_closing_says_who_still_needs_help_on_the_panel_and_the_incident_page(live_server: LiveServer, opened: Any) -> None:
    """Closing ends an incident's roll-call: its people needing help leave the header's count.
    The question before closing says so, with the numbers, wherever Close is pressed."""
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    who = random_ref("OUA")
    ouaga = {"name": "Ouagadougou office", "lat": 12.3714, "lon": -1.5197, "country": "BFA"}
    assert requests.post(live_server.url + "/api/v1/travellers", headers=officer, timeout=30, json=[
        {"id": who, "name": "Awa Ouedraogo", "agency": "UNDP", "category": "international_staff", "essential": False,
         "duty_station": ouaga}]).json()["accepted"] == 1
    incident = _post_incident(live_server, title="Unrest in Ouagadougou " + who, lat=12.37, lon=-1.52, radius_km=15)
    said = requests.put(f"{live_server.url}/api/v1/incidents/{incident['id']}/people/{who}", json={"status": "needs_help"},
                        headers=officer, timeout=30)
    assert said.status_code in (200, 201), said.text
    page = opened("/")
    page.wait_for_selector(_item(incident["id"]), timeout=30_000)
    page.click(_item(incident["id"]))
    page.wait_for_selector("#incident-panel-counts:has-text('1 need help')", timeout=30_000)
    close = "#incident-panel-lifecycle button[data-to='closed']"
    page.wait_for_function(f"() => (document.querySelector(\"{close}\") || {{}}).dataset?.confirm?.includes('1 person still needs help')",
                           timeout=30_000)
    assert "closing ends its roll-call" in page.get_attribute(close, "data-confirm")
    # The person is marked safe: the question no longer speaks of anyone.
    requests.put(f"{live_server.url}/api/v1/incidents/{incident['id']}/people/{who}", json={"status": "safe"},
                 headers=officer, timeout=30)
    page.wait_for_function(f"() => !(document.querySelector(\"{close}\").dataset.confirm || '').includes('Of the people affected')",
                           timeout=30_000)
    requests.put(f"{live_server.url}/api/v1/incidents/{incident['id']}/people/{who}", json={"status": "needs_help"},
                 headers=officer, timeout=30)
    detail = opened(f"/incident/{incident['id']}")
    button = "#incident-detail .detail-actions button.action-closed"
    detail.wait_for_selector(button, timeout=30_000)
    assert "1 person still needs help" in detail.get_attribute(button, "data-confirm")
    assert page.errors == [] and detail.errors == []


def test_an_incident_over_several_countries_names_them_all(live_server: LiveServer, opened: Any) -> None:
    """A drought over Iraq and Iran: the panel and the incident's page name both countries
    (not only the first), and say that its affected radius comes from its severity."""
    incident = _post_incident(live_server, title="Drought over two countries " + random_ref(), type="drought",
                              lat=33.0, lon=44.0, country="IRQ", countries=["IRQ", "IRN"])
    page = opened("/")
    page.wait_for_selector(_item(incident["id"]), timeout=30_000)
    assert page.inner_text(_item(incident["id"]) + " .incident-meta").startswith("IRQ, IRN | ")
    # A relocation from a whole country the incident spans is among its movements, however far
    # its outline is from the incident's point (Pakistan's nearest edge: ~1,600 km from it).
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    far = _post_incident(live_server, title="Drought over Iraq and Pakistan " + random_ref(), type="drought",
                         lat=33.0, lon=44.0, country="IRQ", countries=["IRQ", "PAK"])
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "Pakistan " + random_ref(), "phase": 3, "country": "PAK"},
                         headers=officer, timeout=30)
    assert area.status_code == 201, area.text
    page.wait_for_selector(_item(far["id"]), timeout=30_000)
    page.click(_item(far["id"]))
    page.wait_for_selector(f"#incident-panel-movements .ip-movement:has-text('{area.json()['name']}')", timeout=30_000)
    # Over more than three: the first three, then how many more (the panel names them all).
    wide = _post_incident(live_server, title="Drought over five countries " + random_ref(), type="drought",
                          lat=20.0, lon=100.0, country="CHN", countries=["CHN", "IND", "LAO", "MMR", "THA"])
    page.wait_for_selector(_item(wide["id"]), timeout=30_000)
    assert page.inner_text(_item(wide["id"]) + " .incident-meta").startswith("CHN, IND, LAO +2 | ")
    page.click(_item(incident["id"]))
    page.wait_for_selector("#incident-panel-facts [data-fact='place'] dd:has-text('IRQ, IRN')", timeout=30_000)
    # severity 3 (the default for a report) without a radius: CRISIS_DEFAULT_RADIUS_KM's 25 km
    assert page.inner_text("#incident-panel-facts [data-fact='radius'] dd") == "25 km (by severity)"
    page.goto(live_server.url + f"/incident/{incident['id']}")
    page.wait_for_selector(".facts dt:has-text('Countries')", timeout=30_000)
    facts = page.inner_text(".facts")
    assert "IRQ, IRN" in facts and "25 km (by severity)" in facts, facts
    assert page.errors == []


def test_the_list_puts_first_the_incidents_where_our_people_are_and_need_help(live_server: LiveServer,
                                                                               opened: Any) -> None:
    """The open-incident list says how many of ours each incident affects and how many of them
    need help, and lists first those where someone needs help, then those with any of ours,
    then the rest, each by severity; it follows a status change live."""
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    ref = random_ref("ULN")
    station = {"name": "Ulaanbaatar office", "lat": 47.918, "lon": 106.917, "country": "MNG"}
    people = [{"id": f"{ref}-{n}", "name": f"Person {n}", "agency": "UNDP", "category": "international_staff",
               "essential": False, "duty_station": station} for n in range(2)]
    assert requests.post(live_server.url + "/api/v1/travellers", headers=officer, timeout=30,
                         json=people).json()["accepted"] == 2
    help_here = _post_incident(live_server, title="Flood in Ulaanbaatar " + ref, severity=1, lat=47.92, lon=106.92, radius_km=15)
    ours_too = _post_incident(live_server, title="Riot in Ulaanbaatar " + ref, severity=2, lat=47.92, lon=106.92, radius_km=15)
    nobody = _post_incident(live_server, title="Cyclone over the sea " + ref, severity=5, lat=-40.0, lon=-20.0, radius_km=50)
    page = opened("/")
    meta = _item(help_here["id"]) + " .incident-meta"
    page.wait_for_selector(meta + ":has-text('2 of ours')", timeout=30_000)
    page.wait_for_selector(_item(ours_too["id"]) + " .incident-meta:has-text('2 of ours')", timeout=30_000)
    assert "of ours" not in page.inner_text(_item(nobody["id"]) + " .incident-meta")
    said = requests.put(f"{live_server.url}/api/v1/incidents/{help_here['id']}/people/{ref}-0", json={"status": "needs_help"},
                        headers=officer, timeout=30)
    assert said.status_code in (200, 201), said.text
    page.wait_for_selector(meta + ":has-text('2 of ours, 1 needs help')", timeout=10_000)  # live: not the list's 20 s redraw
    assert "ours-need-help" in (page.get_attribute(_item(help_here["id"]), "class") or "")
    # Red on the words about our people only: the place, status and ages stay plain (a list of
    # several such incidents is not a wall of red).
    colour = "sel => getComputedStyle(document.querySelector(sel)).color"
    ours_colour, rest_colour = page.evaluate(colour, meta + " .incident-ours"), page.evaluate(colour, meta + " .incident-where")
    assert ours_colour == "rgb(180, 35, 24)" and rest_colour != ours_colour, (ours_colour, rest_colour)
    assert page.inner_text(meta + " .incident-where").strip().startswith("| MNG | "), page.inner_text(meta)
    order = [help_here["id"], ours_too["id"], nobody["id"]]
    listed = "ids => { const all = Array.from(document.querySelectorAll('#incident-list li')).map(li => li.dataset.incidentId);" \
             " return ids.map(id => all.indexOf(id)); }"
    page.wait_for_function(f"ids => {{ const at = ({listed})(ids); return at[0] >= 0 && at[0] < at[1] && at[1] < at[2]; }}",
                           arg=order, timeout=30_000)
    assert page.errors == []
