"""What each reader may see, on every read channel but the socket: region scoping and the
wall's anonymity on the API, the Dash callbacks behind the pages, and the read models.

Every test here fails when its rule is broken: a desk sees another region, a caller with
no region sees every region, a wall receives a name. Each one also checks the positive
side (the rightful reader does see it), so that an empty answer cannot pass for a
scoped one. The socket is covered in tests/e2e/test_socket.py.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest
import requests

from crisis import views
from crisis.adapters.accounts import Principal
from tests.conftest import PASSWORD, LiveServer, random_ref

AFRICA, MENA = "africa", "middle_east_north_africa"
NAIROBI = {"lat": -1.2921, "lon": 36.8219}
BEIRUT = {"lat": 33.8938, "lon": 35.5018}
OUTSIDE = "No such incident, or it is outside your region."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(server: LiveServer, role: str, region: str | None = None, name: str | None = None) -> str:
    return server.context.accounts.create_token(name or random_ref(f"{role}-"), role, region)


def _incident(server: LiveServer, where: dict[str, float], actor: str | None = None) -> dict[str, Any]:
    """A new incident at ``where``, reported by a duty officer token named ``actor``."""
    token = _token(server, "duty_officer", name=actor)
    body = {"title": random_ref("Scoping test "), "type": "crime", "severity": 3, **where}
    answer = requests.post(server.url + "/api/v1/incidents", json=body, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def world(live_server: LiveServer) -> dict[str, Any]:
    """An incident in Nairobi and one in Beirut, each with an owner, a note and an author
    whose names are unique; a traveller in each city."""
    names = {k: random_ref(f"{k}-") for k in ("author", "owner", "editor", "t_nairobi", "t_beirut")}
    nairobi = _incident(live_server, NAIROBI, names["author"])
    beirut = _incident(live_server, BEIRUT, names["author"])
    editor = _token(live_server, "duty_officer", name=names["editor"])
    for incident in (nairobi, beirut):
        patched = requests.patch(f"{live_server.url}/api/v1/incidents/{incident['id']}",
                                 json={"owner": names["owner"], "note": "checked", "status": "verified"},
                                 headers=bearer(editor))
        assert patched.status_code == 200, patched.text
    assert nairobi["region"] == AFRICA and beirut["region"] == MENA
    positions = [{"traveller_id": names["t_nairobi"], "lat": -1.2345, "lon": 36.7891},
                 {"traveller_id": names["t_beirut"], "lat": 34.1234, "lon": 35.6789}]
    live_server.know(positions)
    stored = requests.post(live_server.url + "/api/v1/positions", json=positions, headers=bearer(_token(live_server, "feed")))
    assert stored.status_code == 202, stored.text
    return {"nairobi": nairobi, "beirut": beirut, "names": names}


def _names(world: dict[str, Any]) -> tuple[str, ...]:
    return world["names"]["author"], world["names"]["owner"], world["names"]["editor"]


# --- GET /api/v1/positions ------------------------------------------------------------


def _positions(server: LiveServer, token: str) -> requests.Response:
    return requests.get(server.url + "/api/v1/positions", headers=bearer(token))


def test_positions_are_scoped_to_the_desk_region(live_server: LiveServer, world: dict[str, Any]) -> None:
    t_nairobi, t_beirut = world["names"]["t_nairobi"], world["names"]["t_beirut"]
    africa = _positions(live_server, _token(live_server, "regional_desk", AFRICA)).json()
    ids = {p["traveller_id"] for p in africa["positions"]}
    assert t_nairobi in ids and t_beirut not in ids
    assert {p["region"] for p in africa["positions"]} == {AFRICA} and africa["count"] == len(africa["positions"])
    mena = {p["traveller_id"] for p in _positions(live_server, _token(live_server, "regional_desk", MENA)).json()["positions"]}
    assert t_beirut in mena and t_nairobi not in mena
    officer = {p["traveller_id"] for p in _positions(live_server, _token(live_server, "duty_officer")).json()["positions"]}
    assert {t_nairobi, t_beirut} <= officer


@pytest.mark.parametrize(("role", "region"), [("regional_desk", None), ("regional_desk", ""), ("feed", None), ("feed", AFRICA)])
def test_no_region_is_not_every_region(live_server: LiveServer, world: dict[str, Any], role: str, region: str | None) -> None:
    token = _token(live_server, role, region)
    for path in ("/api/v1/positions", "/api/v1/incidents", f"/api/v1/incidents/{world['beirut']['id']}"):
        answer = requests.get(live_server.url + path, headers=bearer(token))
        assert answer.status_code == 403, (path, answer.status_code, answer.text[:200])
        assert world["names"]["t_beirut"] not in answer.text and world["beirut"]["title"] not in answer.text


def test_a_wall_receives_anonymous_points_and_counts(live_server: LiveServer, world: dict[str, Any]) -> None:
    answer = _positions(live_server, _token(live_server, "wall"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == len(body["positions"]) >= 2
    assert all("traveller_id" not in p for p in body["positions"])
    assert world["names"]["t_nairobi"] not in answer.text and world["names"]["t_beirut"] not in answer.text
    points = {(round(p["lat"], 4), round(p["lon"], 4)) for p in body["positions"]}
    assert {(-1.2345, 36.7891), (34.1234, 35.6789)} <= points  # where, still: only not who
    assert {"lat", "lon", "time", "region"} <= set(body["positions"][0])


# --- GET /api/v1/incidents/{id} and the list --------------------------------------------------


def test_incident_detail_is_scoped_to_the_desk_region(live_server: LiveServer, world: dict[str, Any]) -> None:
    beirut = f"{live_server.url}/api/v1/incidents/{world['beirut']['id']}"
    hidden = requests.get(beirut, headers=bearer(_token(live_server, "regional_desk", AFRICA)))
    assert hidden.status_code == 404 and world["beirut"]["title"] not in hidden.text
    shown = requests.get(beirut, headers=bearer(_token(live_server, "regional_desk", MENA)))
    assert shown.status_code == 200 and shown.json()["title"] == world["beirut"]["title"]
    listed = requests.get(live_server.url + "/api/v1/incidents", headers=bearer(_token(live_server, "regional_desk", MENA))).json()
    ids = {i["id"] for i in listed["incidents"]}
    assert world["beirut"]["id"] in ids and world["nairobi"]["id"] not in ids


def test_a_wall_reads_incidents_without_names(live_server: LiveServer, world: dict[str, Any]) -> None:
    url = f"{live_server.url}/api/v1/incidents/{world['beirut']['id']}"
    officer = requests.get(url, headers=bearer(_token(live_server, "duty_officer"))).json()
    assert officer["owner"] == world["names"]["owner"]  # the names are there to hide
    assert [h["by"] for h in officer["history"]] == [world["names"]["author"], world["names"]["editor"]]
    wall = requests.get(url, headers=bearer(_token(live_server, "wall")))
    assert wall.status_code == 200
    detail = wall.json()
    assert detail["title"] == world["beirut"]["title"] and detail["status"] == "verified"
    assert "owner" not in detail
    assert [h["kind"] for h in detail["history"]] == ["reported", "status"]
    assert all("by" not in h and "owner" not in h for h in detail["history"])
    assert "note" not in detail["history"][1] and detail["history"][1]["status"] == "verified"  # a note is text people wrote
    listed = requests.get(live_server.url + "/api/v1/incidents", headers=bearer(_token(live_server, "wall")))
    for name in _names(world):
        assert name not in wall.text and name not in listed.text, name
    assert world["beirut"]["id"] in listed.text


# --- the Dash callbacks behind the pages ----------------------------------------------------


def _dependencies(server: LiveServer) -> list[dict[str, Any]]:
    answer = requests.get(server.url + "/_dash-dependencies", headers=bearer(_token(server, "wall")))
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


def board_detail(server: LiveServer, token: str, incident_id: str) -> requests.Response:
    """What the board's detail callback answers when a row is clicked (POST /_dash-update-component)."""
    callback = next(d for d in _dependencies(server)
                    if d["output"].startswith("incident-detail.children")
                    and d["inputs"] == [{"id": "incident-grid", "property": "cellClicked"}])
    component, prop = callback["output"].split(".", 1)
    body = {"output": callback["output"], "outputs": {"id": component, "property": prop},
            "inputs": [{"id": "incident-grid", "property": "cellClicked", "value": {"rowId": incident_id, "colId": "title"}}],
            "changedPropIds": ["incident-grid.cellClicked"], "state": []}
    return requests.post(server.url + "/_dash-update-component", json=body, headers=bearer(token))


