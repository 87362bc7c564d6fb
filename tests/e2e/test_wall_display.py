"""Wall displays sign in with a display link or a pairing code (crisis.auth.display): the
session survives a server restart, revoking ends it at once (pages and the live socket),
and the socket replays what the display missed while it was away."""

from __future__ import annotations

import re
import time

import requests
from click.testing import CliRunner

from crisis.adapters import keys
from crisis.auth import display
from tests.conftest import LiveServer, random_ref
from tests.e2e.test_socket import INCIDENT, connect


def _display_session(live_server: LiveServer) -> tuple[str, str, requests.Session]:
    """A new display: its name, token, and a browser-like session signed in by its link."""
    name = random_ref("wall-screen-")
    token = display.add_display(live_server.context.accounts, name)
    http = requests.Session()
    answer = http.get(display.display_url(live_server.url, token) + "&panels=map,incidents&rotate=20",
                      allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/wall?panels=map%2Cincidents&rotate=20"  # the token is not kept in the address
    set_cookie = answer.headers["Set-Cookie"]
    assert set_cookie.startswith(display.DISPLAY_COOKIE + "=") and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    return name, token, http


def _cookie_header(http: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def test_display_link_signs_the_wall_in_and_the_session_survives_a_restart(live_server: LiveServer) -> None:
    _, _, http = _display_session(live_server)
    page = http.get(live_server.url + "/wall", allow_redirects=False, timeout=10)
    assert page.status_code == 200
    # A read API a wall may use answers it too; writing is refused (a wall only reads).
    assert http.get(live_server.url + "/api/v1/incidents", timeout=10).status_code == 200
    assert http.post(live_server.url + "/api/v1/incidents", json=INCIDENT, timeout=10).status_code == 403

    # A "restart": a new application (new Flask process state, same Redis) takes the same browser cookie.
    from crisis.web import create_app

    restarted = create_app(live_server.context.settings, live_server.context, start_gateway=False, start_feeds=False)
    client = restarted.server.test_client()
    client.set_cookie(display.DISPLAY_COOKIE, http.cookies[display.DISPLAY_COOKIE], domain="localhost")
    assert client.get("/wall").status_code == 200
    assert client.get("/_dash-layout").status_code == 200


def test_a_wrong_or_non_wall_link_signs_nothing_in(live_server: LiveServer) -> None:
    http = requests.Session()
    wrong = http.get(live_server.url + "/wall?display=forged", allow_redirects=False, timeout=10)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    officer_token = live_server.token("duty_officer")  # a token of another role is not a display
    other = http.get(display.display_url(live_server.url, officer_token), allow_redirects=False, timeout=10)
    assert other.status_code == 401
    assert display.DISPLAY_COOKIE not in http.cookies
    # nor does a cookie holding another role's token
    http.cookies.set(display.DISPLAY_COOKIE, officer_token)
    assert http.get(live_server.url + "/wall", allow_redirects=False, timeout=10).status_code == 302  # to sign-in


def test_revoking_a_display_ends_its_pages_and_its_socket_at_once(live_server: LiveServer) -> None:
    name, _, http = _display_session(live_server)
    events = connect(live_server, headers={"Cookie": _cookie_header(http)})
    client = events.client
    try:
        assert events.wait("welcome")["role"] == "wall"
        assert display.revoke_display(live_server.context.accounts, name) == 1
        deadline = time.monotonic() + 5
        while client.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not client.connected, "the revoked display's socket stayed open"
    finally:
        if client.connected:
            client.disconnect()
    page = http.get(live_server.url + "/wall", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_a_display_reconnects_and_gets_what_it_missed(live_server: LiveServer) -> None:
    _, _, http = _display_session(live_server)
    cookie = _cookie_header(http)
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    events = connect(live_server, headers={"Cookie": cookie})
    first = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=feed, timeout=10).json()
    events.client.call("sync", {}, namespace="/live", timeout=10)
    last = events.wait("incident", lambda d: d["incident"]["id"] == first["id"])["stream_id"]
    events.disconnect()
    missed = [requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "title": f"while away {n}"},
                            headers=feed, timeout=10).json() for n in range(3)]

    events = connect(live_server, headers={"Cookie": cookie})  # the same display, back
    try:
        assert events.wait("welcome")["role"] == "wall"
        summary = events.client.call("sync", {"last_id": last}, namespace="/live", timeout=10)
        assert summary["mode"] == "replay"
        got = [events.wait("incident", lambda d: d["incident"]["id"] in {m["id"] for m in missed})["incident"]
               for _ in missed]
        assert [i["id"] for i in got] == [m["id"] for m in missed]
        assert all("owner" not in i for i in got)  # a wall gets no one's name
    finally:
        events.disconnect()


