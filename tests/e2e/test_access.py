"""Every route of the real app, against every way in that must be refused.

The routes are enumerated from the Flask app itself (``url_map``: the API, the sign-in
pages, Dash's ``/_dash-*`` endpoints and files, the pages' catch-all), so a route added
later is covered without editing this file, or (for the API) fails until its roles are
written down in ``API_ROLES``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask_login.utils import encode_cookie

from crisis.adapters import keys
from crisis.domain.access import ADMINS, CHECKERS, EDITORS, PERSON_LOOKERS, READERS, ROLES, WRITERS
from tests.conftest import csrf_header, LiveClient, LiveServer, PASSWORD, random_ref, sign_in

# /wall/pair: a screen without its display cookie yet asks for a pairing code (crisis.auth.display)
OPEN_RULES = {"/login", "/healthz", "/readyz", "/wall/pair"}
# any valid credential (the API's description) but the check-in-only tokens (a traveller's
# or a warden's), which may post check-ins and nothing else
EVERYONE = tuple(r for r in ROLES if r not in ("traveller", "warden"))
# Who may use each API route (method, rule). A route missing here fails the test.
API_ROLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/api/v1/incidents"): WRITERS,
    ("GET", "/api/v1/incidents"): READERS,
    ("GET", "/api/v1/incidents/<incident_id>"): READERS,
    ("PATCH", "/api/v1/incidents/<incident_id>"): EDITORS,
    ("GET", "/api/v1/incidents/<incident_id>/affected"): READERS,
    ("POST", "/api/v1/positions"): WRITERS,
    ("GET", "/api/v1/positions"): READERS,
    ("GET", "/api/v1/deadletters"): EDITORS,
    ("POST", "/api/v1/feeds/cap"): WRITERS,
    ("POST", "/api/v1/feeds/gdacs"): WRITERS,
    ("POST", "/api/v1/feeds/usgs"): WRITERS,
    ("GET", "/api/v1/feeds"): READERS,
    ("GET", "/api/v1/openapi.json"): EVERYONE,
    ("GET", "/api/v1/docs"): EVERYONE,
    ("GET", "/api/v1/audit"): ADMINS,
    ("POST", "/api/v1/travellers"): WRITERS,
    ("GET", "/api/v1/travellers"): READERS,
    ("GET", "/api/v1/travellers/<traveller_id>"): PERSON_LOOKERS,  # a person by id: not a wall
    ("POST", "/api/v1/checkins"): CHECKERS,
    ("PUT", "/api/v1/incidents/<incident_id>/people/<traveller_id>"): EDITORS,
    ("PUT", "/api/v1/areas/<area_id>/people/<traveller_id>/status"): EDITORS,
    ("GET", "/api/v1/accountability"): READERS,
    ("GET", "/api/v1/incidents/<incident_id>/burndown"): READERS,
    ("POST", "/api/v1/feeds/cot"): WRITERS,
    ("GET", "/api/v1/devices"): EDITORS,
    ("POST", "/api/v1/devices"): EDITORS,
    ("DELETE", "/api/v1/devices/<uid>"): EDITORS,
    ("POST", "/api/v1/areas"): EDITORS,
    ("GET", "/api/v1/areas"): READERS,
    ("GET", "/api/v1/areas/<area_id>"): READERS,
    ("PATCH", "/api/v1/areas/<area_id>"): EDITORS,
    ("POST", "/api/v1/areas/<area_id>/movement"): EDITORS,
    ("POST", "/api/v1/areas/<area_id>/movement/people"): EDITORS,
    ("PUT", "/api/v1/areas/<area_id>/movement/people/<traveller_id>"): EDITORS,
    ("DELETE", "/api/v1/areas/<area_id>/movement/people/<traveller_id>"): EDITORS,
    # shift log and handover (crisis.api.shiftlog): notes by editors, read by editors and desks
    ("POST", "/api/v1/shiftlog/notes"): EDITORS,
    ("GET", "/api/v1/shiftlog"): (*EDITORS, "regional_desk"),
    ("GET", "/api/v1/handover"): (*EDITORS, "regional_desk"),
    # exports (crisis.api.exports): what each reader may see, as files
    **{("GET", f"/api/v1/exports/{path}"): READERS for path in (
        "incidents.csv", "incidents.geojson", "incidents.kml", "incidents/<incident_id>/affected.csv",
        "incidents/<incident_id>/affected.geojson", "areas.kml", "areas/<area_id>/movement.csv",
        "areas/<area_id>/movement.geojson")},
    ("POST", "/api/v1/roster/officers"): EDITORS,
    ("GET", "/api/v1/roster/officers"): READERS,
    ("GET", "/api/v1/roster/officers/<officer_id>"): PERSON_LOOKERS,
    ("POST", "/api/v1/roster/standby"): EDITORS,
    ("GET", "/api/v1/roster/standby"): READERS,
    ("PATCH", "/api/v1/roster/standby/<slot_id>"): EDITORS,
    ("DELETE", "/api/v1/roster/standby/<slot_id>"): EDITORS,
    ("POST", "/api/v1/roster/standby/<slot_id>/override"): EDITORS,
    ("GET", "/api/v1/roster/slots"): READERS,
    ("POST", "/api/v1/roster/rotations"): EDITORS,
    ("POST", "/api/v1/roster/leave"): EDITORS,
    ("GET", "/api/v1/roster/leave"): READERS,
    ("DELETE", "/api/v1/roster/leave/<leave_id>"): EDITORS,
    ("POST", "/api/v1/roster/swaps"): EDITORS,
    ("GET", "/api/v1/roster/coverage"): READERS,
    ("GET", "/api/v1/incidents/<incident_id>/candidates"): READERS,
    ("POST", "/api/v1/dispatches"): EDITORS,
    ("GET", "/api/v1/dispatches"): READERS,
    ("GET", "/api/v1/dispatches/<dispatch_id>"): READERS,
    ("PATCH", "/api/v1/dispatches/<dispatch_id>"): EDITORS,
}
INCIDENT = {"title": "Secret convoy ambushed", "type": "armed_conflict", "severity": 4, "lat": 33.27, "lon": 35.2}


def pages_router(pathname: str) -> dict[str, object]:
    """Dash's pages router callback, as the renderer posts it on navigation."""
    return {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                   {"id": "_pages_location", "property": "search", "value": ""}],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _rules(live_server: LiveServer) -> list[tuple[str, str]]:
    """(method, rule) of every route of the app, the open sign-in paths left out."""
    out = []
    for rule in live_server.app.server.url_map.iter_rules():  # type: ignore[attr-defined]
        if rule.rule in OPEN_RULES:
            continue
        for method in sorted(rule.methods):
            out.append((method, rule.rule))
    return out


