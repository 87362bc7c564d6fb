"""The shift log and the handover over HTTP, on the real server: notes (validated, audited,
dead-lettered when refused), automatic entries for changes, and the handover summary in
JSON, CSV and Markdown, each limited to the caller's scope."""

from __future__ import annotations

import csv
import io
from typing import Any

import requests

from crisis.adapters import keys
from crisis.adapters.audit import AuditQuery
from crisis.bootstrap import Context
from tests.conftest import LiveServer
from tests.e2e.test_people_pages_browser import BEIRUT as BEIRUT_OFFICE
from tests.e2e.test_people_pages_browser import NAIROBI as NAIROBI_OFFICE
from tests.e2e.test_people_pages_browser import traveller


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


BEIRUT = {"title": "Shelling near Beirut port", "type": "armed_conflict", "severity": 4, "lat": 33.9, "lon": 35.5,
          "radius_km": 20}
NAIROBI = {"title": "Riot in central Nairobi", "type": "civil_unrest", "severity": 3, "lat": -1.29, "lon": 36.82,
           "radius_km": 10}


def _incident(server: LiveServer, officer: dict[str, str], body: dict[str, Any]) -> str:
    answer = requests.post(server.url + "/api/v1/incidents", json=body, headers=officer, timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_notes_and_automatic_entries_limited_to_the_callers_scope(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    beirut = _incident(live_server, officer, BEIRUT)
    nairobi = _incident(live_server, officer, NAIROBI)
    assert requests.patch(f"{live_server.url}/api/v1/incidents/{beirut}", json={"status": "active", "note": "confirmed by the CSA"},
                          headers=officer, timeout=10).status_code == 200

    note = requests.post(live_server.url + "/api/v1/shiftlog/notes", headers=officer, timeout=10,
                         json={"text": "  Called the Beirut CSA: convoy leaves at 06:00.  ", "region": "middle_east_north_africa",
                               "incident_id": beirut})
    assert note.status_code == 201, note.text
    assert note.json()["text"] == "Called the Beirut CSA: convoy leaves at 06:00."
    general = requests.post(live_server.url + "/api/v1/shiftlog/notes", json={"text": "Generator test at 14:00."},
                            headers=officer, timeout=10)
    assert general.status_code == 201
    audited = context.audit.page(AuditQuery(action="shiftlog.note")).entries
    assert {e["target"] for e in audited} == {note.json()["id"], general.json()["id"]}
    assert audited[0]["role"] == "duty_officer"

    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "South Lebanon (test)", "phase": 2, "country": "LBN"},
                         headers=officer, timeout=30)
    assert area.status_code == 201, area.text

    log = requests.get(live_server.url + "/api/v1/shiftlog", headers=officer, timeout=10).json()["entries"]
    made = [e for e in log if e["kind"] == "area"]
    assert made and made[0]["what"] == "South Lebanon (test)" and made[0]["text"].startswith("Security area created"), made
    texts = [e["text"] for e in log]
    assert any("status reported -> active" in t and "confirmed by the CSA" in t for t in texts), texts
    assert any(e["kind"] == "incident" and e["incident_id"] == nairobi for e in log)
    assert [e["time"] for e in log] == sorted((e["time"] for e in log), reverse=True)  # newest first
    assert {"Called the Beirut CSA: convoy leaves at 06:00.", "Generator test at 14:00."} <= set(texts)

    # A desk of Africa: Nairobi's entries and the note for every region; not Beirut's, nor the MENA note.
    desk = bearer(live_server.token("regional_desk", "africa"))
    seen = requests.get(live_server.url + "/api/v1/shiftlog", headers=desk, timeout=10).json()["entries"]
    assert {e.get("incident_id") for e in seen if e["kind"] != "note"} == {nairobi}, seen
    assert not any(e["kind"] == "area" for e in seen)
    assert [e["text"] for e in seen if e["kind"] == "note"] == ["Generator test at 14:00."]
    mena = bearer(live_server.token("regional_desk", "middle_east_north_africa"))
    seen = requests.get(live_server.url + "/api/v1/shiftlog", headers=mena, timeout=10).json()["entries"]
    assert sorted(e["text"] for e in seen if e["kind"] == "note") == ["Called the Beirut CSA: convoy leaves at 06:00.",
                                                                      "Generator test at 14:00."]

    # A desk may not write notes; a wall may not read the log.
    assert requests.post(live_server.url + "/api/v1/shiftlog/notes", json={"text": "x"}, headers=mena, timeout=10).status_code == 403
    assert requests.get(live_server.url + "/api/v1/shiftlog", headers=bearer(live_server.token("wall")), timeout=10).status_code == 403


