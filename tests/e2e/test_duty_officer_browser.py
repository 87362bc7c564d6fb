"""What a new duty officer reads and may do, in a real headless Chromium at 1920 x 1080.

- The header's "N PEOPLE NEED HELP" counts each person once: one person needing help in two
  overlapping incidents is one, as /people says.
- Every "Selected people" status button is readable (its text against its own background).
- A closed incident's panel offers no surge officer to send, and says why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from crisis.bootstrap import Context
from tests.conftest import LiveServer
from tests.e2e.test_people_pages_browser import BEIRUT, bearer, choose, traveller
from tests.e2e.test_people_pages_browser import open_page as _open_page
from tests.e2e.test_roster_browser import _seed as seed_roster


def open_page(browser: Any, live_server: LiveServer, path: str, role: str = "duty_officer") -> Any:
    page = _open_page(browser, live_server, path, role)
    page.set_viewport_size({"width": 1920, "height": 1080})
    return page


def _one_person_in_two_incidents(live_server: LiveServer) -> tuple[str, str]:
    """One traveller at the Beirut office, inside two overlapping incidents, needing help in both."""
    feed = bearer(live_server.token("feed"))
    answer = requests.post(live_server.url + "/api/v1/travellers", json=[traveller("LB0", "Amal Haddad", BEIRUT, 0)],
                           headers=feed, timeout=30)
    assert answer.status_code == 200 and not answer.json()["rejected"], answer.text
    officer = bearer(live_server.token("duty_officer"))
    ids = []
    for title, lat in (("Shelling near Beirut port", BEIRUT["lat"]), ("Strikes in the southern suburbs", BEIRUT["lat"] - 0.05)):
        body = {"title": title, "type": "armed_conflict", "severity": 4, "lat": lat, "lon": BEIRUT["lon"], "radius_km": 30}
        posted = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer, timeout=30)
        assert posted.status_code == 201, posted.text
        ids.append(posted.json()["id"])
    for incident in ids:
        marked = requests.put(f"{live_server.url}/api/v1/incidents/{incident}/people/LB0", json={"status": "needs_help"},
                              headers=officer, timeout=30)
        assert marked.status_code == 200, marked.text
    return ids[0], ids[1]


def test_one_person_needing_help_in_two_overlapping_incidents_is_one_in_the_header(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    first, second = _one_person_in_two_incidents(live_server)
    page = open_page(browser, live_server, "/people")
    for incident in (first, second):  # the person is in both, needing help in both
        page.wait_for_function(
            "id => { const c = document.querySelector(`#roll-incidents .ag-row[row-id='${id}'] .ag-cell[col-id='needs_help']`);"
            " return c && c.innerText === '1'; }", arg=incident, timeout=20_000)
    assert page.inner_text("#roll-totals").startswith("1 need help"), page.inner_text("#roll-totals")
    page.wait_for_selector("#needs-help-badge.loud", timeout=20_000)
    page.wait_for_timeout(1500)  # the roll-call read and any push have landed
    assert page.inner_text("#needs-help-badge") == "1 PERSON NEEDS HELP"
    # Another page, and after a live change (the push of the roll-call): still one.
    page.goto(live_server.url + f"/incident/{first}")
    page.wait_for_selector("#needs-help-badge.loud", timeout=20_000)
    page.wait_for_timeout(1500)
    assert page.inner_text("#needs-help-badge") == "1 PERSON NEEDS HELP"
    requests.put(f"{live_server.url}/api/v1/incidents/{first}/people/LB0", json={"status": "needs_help", "note": "again"},
                 headers=bearer(live_server.token("duty_officer")), timeout=30)
    page.wait_for_function("() => window.crisisPeople.state.totalAt > 0", timeout=40_000)
    page.wait_for_timeout(2500)
    assert page.inner_text("#needs-help-badge") == "1 PERSON NEEDS HELP"
    assert page.errors == []
    page.context.close()


COLOURS = """() => Array.from(document.querySelectorAll('button.people-set')).map(b => {
    let bg = 'rgba(0, 0, 0, 0)', el = b;
    while (el && /rgba\\(0, 0, 0, 0\\)|transparent/.test(bg)) { bg = getComputedStyle(el).backgroundColor; el = el.parentElement; }
    return {text: b.innerText, color: getComputedStyle(b).color, background: bg}; })"""


BEIRUT_AREA = {"type": "Polygon", "coordinates": [[[35.3, 33.7], [35.8, 33.7], [35.8, 34.1], [35.3, 34.1], [35.3, 33.7]]]}


def _luminance(css: str) -> float:
    r, g, b = (float(v) / 255 for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(color: str, background: str) -> float:
    hi, lo = sorted((_luminance(color), _luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_selected_people_status_button_is_readable(context: Context, live_server: LiveServer, browser: Any) -> None:
    first, _ = _one_person_in_two_incidents(live_server)
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "Beirut buttons", "phase": 3, "geometry": BEIRUT_AREA},
                         headers=bearer(live_server.token("duty_officer")), timeout=30)
    assert area.status_code == 201, area.text
    page = open_page(browser, live_server, f"/incident/{first}")
    for path in (f"/incident/{first}", "/areas"):
        page.goto(live_server.url + path)
        if path == "/areas":  # an area's buttons show once one is selected
            row = f"#areas-grid .ag-row[row-id='{area.json()['id']}'] .ag-cell[col-id='name']"
            page.wait_for_selector(row, timeout=20_000)
            page.click(row)
        page.wait_for_selector("button.people-set.status-needs_help", timeout=20_000)
        buttons = page.evaluate(COLOURS)
        assert [b["text"] for b in buttons] == ["Mark safe", "Needs help", "Unsure", "Unreachable", "No response yet"], buttons
        for b in buttons:
            assert contrast(b["color"], b["background"]) >= 4.5, (path, b)
    assert page.errors == []
    page.context.close()


def _set_status(live_server: LiveServer, incident: str, status: str) -> None:
    answer = requests.patch(f"{live_server.url}/api/v1/incidents/{incident}", json={"status": status},
                            headers=bearer(live_server.token("duty_officer")), timeout=30)
    assert answer.status_code == 200, answer.text


def test_a_closed_incident_offers_nobody_to_send_and_a_refused_dispatch_names_it(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    incident = seed_roster(context, live_server)  # three officers on standby, "Kidnapping near Beirut"
    page = open_page(browser, live_server, "/")
    item = f"#incident-list li[data-incident-id='{incident}']"
    page.wait_for_selector(item, timeout=30_000)
    page.click(item)
    page.wait_for_selector("#incident-panel-candidates .candidate-send", timeout=30_000)
    # Closed while the panel is open: Send goes, and the panel says why.
    _set_status(live_server, incident, "closed")
    page.wait_for_selector("#incident-panel-candidates .ip-closed-note", timeout=20_000)
    assert page.locator("#incident-panel-candidates .candidate-send").count() == 0
    assert "closed: nobody can be dispatched" in page.inner_text("#incident-panel-candidates")
    # Opened anew: the same.
    page.click("#incident-panel-hide")
    page.click(item)
    page.wait_for_selector("#incident-panel-candidates .ip-closed-note", timeout=20_000)
    page.wait_for_timeout(1000)  # the candidates' answer has come: still no Send
    assert page.locator("#incident-panel-candidates .candidate-send").count() == 0
    # The API refuses it, naming the incident by its title, not its id.
    refused = requests.post(live_server.url + "/api/v1/dispatches", json={"incident_id": incident, "officer_id": "OF-AMIRA"},
                            headers=bearer(live_server.token("duty_officer")), timeout=30)
    assert refused.status_code == 409, refused.text
    assert "Kidnapping near Beirut" in refused.text and incident not in refused.text, refused.text
    # Reopened: Send comes back.
    _set_status(live_server, incident, "active")
    page.wait_for_selector("#incident-panel-candidates .candidate-send", timeout=20_000)
    assert context.roster.dispatches() == []
    assert page.errors == []
    page.context.close()


def _start_report(page: Any, where: str) -> None:
    page.click("#report-start")
    page.wait_for_selector("#report-locate:visible", timeout=20_000)
    page.fill("#report-place", where)
    page.click("#report-place-go")
    page.wait_for_selector("#report-panel:visible", timeout=20_000)


def test_a_radius_out_of_range_is_refused_in_words_not_dropped(context: Context, live_server: LiveServer, browser: Any) -> None:
    page = open_page(browser, live_server, "/")
    _start_report(page, "12.5, 20.5")
    page.fill("#report-title", "Checkpoint closed on the border road")
    page.fill("#report-radius", "-5")
    page.click("#report-submit")
    page.wait_for_selector("#report-result:has-text('The affected radius must be between 0.1 and 5000 km.')", timeout=20_000)
    said = page.inner_text("#report-result")
    assert said.startswith("Not reported") and "Choose the type of incident." in said, said  # every problem at once
    page.click("#report-type")
    page.get_by_role("option", name="Civil unrest - Roadblock or blockade", exact=True).click()
    page.wait_for_timeout(500)
    assert not [i for i in context.deps.incidents.all() if i.title == "Checkpoint closed on the border road"]
    page.fill("#report-radius", "12.5")
    page.click("#report-submit")
    page.wait_for_function("() => document.getElementById('report-result').textContent.startsWith('Reported:')", timeout=30_000)
    incident_id = page.inner_text("#report-result").rsplit("(", 1)[1].rstrip(").")
    assert context.deps.incidents.get(incident_id).radius_km == 12.5
    assert page.errors == []
    page.context.close()


PIN = """() => { const map = window.crisisLive.layer.map, s = map && map.getSource('crisis-report-pin');
                 const d = s && s.serialize().data; return d && d.features.length ? d.features[0].geometry.coordinates : null; }"""
VIEW = "() => { const m = window.crisisLive.layer.map; const c = m.getCenter(); return {lon: c.lng, lat: c.lat, zoom: m.getZoom()}; }"


def test_a_town_typed_names_its_country_and_the_others_of_its_name_and_the_map_goes_there(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    page = open_page(browser, live_server, "/")
    page.wait_for_function("() => !!window.crisisLive.layer.map", timeout=30_000)
    _start_report(page, "Tripoli")
    page.wait_for_selector("#report-place-message:has-text('Pin at Tripoli, Libya')", timeout=20_000)
    said = page.inner_text("#report-place-message")
    assert "Also: Tripoli, Lebanon" in said, said
    pin = page.wait_for_function(PIN, timeout=20_000).json_value()
    assert 12 < pin[0] < 14 and 32 < pin[1] < 34, pin
    # the map is at the pin, no longer at world zoom
    page.wait_for_function("() => { const m = window.crisisLive.layer.map; return !m.isMoving() && m.getZoom() >= 8.9; }",
                           timeout=20_000)
    view = page.evaluate(VIEW)
    assert abs(view["lon"] - pin[0]) < 0.05 and abs(view["lat"] - pin[1]) < 0.05, (view, pin)
    # the other one, picked by naming its country (by name, or by code)
    for typed in ("Tripoli, Lebanon", "Tripoli LBN"):
        page.fill("#report-place", "Tripoli")
        page.click("#report-place-go")
        page.wait_for_function(PIN.replace("return d && d.features.length ? d.features[0].geometry.coordinates : null;",
                                           "return d && d.features.length && d.features[0].geometry.coordinates[0] < 20;"),
                               timeout=20_000)
        page.fill("#report-place", typed)
        page.click("#report-place-go")
        page.wait_for_selector("#report-place-message:has-text('Pin at Tripoli, Lebanon')", timeout=20_000)
        assert "Also: Tripoli, Libya" in page.inner_text("#report-place-message")
        pin = page.wait_for_function(PIN.replace("return d && d.features.length ? d.features[0].geometry.coordinates : null;",
                                                 "return d && d.features.length && d.features[0].geometry.coordinates[0] > 30 ? "
                                                 "d.features[0].geometry.coordinates : null;"), timeout=20_000).json_value()
        assert 35.5 < pin[0] < 36.2 and 34.2 < pin[1] < 34.7, (typed, pin)
        page.wait_for_function("pin => { const m = window.crisisLive.layer.map, c = m.getCenter();"
                               " return !m.isMoving() && Math.abs(c.lng - pin[0]) < 0.05 && Math.abs(c.lat - pin[1]) < 0.05; }",
                               arg=pin, timeout=20_000)
    # a country: named in words, the map at the country
    page.fill("#report-place", "Kenya")
    page.click("#report-place-go")
    page.wait_for_selector("#report-place-message:has-text('Pin in Kenya (KEN)')", timeout=20_000)
    assert page.errors == []
    page.context.close()




def test_words_not_codes_on_the_incident_and_areas_pages(context: Context, live_server: LiveServer, browser: Any) -> None:
    feed, officer = bearer(live_server.token("feed")), bearer(live_server.token("duty_officer"))
    people = [traveller("LB0", "Amal Haddad", BEIRUT, 0), traveller("LB1", "Jonas Berg", BEIRUT, 1),
              traveller("LB2", "Leila Nasser", BEIRUT, 2)]  # international staff, national staff, a visitor
    assert requests.post(live_server.url + "/api/v1/travellers", json=people, headers=feed, timeout=30).status_code == 200
    body = {"title": "Shelling near Beirut port", "type": "shelling", "severity": 4, "lat": BEIRUT["lat"], "lon": BEIRUT["lon"],
            "radius_km": 30}
    posted = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer, timeout=30)
    assert posted.status_code == 201, posted.text
    incident = posted.json()["id"]
    for tid in ("LB0", "LB1"):
        assert requests.put(f"{live_server.url}/api/v1/incidents/{incident}/people/{tid}", json={"status": "needs_help"},
                            headers=officer, timeout=30).status_code == 200
    page = open_page(browser, live_server, f"/incident/{incident}")
    page.wait_for_selector("#people-grid .ag-row", timeout=20_000)
    facts = page.inner_text("#incident-detail-facts")
    assert "Armed conflict - Shelling" in facts, facts  # as the map panel says it
    categories = page.eval_on_selector_all("#people-grid .ag-center-cols-container .ag-cell[col-id='category']",
                                           "cells => cells.map(c => c.innerText)")
    assert sorted(categories) == ["International staff", "National staff", "Visitor"], categories
    assert page.inner_text("#people-count-needs_help-box") == "2 NEED HELP"
    assert page.locator("a.detail-link:has-text(\"Open the incident's own page\")").is_hidden()  # no link to itself
    # The board still links to the incident's own page.
    page.goto(live_server.url + "/incidents")
    page.wait_for_selector(f".ag-row[row-id='{incident}']", timeout=20_000)
    page.click(f".ag-row[row-id='{incident}'] .ag-cell >> nth=1")
    page.wait_for_selector("a.detail-link:has-text(\"Open the incident's own page\")", timeout=20_000)

    # The area's movement: the expected arrival as a UTC time people read, categories in words.
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "Beirut", "phase": 3, "geometry": BEIRUT_AREA},
                         headers=officer, timeout=30)
    assert area.status_code == 201, area.text
    area_id = area.json()["id"]
    arrival = (datetime.now(UTC) + timedelta(hours=3)).replace(second=22, microsecond=478759)
    confirmed = requests.post(f"{live_server.url}/api/v1/areas/{area_id}/movement", headers=officer, timeout=30, json={
        "safe_haven": {"name": "Amman", "lat": 31.95, "lon": 35.91}, "mode": "road", "expected_arrival": arrival.isoformat()})
    assert confirmed.status_code in (200, 201), confirmed.text
    page.goto(live_server.url + "/areas")
    page.wait_for_selector(f"#areas-grid .ag-row[row-id='{area_id}']", timeout=20_000)
    page.locator(f"#areas-grid .ag-row[row-id='{area_id}'] .ag-cell[col-id='name']").click()
    page.wait_for_function("() => document.getElementById('area-arrival').value !== ''", timeout=20_000)
    assert page.input_value("#area-arrival") == arrival.strftime("%Y-%m-%d %H:%M UTC")
    assert arrival.strftime("%Y-%m-%d %H:%M UTC") in page.inner_text("#areas-detail")
    page.wait_for_selector("#movement-grid .ag-row", timeout=20_000)
    moving = page.eval_on_selector_all("#movement-grid .ag-center-cols-container .ag-cell[col-id='category']",
                                       "cells => cells.map(c => c.innerText)")
    assert moving and all(c in ("International staff", "Visitor") for c in moving), moving
    # Confirmed again as the form shows it: the readable time is taken, as UTC.
    page.click("#area-confirm")
    page.wait_for_selector("#area-message:has-text('Movement confirmed')", timeout=20_000)
    stored = requests.get(f"{live_server.url}/api/v1/areas/{area_id}", headers=officer, timeout=30).json()
    assert stored["movement"]["expected_arrival"].startswith(arrival.strftime("%Y-%m-%dT%H:%M")), stored["movement"]
    assert page.errors == []
    page.context.close()


FIT = """() => {
    const grid = document.querySelector('#areas-grid .ag-root-wrapper').getBoundingClientRect();
    const viewport = document.querySelector('#areas-grid .ag-center-cols-viewport').getBoundingClientRect();
    const right = Math.min(grid.right, viewport.right);
    const heads = Array.from(document.querySelectorAll('#areas-grid .ag-header-cell'))
        .map(h => ({id: h.getAttribute('col-id'), right: h.getBoundingClientRect().right, text: h.innerText,
                    cut: Array.from(h.querySelectorAll('.ag-header-cell-text')).some(t => t.scrollWidth > t.clientWidth + 1)}));
    const cells = Array.from(document.querySelectorAll('#areas-grid .ag-center-cols-container .ag-cell'))
        .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.getAttribute('col-id') + ': ' + c.innerText);
    return {right: right, heads: heads, cutCells: cells}; }"""


def test_every_column_of_the_areas_table_fits_at_1920(context: Context, live_server: LiveServer, browser: Any) -> None:
    feed, officer = bearer(live_server.token("feed")), bearer(live_server.token("duty_officer"))
    people = [traveller(f"LB{n}", f"Person {n}", BEIRUT, n) for n in range(4)]
    assert requests.post(live_server.url + "/api/v1/travellers", json=people, headers=feed, timeout=30).status_code == 200
    for name, phase in (("South of the Litani and the Bekaa valley", 3), ("Greater Beirut", 2)):
        made = requests.post(live_server.url + "/api/v1/areas", json={"name": name, "phase": phase, "geometry": BEIRUT_AREA},
                             headers=officer, timeout=30)
        assert made.status_code == 201, made.text
    page = open_page(browser, live_server, "/areas")
    page.wait_for_selector("#areas-grid .ag-row", timeout=20_000)
    page.wait_for_timeout(800)
    fit = page.evaluate(FIT)
    ids = [h["id"] for h in fit["heads"]]
    assert {"stayed", "overdue", "accounted_pct"} <= set(ids), ids
    off = [h for h in fit["heads"] if h["right"] > fit["right"] + 1]
    assert off == [], f"columns out of view (right edge {fit['right']}): {off}"
    assert [h for h in fit["heads"] if h["cut"]] == [], fit["heads"]
    assert fit["cutCells"] == [], fit["cutCells"]
    assert page.evaluate("() => { const v = document.querySelector('#areas-grid .ag-center-cols-viewport');"
                         " return v.scrollWidth <= v.clientWidth + 1; }"), "the table scrolls sideways"
    assert page.errors == []
    page.context.close()


def test_a_duty_officer_creates_an_area_on_the_page_and_its_movement_opens(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    feed = bearer(live_server.token("feed"))
    people = [traveller("LB0", "Amal Haddad", BEIRUT, 0), traveller("LB2", "Leila Nasser", BEIRUT, 2)]  # staff, a visitor
    assert requests.post(live_server.url + "/api/v1/travellers", json=people, headers=feed, timeout=30).status_code == 200
    page = open_page(browser, live_server, "/areas")
    # with no area selected, nothing that acts on one is offered (its phase, its movement, its list)
    page.wait_for_selector("#areas-detail .detail-empty", timeout=20_000)
    assert page.locator("#area-work").is_hidden() and page.locator("#area-phase-save").is_hidden()
    page.click(".area-new summary")
    page.fill("#area-new-name", "Greater Beirut")
    choose(page, "area-new-phase", "III relocation")
    page.fill("#area-new-lat", str(BEIRUT["lat"]))
    page.fill("#area-new-radius", "20")
    page.click("#area-new-save")  # the longitude is missing: said in words, nothing made
    page.wait_for_selector("#area-message:has-text(\"The centre's longitude must be a number\")", timeout=20_000)
    page.fill("#area-new-lon", str(BEIRUT["lon"]))
    page.click("#area-new-save")
    page.wait_for_selector("#area-message:has-text('Area \u201cGreater Beirut\u201d created at phase III relocation')", timeout=20_000)
    assert "2 people on the relocation list" in page.inner_text("#area-message")  # a visitor, non-essential staff
    made = requests.get(live_server.url + "/api/v1/areas", headers=bearer(live_server.token("duty_officer")), timeout=30).json()
    area = next(a for a in made["areas"] if a["name"] == "Greater Beirut")
    # the new area is the one selected: its row, its facts and its movement list beside
    page.wait_for_selector(f"#areas-grid .ag-row[row-id='{area['id']}']", timeout=20_000)
    page.wait_for_selector(f"#areas-detail h2[data-area-id='{area['id']}']", timeout=20_000)
    page.wait_for_selector("#movement-grid .ag-row[row-id='LB2']", timeout=20_000)
    assert page.locator("#area-phase-save").is_visible() and page.locator("#area-confirm").is_visible()
    # a whole country, chosen by its name: the country list replaces the circle's inputs
    page.check("#area-new-where input[value='country']")
    page.wait_for_selector("#area-new-circle", state="hidden", timeout=10_000)
    page.wait_for_selector("#area-new-country", state="visible", timeout=10_000)
    page.fill("#area-new-name", "All of Jordan")
    page.click("#area-new-country")
    page.keyboard.type("Jord")  # the list of some 250 countries is searched by name
    page.get_by_role("option", name="Jordan (JOR)", exact=True).click()
    page.click("#area-new-save")
    page.wait_for_selector("#area-message:has-text('Area \u201cAll of Jordan\u201d created')", timeout=20_000)
    page.wait_for_selector("#areas-detail h2:has-text('All of Jordan')", timeout=20_000)
    assert page.errors == []
    # a wall sees no form to create one
    wall = open_page(browser, live_server, "/areas", "wall")
    wall.wait_for_selector("#areas-grid", timeout=20_000)
    assert wall.locator(".area-new").count() == 0
    wall.context.close()
    page.context.close()
