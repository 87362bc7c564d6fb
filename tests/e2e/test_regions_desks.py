"""Regional desks over the API and the live socket (real python-socketio clients, real
Redis): an incident over several countries reaches every desk it touches, each once; a
desk granted two regions sees both and not a third; offshore events reach a desk.

The drought is the real GDACS sample (tests/samples/gdacs/gdacs-rss.xml, (c) European
Union, syndication allowed with acknowledgement of the source), posted to the GDACS feed.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import requests

from tests.conftest import LiveClient, LiveServer, random_ref
from tests.testdata import samples_dir

TESTDATA = samples_dir()  # tests/samples: the shared testdata, copied unmodified (tests/testdata.py)
MENA, EUROPE, AFRICA, ASIA, AMERICAS = ("middle_east_north_africa", "europe_central_asia", "africa", "asia_pacific",
                                        "americas")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


class Listener:
    """A real Socket.IO client on /live that keeps every incident message it gets."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = LiveClient(reconnection=False)
        for name in ("incident", "snapshot", "welcome"):
            self.client.on(name, (lambda n: lambda data: self.events.put((n, data)))(name), namespace="/live")
        self.client.connect(server.url, namespaces=["/live"], auth={"token": token}, transports=["websocket"],
                            wait_timeout=10)
        self.welcome = self.wait("welcome")

    def _arriving(self, seconds: float) -> Iterator[tuple[str, Any]]:
        """Each event as it arrives (taken off the queue), for up to ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                yield self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return

    def wait(self, name: str, timeout: float = 5.0) -> Any:
        for event, data in self._arriving(timeout):
            if event == name:
                return data
        raise AssertionError(f"no {name!r} within {timeout} s")

    def incidents(self, seconds: float) -> list[dict[str, Any]]:
        """Every incident message that arrives within ``seconds``."""
        return [data["incident"] for event, data in self._arriving(seconds) if event == "incident"]

    def close(self) -> None:
        self.client.disconnect()


def _desk(server: LiveServer, *regions: str) -> str:
    return server.context.accounts.create_token(random_ref("desk-"), "regional_desk", list(regions))


def _listed(server: LiveServer, token: str) -> set[str]:
    answer = requests.get(server.url + "/api/v1/incidents", headers=bearer(token), timeout=10)
    assert answer.status_code == 200, answer.text
    return {i["id"] for i in answer.json()["incidents"]}


def _post_gdacs(server: LiveServer) -> dict[str, dict[str, Any]]:
    """The GDACS sample through the feed endpoint; its incidents by title."""
    body = (TESTDATA / "gdacs" / "gdacs-rss.xml").read_bytes()
    answer = requests.post(server.url + "/api/v1/feeds/gdacs", data=body, timeout=30,
                           headers={**bearer(server.token("feed")), "Content-Type": "application/rss+xml"})
    assert answer.status_code == 200, answer.text
    listed = requests.get(server.url + "/api/v1/incidents", headers=bearer(server.token()), timeout=10).json()
    return {i["title"]: i for i in listed["incidents"] if i["source"] == "gdacs"}


def test_a_drought_over_iraq_and_iran_reaches_the_middle_east_and_europe_desks_once_each(live_server: LiveServer) -> None:
    live_server.context.redis.flushdb()
    mena, europe, asia, both = _desk(live_server, MENA), _desk(live_server, EUROPE), _desk(live_server, ASIA), \
        _desk(live_server, MENA, EUROPE)
    listeners = {name: Listener(live_server, token) for name, token in
                 (("mena", mena), ("europe", europe), ("asia", asia), ("both", both))}
    try:
        by_title = _post_gdacs(live_server)
        drought = by_title["Drought is on going in Bulgaria, Iraq, Iran, Turkey"]
        assert drought["region"] == EUROPE and set(drought["regions"]) == {EUROPE, MENA}
        # over the socket: each desk it touches gets it, once; another desk never
        got = {name: [m for m in listener.incidents(3.0) if m["id"] == drought["id"]]
               for name, listener in listeners.items()}
        assert len(got["mena"]) == 1 and len(got["europe"]) == 1 and len(got["both"]) == 1, got
        assert got["asia"] == []
        assert set(got["mena"][0]["regions"]) == {EUROPE, MENA}
        # over the API
        assert drought["id"] in _listed(live_server, mena) and drought["id"] in _listed(live_server, europe)
        assert drought["id"] not in _listed(live_server, asia)
        detail = requests.get(f"{live_server.url}/api/v1/incidents/{drought['id']}", headers=bearer(mena), timeout=10)
        assert detail.status_code == 200 and detail.json()["regions"] == drought["regions"]
        assert requests.get(f"{live_server.url}/api/v1/incidents/{drought['id']}", headers=bearer(asia),
                            timeout=10).status_code == 404
        # a desk connecting later gets it in its snapshot
        late = Listener(live_server, mena)
        try:
            late.client.call("sync", {}, namespace="/live", timeout=10)
            snapshot = late.wait("snapshot")
            assert drought["id"] in {m["incident"]["id"] for m in snapshot["incidents"]}
        finally:
            late.close()
        # the Mauritius cyclone (country MUS, a small country: countries-small.geojson) reaches the Africa desk
        cyclone = next(i for t, i in by_title.items() if "CALVINIA" in t)
        assert cyclone["country"] == "MUS" and cyclone["regions"] == [AFRICA]
        assert cyclone["id"] in _listed(live_server, _desk(live_server, AFRICA))
    finally:
        for listener in listeners.values():
            listener.close()


def test_a_desk_with_two_regions_sees_both_and_not_a_third(live_server: LiveServer) -> None:
    desk = _desk(live_server, AFRICA, MENA)
    listener = Listener(live_server, desk)
    feed = bearer(live_server.token("feed"))
    try:
        assert listener.welcome["scope"] == f"region:{AFRICA},{MENA}"
        assert set(listener.welcome["regions"]) == {AFRICA, MENA}
        places = {"nairobi": (-1.29, 36.82), "beirut": (33.89, 35.5), "paris": (48.85, 2.35)}
        posted = {}
        for name, (lat, lon) in places.items():
            answer = requests.post(live_server.url + "/api/v1/incidents", headers=feed, timeout=10,
                                   json={"title": f"Unrest in {name}", "type": "civil_unrest", "severity": 3,
                                         "lat": lat, "lon": lon})
            assert answer.status_code == 201, answer.text
            posted[name] = answer.json()["id"]
        got = [m["id"] for m in listener.incidents(3.0) if m["id"] in posted.values()]
        assert sorted(got) == sorted([posted["nairobi"], posted["beirut"]])  # each once, Paris never
        listed = _listed(live_server, desk)
        assert posted["nairobi"] in listed and posted["beirut"] in listed and posted["paris"] not in listed
        # people: positions of both regions, none of the third
        people = [{"traveller_id": "t-nbo", "lat": -1.29, "lon": 36.82}, {"traveller_id": "t-bey", "lat": 33.89, "lon": 35.5},
                  {"traveller_id": "t-par", "lat": 48.85, "lon": 2.35}]
        live_server.know(people)
        requests.post(live_server.url + "/api/v1/positions", headers=feed, timeout=10, json={"positions": people}).raise_for_status()
        seen = requests.get(live_server.url + "/api/v1/positions", headers=bearer(desk), timeout=10).json()
        ids = {p["traveller_id"] for p in seen["positions"]}
        assert {"t-nbo", "t-bey"} <= ids and "t-par" not in ids
    finally:
        listener.close()


def test_an_offshore_earthquake_reaches_a_desk(live_server: LiveServer) -> None:
    # "Central East Pacific Rise" of the USGS sample (us1000is2c): far from any country
    answer = requests.post(live_server.url + "/api/v1/incidents", headers=bearer(live_server.token("feed")), timeout=10,
                           json={"title": "M 5.1 Central East Pacific Rise", "type": "earthquake", "severity": 2,
                                 "lat": -4.6328, "lon": -105.5283})
    assert answer.status_code == 201, answer.text
    quake = answer.json()
    assert quake["country"] is None and quake["regions"] == [AMERICAS]
    assert quake["id"] in _listed(live_server, _desk(live_server, AMERICAS))


def test_a_desk_of_several_regions_from_the_cli_signs_in_with_their_names(live_server: LiveServer) -> None:
    name = random_ref("desk-")
    live_server.context.accounts.add_user(name, "correct horse battery", "regional_desk", f"{AFRICA},{MENA}")
    info = live_server.context.accounts.user_info(name)
    assert info is not None and info.regions == (AFRICA, MENA) and info.region == AFRICA
    http = requests.Session()
    assert live_server.sign_in(http, name).status_code == 302
    layout = http.get(live_server.url + "/_dash-layout", timeout=30).text
    assert "Africa, Middle East and North Africa" in layout
    assert "(middle_east_north_africa)" not in layout