def test_a_bad_note_is_refused_naming_the_field_and_dead_lettered(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    for body, field in (({"text": ""}, "text"), ({"text": "x", "region": "atlantis"}, "region"),
                        ({"text": "x", "colour": "red"}, "colour"), ({"text": "x", "incident_id": "inc-nope"}, "incident_id"),
                        ({"text": "x" * 4001}, "text")):
        answer = requests.post(live_server.url + "/api/v1/shiftlog/notes", json=body, headers=officer, timeout=10)
        assert answer.status_code == 422, (body, answer.text)
        fields = [e["field"] for e in answer.json()["errors"]]
        assert field in fields, (body, fields)
        letter = answer.json()["dead_letter_id"]
        assert context.redis.xrange(keys.DEADLETTER_STREAM, min=letter, max=letter)
    broken = requests.post(live_server.url + "/api/v1/shiftlog/notes", data=b"{not json", headers={**officer, "Content-Type": "application/json"},
                           timeout=10)
    assert broken.status_code == 400 and broken.json()["dead_letter_id"]
    assert context.redis.xlen(keys.SHIFTLOG_NOTES) == 0
    bad = requests.get(live_server.url + "/api/v1/handover?format=pdf", headers=officer, timeout=10)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "format"


def test_a_refused_query_is_kept_with_the_path_asked(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    for path in ("/api/v1/shiftlog?hours=many", "/api/v1/handover?format=pdf"):
        answer = requests.get(live_server.url + path, headers=officer, timeout=10)
        assert answer.status_code in (400, 422) and answer.json()["dead_letter_id"], answer.text
        letter_id = answer.json()["dead_letter_id"]
        letter = dict(context.redis.xrange(keys.DEADLETTER_STREAM, min=letter_id, max=letter_id)[0][1])
        assert (letter["method"], letter["path"]) == ("GET", path) and letter["remote"], letter


def test_the_handover_in_json_csv_and_markdown_for_the_callers_scope(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    beirut = _incident(live_server, officer, BEIRUT)
    nairobi = _incident(live_server, officer, NAIROBI)
    closed = _incident(live_server, officer, {**NAIROBI, "title": "Old robbery"})
    requests.patch(f"{live_server.url}/api/v1/incidents/{closed}", json={"status": "closed"}, headers=officer, timeout=10)
    people = [traveller(f"HB{n}", f"Person {n}", BEIRUT_OFFICE, n) for n in range(3)]
    answer = requests.post(live_server.url + "/api/v1/travellers", json=people, headers=officer, timeout=30)
    assert answer.status_code == 200, answer.text
    requests.put(f"{live_server.url}/api/v1/incidents/{beirut}/people/HB0", json={"status": "needs_help"}, headers=officer, timeout=10)
    requests.post(live_server.url + "/api/v1/shiftlog/notes", json={"text": "Watch the port road."}, headers=officer, timeout=10)

    h = requests.get(live_server.url + "/api/v1/handover", headers=officer, timeout=30).json()
    assert [i["id"] for i in h["open_incidents"]] == [beirut, nairobi]  # most severe first; closed ones left out
    assert h["unaccounted"]["people"] == 2 and h["unaccounted"]["needs_help"] == 1, h["unaccounted"]
    scope = next(s for s in h["unaccounted"]["by_scope"] if s["id"] == beirut)
    assert scope["not_accounted"] == 2 and scope["needs_help"] == 1  # needs help is accounted for, and loud
    assert [n["text"] for n in h["notes"]] == ["Watch the port road."]
    assert h["scope"] == "every region" and isinstance(h["roster_warnings"], list)

    desk = bearer(live_server.token("regional_desk", "africa"))
    d = requests.get(live_server.url + "/api/v1/handover", headers=desk, timeout=30).json()
    assert [i["id"] for i in d["open_incidents"]] == [nairobi] and d["unaccounted"]["people"] == 0
    assert [n["text"] for n in d["notes"]] == ["Watch the port road."] and d["scope"] == "Africa"  # a note for every region

    answer = requests.get(live_server.url + "/api/v1/handover?format=csv", headers=officer, timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["id"] for r in rows if r["section"] == "open incident"] == [beirut, nairobi]
    assert any(r["section"] == "note" and r["detail"] == "Watch the port road." for r in rows)
    assert not [r for r in rows if "'" in r.values()], rows  # an empty cell stays empty, no lone apostrophe
    requests.post(live_server.url + "/api/v1/shiftlog/notes", json={"text": "=1+2 then call"}, headers=officer, timeout=10)
    rows = list(csv.DictReader(io.StringIO(requests.get(live_server.url + "/api/v1/handover?format=csv", headers=officer,
                                                        timeout=30).text)))
    assert any(r["section"] == "note" and r["detail"] == "'=1+2 then call" for r in rows), rows  # text, not a formula
    md = requests.get(live_server.url + "/api/v1/handover?format=md", headers=desk, timeout=30)
    assert md.status_code == 200 and md.headers["Content-Type"].startswith("text/markdown")
    assert md.text.startswith("# Shift handover: Africa") and "Riot in central Nairobi" in md.text
    assert "Beirut" not in md.text


def test_the_handovers_incidents_put_our_people_first_and_count_them(context: Context, live_server: LiveServer) -> None:
    """The next shift reads first the incidents where our people need help, then those
    affecting any of ours, then the rest, each by severity; each says how many of ours it
    affects (as the live map's list does), a desk counting only its regions' people."""
    officer = bearer(live_server.token("duty_officer"))
    beirut = _incident(live_server, officer, BEIRUT)  # 4, three of ours, one needs help
    demo = _incident(live_server, officer, {**BEIRUT, "title": "Demonstration in Beirut", "type": "civil_unrest",
                                            "severity": 5, "radius_km": 30})  # 5, three of ours
    quake = _incident(live_server, officer, {"title": "M 6.8 at sea", "type": "earthquake", "severity": 5,
                                             "lat": -40.0, "lon": -120.0, "radius_km": 50})  # 5, none of ours
    nairobi = _incident(live_server, officer, NAIROBI)  # 3, none of ours
    people = [traveller(f"HO{n}", f"Person {n}", BEIRUT_OFFICE, n) for n in range(3)]
    answer = requests.post(live_server.url + "/api/v1/travellers", json=people, headers=officer, timeout=30)
    assert answer.status_code == 200, answer.text
    answer = requests.put(f"{live_server.url}/api/v1/incidents/{beirut}/people/HO0", json={"status": "needs_help"},
                          headers=officer, timeout=10)
    assert answer.status_code == 200, answer.text

    h = requests.get(live_server.url + "/api/v1/handover", headers=officer, timeout=30).json()
    # needs help before a more severe incident of ours; any of ours before a more severe one of none
    assert [i["id"] for i in h["open_incidents"]] == [beirut, demo, quake, nairobi]
    by_id = {i["id"]: i for i in h["open_incidents"]}
    assert (by_id[beirut]["people"], by_id[beirut]["needs_help"], by_id[beirut]["not_accounted"]) == (3, 1, 2)
    assert (by_id[demo]["people"], by_id[demo]["needs_help"], by_id[quake]["people"]) == (3, 0, 0)

    md = requests.get(live_server.url + "/api/v1/handover?format=md", headers=officer, timeout=30).text
    assert "| Severity | Incident | Our people | Status |" in md
    assert "| 4 | Shelling near Beirut port | 3 of ours, 1 needs help | reported |" in md
    assert "| 5 | Demonstration in Beirut | 3 of ours | reported |" in md and "| 5 | M 6.8 at sea |  | reported |" in md
    rows = list(csv.DictReader(io.StringIO(requests.get(live_server.url + "/api/v1/handover?format=csv",
                                                        headers=officer, timeout=30).text)))
    detail = {r["id"]: r["detail"] for r in rows if r["section"] == "open incident"}
    assert detail[beirut] == "armed conflict; 3 of ours, 1 needs help" and detail[quake] == "earthquake", detail

    # A desk of another region counts none of these people: Nairobi, its incident, has none.
    desk = bearer(live_server.token("regional_desk", "africa"))
    d = requests.get(live_server.url + "/api/v1/handover", headers=desk, timeout=30).json()
    assert [(i["id"], i["people"]) for i in d["open_incidents"]] == [(nairobi, 0)]


def test_a_desk_sees_notes_for_every_region_and_on_its_regions_incidents(context: Context, live_server: LiveServer) -> None:
    """A note for every region reaches every desk; a note about an incident carries the
    incident's regions (every region it touches), so its desks see it and no other does,
    in the log and in the handover."""
    officer = bearer(live_server.token("duty_officer"))
    beirut = _incident(live_server, officer, BEIRUT)
    nairobi = _incident(live_server, officer, NAIROBI)
    notes = {}
    for key, body in (("all", {"text": "Note for all: generator test at 14:00."}),
                      ("beirut", {"text": "Beirut: the CSA confirms the port road is shut.", "incident_id": beirut}),
                      ("nairobi", {"text": "Nairobi: the warden counts 12 staff at home.", "incident_id": nairobi})):
        answer = requests.post(live_server.url + "/api/v1/shiftlog/notes", json=body, headers=officer, timeout=10)
        assert answer.status_code == 201, answer.text
        notes[key] = answer.json()
    assert notes["all"]["regions"] == []
    assert notes["beirut"]["regions"] == ["middle_east_north_africa"] and notes["nairobi"]["regions"] == ["africa"]

    mena = bearer(live_server.token("regional_desk", "middle_east_north_africa"))
    log = requests.get(live_server.url + "/api/v1/shiftlog?hours=2", headers=mena, timeout=10).json()["entries"]
    assert sorted(e["text"] for e in log if e["kind"] == "note") == sorted([notes["all"]["text"], notes["beirut"]["text"]])
    h = requests.get(live_server.url + "/api/v1/handover?format=json", headers=mena, timeout=30).json()
    assert sorted(n["text"] for n in h["notes"]) == sorted([notes["all"]["text"], notes["beirut"]["text"]])
    md = requests.get(live_server.url + "/api/v1/handover?format=md", headers=mena, timeout=30).text
    assert notes["beirut"]["text"] in md and "Nairobi" not in md

    # A note on an incident over several countries reaches the desk of each region it touches.
    drought = _incident(live_server, officer, {"title": "Drought", "type": "drought", "severity": 3, "lat": 42.7, "lon": 25.5,
                                               "countries": ["BGR", "IRQ"]})
    wide = requests.post(live_server.url + "/api/v1/shiftlog/notes", json={"text": "Drought: water trucks.", "incident_id": drought},
                         headers=officer, timeout=10).json()
    assert wide["regions"] == sorted(["europe_central_asia", "middle_east_north_africa"]), wide
    assert "Drought: water trucks." in [n["text"] for n in requests.get(
        live_server.url + "/api/v1/handover", headers=mena, timeout=30).json()["notes"]]
    notes["drought"] = wide

    # A desk of two regions sees both incidents' notes; a desk of another region only the note for all.
    both = bearer(live_server.token("regional_desk", "africa,middle_east_north_africa"))
    h = requests.get(live_server.url + "/api/v1/handover", headers=both, timeout=30).json()
    assert len(h["notes"]) == 4
    europe = bearer(live_server.token("regional_desk", "europe_central_asia"))
    log = requests.get(live_server.url + "/api/v1/shiftlog", headers=europe, timeout=10).json()["entries"]
    assert [e["text"] for e in log if e["kind"] == "note"] == [notes["drought"]["text"], notes["all"]["text"]]
    # The duty officer sees them all.
    h = requests.get(live_server.url + "/api/v1/handover", headers=officer, timeout=30).json()
    assert len(h["notes"]) == 4

    # A change that belongs to no region (an import) is for every desk too.
    people = [traveller("NB0", "Person 0", BEIRUT_OFFICE, 0)]
    assert requests.post(live_server.url + "/api/v1/travellers", json=people, headers=officer, timeout=30).status_code == 200
    log = requests.get(live_server.url + "/api/v1/shiftlog", headers=europe, timeout=10).json()["entries"]
    assert [e["text"] for e in log if e["kind"] == "travellers"] == ["Travellers imported: accepted 1, updated 0"], log


def test_a_note_stored_on_an_incident_without_regions_follows_the_incident(context: Context, live_server: LiveServer) -> None:
    """Notes written before notes took their incident's regions (stored with none) follow
    the incident's regions when read."""
    from crisis.adapters.shiftlog_store import ShiftLogStore

    officer = bearer(live_server.token("duty_officer"))
    beirut = _incident(live_server, officer, BEIRUT)
    ShiftLogStore(context.redis).add_note("duty", "duty_officer", "Old note on Beirut.", (), beirut)
    mena = bearer(live_server.token("regional_desk", "middle_east_north_africa"))
    africa = bearer(live_server.token("regional_desk", "africa"))
    assert [n["text"] for n in requests.get(live_server.url + "/api/v1/handover", headers=mena, timeout=30).json()["notes"]] \
        == ["Old note on Beirut."]
    assert requests.get(live_server.url + "/api/v1/handover", headers=africa, timeout=30).json()["notes"] == []


def test_the_handover_gives_times_as_its_tables_do_and_an_officer_on_site_as_on_site(
        context: Context, live_server: LiveServer) -> None:
    """Movement and dispatch times in the Markdown handover read like the rest ("2026-12-03
    13:40"), never raw ISO with microseconds; an officer on site reads "on site", as the
    dispatch page's Active dispatches table says, not the expected arrival given when sent."""
    import re
    from datetime import UTC, datetime, timedelta

    from tests.e2e.test_areas_api import SOUTH, import_population
    from tests.e2e.test_roster_api import _roster_for_beirut
    from tests.e2e.test_roster_api import incident as roster_incident

    duty = bearer(live_server.token("duty_officer"))
    import_population(live_server, duty)
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "South", "phase": 3, "geometry": SOUTH},
                         headers=duty, timeout=30).json()
    expected = datetime.now(UTC).replace(microsecond=123456) + timedelta(hours=5)
    confirm = {"safe_haven": {"name": "Amman", "lat": 31.95, "lon": 35.93}, "mode": "road", "expected_arrival": expected.isoformat()}
    assert requests.post(f"{live_server.url}/api/v1/areas/{area['id']}/movement", json=confirm, headers=duty,
                         timeout=30).status_code == 200
    _roster_for_beirut(live_server, duty)
    incident_id = roster_incident(live_server, duty)
    dispatches = live_server.url + "/api/v1/dispatches"
    on_site = requests.post(dispatches, json={"incident_id": incident_id, "officer_id": "A"}, headers=duty, timeout=30).json()
    coming = requests.post(dispatches, json={"incident_id": incident_id, "officer_id": "B"}, headers=duty, timeout=30).json()
    for status in ("accepted", "travelling", "on_site"):
        assert requests.patch(f"{dispatches}/{on_site['id']}", json={"status": status}, headers=duty, timeout=30).status_code == 200
    assert datetime.fromisoformat(on_site["eta"]) > datetime.now(UTC)  # the arrival expected when sent is still ahead

    h = requests.get(live_server.url + "/api/v1/handover", headers=duty, timeout=30).json()
    arrival = {d["id"]: d["arrival"] for d in h["dispatches"]}
    eta_b = datetime.fromisoformat(coming["eta"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    assert arrival == {on_site["id"]: "on site", coming["id"]: f"ETA {eta_b} UTC"}, arrival

    md = requests.get(live_server.url + "/api/v1/handover?format=md", headers=duty, timeout=30).text
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+", md), md  # no raw ISO time with microseconds anywhere
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}", md), md
    movement = next(line for line in md.splitlines() if line.startswith("| South | 3 |"))  # phase III
    assert movement.endswith(f"| {expected.strftime('%Y-%m-%d %H:%M')} |"), movement
    officer_a = next(line for line in md.splitlines() if line.startswith("| Officer A |"))
    assert officer_a.endswith("| on site | on site |"), officer_a
    officer_b = next(line for line in md.splitlines() if line.startswith("| Officer B |"))
    assert officer_b.endswith(f"| requested | ETA {eta_b} UTC |"), officer_b
    on_site_row = next(r for r in csv.DictReader(io.StringIO(requests.get(
        live_server.url + "/api/v1/handover?format=csv", headers=duty, timeout=30).text)) if r["id"] == on_site["id"])
    assert on_site_row["detail"].endswith("; on site"), on_site_row

    # The printed handover (the /shiftlog page) says it the same way.
    from dash import html

    from crisis.ui.pages.shiftlog import handover_view

    section = next(c for c in handover_view(h) if getattr(c, "id", None) == "handover-dispatches")
    table = section.children[1]
    assert [th.children for th in table.children[0].children.children][-1] == "Arrival"
    cells = {tr.children[0].children: [td.children for td in tr.children] for tr in table.children[1].children}
    assert cells["Officer A"][-1] == "on site" and cells["Officer B"][-1] == f"ETA {eta_b} UTC", cells
    assert isinstance(table, html.Table)


def test_the_log_names_the_officer_of_each_dispatch_step_and_its_reason(context: Context, live_server: LiveServer) -> None:
    """'Dispatch moved on: status returned' said nobody's name, and a dispatch made on the page
    was dumped as a record ('note None, ...'): each step reads 'Officer A: cancelled (reason)'."""
    from tests.e2e.test_roster_api import _roster_for_beirut
    from tests.e2e.test_roster_api import incident as roster_incident

    duty = bearer(live_server.token("duty_officer"))
    _roster_for_beirut(live_server, duty)
    incident_id = roster_incident(live_server, duty)
    sent = requests.post(live_server.url + "/api/v1/dispatches", json={"incident_id": incident_id, "officer_id": "C"},
                         headers=duty, timeout=30).json()
    assert requests.patch(f"{live_server.url}/api/v1/dispatches/{sent['id']}", headers=duty, timeout=30,
                          json={"status": "cancelled", "note": "wrong officer picked"}).status_code == 200
    entries = requests.get(live_server.url + "/api/v1/shiftlog?hours=1", headers=duty, timeout=30).json()["entries"]
    texts = [e["text"] for e in entries if e["kind"] == "dispatch" and e.get("incident_id", incident_id) == incident_id]
    assert "Dispatch moved on: Officer C: cancelled (wrong officer picked)" in texts, texts
    assert "Surge officer dispatched: Officer C: requested" in texts, texts
    assert not [t for t in texts if "None" in t or "officer id" in t], texts


def test_a_desk_sees_the_check_ins_of_the_people_in_its_regions(context: Context, live_server: LiveServer) -> None:
    """The finding: in one hour the duty officer's log had 51 check-ins, the Middle East desk's
    none, not even two people in Syria needing help. A check-in is where its person is."""
    from tests.conftest import random_ref

    officer = bearer(live_server.token("duty_officer"))
    ref = random_ref("CK")
    beirut, nairobi = f"{ref}-B", f"{ref}-N"
    people = [traveller(beirut, "Rima Daher", BEIRUT_OFFICE, 0), traveller(nairobi, "Kofi Otieno", NAIROBI_OFFICE, 1)]
    assert requests.post(live_server.url + "/api/v1/travellers", json=people, headers=officer, timeout=30).json()["accepted"] == 2
    for who in (beirut, nairobi):
        answer = requests.post(live_server.url + "/api/v1/checkins", json={"traveller_id": who, "status": "needs_help"},
                               headers=officer, timeout=30)
        assert answer.status_code in (200, 201), answer.text

    def check_ins(token: dict[str, str]) -> set[str]:
        log = requests.get(live_server.url + "/api/v1/shiftlog", headers=token, timeout=30).json()["entries"]
        return {e["what"] for e in log if e["kind"] == "checkin" and ref in str(e["what"])}

    everyone = check_ins(officer)
    assert len(everyone) == 2, everyone
    mena = check_ins(bearer(live_server.token("regional_desk", "middle_east_north_africa")))
    africa = check_ins(bearer(live_server.token("regional_desk", "africa")))
    assert len(mena) == 1 and beirut in next(iter(mena)) and nairobi not in next(iter(mena)), mena
    assert len(africa) == 1 and nairobi in next(iter(africa)), africa
    assert check_ins(bearer(live_server.token("regional_desk", "americas"))) == set()
