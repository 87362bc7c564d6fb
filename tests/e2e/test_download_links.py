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


def test_the_boards_links_say_how_far_its_filters_apply() -> None:
    """One status goes into the links; every other filter the exports cannot take is named."""
    from crisis.ui.pages.board import ALL_STATUSES, OPEN_STATUSES

    def label(component: Any) -> str:
        return str(component.children[0].children)

    board = incidents_downloads("middle_east_north_africa", ["shelling"], [4, 5], OPEN_STATUSES, "24h", None, ALL_STATUSES)
    assert [h.rsplit("/", 1)[1] for h in _hrefs(board)] == ["incidents.csv", "incidents.geojson", "incidents.kml"]
    assert label(board) == ("Download every incident you may see, closed ones too (the files are not cut by the board's "
                            "region, type, severity, status and time filters): ")
    one = incidents_downloads(None, [], [1, 2, 3, 4, 5], ["active"], "all", None, ALL_STATUSES)
    assert all(h.endswith("?status=active") for h in _hrefs(one)) and label(one) == "Download the active incidents you may see: "
    # A desk's region is not a filter of the board's: the files are cut to its regions anyway.
    desk = incidents_downloads("africa", None, [1, 2, 3, 4, 5], ALL_STATUSES, "all", "africa", ALL_STATUSES)
    assert label(desk) == "Download every incident you may see, closed ones too: "