def _url(live_server: LiveServer, rule: str, incident_id: str) -> str:
    samples = {"incident_id": incident_id, "traveller_id": "T-missing", "area_id": "area-missing", "uid": "uid-missing", "officer_id": "officer-missing", "slot_id": "slot-missing",
               "leave_id": "leave-missing", "dispatch_id": "dispatch-missing", "filename": "crisis_live.js", "package_name": "dash",
               "fingerprinted_path": "dcc/dash_core_components.js", "path": "incidents"}
    path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: samples[m[1]], rule)
    return live_server.url + path


def _is_json_path(rule: str) -> bool:
    return rule.startswith("/api/") or rule.startswith("/_")


def _send(method: str, url: str, headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None,
          http: requests.Session | None = None) -> requests.Response:
    body = json.dumps(pages_router("/incidents")) if url.endswith("/_dash-update-component") else "{}"
    client = http or requests
    return client.request(method, url, data=body, headers={"Content-Type": "application/json", **(headers or {})},
                          cookies=cookies, allow_redirects=False, timeout=30)


@pytest.fixture
def secret_incident(live_server: LiveServer) -> dict[str, object]:
    posted = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "title": random_ref("Secret convoy ")},
                           headers=bearer(live_server.token("duty_officer")), timeout=30)
    assert posted.status_code == 201, posted.text
    return posted.json()  # type: ignore[no-any-return]


def _assert_unauthenticated(method: str, rule: str, answer: requests.Response, secret: dict[str, object]) -> None:
    where = (method, rule, answer.status_code)
    if _is_json_path(rule):
        assert answer.status_code == 401, where
        if method != "HEAD":
            assert answer.json()["error"] == "authentication required", where
    else:
        assert answer.status_code == 302 and "/login" in answer.headers["Location"], where
    assert str(secret["title"]) not in answer.text and str(secret["id"]) not in answer.text.replace(f"{secret['id']}%", "")