def test_pairing_code_signs_in_the_screen_that_shows_it_once(live_server: LiveServer) -> None:
    screen = requests.Session()
    page = screen.get(live_server.url + display.PAIR_PATH, timeout=10)
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
    code = re.search(r'id="pair-code">([A-Z0-9-]+)<', page.text)[1]  # type: ignore[index]
    assert screen.get(live_server.url + display.PAIR_PATH, timeout=10).text.count(code) == 1  # the same code, asked again

    name = random_ref("paired-")
    redis = live_server.context.redis
    display.pair_display(redis, live_server.context.accounts, code.lower(), name)  # typed in lower case: still it
    # Another browser that read the code off the screen gets nothing.
    thief = requests.Session()
    thief.cookies.set(display.PAIR_COOKIE, "guessed")
    assert display.DISPLAY_COOKIE not in thief.get(live_server.url + display.PAIR_PATH, allow_redirects=False, timeout=10).cookies

    done = screen.get(live_server.url + display.PAIR_PATH, allow_redirects=False, timeout=10)
    assert done.status_code == 302 and done.headers["Location"] == "/wall"
    assert screen.get(live_server.url + "/wall", allow_redirects=False, timeout=10).status_code == 200
    # The code is used up.
    try:
        display.pair_display(redis, live_server.context.accounts, code, random_ref("again-"))
        raise AssertionError("a code paired twice")
    except LookupError:
        pass
    assert [d.name for d in display.displays(live_server.context.accounts) if d.name == name] == [name]


def test_cli_adds_lists_and_revokes_displays(live_server: LiveServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from crisis import cli

    monkeypatch.setattr(cli, "_with_context", lambda settings, action: action(live_server.context))
    runner = CliRunner()
    name = random_ref("cli-wall-")
    added = runner.invoke(cli.main, ["displays", "add", name, "--url", live_server.url])
    assert added.exit_code == 0, added.output
    link = added.output.strip().splitlines()[-1]
    assert link.startswith(live_server.url + "/wall?display=")
    assert requests.get(link, allow_redirects=False, timeout=10).status_code == 302
    listed = runner.invoke(cli.main, ["displays", "list"])
    assert name in listed.output
    revoked = runner.invoke(cli.main, ["displays", "revoke", name])
    assert revoked.exit_code == 0, revoked.output
    assert requests.get(link, allow_redirects=False, timeout=10).status_code == 401
    assert runner.invoke(cli.main, ["displays", "revoke", name]).exit_code != 0


def test_url_parameters_pick_and_turn_panels(live_server: LiveServer) -> None:
    from crisis.ui.pages import wall  # registers a page: only once the app exists

    assert wall.chosen_panels("map, incidents,nonsense,map") == ["map", "incidents"]
    assert wall.chosen_panels(None) == list(wall.PANELS)
    assert wall.rotation("30") == 30 and wall.rotation("1") == wall.MIN_ROTATE_S and wall.rotation("x") == 0
    zones = wall.time_zones(("Europe/Zurich", "Not/AZone", "America/New_York"))
    assert [z["label"] for z in zones] == ["UTC", "Zurich", "New York"]


def test_a_pairing_code_gives_its_token_once_and_only_to_its_screen(live_server: LiveServer) -> None:
    from crisis.adapters.display_pairing import PairingStore, normal

    store = PairingStore(live_server.context.redis)
    code = store.open("the screen's secret")
    assert store.code_of("the screen's secret") == code and store.waiting(code.lower())
    assert store.collect(code, "the screen's secret") is None  # not paired yet
    assert store.pair(normal(code), "TOKEN") and not store.pair(code, "ANOTHER")  # pairs once
    assert store.collect(code, "someone else's secret") is None
    assert store.collect(code, "the screen's secret") == "TOKEN"
    assert store.collect(code, "the screen's secret") is None  # used up
    assert store.code_of("the screen's secret") is None and not store.waiting(code)


def _clear_limits(live_server: LiveServer) -> None:
    doomed = list(live_server.context.redis.scan_iter(f"{keys.LIMITS_PREFIX}*"))
    if doomed:
        live_server.context.redis.delete(*doomed)


def test_new_pairing_codes_are_limited_per_address_and_a_waiting_screen_keeps_its_code(live_server: LiveServer) -> None:
    """/wall/pair needs no sign-in: an address gets CRISIS_PAIR_LIMIT_ADDRESS new codes a
    minute (20 by default), then a 429 with Retry-After and no code made."""
    redis = live_server.context.redis
    _clear_limits(live_server)
    try:
        waiting = requests.Session()
        assert waiting.get(live_server.url + display.PAIR_PATH, timeout=10).status_code == 200
        for n in range(19):  # the other 19 new codes of the minute
            assert requests.get(live_server.url + display.PAIR_PATH, timeout=10).status_code == 200, n
        codes = len(list(redis.scan_iter("crisis:display:pair:*")))
        refused = requests.get(live_server.url + display.PAIR_PATH, timeout=10)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "Too many pairing codes" in refused.text and "pair-code" not in refused.text
        assert display.PAIR_COOKIE not in refused.cookies
        assert len(list(redis.scan_iter("crisis:display:pair:*"))) == codes  # nothing stored for it
        again = waiting.get(live_server.url + display.PAIR_PATH, timeout=10)  # asking again is not a new code
        assert again.status_code == 200 and 'id="pair-code"' in again.text
    finally:
        _clear_limits(live_server)
