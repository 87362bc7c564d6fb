"""Exports (/api/v1/exports) over the real API and Redis: the right content in CSV, GeoJSON
and KML, each cut to what the caller may see (a regional desk: its region; a wall: no
names, ids or contact details), safe to open in a spreadsheet, and named as files."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import requests

from crisis.adapters.audit import AuditQuery
from crisis.bootstrap import Context
from tests.conftest import LiveServer, random_ref

TYRE = {"name": "Tyre office", "lat": 33.27, "lon": 35.20, "country": "LBN"}
NAIROBI = {"name": "Nairobi office", "lat": -1.29, "lon": 36.82, "country": "KEN"}
SOUTH = {"type": "Polygon", "coordinates": [[[35.1, 33.05], [35.9, 33.05], [35.9, 33.6], [35.1, 33.6], [35.1, 33.05]]]}
MENA = "middle_east_north_africa"
KML = "{http://www.opengis.net/kml/2.2}"
FORMULA_TITLE = '=HYPERLINK("http://evil.example/","Click")'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _seed(live_server: LiveServer) -> dict[str, Any]:
    """Two visitors in Tyre (one named like a formula), one in Nairobi flying to Tyre within
    48 hours (affected by itinerary, but in Africa); an incident at each place; the area south of the Litani at phase III (its movement lists the Tyre visitors)."""
    officer = bearer(live_server.token("duty_officer"))
    ref = random_ref()
    soon = datetime.now(UTC).replace(microsecond=0)
    people = [
        {"id": f"{ref}-tyre1", "name": "Amal Tyre", "agency": "UNDP", "category": "visitor", "essential": False,
         "duty_station": TYRE, "email": "amal@example.org", "phone": "+96170000001"},
        {"id": f"{ref}-tyre2", "name": "@Bilal Tyre", "agency": "WFP", "category": "visitor", "essential": False,
         "duty_station": TYRE, "email": "bilal@example.org", "phone": "+96170000002"},
        {"id": f"{ref}-nbo", "name": "Chege Nairobi", "agency": "UNEP", "category": "visitor", "essential": False,
         "duty_station": NAIROBI, "email": "chege@example.org", "phone": "+254700000003",
         "itinerary": [{"from": "NBO", "to": {"name": "Tyre", "lat": 33.27, "lon": 35.2},
                        "depart": (soon + timedelta(hours=10)).isoformat(), "arrive": (soon + timedelta(hours=14)).isoformat()}]},
    ]
    answer = requests.post(live_server.url + "/api/v1/travellers", json=people, headers=officer, timeout=30)
    assert answer.status_code == 200 and answer.json()["accepted"] == 3, answer.text
    tyre = requests.post(live_server.url + "/api/v1/incidents", headers=officer, timeout=30, json={
        "title": FORMULA_TITLE, "type": "armed_conflict", "severity": 4, "lat": 33.27, "lon": 35.21, "radius_km": 15,
        "source": "api", "source_id": random_ref()})
    assert tyre.status_code == 201, tyre.text
    owned = requests.patch(f"{live_server.url}/api/v1/incidents/{tyre.json()['id']}", json={"owner": "j.doe"},
                           headers=officer, timeout=30)
    assert owned.status_code == 200, owned.text
    nairobi = requests.post(live_server.url + "/api/v1/incidents", headers=officer, timeout=30, json={
        "title": "Flooding in Nairobi", "type": "flood", "severity": 3, "lat": -1.29, "lon": 36.82, "radius_km": 10,
        "source": "api", "source_id": random_ref(),
        "area": {"type": "Polygon", "coordinates": [[[36.7, -1.4], [37.0, -1.4], [37.0, -1.2], [36.7, -1.2], [36.7, -1.4]]]}})
    assert nairobi.status_code == 201, nairobi.text
    area = requests.post(live_server.url + "/api/v1/areas", headers=officer, timeout=30,
                         json={"name": "=South of the Litani", "phase": 3, "geometry": SOUTH})
    assert area.status_code == 201, area.text
    assert {p["traveller_id"] for p in area.json()["movement"]["people"]} == {f"{ref}-tyre1", f"{ref}-tyre2"}
    moving = requests.put(f"{live_server.url}/api/v1/areas/{area.json()['id']}/movement/people/{ref}-tyre1",
                          json={"progress": "moving"}, headers=officer, timeout=30)
    assert moving.status_code == 200, moving.text
    return {"people": people, "tyre": tyre.json()["id"], "nairobi": nairobi.json()["id"], "area": area.json()["id"]}


def get(live_server: LiveServer, token: str, path: str) -> requests.Response:
    return requests.get(live_server.url + "/api/v1/exports" + path, headers=bearer(token), timeout=60)


def rows(answer: requests.Response) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


def filename(answer: requests.Response) -> str:
    found = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"', answer.headers["Content-Disposition"])
    assert found, answer.headers["Content-Disposition"]
    return found[1]


def placemarks(answer: requests.Response) -> dict[str, ElementTree.Element]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/vnd.google-earth.kml+xml")
    root = ElementTree.fromstring(answer.content)
    return {p.findtext(f"{KML}name") or "": p for p in root.iter(f"{KML}Placemark")}


def test_a_duty_officer_exports_everything_as_files_safe_for_a_spreadsheet(context: Context, live_server: LiveServer) -> None:
    seed = _seed(live_server)
    token = live_server.token("duty_officer")

    answer = get(live_server, token, "/incidents.csv")
    assert re.fullmatch(r"incidents-\d{8}T\d{4}Z\.csv", filename(answer))
    assert answer.headers["Cache-Control"] == "no-store"
    incidents = {r["id"]: r for r in rows(answer)}
    assert set(incidents) == {seed["tyre"], seed["nairobi"]}
    # A formula is text, never run: a leading apostrophe; numbers stay numbers.
    assert incidents[seed["tyre"]]["title"] == "'" + FORMULA_TITLE
    assert incidents[seed["nairobi"]]["lat"] == "-1.29" and incidents[seed["tyre"]]["severity"] == "4"
    assert incidents[seed["tyre"]]["owner"] == "j.doe" and incidents[seed["tyre"]]["region"] == MENA
    assert incidents[seed["tyre"]]["status"] == "reported" and incidents[seed["tyre"]]["country"] == "LBN"

    geo = get(live_server, token, "/incidents.geojson")
    assert geo.status_code == 200 and geo.headers["Content-Type"].startswith("application/geo+json")
    assert filename(geo).endswith(".geojson")
    features = {f["properties"]["id"]: f for f in geo.json()["features"]}
    assert features[seed["tyre"]]["geometry"] == {"type": "Point", "coordinates": [35.21, 33.27]}
    assert features[seed["nairobi"]]["geometry"]["type"] == "Polygon"  # its area
    assert features[seed["tyre"]]["properties"]["title"] == FORMULA_TITLE  # only CSV needs the apostrophe

    marks = placemarks(get(live_server, token, "/incidents.kml"))
    assert set(marks) == {FORMULA_TITLE, "Flooding in Nairobi"}
    coordinates = marks[FORMULA_TITLE].find(f"{KML}Point/{KML}coordinates")
    assert coordinates is not None and coordinates.text and coordinates.text.startswith("35.21,33.27")
    assert marks["Flooding in Nairobi"].find(f".//{KML}Polygon") is not None
    assert "Severity: 4" in (marks[FORMULA_TITLE].findtext(f"{KML}description") or "")

    ids = [p["id"] for p in seed["people"]]
    affected = get(live_server, token, f"/incidents/{seed['tyre']}/affected.csv")
    assert filename(affected).startswith(f"incident-{seed['tyre']}-affected-")
    people = {r["traveller_id"]: r for r in rows(affected)}
    assert set(people) == set(ids)
    assert people[ids[2]]["reason"] == "itinerary" and people[ids[2]]["arrive"]
    assert people[ids[1]]["name"] == "'@Bilal Tyre"
    assert people[ids[0]]["status"] == "no_response" and people[ids[0]]["reason"] == "position"
    assert (float(people[ids[0]]["lat"]), float(people[ids[0]]["lon"])) == (33.27, 35.2)
    geo_people = get(live_server, token, f"/incidents/{seed['tyre']}/affected.geojson").json()
    assert geo_people["counts"]["total"] == 3 and geo_people["accounted_pct"] == 0
    assert {f["properties"]["traveller_id"] for f in geo_people["features"]} == set(ids)
    assert geo_people["features"][0]["geometry"] == {"type": "Point", "coordinates": [35.2, 33.27]}

    movement = get(live_server, token, f"/areas/{seed['area']}/movement.csv")
    assert filename(movement).startswith("area-South-of-the-Litani-movement-")
    listed = {r["traveller_id"]: r for r in rows(movement)}
    assert {k: listed[k]["progress"] for k in listed} == {ids[0]: "moving", ids[1]: "to_move"}
    assert listed[ids[0]]["name"] == "Amal Tyre" and listed[ids[0]]["overdue"] == "false"
    geo_movement = get(live_server, token, f"/areas/{seed['area']}/movement.geojson").json()
    assert geo_movement["phase"] == 3 and geo_movement["movement"]["counts"]["moving"] == 1
    assert len(geo_movement["features"]) == 2

    areas = placemarks(get(live_server, token, "/areas.kml"))
    assert "=South of the Litani" in areas
    assert "Security phase: 3" in (areas["=South of the Litani"].findtext(f"{KML}description") or "")
    assert areas["=South of the Litani"].find(f".//{KML}Polygon") is not None

    # The exports of people are in the audit trail.
    audited = {(e.get("action"), e.get("target")) for e in context.audit.page(AuditQuery(action="export.")).entries}
    assert {("export.affected", seed["tyre"]), ("export.movement", seed["area"])} <= audited


def test_the_incident_files_count_our_people_there_as_the_caller_sees_them(context: Context, live_server: LiveServer) -> None:
    """Each open incident's row says how many of ours it affects, how many need help, how many
    are not accounted for and the share accounted for (CSV, GeoJSON, KML), counted among the
    people the caller may see; a closed incident's are blank."""
    seed = _seed(live_server)
    token = live_server.token("duty_officer")
    said = requests.put(f"{live_server.url}/api/v1/incidents/{seed['tyre']}/people/{seed['people'][0]['id']}",
                        json={"status": "needs_help"}, headers=bearer(token), timeout=30)
    assert said.status_code == 200, said.text
    old = requests.post(live_server.url + "/api/v1/incidents", headers=bearer(token), timeout=30, json={
        "title": "Old robbery in Tyre", "type": "crime", "severity": 2, "lat": 33.27, "lon": 35.21, "radius_km": 15})
    assert old.status_code == 201, old.text
    closed = requests.patch(f"{live_server.url}/api/v1/incidents/{old.json()['id']}", json={"status": "closed"},
                            headers=bearer(token), timeout=30)
    assert closed.status_code == 200, closed.text

    found = {r["id"]: r for r in rows(get(live_server, token, "/incidents.csv?status=reported,closed"))}
    columns = ("people_affected", "needs_help", "not_accounted", "accounted_pct")
    # the two in Tyre and the one flying in within 48 h; one needs help (accounted for, and loud)
    assert [found[seed["tyre"]][c] for c in columns] == ["3", "1", "2", "33.3"], found[seed["tyre"]]
    assert [found[seed["nairobi"]][c] for c in columns] == ["1", "0", "1", "0.0"], found[seed["nairobi"]]
    assert [found[old.json()["id"]][c] for c in columns] == ["", "", "", ""]  # closed: nobody is counted any more
    assert list(found[seed["tyre"]])[:10] == ["id", "title", "category", "type", "severity", "status", *columns]
    features = {f["properties"]["id"]: f["properties"] for f in get(live_server, token, "/incidents.geojson").json()["features"]}
    assert (features[seed["tyre"]]["people_affected"], features[seed["tyre"]]["accounted_pct"]) == (3, 33.3)
    mark = placemarks(get(live_server, token, "/incidents.kml"))[FORMULA_TITLE]
    assert "Our people: 3\nNeed help: 1\nAccounted for (%): 33.3" in (mark.findtext(f"{KML}description") or "")
    # A desk counts its region's people only: the one flying in from Nairobi is Africa's.
    desk = live_server.token("regional_desk", MENA)
    [row] = [r for r in rows(get(live_server, desk, "/incidents.csv")) if r["id"] == seed["tyre"]]
    assert {r["id"] for r in rows(get(live_server, desk, "/incidents.csv"))} == {seed["tyre"], old.json()["id"]}
    assert [row[c] for c in columns] == ["2", "1", "1", "50.0"], row