def _forged_cookies(live_server: LiveServer, name: str) -> dict[str, str]:
    """A session and a remember cookie for a real user, signed with another key."""
    generation = json.loads(live_server.context.redis.hget(keys.USERS, name))["generation"]
    forger = Flask("forger")
    forger.secret_key = "not-the-server-key"
    session = SecureCookieSessionInterface().get_signing_serializer(forger)
    assert session is not None
    with forger.app_context():
        remember = encode_cookie(f"{name}:{generation}")
    return {"session": session.dumps({"_user_id": f"{name}:{generation}", "_fresh": True}), "remember_token": remember}


def test_every_route_refuses_no_credentials_and_forged_ones(live_server: LiveServer, secret_incident: dict[str, object]) -> None:
    rules = _rules(live_server)
    assert ("POST", "/_dash-update-component") in rules and ("GET", "/<path:path>") in rules
    victim = live_server.user("duty_officer")
    forged = _forged_cookies(live_server, victim)
    for method, rule in rules:
        url = _url(live_server, rule, str(secret_incident["id"]))
        _assert_unauthenticated(method, rule, _send(method, url), secret_incident)
        _assert_unauthenticated(method, rule, _send(method, url, cookies=forged), secret_incident)
        _assert_unauthenticated(method, rule, _send(method, url, headers=bearer("forged-" + random_ref())), secret_incident)


def test_every_api_route_has_its_roles_written_down(live_server: LiveServer) -> None:
    api = {(m, r) for m, r in _rules(live_server) if r.startswith("/api/") and m not in ("HEAD", "OPTIONS")}
    assert api == set(API_ROLES), f"API routes without roles in API_ROLES: {api - set(API_ROLES)}; gone: {set(API_ROLES) - api}"


def _role_tokens(live_server: LiveServer) -> dict[str, str]:
    tokens = {role: live_server.token(role, "africa" if role == "regional_desk" else None) for role in ROLES}
    tokens["regional_desk without region"] = live_server.token("regional_desk", None)
    return tokens


def test_every_route_refuses_each_role_that_may_not_use_it(live_server: LiveServer, secret_incident: dict[str, object]) -> None:
    tokens = _role_tokens(live_server)
    for method, rule in _rules(live_server):
        if rule.startswith("/api/") and method == "OPTIONS":
            continue  # answered by Flask with the allowed methods only, no view runs
        allowed = API_ROLES[("GET" if method == "HEAD" else method, rule)] if rule.startswith("/api/") else READERS
        url = _url(live_server, rule, str(secret_incident["id"]))
        for who, token in tokens.items():
            answer = _send(method, url, headers=bearer(token))
            may = who in allowed or (who == "regional_desk without region" and allowed is EVERYONE)
            where = (method, rule, who, answer.status_code)
            if may:
                assert answer.status_code not in (401, 403), where
                continue
            assert answer.status_code == 403, where
            if _is_json_path(rule) and method != "HEAD":
                assert answer.json()["error"] == "forbidden", where
            elif method != "HEAD":
                assert answer.headers["Content-Type"].startswith("text/html"), where
            assert str(secret_incident["title"]) not in answer.text, where


@pytest.mark.parametrize("who", ["feed", "regional_desk without region"])
def test_a_non_reader_gets_nothing_from_the_dash_callbacks_nor_the_pages(
    live_server: LiveServer, secret_incident: dict[str, object], who: str
) -> None:
    token = _role_tokens(live_server)[who]
    for pathname in ("/", "/incidents", f"/incident/{secret_incident['id']}"):
        answer = requests.post(live_server.url + "/_dash-update-component", json=pages_router(pathname),
                               headers=bearer(token), timeout=30)
        assert answer.status_code == 403, (pathname, answer.text[:300])
        assert str(secret_incident["title"]) not in answer.text and answer.json()["error"] == "forbidden"
        page = requests.get(live_server.url + pathname, headers=bearer(token), allow_redirects=False, timeout=30)
        assert page.status_code == 403 and str(secret_incident["title"]) not in page.text
    layout = requests.get(live_server.url + "/_dash-layout", headers=bearer(token), timeout=30)
    assert layout.status_code == 403
    # The same callback does answer a reader: the refusal above is about the role.
    officer = live_server.session()
    seen = officer.post(live_server.url + "/_dash-update-component", json=pages_router(f"/incident/{secret_incident['id']}"),
                        timeout=30)
    assert seen.status_code == 200 and str(secret_incident["title"]) in seen.text


