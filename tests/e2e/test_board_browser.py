"""The incident board (/incidents) in a real headless Chromium at 1920 x 1080: every column
fits and nothing in it is cut (headers, sorted or not, and the title, Type, Region and ages
of demo-like rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from crisis.bootstrap import Context
from tests.conftest import LiveServer, random_ref
from tests.e2e.test_people_pages_browser import open_page, traveller

GRID = "#incident-grid"
# Rows like the demo's: southern Lebanon's conflict (category and sub-type), an earthquake,
# the background elsewhere (every region, the longest region names).
DEMO_LIKE = [
    ("Exchange of fire along the Blue Line near Naqoura", "exchange_of_fire", 3, 33.12, 35.17, "LBN"),
    ("Armed conflict in southern Lebanon: heavy bombardment", "shelling", 5, 33.25, 35.40, "LBN"),
    ("Heavy airstrikes on Beirut southern suburbs (Dahiyeh)", "airstrike", 5, 33.85, 35.51, "LBN"),
    ("Demonstrations and road blockades in central Beirut", "demonstration", 3, 33.895, 35.50, "LBN"),
    ("Landmine found on the road south of Nabatieh", "landmine_uxo", 3, 33.35, 35.48, "LBN"),
    ("M7.1 earthquake 30 km N of Manila", "earthquake", 5, 14.9, 121.0, "PHL"),
    ("Kidnapping of a contractor near Kabul", "kidnapping", 4, 34.55, 69.2, "AFG"),
    ("Road blockades and burning tyres in Tbilisi", "roadblock", 2, 41.7, 44.8, "GEO"),
    ("Carjacking reported on the airport road, Port-au-Prince", "carjacking", 3, 18.55, -72.3, "HTI"),
    ("Cholera outbreak reported in the Goma area", "epidemic", 3, -1.68, 29.22, "COD"),
]


def _post(live_server: LiveServer, title: str, kind: str, severity: int, lat: float, lon: float, country: str,
          **more: Any) -> str:
    body = {"title": title, "type": kind, "severity": severity, "lat": lat, "lon": lon, "country": country,
            "source_id": random_ref("board-"), **more}
    answer = requests.post(live_server.url + "/api/v1/incidents", json=body,
                           headers={"Authorization": "Bearer " + live_server.token("feed")}, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


@pytest.fixture
def demo_like(context: Context, live_server: LiveServer) -> dict[str, str]:
    """title -> id of the demo-like incidents, one owned, one contained."""
    ids = {row[0]: _post(live_server, *row) for row in DEMO_LIKE}
    # The widest ages: "23 h 58 min" and a drought of years.
    day = (datetime.now(UTC) - timedelta(hours=23, minutes=58)).isoformat()
    ids["day"] = _post(live_server, "Flash flooding after heavy rain in Dhaka", "flood", 2, 23.8, 90.4, "BGD", reported_at=day)
    ids["years"] = _post(live_server, "Drought in the south", "drought", 2, -15.0, 30.0, "ZMB", reported_at="2019-06-01T00:00:00Z")
    # Over four countries in two regions (GDACS files such a drought under its first country).
    ids["spans"] = _post(live_server, "Drought is on going in Iran, Iraq, Syria, Turkey", "drought", 2, 35.0, 42.0, "TUR",
                         countries=["TUR", "IRQ", "IRN", "SYR"])
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    first = ids[DEMO_LIKE[1][0]]
    answer = requests.patch(f"{live_server.url}/api/v1/incidents/{first}", json={"status": "contained", "owner": "amina.najjar"},
                            headers=officer, timeout=30)
    assert answer.status_code == 200, answer.text
    return ids


def _board(browser: Any, live_server: LiveServer, count: int) -> Any:
    page = open_page(browser, live_server, "/incidents")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_function(f"n => document.querySelectorAll('{GRID} .ag-center-cols-container .ag-row').length >= n",
                           arg=count, timeout=30_000)
    page.wait_for_timeout(500)  # the grid lays its columns out again for the new width
    return page


CUT = """grid => {
    const cut = e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1;
    const headers = Array.from(document.querySelectorAll(`${grid} .ag-header-cell-text`))
        .filter(cut).map(e => `${e.innerText}: ${e.scrollWidth} > ${e.clientWidth}`);
    const cells = Array.from(document.querySelectorAll(`${grid} .ag-center-cols-container .ag-cell`))
        .map(c => [c.getAttribute('col-id'), c.querySelector('.ag-cell-value') || c])
        .filter(([, v]) => cut(v)).map(([id, v]) => `${id}: ${v.innerText} (${v.scrollWidth} > ${v.clientWidth})`);
    const view = document.querySelector(`${grid} .ag-center-cols-viewport`);
    return {headers, cells, scrolls: view ? view.scrollWidth > view.clientWidth + 1 : null};
}"""


def test_every_board_column_and_its_values_fit_at_1920_by_1080(
        context: Context, live_server: LiveServer, browser: Any, demo_like: dict[str, str]) -> None:
    page = _board(browser, live_server, len(demo_like))
    found = page.evaluate(CUT, GRID)
    texts = page.eval_on_selector_all(f"{GRID} .ag-header-cell-text", "els => els.map(e => e.innerText)")
    assert texts == ["Sev", "Incident", "Type", "Place", "Region", "Status", "Age", "Updated", "Stale", "Owner"], texts
    assert found["headers"] == [], f"header labels cut off: {found['headers']}"
    assert found["cells"] == [], f"cells cut off: {found['cells']}"
    assert found["scrolls"] is False, "the board scrolls sideways: a column is off screen"
    # The sub-type is whole on the Lebanon rows, and the region reads in full.
    row = f"{GRID} .ag-center-cols-container .ag-row[row-id='{demo_like[DEMO_LIKE[0][0]]}']"
    assert page.inner_text(row + " .ag-cell[col-id='type']").split() == "Armed conflict - Exchange of fire".split()
    assert page.inner_text(row + " .ag-cell[col-id='region_label']").split() == "Middle East and North Africa".split()
    # An incident over several countries: every one of them and both regions, not its first only.
    spans = f"{GRID} .ag-center-cols-container .ag-row[row-id='{demo_like['spans']}']"
    assert page.inner_text(spans + " .ag-cell[col-id='country']").split() == "TUR, IRQ, IRN +1".split()
    page.hover(spans + " .ag-cell[col-id='country']")  # and all four in its tooltip
    page.wait_for_selector(".ag-tooltip:has-text('TUR, IRQ, IRN, SYR')", timeout=10_000)
    page.mouse.move(0, 0)
    assert page.inner_text(spans + " .ag-cell[col-id='region_label']").split() == \
        "Europe and Central Asia, Middle East and North Africa".split()
    day = f"{GRID} .ag-center-cols-container .ag-row[row-id='{demo_like['day']}'] .ag-cell[col-id='reported_at']"
    assert page.inner_text(day) == "23 h 58 min", page.inner_text(day)
    # Sorted by any column, its header (now with the sort arrow) is still whole.
    for column in ("severity", "title", "type", "country", "region_label", "status", "reported_at", "updated_at", "stale", "owner"):
        header = f"{GRID} .ag-header-cell[col-id='{column}']"
        for _ in range(3):  # unsorted -> ascending; the default sort (severity, descending) -> none -> ascending
            page.click(header + " .ag-header-cell-label")
            page.wait_for_timeout(100)
            if (page.get_attribute(header, "aria-sort") or "none") != "none":
                break
        assert page.get_attribute(header, "aria-sort") in ("ascending", "descending"), column
        cut = page.evaluate(CUT, GRID)
        assert cut["headers"] == [] and cut["scrolls"] is False, (column, cut)
    assert page.errors == []
    page.context.close()


def test_the_download_links_give_exactly_the_rows_the_board_shows(
        context: Context, live_server: LiveServer, browser: Any, demo_like: dict[str, str]) -> None:
    """The exports take the board's filters (crisis.feeds.schemas.incident_filters): a board
    filtered to one region and two statuses links to files holding exactly its rows: the
    region's incidents in those statuses and the one closed a moment ago (the board keeps it,
    greyed), not the other regions' nor the other statuses'."""
    import csv
    import io
    from urllib.parse import parse_qs, urlsplit

    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    closed = {}
    for name, row in (("mena", DEMO_LIKE[2]), ("asia", DEMO_LIKE[5])):  # Beirut airstrikes; the Manila earthquake
        closed[name] = demo_like[row[0]]
        answer = requests.patch(f"{live_server.url}/api/v1/incidents/{closed[name]}", json={"status": "closed"},
                                headers=officer, timeout=30)
        assert answer.status_code == 200, answer.text
    page = _board(browser, live_server, len(demo_like))
    links = "#incidents-downloads a"
    label = "#incidents-downloads .downloads-label"
    assert page.inner_text(label).startswith("Download the incidents you see (the board's rows"), page.inner_text(label)
    # One region, two statuses: reported and contained.
    page.click(f"#filter-region")
    page.get_by_role("option", name="Middle East and North Africa", exact=True).click()
    for status in ("verified", "active"):
        page.uncheck(f"#filter-status input[value='{status}']")
    page.wait_for_function("() => document.querySelector('#incidents-downloads a').getAttribute('href').includes('region=')"
                           " && !document.querySelector('#incidents-downloads a').getAttribute('href').includes('active')",
                           timeout=10_000)
    hrefs = page.eval_on_selector_all(links, "els => els.map(e => e.getAttribute('href'))")
    assert [urlsplit(h).path.rsplit("/", 1)[1] for h in hrefs] == ["incidents.csv", "incidents.geojson", "incidents.kml"]
    query = parse_qs(urlsplit(hrefs[0]).query)
    assert query["region"] == ["middle_east_north_africa"] and query["status"] == ["reported,contained"], query
    assert all(h.endswith(urlsplit(hrefs[0]).query) for h in hrefs)
    page.wait_for_timeout(500)
    shown = set(page.eval_on_selector_all(f"{GRID} .ag-center-cols-container .ag-row",
                                          "els => els.map(e => e.getAttribute('row-id'))"))
    lebanon = {demo_like[row[0]] for row in DEMO_LIKE if row[5] == "LBN"}
    # the drought over Turkey, Iraq, Iran and Syria touches the region too (filed first under Europe)
    assert closed["mena"] in shown and closed["asia"] not in shown and demo_like["spans"] in shown, shown
    assert shown <= lebanon | {demo_like["spans"]}, shown
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    for href in hrefs:
        answer = requests.get(live_server.url + href, cookies=cookies, timeout=30)
        assert answer.status_code == 200, (href, answer.text)
    rows = list(csv.DictReader(io.StringIO(requests.get(live_server.url + hrefs[0], cookies=cookies, timeout=30).text)))
    assert {r["id"] for r in rows} == shown and len(rows) == len(shown), (rows, shown)
    assert {r["status"] for r in rows} == {"reported", "contained", "closed"}
    geojson = requests.get(live_server.url + hrefs[1], cookies=cookies, timeout=30).json()
    assert {f["properties"]["id"] for f in geojson["features"]} == shown
    # The time window goes along too.
    page.check("#filter-window input[value='24h']")
    page.wait_for_function("() => document.querySelector('#incidents-downloads a').getAttribute('href').includes('window=24h')",
                           timeout=10_000)
    assert page.inner_text(label).startswith("Download the incidents you see"), page.inner_text(label)
    assert page.errors == []
    page.context.close()


def test_each_incident_says_how_many_of_ours_it_affects_live(context: Context, live_server: LiveServer, browser: Any) -> None:
    """Under an incident's title, our people there ("3 of ours"), red once someone needs help,
    within 10 s of the change; nothing under an incident that affects none of ours; the
    title's filter still reads the title alone."""
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    beirut = _post(live_server, "Shelling near Beirut port", "shelling", 4, 33.9, 35.5, "LBN", radius_km=20)
    quiet = _post(live_server, "M 6.8 near Valparaiso", "earthquake", 5, -33.0, -71.6, "CHL", radius_km=50)
    office = {"name": "Beirut office", "lat": 33.8938, "lon": 35.5018, "country": "LBN"}
    people = [traveller(f"BO{n}", f"Person {n}", office, n) for n in range(3)]
    answer = requests.post(live_server.url + "/api/v1/travellers", json=people, headers=officer, timeout=30)
    assert answer.status_code == 200, answer.text

    page = _board(browser, live_server, 2)
    row = f"{GRID} .ag-center-cols-container .ag-row[row-id='{beirut}']"
    page.wait_for_selector(f"{row} .board-ours:text-is('3 of ours')", timeout=15_000)
    assert "need-help" not in (page.get_attribute(f"{row} .board-ours", "class") or "")
    assert page.locator(f"{GRID} .ag-row[row-id='{quiet}'] .board-ours").count() == 0
    assert page.inner_text(f"{row} .board-title").startswith("Shelling near Beirut port")

    answer = requests.put(f"{live_server.url}/api/v1/incidents/{beirut}/people/BO1", json={"status": "needs_help"},
                          headers=officer, timeout=10)
    assert answer.status_code == 200, answer.text
    page.wait_for_selector(f"{row} .board-ours.need-help:text-is('3 of ours, 1 needs help')", timeout=10_000)

    # The Incident filter matches titles, not the words under them.
    page.click(f"{GRID} .ag-header-cell[col-id='title'] .ag-header-cell-filter-button")
    page.fill(".ag-filter input[type='text']", "of ours")
    page.wait_for_function(f"() => !document.querySelector(\"{row}\")", timeout=10_000)
    page.fill(".ag-filter input[type='text']", "Beirut")
    page.wait_for_selector(row, timeout=10_000)
    assert page.errors == []
    page.context.close()
