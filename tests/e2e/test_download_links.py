"""The pages' download links lead to the exports, with the reader's own session: a signed-in
browser downloads what it may see, a desk only its region's (crisis/ui/components/downloads.py)."""

from __future__ import annotations

import csv
import io
from typing import Any

import requests

from crisis.ui.components.downloads import affected_downloads, incidents_downloads
from tests.conftest import LiveServer, random_ref


def _hrefs(component: Any) -> list[str]:
    return [child.href for child in component.children if getattr(child, "href", None)]


def _incident(live_server: LiveServer, title: str, lat: float, lon: float) -> str:
    answer = requests.post(live_server.url + "/api/v1/incidents", timeout=30,
                           headers={"Authorization": f"Bearer {live_server.token('duty_officer')}"},
                           json={"title": title, "type": "riot", "severity": 3, "lat": lat, "lon": lon,
                                 "source": "api", "source_id": random_ref()})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_the_pages_download_links_give_the_readers_own_files(live_server: LiveServer) -> None:
    beirut = _incident(live_server, f"Riot in Beirut {random_ref()}", 33.89, 35.50)
    lima = _incident(live_server, f"Riot in Lima {random_ref()}", -12.05, -77.04)
    board = _hrefs(incidents_downloads())
    assert [h.rsplit(".", 1)[1] for h in board] == ["csv", "geojson", "kml"]
    officer, desk = requests.Session(), requests.Session()
    assert live_server.sign_in(officer, live_server.user("duty_officer")).status_code == 302
    assert live_server.sign_in(desk, live_server.user("regional_desk", "middle_east_north_africa")).status_code == 302
    for href in board:
        assert officer.get(live_server.url + href, timeout=30).status_code == 200, href
    seen = {row["id"] for row in csv.DictReader(io.StringIO(officer.get(live_server.url + board[0], timeout=30).text))}
    assert {beirut, lima} <= seen
    mine = {row["id"] for row in csv.DictReader(io.StringIO(desk.get(live_server.url + board[0], timeout=30).text))}
    assert beirut in mine and lima not in mine
    affected = _hrefs(affected_downloads(beirut))
    assert len(affected) == 2
    for href in affected:
        assert officer.get(live_server.url + href, timeout=30).status_code == 200, href
    # Not signed in: no file.
    assert requests.get(live_server.url + board[0], timeout=30, allow_redirects=False).status_code == 401


def test_the_areas_page_links_give_the_areas_and_a_movement_list(live_server: LiveServer) -> None:
    from crisis.ui.components.downloads import areas_downloads, movement_downloads

    officer = requests.Session()
    assert live_server.sign_in(officer, live_server.user("duty_officer")).status_code == 302
    area = officer.post(live_server.url + "/api/v1/areas", timeout=30,
                        headers={"Authorization": f"Bearer {live_server.token('duty_officer')}"},
                        json={"name": f"Area {random_ref()}", "phase": 1, "country": "LBN"})
    assert area.status_code in (200, 201), area.text
    area_id = area.json()["id"]
    kml = officer.get(live_server.url + _hrefs(areas_downloads())[0], timeout=30)
    assert kml.status_code == 200 and area.json()["name"] in kml.text
    assert movement_downloads(None) is None
    for href in _hrefs(movement_downloads(area_id)):
        assert officer.get(live_server.url + href, timeout=30).status_code == 200, href