def test_a_session_whose_role_loses_its_region_is_refused_at_once(live_server: LiveServer, secret_incident: dict[str, object]) -> None:
    http = live_server.session("regional_desk", "middle_east_north_africa")
    assert http.post(live_server.url + "/_dash-update-component", json=pages_router("/incidents"), timeout=30).status_code == 200
    live_server.context.accounts.change_user(http.user_name, "regional_desk", None)  # type: ignore[attr-defined]
    callback = http.post(live_server.url + "/_dash-update-component", json=pages_router("/incidents"), timeout=30)
    assert callback.status_code == 403 and callback.json()["errors"][0]["field"] == "region"
    assert str(secret_incident["title"]) not in callback.text
    assert http.get(live_server.url + "/incidents", allow_redirects=False, timeout=30).status_code == 403
    assert http.get(live_server.url + "/api/v1/incidents", timeout=30).status_code == 403
    assert http.get(live_server.url + "/api/v1/positions", timeout=30).status_code == 403


@pytest.mark.parametrize("path", ["/socket.iox", "/socket.io", "/socket.io.js", "/socket.ioincidents"])
def test_paths_that_only_start_like_socketio_need_a_login(live_server: LiveServer, path: str) -> None:
    answer = requests.get(live_server.url + path, allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and "/login" in answer.headers["Location"], answer.text[:300]
    # While the real Socket.IO path is still answered (by the Engine.IO middleware).
    handshake = requests.get(live_server.url + "/socket.io/?EIO=4&transport=polling", timeout=30)
    assert handshake.status_code == 200 and '"sid"' in handshake.text


# -- sign-in ---------------------------------------------------------------------------


def test_feed_and_regionless_accounts_cannot_sign_in_to_the_dashboard(live_server: LiveServer) -> None:
    for role in ("feed", "regional_desk"):
        http = requests.Session()
        answer = live_server.sign_in(http, live_server.user(role, None))
        assert answer.status_code == 401, role
        assert http.get(live_server.url + "/api/v1/incidents", timeout=30).status_code == 401
        assert http.get(live_server.url + "/", allow_redirects=False, timeout=30).status_code == 302


@pytest.mark.parametrize(
    ("target", "landing"),
    [("/incidents", "/incidents"), ("https://evil.example/", "/"), ("//evil.example/x", "/"), ("/\\evil.example", "/"),
     ("javascript:alert(1)", "/"), ("incidents", "/")],
)
def test_the_login_next_guard(live_server: LiveServer, target: str, landing: str) -> None:
    http = requests.Session()
    name = live_server.user()
    page = http.get(live_server.url + "/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    answer = http.post(live_server.url + "/login", params={"next": target},
                       data={"username": name, "password": PASSWORD, "csrf_token": token}, allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and answer.headers["Location"] == landing


def test_sign_in_needs_the_forms_csrf_token(live_server: LiveServer) -> None:
    """Login CSRF: another site cannot sign a browser in (as its own account)."""
    name = live_server.user()
    http = requests.Session()
    bare = http.post(live_server.url + "/login", data={"username": name, "password": PASSWORD}, allow_redirects=False, timeout=30)
    assert bare.status_code == 403
    http.get(live_server.url + "/login", timeout=30)
    wrong = http.post(live_server.url + "/login", data={"username": name, "password": PASSWORD, "csrf_token": "guess"},
                      allow_redirects=False, timeout=30)
    assert wrong.status_code == 403
    assert http.get(live_server.url + "/api/v1/incidents", timeout=30).status_code == 401
    assert live_server.sign_in(http, name).status_code == 302


def _cookie_attributes(answer: requests.Response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in answer.raw.headers.getlist("Set-Cookie")}


def test_every_cookie_has_samesite_and_the_csrf_cookie_is_strict(live_server: LiveServer) -> None:
    http = requests.Session()
    answer = live_server.sign_in(http, live_server.user(), remember="on")
    cookies = _cookie_attributes(answer)
    assert set(cookies) >= {"session", "remember_token", "_csrf_token"}, cookies
    for name, header in cookies.items():
        assert "SameSite=" in header, header
        assert "Secure" not in header  # CRISIS_SECURE_COOKIES is off here
    assert "SameSite=Lax" in cookies["session"] and "HttpOnly" in cookies["session"]
    assert "SameSite=Lax" in cookies["remember_token"] and "HttpOnly" in cookies["remember_token"]
    assert "SameSite=Strict" in cookies["_csrf_token"] and "HttpOnly" not in cookies["_csrf_token"]


def test_secure_cookies_setting_marks_every_cookie_secure(live_server: LiveServer) -> None:
    from crisis.web import create_app

    app = create_app(live_server.context.settings.with_(secure_cookies=True), live_server.context, start_gateway=False,
                     start_feeds=False)
    client = app.server.test_client()
    name = live_server.user()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]  # type: ignore[index]
    answer = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token, "remember": "on"})
    assert answer.status_code == 302
    headers = {h.split("=", 1)[0]: h for h in answer.headers.getlist("Set-Cookie")}
    assert set(headers) >= {"session", "remember_token", "_csrf_token"}, headers
    for header in headers.values():
        assert "; Secure" in header and "SameSite=" in header, header