def page(server: LiveServer, token: str, path: str) -> requests.Response:
    """A page's layout as the pages router callback renders it for this caller."""
    body = {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}
    return requests.post(server.url + "/_dash-update-component", json=body, headers=bearer(token))


def test_the_board_detail_callback_is_scoped(live_server: LiveServer, world: dict[str, Any]) -> None:
    beirut = world["beirut"]
    mena = board_detail(live_server, _token(live_server, "regional_desk", MENA), beirut["id"])
    assert mena.status_code == 200 and beirut["title"] in mena.text and f'"data-incident-id":"{beirut["id"]}"' in mena.text
    africa = board_detail(live_server, _token(live_server, "regional_desk", AFRICA), beirut["id"])
    assert africa.status_code == 200 and OUTSIDE in africa.text
    assert beirut["title"] not in africa.text and "checked" not in africa.text


def test_the_incident_page_is_scoped(live_server: LiveServer, world: dict[str, Any]) -> None:
    path = f"/incident/{world['beirut']['id']}"
    mena = page(live_server, _token(live_server, "regional_desk", MENA), path)
    assert mena.status_code == 200 and world["beirut"]["title"] in mena.text
    africa = page(live_server, _token(live_server, "regional_desk", AFRICA), path)
    assert africa.status_code == 200 and OUTSIDE in africa.text and world["beirut"]["title"] not in africa.text


