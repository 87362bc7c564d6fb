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
from tests.e2e.test_people_pages_browser import open_page

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


def test_the_download_links_follow_the_boards_filters_as_far_as_the_exports_go(
        context: Context, live_server: LiveServer, browser: Any, demo_like: dict[str, str]) -> None:
    """The exports narrow by one status only (crisis/api/exports.py): one status ticked goes
    into the links, and the label names every other filter the files are not cut by."""
    import csv
    import io

    page = _board(browser, live_server, len(demo_like))
    links = "#incidents-downloads a"
    label = "#incidents-downloads .downloads-label"
    assert page.inner_text(label).startswith("Download every incident you may see, closed ones too"), page.inner_text(label)
    assert [h.rsplit("/", 1)[1] for h in page.eval_on_selector_all(links, "els => els.map(e => e.getAttribute('href'))")] \
        == ["incidents.csv", "incidents.geojson", "incidents.kml"]
    # Only "contained" ticked: the links carry it.
    for status in ("reported", "verified", "active"):
        page.uncheck(f"#filter-status input[value='{status}']")
    page.wait_for_function("() => document.querySelector('#incidents-downloads a').getAttribute('href').includes('status=')",
                           timeout=10_000)
    hrefs = page.eval_on_selector_all(links, "els => els.map(e => e.getAttribute('href'))")
    assert [h.rsplit("/", 1)[1] for h in hrefs] == ["incidents.csv?status=contained", "incidents.geojson?status=contained",
                                                     "incidents.kml?status=contained"], hrefs
    assert page.inner_text(label).startswith("Download the contained incidents you may see"), page.inner_text(label)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    rows = list(csv.DictReader(io.StringIO(requests.get(live_server.url + hrefs[0], cookies=cookies, timeout=30).text)))
    assert [r["id"] for r in rows] == [demo_like[DEMO_LIKE[1][0]]], rows  # the one contained incident, nothing else
    shown = page.eval_on_selector_all(f"{GRID} .ag-center-cols-container .ag-row", "els => els.map(e => e.getAttribute('row-id'))")
    assert shown == [r["id"] for r in rows]
    # A filter the exports cannot take is named on the link, not silently dropped.
    page.check("#filter-window input[value='24h']")
    page.wait_for_function("() => document.querySelector('#incidents-downloads .downloads-label').innerText.includes('time')",
                           timeout=10_000)
    assert "not cut by the board's time filter" in page.inner_text(label), page.inner_text(label)
    assert page.errors == []
    page.context.close()