# -- CSRF, outside a browser (the browser itself: test_csrf_browser.py) ---------------------


def test_session_writes_need_the_csrf_header_and_json(live_server: LiveServer) -> None:
    http = live_server.session()
    header = http.headers.pop("X-CSRFToken")
    url = live_server.url + "/api/v1/incidents"
    before = live_server.context.redis.xlen(keys.INCIDENT_STREAM)

    missing = http.post(url, json=INCIDENT, timeout=30)
    assert missing.status_code == 403
    assert missing.json()["errors"][0]["field"] == "X-CSRFToken" and missing.json()["error"]
    wrong = http.post(url, json=INCIDENT, headers={"X-CSRFToken": "x" + header}, timeout=30)
    assert wrong.status_code == 403
    as_text = http.post(url, data=json.dumps(INCIDENT), headers={"X-CSRFToken": header, "Content-Type": "text/plain"}, timeout=30)
    assert as_text.status_code == 415 and as_text.json()["errors"][0]["field"] == "Content-Type"
    foreign = http.post(url, json=INCIDENT, headers={"X-CSRFToken": header, "Origin": "http://evil.example"}, timeout=30)
    assert foreign.status_code == 403
    callback = http.post(live_server.url + "/_dash-update-component", json=pages_router("/incidents"), timeout=30)
    assert callback.status_code == 403
    assert live_server.context.redis.xlen(keys.INCIDENT_STREAM) == before  # nothing was stored

    ok = http.post(url, json=INCIDENT, headers={"X-CSRFToken": header, "Origin": live_server.url}, timeout=30)
    assert ok.status_code == 201, ok.text
    # Bearer tokens carry no ambient credential: they need no CSRF token.
    posted = requests.post(url, data=json.dumps(INCIDENT), headers=bearer(live_server.token("feed")), timeout=30)
    assert posted.status_code == 201


# -- sessions end ------------------------------------------------------------------------


