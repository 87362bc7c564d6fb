"""Input validation over a real server: what each entry point refuses, in words, and that
every refusal is kept in the dead-letter stream.

* Sources: no account writes an incident under a source the product's own intakes own
  (``cap``, ``gdacs``, ``usgs``, ``sim``, ``cot``), nor another account's under ``api``: 403,
  dead-lettered, the incident untouched.
* Positions of travellers never imported: refused one by one, the rest stored.
* Times ahead of the clock (reports, positions, feeds) or beyond the planning horizon (roster).
* Feed documents whose every item was refused (422) and counts that say what was stored.
* Country codes that are no country; titles of nothing visible or with control characters.
* List filters with unknown values (400); an oversize body's dead letter.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from crisis.adapters import keys
from tests.conftest import LiveServer, random_ref
from tests.testdata import read_sample

INCIDENT = {"title": "Checkpoint closed", "type": "civil_unrest", "severity": 2, "lat": 33.89, "lon": 35.5}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dead_letter(server: LiveServer, entry_id: str) -> dict[str, str]:
    entries = server.context.redis.xrange(keys.DEADLETTER_STREAM, min=entry_id, max=entry_id)
    assert len(entries) == 1, f"no dead letter {entry_id}"
    return entries[0][1]  # type: ignore[no-any-return]


def refused(answer: requests.Response, status: int, *fields: str) -> dict[str, Any]:
    """A JSON refusal with that status, naming those fields in words, whose dead letter exists."""
    assert answer.status_code == status, (answer.status_code, answer.text[:500])
    body = answer.json()
    assert body["dead_letter_id"] and body["errors"], body
    named = {e["field"] for e in body["errors"]}
    assert set(fields) <= named, (fields, body["errors"])
    assert all(e["message"] for e in body["errors"])
    return body


@pytest.fixture(scope="module")
def officer(live_server: LiveServer) -> str:
    return live_server.token("duty_officer")


# ---- 1. a feed's own incidents are written by its intake only -------------------------------

def test_no_account_rewrites_a_feeds_incident_through_the_api(live_server: LiveServer, officer: str) -> None:
    feed = live_server.token("feed")
    gdacs = requests.post(live_server.url + "/api/v1/feeds/gdacs", data=read_sample("gdacs", "gdacs-rss.xml"),
                          headers={**bearer(feed), "Content-Type": "application/rss+xml"})
    assert gdacs.status_code == 200, gdacs.text
    usgs = requests.post(live_server.url + "/api/v1/feeds/usgs", data=read_sample("usgs", "all_day_2019-01-30.geojson"),
                         headers={**bearer(feed), "Content-Type": "application/json"})
    assert usgs.status_code == 200, usgs.text
    index = live_server.context.deps.incidents
    cyclone_id = index.id_for_source("gdacs", ["TC1000643"])
    quake_id = index.id_for_source("usgs", ["us1000is2c"])
    assert cyclone_id and quake_id
    cyclone = index.get(cyclone_id)
    hijack = {"title": "hijacked", "type": "riot", "severity": 1, "lat": 0.5, "lon": 0.5}
    for token in (feed, officer, live_server.token("admin")):
        for source, source_id in (("gdacs", "TC1000643"), ("usgs", "us1000is2c"), ("sim", random_ref("sim-")),
                                  ("cap", random_ref()), ("cot", random_ref())):
            answer = requests.post(live_server.url + "/api/v1/incidents", headers=bearer(token),
                                   json={**hijack, "source": source, "source_id": source_id})
            body = refused(answer, 403, "source")
            assert source in body["errors"][0]["message"] and "PATCH" in body["errors"][0]["message"]
            letter = dead_letter(live_server, body["dead_letter_id"])
            assert letter["feed"] == "api:create_incident" and "hijacked" in letter["body"]
    assert index.get(cyclone_id) == cyclone
    assert index.get(quake_id).title != "hijacked"  # type: ignore[union-attr]
    # The legitimate paths: the intake again (unchanged), a duty officer's PATCH, reports as 'api' or one's own name.
    again = requests.post(live_server.url + "/api/v1/feeds/gdacs", data=read_sample("gdacs", "gdacs-rss.xml"),
                          headers={**bearer(feed), "Content-Type": "application/rss+xml"})
    assert again.status_code == 200 and again.json()["rejected"] == [], again.text
    patched = requests.patch(f"{live_server.url}/api/v1/incidents/{cyclone_id}", json={"severity": 5}, headers=bearer(officer))
    assert patched.status_code == 200 and patched.json()["severity"] == 5, patched.text
    for source in ("api", None):
        body = {**INCIDENT, "source_id": random_ref()} | ({"source": source} if source else {})
        assert requests.post(live_server.url + "/api/v1/incidents", json=body, headers=bearer(feed)).status_code == 201


# ---- 2. positions of nobody we know -----------------------------------------------------------

def test_positions_of_unknown_travellers_are_refused_and_the_rest_stored(live_server: LiveServer, officer: str) -> None:
    feed = live_server.token("feed")
    ghost = random_ref("GHOST-")
    alone = requests.post(live_server.url + "/api/v1/positions", json=[{"traveller_id": ghost, "lat": 33.27, "lon": 35.2}],
                          headers=bearer(feed))
    body = refused(alone, 422, "0.traveller_id")  # a list: its fields are "i.lat", "i.traveller_id"
    assert ghost in body["errors"][0]["message"]
    assert dead_letter(live_server, body["dead_letter_id"])["feed"] == "api:post_positions"
    known = [{"traveller_id": random_ref("K-"), "lat": 33.3, "lon": 35.3}, {"traveller_id": random_ref("K-"), "lat": 33.4, "lon": 35.4}]
    live_server.know(known)
    mixed = requests.post(live_server.url + "/api/v1/positions", headers=bearer(feed), json={"positions": [
        known[0], {"traveller_id": ghost, "lat": 33.27, "lon": 35.2}, known[1], {"traveller_id": ghost, "lat": 33.28, "lon": 35.2}]})
    assert mixed.status_code == 202, mixed.text
    answer = mixed.json()
    assert answer["accepted"] == 2 and answer["stream_id"]
    assert [(r["index"], r["field"]) for r in answer["rejected"]] == [
        (1, "positions.1.traveller_id"), (3, "positions.3.traveller_id")]
    letter = dead_letter(live_server, answer["rejected"][0]["dead_letter_id"])
    assert ghost in letter["body"] and known[0]["traveller_id"] not in letter["body"]
    seen = {p["traveller_id"] for p in requests.get(live_server.url + "/api/v1/positions", headers=bearer(officer)).json()["positions"]}
    assert {k["traveller_id"] for k in known} <= seen and ghost not in seen
    assert requests.get(f"{live_server.url}/api/v1/travellers/{ghost}", headers=bearer(officer)).status_code == 404


# ---- 3. times ahead of the clock ---------------------------------------------------------------

def test_report_and_position_times_ahead_of_the_clock_are_refused(live_server: LiveServer, officer: str) -> None:
    from datetime import datetime, timedelta, timezone

    from crisis.feeds.schemas import MAX_CLOCK_SKEW

    url = live_server.url
    for value in ("9999-12-31T00:00:00Z", (datetime.now(timezone.utc) + MAX_CLOCK_SKEW + timedelta(minutes=2)).isoformat()):
        body = refused(requests.post(url + "/api/v1/incidents", json={**INCIDENT, "reported_at": value}, headers=bearer(officer)),
                       422, "reported_at")
        assert "in the future" in body["errors"][0]["message"]
    fine = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()  # a sender's clock a little fast
    assert requests.post(url + "/api/v1/incidents", json={**INCIDENT, "reported_at": fine}, headers=bearer(officer)).status_code == 201
    # The feeds: a CAP alert sent in 9999, a GDACS event from 9999 (that item alone).
    cap = read_sample("cap", "example3.xml").decode()
    cap = cap.replace("</identifier>", f"-{random_ref()}</identifier>", 1)
    cap = cap.replace(cap[cap.index("<sent>"):cap.index("</sent>")], "<sent>9999-12-31T00:00:00-00:00")
    body = refused(requests.post(url + "/api/v1/feeds/cap", data=cap.encode(), headers={**bearer(officer), "Content-Type": "application/cap+xml"}),
                   422, "alert.sent")
    assert "in the future" in body["errors"][0]["message"]
    gdacs = read_sample("gdacs", "gdacs-rss.xml").decode()
    first = gdacs.index("<gdacs:fromdate>")
    gdacs = gdacs[:first] + "<gdacs:fromdate>Fri, 31 Dec 9999 12:00:00 GMT" + gdacs[gdacs.index("</gdacs:fromdate>", first):]
    answer = requests.post(url + "/api/v1/feeds/gdacs", data=gdacs.encode(), headers={**bearer(officer), "Content-Type": "application/rss+xml"})
    assert answer.status_code == 200 and [r["field"] for r in answer.json()["rejected"]] == ["item[0].gdacs:fromdate"], answer.text
    # A position reported from 2999 would be "age 0, confidence high" for ever.
    person = [{"traveller_id": random_ref("F-"), "lat": 33.3, "lon": 35.3}]
    live_server.know(person)
    body = refused(requests.post(url + "/api/v1/positions", json={"positions": [{**person[0], "time": "2999-01-01T00:00:00Z"}]},
                                 headers=bearer(officer)), 422, "positions.0.time")
    assert "in the future" in body["errors"][0]["message"]
    assert requests.post(url + "/api/v1/positions", json=[{**person[0], "time": fine}], headers=bearer(officer)).status_code == 202


def test_roster_slots_leave_and_rotations_stay_within_the_planning_horizon(live_server: LiveServer, officer: str) -> None:
    from datetime import datetime, timedelta, timezone

    api = live_server.url + "/api/v1/roster"
    oid = random_ref("OFF-")
    home = {"name": "Amman", "lat": 31.95, "lon": 35.93, "country": "JOR"}
    imported = requests.post(api + "/officers", headers=bearer(officer), json=[
        {"id": oid, "name": "Officer", "home": home, "region": "africa", "grade": "P4", "skills": [], "languages": ["en"]}])
    assert imported.status_code == 200 and not imported.json()["rejected"], imported.text
    start = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0)

    def slot(begin: datetime, end: datetime) -> dict[str, Any]:
        return {"officer_id": oid, "start": begin.isoformat(), "end": end.isoformat(), "readiness_hours": 24, "role": "primary"}

    far = datetime(9999, 12, 1, tzinfo=timezone.utc)
    body = refused(requests.post(api + "/standby", json=[slot(far, far + timedelta(days=7))], headers=bearer(officer)), 422, "slots[0].start")
    assert "more than two years ahead" in body["errors"][0]["message"]
    refused(requests.post(api + "/standby", json=[slot(start, start + timedelta(days=50 * 365))], headers=bearer(officer)),
            422, "slots[0].end")
    body = refused(requests.post(api + "/standby", json=[slot(start, start + timedelta(days=40))], headers=bearer(officer)),
                   422, "slots[0].end")
    assert "at most 28 days" in body["errors"][0]["message"]
    made = requests.post(api + "/standby", json=[slot(start, start + timedelta(days=7))], headers=bearer(officer))
    assert made.status_code == 201, made.text
    slot_id = made.json()["slots"][0]["id"]
    refused(requests.patch(f"{api}/standby/{slot_id}", json={"end": far.isoformat()}, headers=bearer(officer)), 422, "end")
    leave = {"officer_id": oid, "start": far.isoformat(), "end": (far + timedelta(days=3)).isoformat()}
    assert "more than two years ahead" in refused(requests.post(api + "/leave", json=leave, headers=bearer(officer)), 422, "start")["errors"][0]["message"]
    long_leave = {**leave, "start": start.isoformat(), "end": (start + timedelta(days=400)).isoformat()}
    refused(requests.post(api + "/leave", json=long_leave, headers=bearer(officer)), 422, "end")
    fine = {**leave, "start": start.isoformat(), "end": (start + timedelta(days=10)).isoformat()}
    assert requests.post(api + "/leave", json=fine, headers=bearer(officer)).status_code == 201
    rotation = {"officers": [oid], "from": "9999-01-01T00:00:00Z", "weeks": 2, "period_days": 7, "handover": "09:00",
                "pattern": "round_robin"}
    refused(requests.post(api + "/rotations", json=rotation, headers=bearer(officer)), 422, "from")
    # wholly in the past (a typo in the year): nothing of it would ever be cover
    past = refused(requests.post(api + "/rotations", json={**rotation, "from": "2020-01-01T08:00:00Z"}, headers=bearer(officer)),
                   422, "from")
    assert "is in the past: lay it out from now on" in past["errors"][0]["message"]


# ---- 4. a feed document whose every item was refused; honest counts ------------------------------

def test_a_feed_whose_every_item_is_refused_is_422_and_counts_say_what_was_stored(live_server: LiveServer) -> None:
    import json

    feed = live_server.token("feed")
    usgs = json.loads(read_sample("usgs", "all_day_2019-01-30.geojson"))
    for feature in usgs["features"][:3]:
        feature["properties"]["mag"] = "strong"  # a number that is not one: each feature refused
    bad = {**usgs, "features": usgs["features"][:3]}
    answer = requests.post(live_server.url + "/api/v1/feeds/usgs", json=bad, headers=bearer(feed))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["items"], body["accepted"], body["stored"], len(body["rejected"])) == (3, 0, 0, 3)
    assert all(r["dead_letter_id"] and r["message"] for r in body["rejected"])
    gdacs = read_sample("gdacs", "gdacs-rss.xml").decode()
    broken = gdacs.replace("<gdacs:eventtype>", "<gdacs:eventkind>").replace("</gdacs:eventtype>", "</gdacs:eventkind>")
    answer = requests.post(live_server.url + "/api/v1/feeds/gdacs", data=broken.encode(),
                           headers={**bearer(feed), "Content-Type": "application/rss+xml"})
    assert answer.status_code == 422 and answer.json()["accepted"] == 0 and answer.json()["items"] == gdacs.count("<item>"), answer.text
    # Some taken in, some refused: 200. The counts say what was stored.
    usgs = json.loads(read_sample("usgs", "all_day_2019-01-30.geojson"))
    usgs["features"][0]["properties"]["mag"] = "strong"
    first = requests.post(live_server.url + "/api/v1/feeds/usgs", json=usgs, headers=bearer(feed)).json()
    again = requests.post(live_server.url + "/api/v1/feeds/usgs", json=usgs, headers=bearer(feed))
    assert again.status_code == 200 and len(again.json()["rejected"]) == 1
    second = again.json()
    assert second["items"] == 233 and second["accepted"] == 232 and second["stored"] == 0 and second["unchanged"] == 232
    assert first["stored"] == first["created"] + first["updated"]


# ---- 5. country codes ---------------------------------------------------------------------------------

def test_country_codes_that_are_no_country_are_refused_in_words(live_server: LiveServer, officer: str) -> None:
    url = live_server.url + "/api/v1"
    body = refused(requests.post(url + "/incidents", json={**INCIDENT, "country": "XXX"}, headers=bearer(officer)), 422, "country")
    assert "not an ISO 3166-1 alpha-3 country code" in body["errors"][0]["message"]
    refused(requests.post(url + "/incidents", json={**INCIDENT, "countries": ["LBN", "ZZZ"]}, headers=bearer(officer)), 422, "countries.1")
    assert requests.post(url + "/incidents", json={**INCIDENT, "country": "lbn"}, headers=bearer(officer)).json()["country"] == "LBN"
    person = {"id": random_ref("Q-"), "name": "A", "agency": "UN", "category": "visitor",
              "duty_station": {"name": "Beirut", "lat": 33.89, "lon": 35.5, "country": "QQQ"}}
    answer = requests.post(url + "/travellers", json=[person], headers=bearer(officer))
    assert answer.status_code == 422 and answer.json()["rejected"][0]["field"] == "duty_station.country", answer.text
    home = {"name": "Amman", "lat": 31.95, "lon": 35.93, "country": "QQQ"}
    answer = requests.post(url + "/roster/officers", headers=bearer(officer), json=[
        {"id": random_ref("O-"), "name": "Officer", "home": home, "region": "africa", "grade": "P4", "skills": [], "languages": ["en"]}])
    assert answer.status_code == 422 and answer.json()["rejected"][0]["field"] == "home.country", answer.text


# ---- 6. titles of nothing visible, or with control characters ------------------------------------------

def test_titles_of_invisible_or_control_characters_are_refused_and_dead_lettered(live_server: LiveServer, officer: str) -> None:
    url = live_server.url + "/api/v1/incidents"
    for title, words in (("\u200b\u200b\u200b", "no visible character"), ("Riot\u0000", "control character"),
                         ("Evil \u202egpj.exe", "bidirectional override")):
        body = refused(requests.post(url, json={**INCIDENT, "title": title}, headers=bearer(officer)), 422, "title")
        assert words in body["errors"][0]["message"]
        assert dead_letter(live_server, body["dead_letter_id"])["feed"] == "api:create_incident"
    created = requests.post(url, json={**INCIDENT, "title": "انفجار في بيروت"}, headers=bearer(officer))
    assert created.status_code == 201, created.text
    body = refused(requests.patch(f"{url}/{created.json()['id']}", json={"title": "\u2060"}, headers=bearer(officer)), 422, "title")
    assert "no visible character" in body["errors"][0]["message"]


def test_free_texts_are_kept_without_control_characters_and_a_note_of_nothing_is_refused(live_server: LiveServer, officer: str) -> None:
    url = live_server.url + "/api/v1"
    sent = "Bridge\r\nclosed\x00 \u202eenif\u202c\x07"
    created = requests.post(url + "/incidents", json={**INCIDENT, "description": sent}, headers=bearer(officer))
    assert created.status_code == 201, created.text
    stored = requests.get(f"{url}/incidents/{created.json()['id']}", headers=bearer(officer)).json()
    assert stored["description"] == "Bridge\nclosed enif", stored
    # The KML export of it is well-formed XML (a NUL made it 500 before).
    kml = requests.get(f"{url}/exports/incidents.kml", headers=bearer(officer))
    assert kml.status_code == 200 and "Bridge" in kml.text
    body = refused(requests.post(url + "/shiftlog/notes", json={"text": "\x00\x1b"}, headers=bearer(officer)), 422, "text")
    assert "only control characters" in body["errors"][0]["message"], body


# ---- 7. list filters that match nothing we know ----------------------------------------------------------

def test_unknown_incident_list_filters_are_400_naming_the_parameter(live_server: LiveServer, officer: str) -> None:
    url = live_server.url + "/api/v1/incidents"
    for query, field, allowed in (("status=exploded", "status", "reported, verified, active, contained, closed"),
                                  ("region=mars", "region", "africa, americas"), ("severity=9", "severity", "1 to 5"),
                                  ("severity=high", "severity", "1 to 5"),
                                  ("sevrity=5", "sevrity", "the filters are status, region, severity"),  # a typo: not "all"
                                  ("source=usgs", "source", "the filters are status, region, severity")):
        body = refused(requests.get(f"{url}?{query}", headers=bearer(officer)), 400, field)
        assert allowed in body["errors"][0]["message"], body
        letter = dead_letter(live_server, body["dead_letter_id"])
        assert letter["feed"] == "api:list_incidents" and letter["path"] == f"/api/v1/incidents?{query}", letter
    title = random_ref("Filter ")
    created = requests.post(url, json={**INCIDENT, "title": title, "severity": 4}, headers=bearer(officer)).json()
    def titles(query: str) -> set[str]:
        answer = requests.get(f"{url}?{query}", headers=bearer(officer))
        assert answer.status_code == 200, answer.text
        return {i["title"] for i in answer.json()["incidents"]}
    assert title in titles("status=reported&region=middle_east_north_africa&severity=4")
    assert title not in titles("severity=3") and title not in titles("region=africa") and title not in titles("status=closed")
    assert title in titles("status=&severity=")  # empty: no filter
    typo = refused(requests.get(live_server.url + "/api/v1/exports/incidents.csv?sevrity=5", headers=bearer(officer)), 400, "sevrity")
    assert "unknown parameter 'sevrity'" in typo["errors"][0]["message"], typo  # an export of everything by a typo: no
    assert created["regions"] == ["middle_east_north_africa"]


# ---- 8. a body over the limit --------------------------------------------------------------------------

def test_an_oversize_body_is_413_with_its_dead_letter_saying_size_and_path(live_server: LiveServer, officer: str) -> None:
    size = 6 * 1024 * 1024
    for path, content_type, feed in (("/api/v1/positions", "application/json", "api:oversize"),
                                     ("/api/v1/feeds/usgs", "application/json", "usgs")):
        answer = requests.post(live_server.url + path, data=b"[" + b" " * (size - 2) + b"]",
                               headers={**bearer(officer), "Content-Type": content_type})
        body = refused(answer, 413, "body")
        letter = dead_letter(live_server, body["dead_letter_id"])
        assert (letter["feed"], letter["path"], letter["method"], letter["body_size"]) == (feed, path, "POST", str(size)), letter


def test_an_account_does_not_rewrite_anothers_report_under_the_shared_source_api(live_server: LiveServer, officer: str) -> None:
    url = live_server.url + "/api/v1/incidents"
    first, second = live_server.token("feed"), live_server.token("feed")
    source_id = random_ref("api-")
    created = requests.post(url, json={**INCIDENT, "source": "api", "source_id": source_id}, headers=bearer(first))
    assert created.status_code == 201, created.text
    again = requests.post(url, json={**INCIDENT, "severity": 3, "source": "api", "source_id": source_id}, headers=bearer(first))
    assert again.status_code == 200 and again.json()["severity"] == 3  # its own report: updated
    body = refused(requests.post(url, json={**INCIDENT, "title": "hijacked", "source": "api", "source_id": source_id},
                                 headers=bearer(second)), 403, "source_id")
    assert "another account reported" in body["errors"][0]["message"]
    assert live_server.context.deps.incidents.get(created.json()["id"]).title == INCIDENT["title"]  # type: ignore[union-attr]
    edited = requests.post(url, json={**INCIDENT, "severity": 5, "source": "api", "source_id": source_id}, headers=bearer(officer))
    assert edited.status_code == 200 and edited.json()["severity"] == 5  # a duty officer may