def test_a_regional_desk_exports_its_region_only(context: Context, live_server: LiveServer) -> None:
    seed = _seed(live_server)
    desk = live_server.token("regional_desk", MENA)
    assert [r["id"] for r in rows(get(live_server, desk, "/incidents.csv"))] == [seed["tyre"]]
    assert [f["properties"]["id"] for f in get(live_server, desk, "/incidents.geojson").json()["features"]] == [seed["tyre"]]
    assert set(placemarks(get(live_server, desk, "/incidents.kml"))) == {FORMULA_TITLE}
    assert get(live_server, desk, f"/incidents/{seed['nairobi']}/affected.csv").status_code == 404
    # The one flying in from Nairobi is in Africa: not the Middle East desk's to see.
    assert {r["name"] for r in rows(get(live_server, desk, f"/incidents/{seed['tyre']}/affected.csv"))} == {
        "Amal Tyre", "'@Bilal Tyre"}
    assert len(rows(get(live_server, desk, f"/areas/{seed['area']}/movement.csv"))) == 2
    assert set(placemarks(get(live_server, desk, "/areas.kml"))) == {"=South of the Litani"}

    africa = live_server.token("regional_desk", "africa")
    assert [r["id"] for r in rows(get(live_server, africa, "/incidents.csv"))] == [seed["nairobi"]]
    assert get(live_server, africa, f"/incidents/{seed['tyre']}/affected.geojson").status_code == 404
    assert get(live_server, africa, f"/areas/{seed['area']}/movement.csv").status_code == 404
    assert placemarks(get(live_server, africa, "/areas.kml")) == {}
    nairobi = rows(get(live_server, africa, f"/incidents/{seed['nairobi']}/affected.csv"))
    assert [r["name"] for r in nairobi] == ["Chege Nairobi"]