def _socket_refused(live_server: LiveServer, cookies: dict[str, str]) -> bool:
    client = LiveClient(reconnection=False)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    try:
        client.connect(live_server.url, namespaces=["/live"], headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        return True
    client.disconnect()
    return False


def _assert_cookies_work(live_server: LiveServer, cookies: dict[str, str], works: bool) -> None:
    api = requests.get(live_server.url + "/api/v1/incidents", cookies=cookies, timeout=30)
    page = requests.get(live_server.url + "/incidents", cookies=cookies, allow_redirects=False, timeout=30)
    refused = _socket_refused(live_server, cookies)
    if works:
        assert (api.status_code, page.status_code, refused) == (200, 200, False)
    else:
        assert api.status_code == 401 and page.status_code == 302 and "/login" in page.headers["Location"]
        assert refused, "the socket accepted a cookie of an ended session"


@pytest.fixture
def signed_in(live_server: LiveServer) -> Iterator[tuple[str, requests.Session, dict[str, str]]]:
    """A user signed in with "keep me signed in": (name, its session, its cookies)."""
    name = live_server.user()
    http = requests.Session()
    assert live_server.sign_in(http, name, remember="on").status_code == 302
    cookies = {c.name: c.value for c in http.cookies}
    assert {"session", "remember_token"} <= set(cookies)
    _assert_cookies_work(live_server, cookies, True)
    yield name, http, cookies
    http.close()


def test_cookies_replayed_after_logout_are_refused_everywhere(live_server: LiveServer, signed_in: tuple) -> None:
    name, http, cookies = signed_in
    other = requests.Session()  # the same user on another screen
    assert live_server.sign_in(other, name).status_code == 302

    confirm = http.get(live_server.url + "/logout", timeout=30)  # a GET only asks
    assert confirm.status_code == 200 and 'method="post"' in confirm.text
    assert http.post(live_server.url + "/logout", allow_redirects=False, timeout=30).status_code == 403  # no CSRF token
    _assert_cookies_work(live_server, cookies, True)

    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text)[1]  # type: ignore[index]
    out = http.post(live_server.url + "/logout", data={"csrf_token": token}, allow_redirects=False, timeout=30)
    assert out.status_code == 302 and "/login" in out.headers["Location"]
    _assert_cookies_work(live_server, cookies, False)
    _assert_cookies_work(live_server, {"session": cookies["session"]}, False)
    _assert_cookies_work(live_server, {"remember_token": cookies["remember_token"]}, False)
    assert other.get(live_server.url + "/api/v1/incidents", timeout=30).status_code == 401  # every session of the user
    entries = live_server.context.audit.query(_query(action="auth.logout", actor=name))
    assert entries and entries[0]["via"] == "session"


def test_cookies_replayed_after_a_password_change_are_refused(live_server: LiveServer, signed_in: tuple) -> None:
    name, _, cookies = signed_in
    live_server.context.accounts.set_password(name, "a brand new password")
    _assert_cookies_work(live_server, cookies, False)
    assert live_server.sign_in(requests.Session(), name).status_code == 401
    assert live_server.sign_in(requests.Session(), name, "a brand new password").status_code == 302


def test_a_disabled_user_cannot_sign_in_and_its_sessions_and_tokens_stop(live_server: LiveServer, signed_in: tuple) -> None:
    name, _, cookies = signed_in
    token = live_server.context.accounts.create_token(name, "duty_officer")
    assert requests.get(live_server.url + "/api/v1/incidents", headers=bearer(token), timeout=30).status_code == 200
    live_server.context.accounts.set_disabled(name, True)
    _assert_cookies_work(live_server, cookies, False)
    assert requests.get(live_server.url + "/api/v1/incidents", headers=bearer(token), timeout=30).status_code == 401
    assert live_server.sign_in(requests.Session(), name).status_code == 401
    live_server.context.accounts.set_disabled(name, False)
    assert requests.get(live_server.url + "/api/v1/incidents", headers=bearer(token), timeout=30).status_code == 200
    assert live_server.sign_in(requests.Session(), name).status_code == 302


def test_a_removed_user_and_its_tokens_stop_working(live_server: LiveServer, signed_in: tuple) -> None:
    name, _, cookies = signed_in
    token = live_server.context.accounts.create_token(name, "duty_officer")
    live_server.context.accounts.remove_user(name)
    _assert_cookies_work(live_server, cookies, False)
    assert requests.get(live_server.url + "/api/v1/incidents", headers=bearer(token), timeout=30).status_code == 401
    assert live_server.sign_in(requests.Session(), name).status_code == 401


def test_a_role_change_applies_to_open_sessions_at_once(live_server: LiveServer, secret_incident: dict[str, object]) -> None:
    http = live_server.session("duty_officer")
    ids = lambda: {i["id"] for i in http.get(live_server.url + "/api/v1/incidents", timeout=30).json()["incidents"]}  # noqa: E731
    assert secret_incident["id"] in ids()
    live_server.context.accounts.change_user(http.user_name, "regional_desk", "africa")  # type: ignore[attr-defined]
    assert secret_incident["id"] not in ids()  # a Lebanese incident, out of the Africa desk's region
    assert http.post(live_server.url + "/api/v1/incidents", json=INCIDENT, timeout=30).status_code == 403