def test_the_boards_links_carry_every_filter_of_the_board() -> None:
    """Every board filter goes into the links (the exports take them all), so the label
    promises the rows the board shows; a filter left at "everything", and a desk's own
    region, are not passed."""
    from urllib.parse import parse_qs, urlsplit

    from crisis.ui.components.downloads import SEES_ROWS
    from crisis.ui.pages.board import ALL_STATUSES, OPEN_STATUSES

    def label(component: Any) -> str:
        return str(component.children[0].children)

    def queries(component: Any) -> list[dict[str, list[str]]]:
        return [parse_qs(urlsplit(h).query) for h in _hrefs(component)]

    board = incidents_downloads("middle_east_north_africa", ["shelling", "airstrike"], [4, 5], OPEN_STATUSES, "24h", None,
                                ALL_STATUSES, 60)
    assert [urlsplit(h).path.rsplit("/", 1)[1] for h in _hrefs(board)] == ["incidents.csv", "incidents.geojson", "incidents.kml"]
    assert label(board) == SEES_ROWS + ": " and "the incidents you see" in SEES_ROWS
    assert queries(board) == [{"status": ["reported,verified,active,contained"], "closed_within": ["60"],
                               "region": ["middle_east_north_africa"], "type": ["shelling,airstrike"],
                               "severity": ["4,5"], "window": ["24h"]}] * 3
    # Everything ticked: no filter at all; "closed" ticked: every closed one, no closed_within.
    assert queries(incidents_downloads(None, [], [1, 2, 3, 4, 5], ALL_STATUSES, "all", None, ALL_STATUSES, 60)) == [{}] * 3
    assert queries(incidents_downloads(None, None, [1, 2, 3, 4, 5], ["active", "closed"], "all", None, ALL_STATUSES, 60)) \
        == [{"status": ["active,closed"]}] * 3
    # A desk's region is not a filter of the board's: the files are cut to its regions anyway.
    desk = incidents_downloads("africa,americas", None, [1, 2, 3, 4, 5], ALL_STATUSES, "all", "africa,americas", ALL_STATUSES)
    assert label(desk) == SEES_ROWS + ": " and queries(desk) == [{}] * 3
    # Nothing ticked: no rows, no links.
    for empty in (incidents_downloads(None, None, [], OPEN_STATUSES, "all", None, ALL_STATUSES, 60),
                  incidents_downloads(None, None, [1, 2], [], "all", None, ALL_STATUSES, 60)):
        assert _hrefs(empty) == [] and label(empty).startswith("Nothing to download")


def test_the_incident_exports_take_the_boards_filters_and_refuse_an_unknown_value_in_words(live_server: LiveServer) -> None:
    """GET /api/v1/exports/incidents.* filter as GET /api/v1/incidents (several statuses,
    region, severity, type, category, window, closed_within); a desk's own cut still applies on
    top; an unknown value is 400 naming the parameter and its allowed values, dead-lettered."""
    officer = {"Authorization": f"Bearer {live_server.token('duty_officer')}"}
    desk = {"Authorization": f"Bearer {live_server.token('regional_desk', 'africa')}"}
    url = live_server.url + "/api/v1/exports/incidents.csv"
    beirut = _incident(live_server, f"Riot in Beirut {random_ref()}", 33.89, 35.50)
    lima = _incident(live_server, f"Riot in Lima {random_ref()}", -12.05, -77.04)
    closed = _incident(live_server, f"Riot in Tyre {random_ref()}", 33.27, 35.20)
    answer = requests.patch(f"{live_server.url}/api/v1/incidents/{closed}", json={"status": "closed"}, headers=officer, timeout=30)
    assert answer.status_code == 200, answer.text

    def ids(query: str, headers: dict[str, str] = officer) -> set[str]:
        answer = requests.get(f"{url}?{query}", headers=headers, timeout=30)
        assert answer.status_code == 200, (query, answer.text)
        return {row["id"] for row in csv.DictReader(io.StringIO(answer.text))} & {beirut, lima, closed}

    assert ids("") == {beirut, lima, closed}
    assert ids("region=middle_east_north_africa&status=reported,contained") == {beirut}
    assert ids("region=middle_east_north_africa&status=reported&status=contained&closed_within=60") == {beirut, closed}
    assert ids("status=reported,closed&type=riot,shelling&severity=3,4&category=civil_unrest&window=1h") == {beirut, lima, closed}
    assert ids("type=shelling") == set() and ids("category=crime") == set() and ids("severity=5") == set()
    assert ids("status=active&closed_within=0") == set()
    assert ids("status=reported", desk) == set() and ids("region=middle_east_north_africa", desk) == set()
    for query, field, allowed in (("status=reported,exploded", "status", "reported, verified, active, contained, closed"),
                                  ("region=mars", "region", "africa, americas"), ("severity=9", "severity", "1 to 5"),
                                  ("type=bombing", "type", "riot"), ("category=weather", "category", "civil unrest (civil_unrest)"),
                                  ("window=2h", "window", "1h, 6h, 24h, 7d, all"), ("closed_within=soon", "closed_within", "minutes")):
        for fmt in ("csv", "geojson", "kml"):
            answer = requests.get(f"{live_server.url}/api/v1/exports/incidents.{fmt}?{query}", headers=officer, timeout=30)
            assert answer.status_code == 400, (query, answer.text)
            body = answer.json()
            assert [e["field"] for e in body["errors"]] == [field] and allowed in body["errors"][0]["message"], body
        letters = requests.get(live_server.url + "/api/v1/deadletters?count=20", headers=officer, timeout=30).json()["dead_letters"]
        letter = next(d for d in letters if d["id"] == body["dead_letter_id"])
        assert letter["feed"] == "api:export_incidents" and letter["path"] == f"/api/v1/exports/incidents.kml?{query}", letter