def test_an_incident_over_several_countries_exports_them_all(context: Context, live_server: LiveServer) -> None:
    """A drought filed under Turkey that spans Iraq and Iran: every country in the CSV and the
    KML, not only the first, and it is in the Middle East desk's files (a region it touches)."""
    made = requests.post(live_server.url + "/api/v1/incidents", headers=bearer(live_server.token("feed")), timeout=30, json={
        "title": "Drought over three countries", "type": "drought", "severity": 2, "lat": 35.0, "lon": 43.0,
        "country": "TUR", "countries": ["TUR", "IRQ", "IRN"], "source_id": random_ref("spans-")})
    assert made.status_code == 201, made.text
    for token in (live_server.token("duty_officer"), live_server.token("regional_desk", MENA)):
        [row] = rows(get(live_server, token, "/incidents.csv"))
        assert (row["country"], row["countries"]) == ("TUR", "TUR;IRQ;IRN"), row
        assert set(row["regions"].split(";")) == {"europe_central_asia", MENA}, row
        mark = placemarks(get(live_server, token, "/incidents.kml"))["Drought over three countries"]
        assert "Countries: TUR, IRQ, IRN" in (mark.findtext(f"{KML}description") or "")


def test_a_wall_exports_positions_and_counts_never_who(context: Context, live_server: LiveServer) -> None:
    seed = _seed(live_server)
    wall = live_server.token("wall")
    secrets = [v for p in seed["people"] for v in (p["id"], p["name"].lstrip("@"), p["email"], p["phone"])] + ["j.doe"]
    answers = {path: get(live_server, wall, path) for path in (
        "/incidents.csv", "/incidents.geojson", "/incidents.kml", "/areas.kml",
        f"/incidents/{seed['tyre']}/affected.csv", f"/incidents/{seed['tyre']}/affected.geojson",
        f"/areas/{seed['area']}/movement.csv", f"/areas/{seed['area']}/movement.geojson")}
    for path, answer in answers.items():
        assert answer.status_code == 200, (path, answer.text)
        for secret in secrets:
            assert secret not in answer.text, (path, secret)
    assert len(rows(answers["/incidents.csv"])) == 2 and "owner" not in rows(answers["/incidents.csv"])[0]
    assert {r["people_affected"] for r in rows(answers["/incidents.csv"])} == {"3", "1"}  # counts, never who
    affected = rows(answers[f"/incidents/{seed['tyre']}/affected.csv"])
    assert len(affected) == 3 and {"traveller_id", "name", "agency"}.isdisjoint(affected[0])
    assert sorted(r["reason"] for r in affected) == ["itinerary", "position", "position"]
    assert {(r["lat"], r["lon"], r["status"]) for r in affected if r["reason"] == "position"} == {("33.27", "35.2", "no_response")}
    assert answers[f"/incidents/{seed['tyre']}/affected.geojson"].json()["counts"]["total"] == 3
    movement = rows(answers[f"/areas/{seed['area']}/movement.csv"])
    assert sorted(r["progress"] for r in movement) == ["moving", "to_move"]
    assert {"traveller_id", "name", "added_by"}.isdisjoint(movement[0]) and movement[0]["lat"] == "33.27"
    geo = answers[f"/areas/{seed['area']}/movement.geojson"].json()
    assert len(geo["features"]) == 2 and "people" not in json.dumps(geo["movement"])