def test_the_live_map_page_is_scoped(live_server: LiveServer, world: dict[str, Any]) -> None:
    """The map's first picture (crisis.views.live_incidents) as the page serves it."""
    africa = page(live_server, _token(live_server, "regional_desk", AFRICA), "/")
    assert africa.status_code == 200
    assert world["nairobi"]["id"] in africa.text and world["beirut"]["id"] not in africa.text
    assert world["beirut"]["title"] not in africa.text
    board = page(live_server, _token(live_server, "regional_desk", MENA), "/incidents")
    assert world["beirut"]["id"] in board.text and world["nairobi"]["id"] not in board.text


def _history_by(rendered: str) -> list[str]:
    """The "by" column of the rendered history, in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and props.get("className") == "history-by":
                found.append(props.get("children"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(rendered))
    return found


@pytest.mark.parametrize("channel", ["board", "page"])
def test_a_wall_sees_no_names_in_the_incident_detail(live_server: LiveServer, world: dict[str, Any], channel: str) -> None:
    def render(token: str) -> str:
        if channel == "board":
            answer = board_detail(live_server, token, world["beirut"]["id"])
        else:
            answer = page(live_server, token, f"/incident/{world['beirut']['id']}")
        assert answer.status_code == 200 and world["beirut"]["title"] in answer.text
        return answer.text

    officer = render(_token(live_server, "duty_officer"))
    assert _history_by(officer) == [world["names"]["editor"], world["names"]["author"]]  # newest first
    assert all(name in officer for name in _names(world))
    wall = render(_token(live_server, "wall"))
    assert _history_by(wall) == [] and '"history-item"' in wall and "checked" not in wall  # no note: text people wrote
    for name in _names(world):
        assert name not in wall, name


# --- the read models themselves ------------------------------------------------------------


def test_live_incidents_are_scoped(live_server: LiveServer, world: dict[str, Any]) -> None:
    context = live_server.context
    africa = views.live_incidents(context, Principal("desk-a", "regional_desk", AFRICA))
    ids = {m["incident"]["id"] for m in africa["incidents"]}
    assert world["nairobi"]["id"] in ids and world["beirut"]["id"] not in ids
    assert {m["incident"]["region"] for m in africa["incidents"]} == {AFRICA}
    mena = views.live_incidents(context, Principal("desk-m", "regional_desk", MENA))
    assert world["beirut"]["id"] in {m["incident"]["id"] for m in mena["incidents"]}
    assert world["nairobi"]["id"] not in {m["incident"]["id"] for m in mena["incidents"]}
    everything = views.live_incidents(context, Principal("duty", "duty_officer"))
    assert {world["nairobi"]["id"], world["beirut"]["id"]} <= {m["incident"]["id"] for m in everything["incidents"]}
    wall = views.live_incidents(context, Principal("wall", "wall"))
    assert {world["nairobi"]["id"], world["beirut"]["id"]} <= {m["incident"]["id"] for m in wall["incidents"]}
    for name in _names(world):
        assert name not in json.dumps(wall["incidents"]), name
    for nobody in (Principal("desk-x", "regional_desk", None), Principal("feed", "feed"), Principal("feed", "feed", AFRICA)):
        with pytest.raises(PermissionError):
            views.live_incidents(context, nobody)


def test_incident_detail_read_model_is_scoped(live_server: LiveServer, world: dict[str, Any]) -> None:
    context, beirut = live_server.context, world["beirut"]["id"]
    assert views.incident_detail(context, Principal("desk-a", "regional_desk", AFRICA), beirut) is None
    shown = views.incident_detail(context, Principal("desk-m", "regional_desk", MENA), beirut)
    assert shown is not None and shown["incident"]["id"] == beirut and shown["can_edit"] is False
    assert shown["incident"]["owner"] == world["names"]["owner"]  # a desk sees names in its region
    for nobody in (Principal("desk-x", "regional_desk", None), Principal("feed", "feed"), Principal("feed", "feed", MENA)):
        assert views.incident_detail(context, nobody, beirut) is None
    officer = views.incident_detail(context, Principal("duty", "duty_officer"), beirut)
    assert officer is not None and officer["can_edit"] is True
    wall = views.incident_detail(context, Principal("wall", "wall"), beirut)
    assert wall is not None and wall["can_edit"] is False and "owner" not in wall["incident"]
    assert [sorted(h) for h in wall["history"]] == [sorted(set(h) - {"by", "owner", "note"}) for h in officer["history"]]


# --- signing in -------------------------------------------------------------------------------


def _login(server: LiveServer, name: str, password: str, next_url: str | None = None) -> tuple[requests.Session, requests.Response]:
    """Post the login form as a browser would (with whatever hidden fields it carries)."""
    http = requests.Session()
    query = f"?next={quote(next_url, safe='')}" if next_url is not None else ""
    form = http.get(f"{server.url}/login{query}")
    hidden = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.text))
    answer = http.post(f"{server.url}/login{query}", data={**hidden, "username": name, "password": password},
                       allow_redirects=False)
    return http, answer


def test_feed_accounts_cannot_sign_in_to_the_dashboard(live_server: LiveServer) -> None:
    feed = live_server.user("feed")
    http, answer = _login(live_server, feed, PASSWORD)
    assert answer.status_code == 401 and "Feed accounts cannot sign in" in answer.text
    assert http.get(live_server.url + "/api/v1/incidents").status_code == 401
    assert http.get(live_server.url + "/", allow_redirects=False).status_code == 302  # back to the login page
    wall = live_server.user("wall")
    http, answer = _login(live_server, wall, PASSWORD)  # the same form works for a reader
    assert answer.status_code == 302 and http.get(live_server.url + "/api/v1/incidents").status_code == 200


@pytest.mark.parametrize("target", [
    "https://evil.example/steal", "http://evil.example", "//evil.example", "//evil.example/incidents",
    "javascript:alert(document.cookie)", "JavaScript:alert(1)", "data:text/html,<b>x</b>", "evil.example",
    "http:/evil.example", "\\\\evil.example", " //evil.example", "\t//evil.example",
])
def test_login_next_never_leaves_the_site(live_server: LiveServer, target: str) -> None:
    """External URLs, scheme-relative ones and javascript: are sent to the home page."""
    _, answer = _login(live_server, live_server.user("wall"), PASSWORD, target)
    assert answer.status_code == 302
    location = urljoin(live_server.url + "/login", answer.headers["Location"])
    assert location == live_server.url + "/", (target, answer.headers["Location"])


@pytest.mark.parametrize("target", ["///evil.example", "/\\evil.example", "/%2F/evil.example"])
def test_login_next_odd_local_paths_stay_local(live_server: LiveServer, target: str) -> None:
    """What a browser might still read as another host must not come back as such."""
    _, answer = _login(live_server, live_server.user("wall"), PASSWORD, target)
    location = answer.headers["Location"]
    assert answer.status_code == 302 and "\\" not in location and not location.startswith("//"), location
    assert urlsplit(urljoin(live_server.url + "/login", location)).netloc == urlsplit(live_server.url).netloc


def test_login_next_keeps_a_local_path(live_server: LiveServer) -> None:
    _, answer = _login(live_server, live_server.user("wall"), PASSWORD, "/incidents?status=active")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/incidents?status=active")
    _, answer = _login(live_server, live_server.user("wall"), PASSWORD, "/feeds")
    assert answer.headers["Location"].endswith("/feeds")