def test_refresh_and_change_notices(live_server: LiveServer) -> None:
    """What the socket code relies on: a notice per change, and refresh() saying what
    a principal is now (None once its credential no longer works)."""
    accounts = live_server.context.accounts
    pubsub = live_server.context.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.ACCOUNT_CHANGES)
    try:
        name = live_server.user("duty_officer")
        principal = accounts.authenticate(name, PASSWORD)
        assert principal is not None and accounts.refresh(principal) == principal
        accounts.change_user(name, "regional_desk", "africa")
        now = accounts.refresh(principal)
        assert now is not None and (now.role, now.region) == ("regional_desk", "africa")
        accounts.set_disabled(name, True)
        assert accounts.refresh(principal) is None
        accounts.set_disabled(name, False)
        assert accounts.refresh(principal) is not None
        accounts.end_sessions(name)
        assert accounts.refresh(principal) is None
        token = accounts.create_token(name + "-api", "wall")
        holder = accounts.token(token)
        assert holder is not None and accounts.refresh(holder) == holder
        assert accounts.revoke_tokens(name + "-api") == 1
        assert accounts.refresh(holder) is None
        accounts.remove_user(name)
        notices = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.2)
            if message is not None:
                notices.append(json.loads(message["data"]))
    finally:
        pubsub.close()
    users = [n for n in notices if n == {"kind": "user", "name": name}]
    assert len(users) == 6  # added, changed, disabled, enabled, signed out everywhere, removed
    assert notices.count({"kind": "token", "name": name + "-api"}) == 2  # created, revoked


# -- throttling --------------------------------------------------------------------------


@pytest.fixture
def clean_limits(context: object, live_server: LiveServer) -> Iterator[None]:
    """Failed sign-ins from 127.0.0.1 are counted for everyone here: leave none behind."""

    def clear() -> None:
        doomed = list(live_server.context.redis.scan_iter(f"{keys.LIMITS_PREFIX}*"))
        if doomed:
            live_server.context.redis.delete(*doomed)

    clear()
    yield
    clear()


def test_the_21st_wrong_password_in_a_minute_is_throttled_even_if_right(live_server: LiveServer, clean_limits: None) -> None:
    name = live_server.user()
    http = requests.Session()
    for attempt in range(20):
        assert live_server.sign_in(http, name, "wrong password").status_code == 401, attempt
    throttled = live_server.sign_in(http, name, "wrong password")
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    right = live_server.sign_in(http, name)
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1
    assert http.get(live_server.url + "/api/v1/incidents", timeout=30).status_code == 401
    # Another account from the same address is not locked out by this one's failures.
    assert live_server.sign_in(requests.Session(), live_server.user()).status_code == 302
    audit = live_server.context.audit
    failed = audit.query(_query(action="auth.login_failed", limit=50))
    assert len([e for e in failed if e["target"] == name]) == 20
    assert failed[0]["detail"]["attempted_name"] == name and failed[0]["remote"] == "127.0.0.1"
    throttled_entries = [e for e in audit.query(_query(action="auth.throttled")) if e["target"] == name]
    assert len(throttled_entries) == 1 and throttled_entries[0]["detail"]["limit"] == "account"


def test_failed_sign_ins_are_limited_per_address(live_server: LiveServer, clean_limits: None) -> None:
    regular = live_server.user()
    returning = requests.Session()  # a browser that signed in before: it holds a device cookie
    assert live_server.sign_in(returning, regular).status_code == 302 and returning.cookies.get("crisis_device")

    def fail(worker: int) -> list[int]:  # 3 wrong passwords for each of 20 names: under the per-account limit
        with requests.Session() as http:
            return [live_server.sign_in(http, f"nobody-{(worker * 30 + i) % 20}", "wrong").status_code for i in range(30)]

    with ThreadPoolExecutor(2) as pool:
        statuses = [status for batch in pool.map(fail, range(2)) for status in batch]
    assert statuses == [401] * 60
    refused = live_server.sign_in(requests.Session(), regular)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # The browser that signed in as that user before is not held to the address's limit
    # (colleagues behind the attacker's address still get in), only to the account's.
    assert live_server.sign_in(returning, regular).status_code == 302
    assert live_server.sign_in(returning, live_server.user()).status_code == 429  # its cookie names another user


