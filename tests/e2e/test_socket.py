"""Socket.IO with a real python-socketio client against the running server."""

import threading
import time

import pytest
import requests
import socketio

from tests.conftest import LiveClient, LiveServer, SocketEvents

INCIDENT = {"title": "Demonstration turns violent", "type": "civil_unrest", "severity": 4, "lat": 33.89, "lon": 35.5}


def connect(live_server: LiveServer, auth: dict | None = None, headers: dict | None = None) -> SocketEvents:
    return SocketEvents(live_server.url, ("incident", "snapshot", "positions", "welcome", "feeds"), auth=auth, headers=headers)


def test_posted_incident_reaches_a_token_client(live_server: LiveServer) -> None:
    events = connect(live_server, auth={"token": live_server.token()})
    try:
        assert events.wait("welcome")["role"] == "duty_officer"
        posted = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers={"Authorization": "Bearer " + live_server.token("feed")}).json()
        message = events.wait("incident", lambda d: d["incident"]["id"] == posted["id"])
        assert message["stream_id"] == posted["stream_id"]
        assert message["incident"]["title"] == INCIDENT["title"] and message["event"] == "incident.reported"
    finally:
        events.disconnect()


def test_session_cookie_authenticates_a_socket(live_server: LiveServer) -> None:
    http = live_server.session()
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    events = connect(live_server, headers={"Cookie": cookie})
    try:
        assert events.wait("welcome")["role"] == "duty_officer"
    finally:
        events.disconnect()


@pytest.mark.parametrize("auth", [None, {"token": "forged"}])
def test_unauthenticated_socket_is_refused(live_server: LiveServer, auth: dict | None) -> None:
    reasons: list[object] = []
    client = LiveClient(reconnection=False)
    client.on("connect_error", reasons.append, namespace="/live")
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live_server.url, namespaces=["/live"], auth=auth, transports=["websocket"], wait_timeout=5)
    assert reasons and "authentication required" in str(reasons[0])


def test_feed_token_cannot_listen(live_server: LiveServer) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        connect(live_server, auth={"token": live_server.token("feed")})


def test_regional_desk_socket_gets_only_its_region(live_server: LiveServer) -> None:
    events = connect(live_server, auth={"token": live_server.token("regional_desk", "africa")})
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    try:
        beirut = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=feed).json()
        nairobi = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "lat": -1.29, "lon": 36.82}, headers=feed).json()
        got = events.wait("incident", lambda d: d["incident"]["id"] in (beirut["id"], nairobi["id"]))
        assert got["incident"]["id"] == nairobi["id"]
    finally:
        events.disconnect()


def test_reconnect_replays_what_was_missed(live_server: LiveServer) -> None:
    token = live_server.token()
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    events = connect(live_server, auth={"token": token})
    first = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=feed).json()
    last_applied = events.wait("incident", lambda d: d["incident"]["id"] == first["id"])["stream_id"]
    events.disconnect()
    missed = [requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "title": f"missed {n}"}, headers=feed).json() for n in range(3)]

    events = connect(live_server, auth={"token": token})
    try:
        summary = events.client.call("sync", {"last_id": last_applied}, namespace="/live", timeout=10)
        assert summary["mode"] == "replay"
        replayed = [events.wait("incident", lambda d: d["incident"]["id"] in {m["id"] for m in missed})["incident"]["id"] for _ in missed]
        assert replayed == [m["id"] for m in missed]
        positions = events.wait("positions", lambda d: d["full"])
        assert len(positions["lat"]) == 4 * len(positions["ids"])  # float32 bytes
    finally:
        events.disconnect()


def test_unknown_last_id_gets_a_snapshot(live_server: LiveServer) -> None:
    requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers={"Authorization": "Bearer " + live_server.token("feed")})
    events = connect(live_server, auth={"token": live_server.token()})
    try:
        assert events.client.call("sync", {"last_id": None}, namespace="/live", timeout=10)["mode"] == "snapshot"
        snapshot = events.wait("snapshot")
        assert snapshot["incidents"] and all("display_area" in m for m in snapshot["incidents"])
    finally:
        events.disconnect()


