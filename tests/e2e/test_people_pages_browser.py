"""The people pages in a real headless Chromium: a duty officer marks a person safe on an
incident's page and another signed-in page sees the count change without reloading; a
wall display sees counts but no names; a regional desk sees only its region's people;
and a forged callback by a role that may not edit changes nothing.

With CRISIS_SCREENSHOTS=1 the incident page with its people is saved to
docs/screenshot-incident-people.png (CI leaves docs/ alone).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from crisis.adapters.audit import AuditQuery
from crisis.bootstrap import Context
from crisis.domain.accountability import incident_scope
from tests.conftest import PASSWORD, LiveServer

DOCS = Path(__file__).resolve().parents[2] / "docs"
BEIRUT = {"name": "Beirut office", "lat": 33.8938, "lon": 35.5018, "country": "LBN"}
NAIROBI = {"name": "Nairobi office", "lat": -1.2921, "lon": 36.8219, "country": "KEN"}
AGENCIES = ("UNDP", "UNICEF", "WFP", "UNHCR")
CATEGORIES = ("international_staff", "national_staff", "visitor", "consultant")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tick(page: Any, grid: str, row_id: str, on: bool = True) -> None:
    """Tick (or untick) a row's selection box, once: a refresh of the grid must not undo it
    (the server sends only the rows that changed: crisis/ui/row_changes.py)."""
    page.locator(f"#{grid} .ag-row[row-id='{row_id}'] .ag-selection-checkbox input").first.set_checked(on, timeout=10_000)


def traveller(tid: str, name: str, station: dict[str, Any], n: int) -> dict[str, Any]:
    return {"id": tid, "name": name, "agency": AGENCIES[n % 4], "category": CATEGORIES[n % 4], "essential": False,
            "duty_station": station, "phone": "+1 555 0100", "email": f"{tid.lower()}@example.org"}


NAMES = ("Amal Haddad", "Jonas Berg", "Leila Nasser", "Tom Okafor", "Rana Khoury", "Pablo Ruiz")
FLYER = "Sami Flyer"


def _setup(live_server: LiveServer) -> dict[str, str]:
    """Six travellers at the Beirut office, two in Nairobi; an incident over each city."""
    feed = bearer(live_server.token("feed"))
    people = [traveller(f"LB{n}", NAMES[n], BEIRUT, n) for n in range(6)]
    people += [traveller(f"KE{n}", f"Kenya Person {n}", NAIROBI, n) for n in range(2)]
    # one flies from Nairobi (leaving in an hour) into Beirut, landing in five hours: affected by the itinerary
    land = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    flight = {"from": {k: NAIROBI[k] for k in ("name", "lat", "lon")}, "to": {k: BEIRUT[k] for k in ("name", "lat", "lon")},
              "depart": (land - timedelta(hours=4)).isoformat(), "arrive": land.isoformat()}
    people.append({**traveller("IT0", FLYER, NAIROBI, 0), "itinerary": [flight]})
    answer = requests.post(live_server.url + "/api/v1/travellers", json=people, headers=feed, timeout=30)
    assert answer.status_code == 200 and not answer.json()["rejected"], answer.text
    # two of the Beirut people reported a position a little north of the office
    positions = [{"traveller_id": "LB0", "lat": 33.95, "lon": 35.52}, {"traveller_id": "LB1", "lat": 33.92, "lon": 35.55}]
    assert requests.post(live_server.url + "/api/v1/positions", json=positions, headers=feed, timeout=30).status_code == 202
    officer = bearer(live_server.token("duty_officer"))
    ids = {}
    for key, place, title in (("beirut", BEIRUT, "Shelling near Beirut port"), ("nairobi", NAIROBI, "Riot in central Nairobi")):
        body = {"title": title, "type": "armed_conflict", "severity": 4, "lat": place["lat"], "lon": place["lon"], "radius_km": 30}
        posted = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer, timeout=30)
        assert posted.status_code == 201, posted.text
        ids[key] = posted.json()["id"]
    return ids


def open_page(browser: Any, live_server: LiveServer, path: str, role: str = "duty_officer", region: str | None = None) -> Any:
    """A new browser context signed in as a new user of that role, at ``path``, live."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(live_server.url + "/login")
    page.fill("#username", live_server.user(role, region))
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector(".shell-header", timeout=30_000)
    page.goto(live_server.url + path)
    page.wait_for_selector(".live-status.ok", timeout=15_000)
    return page


def grid_rows(page: Any, grid: str) -> list[dict[str, str]]:
    """The rendered rows of an AG Grid: row id -> {col-id: text}."""
    return page.evaluate(  # type: ignore[no-any-return]
        """grid => Array.from(document.querySelectorAll(`#${grid} .ag-center-cols-container .ag-row`)).map(r => {
            const row = {_id: r.getAttribute('row-id')};
            r.querySelectorAll('.ag-cell').forEach(c => { row[c.getAttribute('col-id')] = c.innerText; });
            const pinned = document.querySelector(`#${grid} .ag-pinned-left-cols-container .ag-row[row-id='${row._id}']`);
            if (pinned) { pinned.querySelectorAll('.ag-cell').forEach(c => { row[c.getAttribute('col-id')] = c.innerText; }); }
            return row; })""",
        grid,
    )