def test_exports_need_a_reader(context: Context, live_server: LiveServer) -> None:
    seed = _seed(live_server)
    for path in ("/incidents.csv", f"/incidents/{seed['tyre']}/affected.csv", "/areas.kml",
                 f"/areas/{seed['area']}/movement.geojson"):
        assert requests.get(live_server.url + "/api/v1/exports" + path, timeout=30).status_code == 401
        assert get(live_server, live_server.token("feed"), path).status_code == 403
        assert get(live_server, live_server.token("regional_desk"), path).status_code == 403  # no region: nothing
    assert get(live_server, live_server.token("duty_officer"), "/incidents.xlsx").status_code == 404
    assert get(live_server, live_server.token("duty_officer"), "/areas.csv").status_code == 404


# Text that closes simplekml's CDATA and then the placemark: before the fix, the KML held a
# second, injected placemark and the incident's own point moved to 10,10.
INJECTION = ("<![CDATA[a]]></name><Point><coordinates>10,10</coordinates></Point></Placemark>"
             "<Placemark><name>INJECTED PLACEMARK")
CAP_HEADLINE = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{ref}</identifier><sender>cap@example.org</sender><sent>2026-05-01T09:00:00+00:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><category>Met</category><event>Flood</event><urgency>Immediate</urgency><severity>Severe</severity>
    <certainty>Observed</certainty><headline>{headline}</headline>
    <area><areaDesc>Cape Flats</areaDesc><polygon>-34.0,18.4 -34.0,18.6 -33.9,18.6 -33.9,18.4 -34.0,18.4</polygon></area>
  </info>