# -- audit of access --------------------------------------------------------------------------


def _query(**filters: object) -> object:
    from crisis.adapters.audit import AuditQuery

    return AuditQuery(**filters)  # type: ignore[arg-type]


def test_sign_ins_refusals_and_token_use_are_audited(live_server: LiveServer, clean_limits: None) -> None:
    audit = live_server.context.audit
    http = live_server.session("wall")
    name = http.user_name  # type: ignore[attr-defined]
    login = audit.query(_query(action="auth.login", actor=name))
    assert len(login) == 1 and login[0]["role"] == "wall" and login[0]["remote"] == "127.0.0.1"

    assert http.post(live_server.url + "/api/v1/incidents", json=INCIDENT, timeout=30).status_code == 403
    denied = audit.query(_query(action="access.denied", actor=name))
    assert denied and denied[0]["target"] == "/api/v1/incidents"
    assert denied[0]["detail"]["method"] == "POST" and denied[0]["detail"]["status"] == 403

    requests.get(live_server.url + "/api/v1/positions", timeout=30)
    anonymous = audit.query(_query(action="access.denied", limit=5))
    assert any(e["actor"] == "" and e["detail"]["status"] == 401 and e["target"] == "/api/v1/positions" for e in anonymous)

    token_name = random_ref("feed-")
    token = live_server.context.accounts.create_token(token_name, "feed")
    for _ in range(3):
        requests.get(live_server.url + "/api/v1/openapi.json", headers=bearer(token), timeout=30)
    used = audit.query(_query(action="auth.token_used", actor=token_name))
    assert len(used) == 1 and used[0]["via"] == "token" and used[0]["role"] == "feed"


def test_a_flood_of_refusals_does_not_grow_the_audit_trail_without_bound(live_server: LiveServer, clean_limits: None) -> None:
    before = live_server.context.audit.length()
    for _ in range(60):
        requests.get(live_server.url + "/api/v1/incidents", timeout=30)
    assert live_server.context.audit.length() - before <= 30


def test_csrf_header_helper_matches_the_cookie(live_server: LiveServer) -> None:
    http = live_server.session()
    assert http.headers["X-CSRFToken"] == csrf_header(http)["X-CSRFToken"]
    again = requests.Session()
    sign_in(live_server.url, again, live_server.user())
    assert csrf_header(again)["X-CSRFToken"] != http.headers["X-CSRFToken"]


# -- password checks: bounded, and the same cost for unknown names -----------------------


def test_the_hash_gate_bounds_concurrency_and_serves_the_fewest_failures_first() -> None:
    from crisis.auth import HashGate

    gate = HashGate(1)
    assert gate.acquire(0, timeout=1)
    assert not gate.acquire(0, timeout=0.1)  # the one slot is taken: a bounded wait, then no
    served: list[int] = []
    lock = threading.Lock()

    def wait(standing: int) -> None:
        assert gate.acquire(standing, timeout=10)
        with lock:
            served.append(standing)
        gate.release()

    threads = []
    for standing in (40, 7, 0, 12):  # arriving in this order while the slot is taken
        thread = threading.Thread(target=wait, args=(standing,))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)
    gate.release()
    for thread in threads:
        thread.join(timeout=10)
    assert served == [0, 7, 12, 40]


def test_unknown_names_are_checked_against_one_fixed_hash(context: object) -> None:
    from argon2 import PasswordHasher

    from crisis.adapters.accounts import AccountStore

    class Counting(PasswordHasher):
        hashes = 0
        verifies = 0

        def hash(self, *args: object, **kwargs: object) -> str:  # type: ignore[override]
            Counting.hashes += 1
            return super().hash(*args, **kwargs)  # type: ignore[arg-type]

        def verify(self, *args: object, **kwargs: object) -> bool:  # type: ignore[override]
            Counting.verifies += 1
            return super().verify(*args, **kwargs)  # type: ignore[arg-type]

    accounts = AccountStore(context.redis, Counting(time_cost=1, memory_cost=8, parallelism=1))  # type: ignore[attr-defined]
    for attempt in range(5):
        assert accounts.verify(f"nobody-{attempt}", "guess").reason == "unknown user"
    assert (Counting.hashes, Counting.verifies) == (1, 5)  # one dummy hash, verified against each time