def text_tops(page: Any, row: str) -> dict[str, float]:
    """Where the text of each cell of a grid row starts on the screen (col-id -> px), as drawn."""
    return page.evaluate(  # type: ignore[no-any-return]
        """row => {
            const tops = {};
            document.querySelectorAll(`${row} .ag-cell`).forEach(c => {
                const walker = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
                let text = walker.nextNode();
                while (text && !text.textContent.trim()) { text = walker.nextNode(); }
                if (!text) { return; }
                const range = document.createRange();
                range.selectNodeContents(text);  // the glyphs' box, not the boxes of the elements around them
                tops[c.getAttribute('col-id')] = range.getBoundingClientRect().top;
            });
            return tops; }""",
        row,
    )


def count(page: Any, status: str) -> str:
    return str(page.inner_text(f"#people-count-{status}"))


def test_marking_a_person_safe_changes_the_count_on_another_page_without_reload(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    incidents = _setup(live_server)
    beirut = incidents["beirut"]
    officer = open_page(browser, live_server, f"/incident/{beirut}")
    officer.wait_for_selector("#people-grid .ag-row", timeout=15_000)
    rows = grid_rows(officer, "people-grid")
    assert {r["_id"] for r in rows} == {f"LB{n}" for n in range(6)} | {"IT0"}
    assert "Amal Haddad" in officer.inner_text("#people-grid")
    flyer = next(r for r in rows if r["_id"] == "IT0")
    assert flyer["reason_text"].startswith("itinerary: arrives ") and flyer["position_source"] in ("Itinerary", "Duty station"), flyer
    assert count(officer, "total") == "7" and count(officer, "safe") == "0"
    assert officer.inner_text("#people-pct") == "0.0"

    watcher = open_page(browser, live_server, f"/incident/{beirut}")
    watcher.wait_for_selector("#people-grid .ag-row", timeout=15_000)
    watcher.evaluate("() => { window.__sameDocument = true; }")  # proof that it is not reloaded
    roll = open_page(browser, live_server, "/people")
    roll.wait_for_selector(f"#roll-incidents .ag-row[row-id='{beirut}']", timeout=15_000)
    roll.evaluate("() => { window.__sameDocument = true; }")

    # The duty officer ticks Jonas Berg's row and marks him safe.
    tick(officer, "people-grid", "LB1")
    officer.fill("#people-note", "phoned, at home")
    officer.click("#people-panel button:has-text('Mark safe')")
    officer.wait_for_selector("#people-message:has-text('1 marked safe')", timeout=20_000)
    assert context.roll.status_of(incident_scope(beirut), ["LB1"]) == {"LB1": "safe"}

    # The other page's counts move without a reload, from the live "affected" message.
    watcher.wait_for_function("() => document.getElementById('people-count-safe').innerText === '1'", timeout=20_000)
    assert watcher.inner_text("#people-pct") == "14.3"
    assert count(watcher, "no_response") == "6"
    watcher.wait_for_function(
        "() => { const c = document.querySelector(\"#people-grid .ag-row[row-id='LB1'] .ag-cell[col-id='status']\");"
        " return c && c.innerText.toLowerCase() === 'safe'; }", timeout=20_000)
    assert watcher.evaluate("() => window.__sameDocument") is True
    # ... and the People page's row for the incident too.
    roll.wait_for_function(
        "id => { const c = document.querySelector(`#roll-incidents .ag-row[row-id='${id}'] .ag-cell[col-id='safe']`);"
        " return c && c.innerText === '1'; }", arg=beirut, timeout=20_000)
    assert roll.evaluate("() => window.__sameDocument") is True

    # Needs help: first and loud, on the page and in every page's header.
    tick(officer, "people-grid", "LB3")
    tick(officer, "people-grid", "LB1", on=False)
    officer.click("#people-panel button:has-text('Needs help')")
    officer.wait_for_selector("#people-message:has-text('1 marked needs help')", timeout=20_000)
    watcher.wait_for_selector("#people-count-needs_help-box.loud", timeout=20_000)
    roll.wait_for_selector("#needs-help-badge.loud:has-text('1 PERSON NEEDS HELP')", timeout=20_000)
    watcher.wait_for_function(
        "() => { const r = document.querySelector('#people-grid .ag-center-cols-container .ag-row[row-index=\"0\"]');"
        " return r && r.getAttribute('row-id') === 'LB3' && r.classList.contains('people-row-needs-help'); }", timeout=20_000)

    # Audited like every other page edit: who, role, what, before and after.
    entries = context.audit.page(AuditQuery(action="accountability.status_set")).entries
    mark = next(e for e in entries if e.get("target") == f"{incident_scope(beirut)}/LB1")
    assert mark["via"] == "ui" and mark["role"] == "duty_officer", mark
    assert "safe" in json.dumps(mark.get("after")) and "no_response" in json.dumps(mark.get("before")), mark

    # the burn-down is drawn: it starts at 7 and ends at 5 (LB1 safe, LB3 needs help)
    ys = officer.evaluate("() => Array.from(document.querySelector('#people-burndown .js-plotly-plot').data[0].y)")
    assert ys[0] == 7 and ys[-1] == 5
    if os.environ.get("CRISIS_SCREENSHOTS"):
        officer.set_viewport_size({"width": 1600, "height": 1900})  # the page scrolls inside itself: show all of it
        officer.wait_for_timeout(600)
        officer.screenshot(path=str(DOCS / "screenshot-incident-people.png"))
    # A page opened now shows the badge from the server's first figure, before any live message.
    officer.goto(live_server.url + "/incidents")
    officer.wait_for_selector("#needs-help-badge.loud:has-text('1 PERSON NEEDS HELP')", timeout=20_000)
    for page in (officer, watcher, roll):
        assert page.errors == []
        page.context.close()


def test_a_wall_sees_counts_but_no_names(context: Context, live_server: LiveServer, browser: Any) -> None:
    incidents = _setup(live_server)
    wall = open_page(browser, live_server, f"/incident/{incidents['beirut']}", "wall")
    wall.wait_for_selector("#people-grid .ag-row", timeout=15_000)
    assert count(wall, "total") == "7"
    text = wall.inner_text("body")
    assert not any(name in text for name in (*NAMES, FLYER))
    assert "LB0" not in wall.content() and "@example.org" not in wall.content()
    headers = wall.evaluate("() => Array.from(document.querySelectorAll('#people-grid .ag-header-cell')).map(h => h.getAttribute('col-id'))")
    assert "name" not in headers and "agency" not in headers
    assert wall.locator("#people-panel button:has-text('Mark safe')").count() == 0
    wall.goto(live_server.url + "/people")
    wall.wait_for_selector(f"#roll-incidents .ag-row[row-id='{incidents['beirut']}']", timeout=15_000)
    assert not any(name in wall.inner_text("body") for name in NAMES)
    # The Region cell (it wraps for an incident over several regions) starts its text level
    # with the row's other cells, not above them.
    tops = text_tops(wall, f"#roll-incidents .ag-row[row-id='{incidents['beirut']}']")
    assert set(tops) >= {"link", "region_label", "total"}, tops
    assert abs(tops["region_label"] - tops["link"]) <= 3 and abs(tops["region_label"] - tops["total"]) <= 3, tops
    # An empty table says what is empty, in words; the hidden ordering column adds no "1".
    assert "No relocation or evacuation under way." in wall.inner_text("#roll-areas"), wall.inner_text("#roll-areas")
    assert "1" not in wall.inner_text("#roll-incidents .ag-header-row"), wall.inner_text("#roll-incidents .ag-header-row")
    cut = wall.evaluate("""() => Array.from(document.querySelectorAll('#roll-incidents .ag-header-cell-text'))
        .filter(t => t.scrollWidth > t.clientWidth).map(t => t.innerText)""")
    assert cut == [], f"header labels cut off: {cut}"
    assert wall.errors == []
    wall.context.close()


def test_a_regional_desk_sees_only_its_regions_people(context: Context, live_server: LiveServer, browser: Any) -> None:
    incidents = _setup(live_server)
    desk = open_page(browser, live_server, "/people", "regional_desk", "africa")
    desk.wait_for_selector(f"#roll-incidents .ag-row[row-id='{incidents['nairobi']}']", timeout=15_000)
    assert [r["_id"] for r in grid_rows(desk, "roll-incidents")] == [incidents["nairobi"]]
    assert [r["_id"] for r in grid_rows(desk, "roll-regions")] == ["africa"]
    desk.goto(live_server.url + f"/incident/{incidents['nairobi']}")
    desk.wait_for_selector("#people-grid .ag-row", timeout=15_000)
    assert {r["_id"] for r in grid_rows(desk, "people-grid")} == {"KE0", "KE1", "IT0"}  # IT0 is in Nairobi until the flight
    assert "Kenya Person 0" in desk.inner_text("#people-grid")  # a desk sees names in its region
    assert desk.locator("#people-panel button:has-text('Mark safe')").count() == 0  # but edits nothing
    desk.goto(live_server.url + f"/incident/{incidents['beirut']}")
    desk.wait_for_selector(".detail-empty", timeout=15_000)
    assert desk.locator("#people-panel").count() == 0
    assert not any(name in desk.inner_text("body") for name in NAMES)
    assert desk.errors == []
    desk.context.close()


def test_a_regional_desk_is_told_how_many_more_are_affected_in_other_regions(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    """The Beirut incident affects the six at the office and the flyer landing from Nairobi
    (in Africa until the flight): the MENA desk sees six, and is told of one more, unnamed."""
    incidents = _setup(live_server)
    desk = open_page(browser, live_server, f"/incident/{incidents['beirut']}", "regional_desk", "middle_east_north_africa")
    desk.wait_for_selector("#people-grid .ag-row", timeout=15_000)
    assert {r["_id"] for r in grid_rows(desk, "people-grid")} == {f"LB{n}" for n in range(6)}
    assert count(desk, "total") == "6"
    elsewhere = desk.wait_for_selector("#people-counts .count-elsewhere", timeout=15_000)
    assert elsewhere.inner_text().startswith("and 1 more affected person in other regions, not shown to this desk")
    assert FLYER not in desk.inner_text("body")
    # The same in the workspace's incident panel, beside the map.
    desk.goto(live_server.url + "/")
    desk.locator(f"#incident-list li[data-incident-id='{incidents['beirut']}']").first.click(timeout=30_000)
    note = desk.wait_for_selector("#incident-panel-elsewhere", timeout=15_000)
    assert note.inner_text().startswith("and 1 more affected person in other regions")
    assert desk.inner_text("#incident-panel-counts").startswith("6 affected")
    # A duty officer sees every region: the flyer is in the list, and no such note.
    officer = open_page(browser, live_server, f"/incident/{incidents['beirut']}")
    officer.wait_for_selector("#people-grid .ag-row[row-id='IT0']", timeout=15_000)
    assert count(officer, "total") == "7" and officer.locator("#people-counts .count-elsewhere").count() == 0
    assert desk.errors == [] and officer.errors == []
    desk.context.close()
    officer.context.close()


def forge(http: Any, live_server: LiveServer, trigger: Any, prop: str, state: dict[str, Any]) -> Any:
    """Post a Dash callback by hand, as a browser without the page's buttons could: the
    callback whose input is ``trigger``, with these states (component id -> value)."""
    callbacks = http.get(live_server.url + "/_dash-dependencies", timeout=30).json()
    key = json.dumps(trigger, separators=(",", ":"), sort_keys=True) if isinstance(trigger, dict) else trigger

    def matches(component: str) -> bool:  # a pattern-matching input is listed with its wildcard (["ALL"])
        if not isinstance(trigger, dict):
            return component == trigger
        return component.startswith("{") and json.loads(component).get("type") == trigger["type"]

    wanted = next(c for c in callbacks if any(matches(i["id"]) and i["property"] == prop for i in c["inputs"]))
    outputs = []
    for name in wanted["output"].strip(".").split("..."):
        component, _, prop_name = name.split("@")[0].rpartition(".")
        outputs.append({"id": component, "property": prop_name})
    value = [{"id": trigger, "property": prop, "value": 1}] if isinstance(trigger, dict) else {"id": trigger, "property": prop, "value": 1}
    body = {
        "output": wanted["output"], "outputs": outputs,
        "inputs": [[value[0]] if isinstance(trigger, dict) else value],
        "changedPropIds": [f"{key}.{prop}"],
        "state": [{"id": s["id"], "property": s["property"], "value": state.get(s["id"])} for s in wanted["state"]],
    }
    return http.post(live_server.url + "/_dash-update-component", json=body, timeout=30)


NOT_EDITORS = [("wall", None), ("regional_desk", "middle_east_north_africa")]


@pytest.mark.parametrize("role,region", NOT_EDITORS)
def test_a_forged_status_callback_from_a_role_that_may_not_edit_changes_nothing(
        context: Context, live_server: LiveServer, role: str, region: str | None) -> None:
    incidents = _setup(live_server)
    http = live_server.session(role, region)
    answer = forge(http, live_server, {"to": "safe", "type": "people-status"}, "n_clicks",
                   {"people-grid": [{"traveller_id": "LB0"}], "people-incident": incidents["beirut"], "people-note": "forged"})
    assert answer.status_code == 200, answer.text
    assert f"A {role} cannot set people" in answer.text
    assert context.roll.status_of(incident_scope(incidents["beirut"]), ["LB0"]) == {"LB0": "no_response"}
    denied = context.audit.page(AuditQuery(action="access.denied")).entries
    assert any(e["target"] == incident_scope(incidents["beirut"]) and e["role"] == role for e in denied)


@pytest.mark.parametrize("role,region", NOT_EDITORS)
def test_a_forged_phase_or_progress_callback_from_a_role_that_may_not_edit_changes_nothing(
        context: Context, live_server: LiveServer, role: str, region: str | None) -> None:
    _setup(live_server)
    created = requests.post(live_server.url + "/api/v1/areas", headers=bearer(live_server.token("duty_officer")), timeout=30,
                            json={"name": "South of Beirut", "phase": 3, "geometry": BEIRUT_AREA})
    assert created.status_code == 201, created.text
    area_id = created.json()["id"]
    http = live_server.session(role, region)
    answer = forge(http, live_server, "area-phase-save", "n_clicks", {"areas-selected": area_id, "area-phase": 5})
    assert answer.status_code == 200 and f"A {role} cannot change an area" in answer.text, answer.text
    answer = forge(http, live_server, {"to": "arrived", "type": "movement-progress"}, "n_clicks",
                   {"areas-selected": area_id, "movement-grid": [{"traveller_id": "LB0"}]})
    assert answer.status_code == 200 and f"A {role} cannot set movement" in answer.text, answer.text
    area = requests.get(f"{live_server.url}/api/v1/areas/{area_id}", headers=bearer(live_server.token("admin")), timeout=30).json()
    assert area["phase"] == 3
    assert {p["traveller_id"]: p["progress"] for p in area["movement"]["people"]}["LB0"] == "to_move"


BEIRUT_AREA = {"type": "Polygon", "coordinates": [[[35.3, 33.7], [35.8, 33.7], [35.8, 34.1], [35.3, 34.1], [35.3, 33.7]]]}


def choose(page: Any, dropdown: str, option: str) -> None:
    page.click(f"#{dropdown}")
    page.get_by_role("option", name=option, exact=True).click()


def test_a_duty_officer_raises_an_area_confirms_the_relocation_and_tracks_progress_while_a_wall_watches(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    _setup(live_server)
    officer_api = bearer(live_server.token("duty_officer"))
    created = requests.post(live_server.url + "/api/v1/areas", headers=officer_api, timeout=30,
                            json={"name": "South of Beirut", "phase": 1, "geometry": BEIRUT_AREA})
    assert created.status_code == 201, created.text
    area_id = created.json()["id"]
    kenya = requests.post(live_server.url + "/api/v1/areas", headers=officer_api, timeout=30,
                          json={"name": "Kenya", "phase": 2, "country": "KEN"})
    assert kenya.status_code == 201, kenya.text

    officer = open_page(browser, live_server, "/areas")
    wall = open_page(browser, live_server, "/areas", "wall")
    wall.evaluate("() => { window.__sameDocument = true; }")
    for page in (officer, wall):
        page.wait_for_selector(f"#areas-grid .ag-row[row-id='{area_id}']", timeout=15_000)
    officer.locator(f"#areas-grid .ag-row[row-id='{area_id}'] .ag-cell[col-id='name']").click()
    officer.wait_for_selector(f"#areas-detail [data-area-id='{area_id}']", timeout=20_000)
    # At phase I the area has no movement: its phase can be changed, nothing else is offered.
    officer.wait_for_selector("#area-phase-save", state="visible", timeout=20_000)
    assert officer.locator("#area-movement-work").is_hidden() and officer.locator("#area-confirm").is_hidden()

    # Phase III: the movement list is drawn by the rule (no national staff, LB1 and LB5).
    choose(officer, "area-phase", "III relocation")
    officer.click("#area-phase-save")
    officer.wait_for_selector("#area-message:has-text('Phase changed from I precautionary to III relocation')", timeout=20_000)
    officer.wait_for_selector("#movement-grid .ag-row", timeout=20_000)
    assert {r["_id"] for r in grid_rows(officer, "movement-grid")} == {"LB0", "LB2", "LB3", "LB4"}
    assert "Amal Haddad" in officer.inner_text("#movement-grid")

    # Confirm: to Amman by road, expected a minute ago (so whoever has not arrived is overdue).
    officer.fill("#area-haven-name", "Amman")
    officer.fill("#area-haven-lat", "31.95")
    officer.fill("#area-haven-lon", "35.91")
    choose(officer, "area-mode", "road")
    arrival = (context.deps.clock().replace(microsecond=0) - timedelta(minutes=1)).isoformat()
    officer.fill("#area-arrival", arrival)
    officer.click("#area-confirm")
    officer.wait_for_selector("#area-message:has-text('Movement confirmed: to Amman by road')", timeout=20_000)

    for tid in ("LB0", "LB2"):
        tick(officer, "movement-grid", tid)
    officer.click(".people-actions button:has-text('moving')")
    officer.wait_for_selector("#area-message:has-text('2 now moving')", timeout=20_000)
    # (the grid is refreshed after the change: untick once the refresh has landed, or it may undo the click)
    for tid in ("LB0", "LB2"):
        officer.wait_for_selector(f"#movement-grid .ag-row[row-id='{tid}'] .ag-cell[col-id='progress']:has-text('moving')", timeout=20_000)
    for tid in ("LB0", "LB2"):
        tick(officer, "movement-grid", tid, on=False)
    tick(officer, "movement-grid", "LB3")
    officer.click(".people-actions button:has-text('arrived')")
    officer.wait_for_selector("#area-message:has-text('1 now arrived')", timeout=20_000)
    officer.wait_for_selector("#movement-grid .ag-row[row-id='LB3'] .ag-cell[col-id='progress']:has-text('arrived')", timeout=20_000)
    # "stayed" needs a reason: refused without one, with the field named
    tick(officer, "movement-grid", "LB3", on=False)
    tick(officer, "movement-grid", "LB4")
    officer.click(".people-actions button:has-text('stayed')")
    officer.wait_for_selector("#area-message .refused:has-text('reason')", timeout=20_000)
    # The movement's own roll-call: LB4, still to move, needs help.
    officer.click(".areas-right button:has-text('Needs help')")
    officer.wait_for_selector("#area-message:has-text('1 marked needs help')", timeout=20_000)
    assert context.roll.status_of(f"area:{area_id}", ["LB4"]) == {"LB4": "needs_help"}

    answer = requests.get(f"{live_server.url}/api/v1/areas/{area_id}", headers=officer_api, timeout=30).json()
    progress = {p["traveller_id"]: p["progress"] for p in answer["movement"]["people"]}
    assert progress == {"LB0": "moving", "LB2": "moving", "LB3": "arrived", "LB4": "to_move"}
    assert answer["movement"]["counts"]["overdue"] == 3

    # The wall's table follows without a reload: counts, overdue flagged, never a name.
    wall.wait_for_function(
        "id => { const c = document.querySelector(`#areas-grid .ag-row[row-id='${id}'] .ag-cell[col-id='arrived']`);"
        " return c && c.innerText === '1'; }", arg=area_id, timeout=20_000)
    row = next(r for r in grid_rows(wall, "areas-grid") if r["_id"] == area_id)
    assert row["moving"] == "2" and row["to_move"] == "1" and row["overdue"] == "3" and row["phase_label"] == "III relocation"
    wall.wait_for_function(
        "id => { const c = document.querySelector(`#areas-grid .ag-row[row-id='${id}'] .ag-cell[col-id='needs_help']`);"
        " return c && c.innerText === '1'; }", arg=area_id, timeout=20_000)
    wall.locator(f"#areas-grid .ag-row[row-id='{area_id}'] .ag-cell[col-id='name']").click()
    wall.wait_for_selector("#movement-count-overdue.loud", timeout=20_000)
    assert wall.locator("#area-phase-save").count() == 0 and wall.locator("#area-confirm").count() == 0
    assert not any(name in wall.inner_text("body") for name in NAMES)
    # The map draws the relocation to Amman with its counts, red for the overdue, live.
    wall.wait_for_function(
        "() => { const g = document.querySelector('#areas-map .js-plotly-plot');"
        " return g && g.data[1] && (g.data[1].text || []).some(t => t.includes('arrived 1 / moving 2 / to move 1, 3 overdue')); }",
        timeout=20_000)
    havens = wall.evaluate("() => document.querySelector('#areas-map .js-plotly-plot').data[1]")
    assert havens["marker"]["color"] == ["#d50000"] and havens["customdata"] == [area_id]
    # The counts are written beside the safe haven by the page, not as map text (which needs
    # glyphs from a font server: refused by the CSP, and the centre may be offline).
    wall.wait_for_function(
        "() => Array.from(document.querySelectorAll('#areas-map .crisis-trace-label'))"
        ".some(e => e.textContent === 'arrived 1 / moving 2 / to move 1, 3 overdue')", timeout=20_000)
    drawn = wall.evaluate("""() => {
        const gd = document.querySelector('#areas-map .js-plotly-plot'), map = gd._fullLayout.map._subplot.map;
        const at = map.project([gd.data[1].lon[0], gd.data[1].lat[0]]), box = map.getContainer().getBoundingClientRect();
        const r = document.querySelector('#areas-map .crisis-trace-label').getBoundingClientRect();
        const texts = map.getStyle().layers.filter(l => l.type === 'symbol' && l.layout && l.layout['text-field']
                                                      && l.layout.visibility !== 'none');
        return {symbols: texts.map(l => [l.id, l.layout['text-field']]),
                dx: r.left - box.left - at.x, dy: r.bottom - box.top - at.y}; }""")
    assert drawn["symbols"] == [], drawn
    assert 0 <= drawn["dx"] <= 20 and -12 <= drawn["dy"] <= 4, drawn  # just above right of the point
    assert wall.evaluate("() => window.__sameDocument") is True
    # a wall can be set to one region
    choose(wall, "areas-filter-region", "Africa")
    wall.wait_for_function(f"() => !document.querySelector(\"#areas-grid .ag-row[row-id='{area_id}']\")", timeout=20_000)
    assert [r["_id"] for r in grid_rows(wall, "areas-grid")] == [kenya.json()["id"]]

    # Audited: the phase change, the confirmation and each progress change, from the UI.
    actions = [(e["action"], e["via"]) for e in context.audit.page(AuditQuery(action="area.")).entries]
    assert ("area.phase", "ui") in actions
    moves = [(e["action"], e["via"]) for e in context.audit.page(AuditQuery(action="movement.")).entries]
    assert moves.count(("movement.progress", "ui")) == 3 and ("movement.confirm", "ui") in moves

    # A regional desk elsewhere does not see the area; one in Africa sees Kenya only.
    desk = open_page(browser, live_server, "/areas", "regional_desk", "africa")
    desk.wait_for_selector(f"#areas-grid .ag-row[row-id='{kenya.json()['id']}']", timeout=15_000)
    assert [r["_id"] for r in grid_rows(desk, "areas-grid")] == [kenya.json()["id"]]
    for page in (officer, wall, desk):
        assert page.errors == []
        page.context.close()


def test_a_tick_in_the_movement_grid_survives_live_refreshes_and_is_what_the_next_action_acts_on(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    """Issue 9: the grids are re-read on every live message. A refresh that changes nothing
    leaves the grid alone (a replaced rowData re-drew it and undid a tick that landed then); a
    refresh that changes rows updates only those, in the server's order."""
    _setup(live_server)
    officer_api = bearer(live_server.token("duty_officer"))
    created = requests.post(live_server.url + "/api/v1/areas", headers=officer_api, timeout=30,
                            json={"name": "South of Beirut", "phase": 3, "geometry": BEIRUT_AREA})
    assert created.status_code == 201, created.text
    area_id = created.json()["id"]
    officer = open_page(browser, live_server, "/areas")
    officer.locator(f"#areas-grid .ag-row[row-id='{area_id}'] .ag-cell[col-id='name']").click()
    officer.wait_for_selector("#movement-grid .ag-row[row-id='LB4']", timeout=20_000)
    assert {r["_id"] for r in grid_rows(officer, "movement-grid")} == {"LB0", "LB2", "LB3", "LB4"}

    # Live messages arriving: the page re-reads its tables far more often than the live
    # path's once a second, so that ticks land while refreshes do.
    officer.evaluate("""() => {
        window.__rowUpdates = 0;
        dash_ag_grid.getApi('movement-grid').addEventListener('rowDataUpdated', () => { window.__rowUpdates += 1; });
        window.__refreshes = 0;
        window.__force = setInterval(() => {
            window.__refreshes += 1;
            window.dash_clientside.set_props('areas-live', {data: {forced: window.__refreshes}});
        }, 150);
    }""")
    answered = {"n": 0}

    def on_response(response: Any) -> None:
        if "_dash-update-component" in response.url and "areas-live" in (response.request.post_data or ""):
            answered["n"] += 1
    officer.on("response", on_response)

    def refreshed(times: int) -> None:
        """Wait until the server has answered ``times`` more refreshes."""
        target = answered["n"] + times
        for _ in range(200):
            if answered["n"] >= target:
                return
            officer.wait_for_timeout(100)
        raise AssertionError(f"only {answered['n']} refreshes answered, wanted {target}")

    refreshed(3)
    for _ in range(6):  # every click must hold: set_checked fails when the box did not change
        for tid in ("LB0", "LB2", "LB3"):
            tick(officer, "movement-grid", tid)
            tick(officer, "movement-grid", tid, on=False)
    tick(officer, "movement-grid", "LB0")
    tick(officer, "movement-grid", "LB3")
    refreshed(5)
    # nothing changed: the grid was never touched
    assert officer.evaluate("() => window.__rowUpdates") == 0
    selected = "() => dash_ag_grid.getApi('movement-grid').getSelectedRows().map(r => r.traveller_id).sort()"
    assert officer.evaluate(selected) == ["LB0", "LB3"]
    for tid, on in (("LB0", True), ("LB2", False), ("LB3", True), ("LB4", False)):
        assert officer.locator(f"#movement-grid .ag-row[row-id='{tid}'] .ag-selection-checkbox input").first.is_checked() is on

    # The next action acts on exactly the ticked rows (while the refreshes go on).
    officer.click(".people-actions button:has-text('moving')")
    officer.wait_for_selector("#area-message:has-text('2 now moving')", timeout=20_000)
    answer = requests.get(f"{live_server.url}/api/v1/areas/{area_id}", headers=officer_api, timeout=30).json()
    assert {p["traveller_id"]: p["progress"] for p in answer["movement"]["people"]} == {
        "LB0": "moving", "LB2": "to_move", "LB3": "moving", "LB4": "to_move"}
    officer.wait_for_selector("#movement-grid .ag-row[row-id='LB3'] .ag-cell[col-id='progress']:has-text('moving')", timeout=20_000)

    # A check-in changes one row: only that row is sent, it moves to the top (needs help
    # first, as the server orders them), and the ticks stay.
    updates = officer.evaluate("() => window.__rowUpdates")
    put = requests.put(f"{live_server.url}/api/v1/areas/{area_id}/people/LB4/status", headers=officer_api, timeout=30,
                       json={"status": "needs_help"})
    assert put.status_code == 200, put.text
    officer.wait_for_function(
        "() => { const r = document.querySelector('#movement-grid .ag-center-cols-container .ag-row[row-index=\"0\"]');"
        " return r && r.getAttribute('row-id') === 'LB4' && r.classList.contains('people-row-needs-help'); }", timeout=20_000)
    refreshed(3)
    assert officer.evaluate("() => window.__rowUpdates") > updates
    assert officer.evaluate(selected) == ["LB0", "LB3"]
    officer.evaluate("() => clearInterval(window.__force)")
    assert officer.errors == []
    officer.context.close()


def test_a_duty_officer_adds_national_staff_to_the_list_and_takes_someone_off_with_a_reason(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    """The finding: the list could only be changed through the API. National staff are not
    listed by category (LB1 here), but may be put on the list; anyone may be taken off, with why."""
    _setup(live_server)
    officer_api = bearer(live_server.token("duty_officer"))
    created = requests.post(live_server.url + "/api/v1/areas", headers=officer_api, timeout=30,
                            json={"name": "Beirut, by hand", "phase": 3, "geometry": BEIRUT_AREA})
    assert created.status_code == 201, created.text
    area_id = created.json()["id"]
    officer = open_page(browser, live_server, "/areas")
    try:
        officer.wait_for_selector(f"#areas-grid .ag-row[row-id='{area_id}']", timeout=15_000)
        officer.locator(f"#areas-grid .ag-row[row-id='{area_id}'] .ag-cell[col-id='name']").click()
        officer.wait_for_selector("#movement-grid .ag-row[row-id='LB2']", timeout=20_000)
        assert officer.locator("#movement-grid .ag-row[row-id='LB1']").count() == 0
        officer.fill("#area-add-id", "LB1")
        officer.click("#area-add")
        officer.wait_for_selector(f"#area-message:has-text('{NAMES[1]} (LB1) is on the relocation list')", timeout=20_000)
        officer.wait_for_selector("#movement-grid .ag-row[row-id='LB1']", timeout=20_000)
        assert officer.input_value("#area-add-id") == ""
        tick(officer, "movement-grid", "LB2")
        officer.click("#area-remove")  # no reason: refused, in words, and nobody taken off
        officer.wait_for_selector("#area-message:has-text('Give the reason.')", timeout=20_000)
        officer.fill("#area-reason", "left the country on 1 Dec")
        officer.click("#area-remove")
        officer.wait_for_selector("#area-message:has-text('1 taken off the list.')", timeout=20_000)
        officer.wait_for_selector("#movement-grid .ag-row[row-id='LB2']", state="detached", timeout=20_000)
        movement = requests.get(f"{live_server.url}/api/v1/areas/{area_id}", headers=officer_api, timeout=30).json()["movement"]
        assert "LB1" in {p["traveller_id"] for p in movement["people"]} and "LB2" not in {p["traveller_id"] for p in movement["people"]}
        assert [r["reason"] for r in movement["removed"] if r["traveller_id"] == "LB2"] == ["left the country on 1 Dec"]
        assert officer.errors == []
    finally:
        officer.context.close()


def test_incidents_that_affect_nobody_are_behind_a_box_that_counts_them(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    # Forty droughts far from anyone buried the few incidents with people in them (audit P13).
    incidents = _setup(live_server)
    officer = bearer(live_server.token("duty_officer"))
    far = []
    for n in range(2):
        body = {"title": f"Drought far away {n}", "type": "drought", "severity": 2, "lat": -40.0 - n, "lon": -70.0, "radius_km": 10}
        posted = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer, timeout=30)
        assert posted.status_code == 201, posted.text
        far.append(posted.json()["id"])
    roll = open_page(browser, live_server, "/people")
    roll.wait_for_selector(f"#roll-incidents .ag-row[row-id='{incidents['beirut']}']", timeout=15_000)
    assert {r["_id"] for r in grid_rows(roll, "roll-incidents")} == {incidents["beirut"], incidents["nairobi"]}
    box = roll.locator("#roll-unaffected")
    assert box.inner_text().strip() == "Also list the 2 open incidents that affect nobody of ours"
    box.locator("input").check()
    roll.wait_for_selector(f"#roll-incidents .ag-row[row-id='{far[1]}']", timeout=15_000)
    assert {r["_id"] for r in grid_rows(roll, "roll-incidents")} == {incidents["beirut"], incidents["nairobi"], *far}
    # A third appears live, and the box counts it.
    body = {"title": "Drought far away 2", "type": "drought", "severity": 2, "lat": -45.0, "lon": -70.0, "radius_km": 10}
    assert requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer, timeout=30).status_code == 201
    roll.wait_for_function("() => document.getElementById('roll-unaffected').innerText.includes('the 3 open incidents')",
                           timeout=20_000)
    box.locator("input").uncheck()
    roll.wait_for_function(f"() => !document.querySelector(\"#roll-incidents .ag-row[row-id='{far[0]}']\")", timeout=15_000)
    assert {r["_id"] for r in grid_rows(roll, "roll-incidents")} == {incidents["beirut"], incidents["nairobi"]}
    assert roll.errors == []
    roll.context.close()