</alert>"""


def _kml_placemarks(answer: requests.Response) -> list[tuple[str, list[str]]]:
    """(name, every <coordinates> text) of each placemark, read as a safe parser reads the file."""
    import defusedxml.ElementTree as SafeTree

    assert answer.status_code == 200, answer.text
    root = SafeTree.fromstring(answer.content)
    return [(p.findtext(f"{KML}name") or "", [c.text or "" for c in p.iter(f"{KML}coordinates")])
            for p in root.iter(f"{KML}Placemark")]


def test_kml_text_is_text_whatever_it_holds(context: Context, live_server: LiveServer) -> None:
    feed = bearer(live_server.token("feed"))
    officer = live_server.token("duty_officer")
    title = "AUDITC " + INJECTION
    made = requests.post(live_server.url + "/api/v1/incidents", headers=feed, timeout=30, json={
        "title": title, "type": "flood", "severity": 1, "lat": -33.98, "lon": 18.48})
    assert made.status_code == 201, made.text
    headline = "AUDITCAP " + INJECTION
    xml_headline = headline.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    cap = requests.post(live_server.url + "/api/v1/feeds/cap", timeout=30,
                        data=CAP_HEADLINE.format(ref=random_ref(), headline=xml_headline).encode(),
                        headers={**feed, "Content-Type": "application/xml"})
    assert cap.status_code in (200, 201), cap.text
    area = requests.post(live_server.url + "/api/v1/areas", headers=bearer(officer), timeout=30,
                         json={"name": "AUDITA " + INJECTION, "phase": 1, "geometry": SOUTH})
    assert area.status_code == 201, area.text

    for token in (officer, live_server.token("wall")):
        found = dict(_kml_placemarks(get(live_server, token, "/incidents.kml")))
        assert sorted(found) == sorted([title, headline]), found  # the whole text, as text; nothing injected
        assert found[title] == ["18.48,-33.98,0.0"]
        assert not any("10,10" in c for coordinates in found.values() for c in coordinates)
    areas = _kml_placemarks(get(live_server, officer, "/areas.kml"))
    assert [name for name, _ in areas] == ["AUDITA " + INJECTION]
    assert not any("10,10" in c for _, coordinates in areas for c in coordinates)


def test_kml_export_survives_text_xml_cannot_carry(context: Context, live_server: LiveServer) -> None:
    feed = bearer(live_server.token("feed"))
    # A title may not hold a control character (refused at input: crisis.feeds.schemas.title_problem), so
    # NUL reaches the KML through a description; U+FFFF and U+FFFE (not characters) through titles.
    for title, description in (("\uffff in a title", "NUL\x00 in a description"),
                               ("<![CDATA[x]]> & then an ampersand", "<![CDATA[x]]> & then an ampersand"),
                               ("\ufffe\U0001F30A wave", "\ufffe\U0001F30A wave")):
        made = requests.post(live_server.url + "/api/v1/incidents", headers=feed, timeout=30, json={
            "title": title, "type": "flood", "severity": 1, "lat": -33.98, "lon": 18.48, "description": description})
        assert made.status_code == 201, made.text
    kml = get(live_server, live_server.token("duty_officer"), "/incidents.kml")
    names = sorted(name for name, _ in _kml_placemarks(kml))
    # what XML 1.0 cannot hold (NUL, U+FFFE, U+FFFF) is replaced; everything else is kept as text
    assert names == sorted(["\ufffd in a title", "<![CDATA[x]]> & then an ampersand", "\ufffd\U0001F30A wave"])


def test_a_wall_gets_no_text_people_wrote(context: Context, live_server: LiveServer) -> None:
    """The finding: a movement's "reason" (free text: "stays with her husband John Smith,
    T000777") reached the wall's movement.csv, and an incident's note ("Called Rosa Diallo
    T000001") its incident detail and the API's history. The affected list's reason (an
    enumeration: position, itinerary) stays."""
    from crisis.adapters.accounts import Principal
    from crisis import views

    seed = _seed(live_server)
    officer = bearer(live_server.token("duty_officer"))
    reason = "stays with her husband John Smith, T000777"
    stayed = requests.put(f"{live_server.url}/api/v1/areas/{seed['area']}/movement/people/{seed['people'][1]['id']}",
                          json={"progress": "stayed", "reason": reason}, headers=officer, timeout=30)
    assert stayed.status_code == 200, stayed.text
    note = "Called Rosa Diallo T000001"
    noted = requests.patch(f"{live_server.url}/api/v1/incidents/{seed['tyre']}", json={"note": note},
                           headers=officer, timeout=30)
    assert noted.status_code == 200, noted.text

    wall = live_server.token("wall")
    for path in (f"/areas/{seed['area']}/movement.csv", f"/areas/{seed['area']}/movement.geojson"):
        answer = get(live_server, wall, path)
        assert answer.status_code == 200 and "John Smith" not in answer.text and "T000777" not in answer.text, answer.text
    movement = rows(get(live_server, wall, f"/areas/{seed['area']}/movement.csv"))
    assert sorted(r["progress"] for r in movement) == ["moving", "stayed"] and all(not r.get("reason") for r in movement)
    affected = rows(get(live_server, wall, f"/incidents/{seed['tyre']}/affected.csv"))
    assert sorted(r["reason"] for r in affected) == ["itinerary", "position", "position"]
    detail = requests.get(f"{live_server.url}/api/v1/incidents/{seed['tyre']}", headers=bearer(wall), timeout=30)
    assert detail.status_code == 200 and "Rosa Diallo" not in detail.text and "T000001" not in detail.text
    assert "note" in [h["kind"] for h in detail.json()["history"]]  # the step is shown, not its words
    page = views.incident_detail(context, Principal(name="wall-display", role="wall"), seed["tyre"])
    assert page is not None and "Rosa Diallo" not in json.dumps(page)

    # duty officers still read both
    assert reason in get(live_server, live_server.token("duty_officer"), f"/areas/{seed['area']}/movement.csv").text
    full = requests.get(f"{live_server.url}/api/v1/incidents/{seed['tyre']}", headers=officer, timeout=30).json()
    assert note in [h.get("note") for h in full["history"]]