def test_positions_are_pushed_in_ticks_as_float32(live_server: LiveServer) -> None:
    import numpy as np

    events = connect(live_server, auth={"token": live_server.token()})
    try:
        batch = [{"traveller_id": f"P{i}", "lat": 10 + i, "lon": 20 + i} for i in range(5)]
        live_server.know(batch)
        requests.post(live_server.url + "/api/v1/positions", json=batch, headers={"Authorization": "Bearer " + live_server.token("feed")})
        tick = events.wait("positions", lambda d: not d["full"] and "P0" in d["ids"])
        lat = np.frombuffer(tick["lat"], dtype=np.float32)
        assert dict(zip(tick["ids"], lat.tolist()))["P3"] == pytest.approx(13.0)
    finally:
        events.disconnect()


def test_feed_health_comes_on_sync_and_again_with_the_heartbeat(live_server: LiveServer) -> None:
    events = connect(live_server, auth={"token": live_server.token("duty_officer")})  # error texts: duty officers only
    try:
        events.client.call("sync", {"last_id": None}, namespace="/live", timeout=10)
        first = events.wait("feeds")
        assert set(first["feeds"]) == {"api", "cap", "gdacs", "usgs", "positions", "sim", "cot"}
        refused = requests.post(live_server.url + "/api/v1/feeds/cap", data=b"<alert><unclosed>",
                                headers={"Authorization": "Bearer " + live_server.token("feed"), "Content-Type": "application/xml"})
        assert refused.status_code == 400
        later = events.wait("feeds", lambda d: d["feeds"]["cap"]["rejected_total"] > first["feeds"]["cap"]["rejected_total"],
                         timeout=15.0)
        assert "malformed XML at line 1" in later["feeds"]["cap"]["last_error"]
        assert later["checked_at"] > first["checked_at"]
    finally:
        events.disconnect()


def test_a_stream_of_positions_arrives_whole_and_a_disconnect_amid_it_is_clean(live_server: LiveServer) -> None:
    """Each positions message is a header and two float32 attachments: every one arrives
    with as many latitudes and longitudes as ids, each pair that of its traveller (lat and
    lon never swapped), and disconnecting while they stream leaves no thread failing on a
    stray attachment (pytest reports such a thread as an error). tests.conftest.LiveClient."""
    import numpy as np

    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    events = connect(live_server, auth={"token": live_server.token()})
    posted: dict[str, tuple[float, float]] = {}
    stop = threading.Event()

    def post_batches() -> None:
        k = 0
        while not stop.is_set():
            batch = [{"traveller_id": f"S{k}-{i}", "lat": -40 + (k % 80) + i / 10, "lon": 100 + (k % 70) + i / 10}
                     for i in range(20)]
            live_server.know(batch)
            if requests.post(live_server.url + "/api/v1/positions", json=batch, headers=feed, timeout=10).ok:
                posted.update({p["traveller_id"]: (p["lat"], p["lon"]) for p in batch})
            k += 1

    poster = threading.Thread(target=post_batches, daemon=True)
    poster.start()
    try:
        checked = 0
        deadline = time.monotonic() + 10
        while checked < 200 and time.monotonic() < deadline:
            message = events.wait("positions", lambda d: not d["full"])
            lat = np.frombuffer(message["lat"], dtype=np.float32)
            lon = np.frombuffer(message["lon"], dtype=np.float32)
            assert len(lat) == len(lon) == len(message["ids"])
            for tid, la, lo in zip(message["ids"], lat.tolist(), lon.tolist()):
                if tid in posted:
                    assert (la, lo) == (pytest.approx(posted[tid][0], abs=1e-4), pytest.approx(posted[tid][1], abs=1e-4)), tid
                    checked += 1
        assert checked >= 200, f"only {checked} positions checked in 10 s"
    finally:
        events.disconnect()  # amid the stream
        time.sleep(0.5)
        stop.set()
        poster.join(timeout=10)
