"""Cursor-on-Target and the device table over the real API and Redis: the twelve handset
samples mapped to positions, "no fix" never placed, unknown devices and bad events
refused and dead-lettered with nothing stored, writers only, travellers must exist."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from crisis.adapters import keys
from crisis.adapters.audit import AuditQuery
from crisis.bootstrap import Context
from crisis.domain import events as ev
from tests.conftest import LiveServer
from tests.testdata import sample_path

SAMPLES = sorted(sample_path("cot").glob("*.xml"))
GPS_UID, NO_FIX_UID = "ANDROID-351811095448994", "ANDROID-R52JB0CDC4E"
XML = {"Content-Type": "application/xml"}
STATION = {"name": "Beirut office", "lat": 33.8938, "lon": 35.5018, "country": "LBN"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event(uid: str = GPS_UID, point: str = "lat='33.89' lon='35.5' hae='10' ce='5' le='9999999'",
          time: str = "2024-05-01T09:30:00Z") -> bytes:
    return (f"<?xml version='1.0' encoding='UTF-8'?><event version='2.0' uid='{uid}' type='a-f-G-U-C' time='{time}' "
            f"start='2024-05-01T09:30:00Z' stale='2024-05-01T09:31:00Z'><point {point}/></event>").encode()


def travellers(server: LiveServer, *ids: str) -> None:
    batch = [{"id": tid, "name": f"Name of {tid}", "agency": "UNDP", "category": "international_staff",
              "duty_station": STATION} for tid in ids]
    answer = requests.post(server.url + "/api/v1/travellers", json=batch, headers=bearer(server.token("duty_officer")))
    assert answer.status_code == 200 and answer.json()["accepted"] == len(ids), answer.text


def add_device(server: LiveServer, uid: str, traveller_id: str, token: str | None = None) -> requests.Response:
    return requests.post(server.url + "/api/v1/devices", json={"uid": uid, "traveller_id": traveller_id},
                         headers=bearer(token or server.token("duty_officer")))


def post_cot(server: LiveServer, body: bytes, token: str | None = None, headers: dict[str, str] | None = None
             ) -> requests.Response:
    return requests.post(server.url + "/api/v1/feeds/cot", data=body,
                         headers={**bearer(token or server.token("feed")), **(XML if headers is None else headers)})


def stored(context: Context) -> dict[str, list[Any]]:
    return {tid: json.loads(raw) for tid, raw in context.redis.hgetall(keys.POSITIONS).items()}


def position_events(context: Context) -> list[tuple[str, dict[str, Any]]]:
    return [(f["type"], json.loads(f["payload"])) for _, f in context.redis.xrange(keys.POSITION_STREAM)]


def cot_dead_letters(context: Context) -> dict[str, dict[str, str]]:
    return {i: f for i, f in context.redis.xrange(keys.DEADLETTER_STREAM) if f.get("feed") == "cot"}


def test_the_twelve_samples_map_to_positions_and_no_fix_is_never_placed(context: Context, live_server: LiveServer) -> None:
    travellers(live_server, "T-GPS", "T-NOFIX")
    assert add_device(live_server, GPS_UID, "T-GPS").status_code == 201
    assert add_device(live_server, NO_FIX_UID, "T-NOFIX").status_code == 201
    feed = live_server.token("feed")
    for path in SAMPLES:
        body = path.read_bytes()
        answer = post_cot(live_server, body, feed, {"Content-Type": "application/cot+xml"})
        assert answer.status_code == 200, answer.text
        uid = GPS_UID if GPS_UID.encode() in body else NO_FIX_UID
        expected = {"accepted": 1, "no_fix": 0} if uid == GPS_UID else {"accepted": 0, "no_fix": 1}
        assert answer.json() == {**expected, "unknown_device": 0, "rejected": []}
        seen = json.loads(context.redis.hget(keys.DEVICE_SEEN, uid))
        point = body.split(b"<point ", 1)[1]
        if uid == GPS_UID:
            # The stored position is the sample's point, at the sample's time, from "cot".
            lat, lon, time, source, country, _region, *_ = stored(context)["T-GPS"]
            assert (lat, lon, source) == (43.967183, -66.126446, "cot")
            assert f"lat='{lat}'".encode() in point and f"lon='{lon}'".encode() in point
            assert time.replace("+00:00", "") in body.decode().replace(".000Z", "").replace("Z", "")
            assert country == "CAN"
            assert seen["fix"] is True and (seen["lat"], seen["lon"]) == (lat, lon)
        else:
            assert seen == {**seen, "fix": False, "lat": None, "lon": None}
    assert set(stored(context)) == {"T-GPS"}, "a handset without a fix is never placed"
    kinds = [kind for kind, _ in position_events(context)]
    # each fix is stored: as where the handset is, or as history when an earlier sample was newer
    assert kinds.count(ev.POSITIONS_REPORTED) + kinds.count(ev.POSITIONS_LATE) == 10 and kinds.count(ev.POSITION_NO_FIX) == 2
    no_fix = [payload for kind, payload in position_events(context) if kind == ev.POSITION_NO_FIX]
    assert all(p["ids"] == ["T-NOFIX"] and p["uids"] == [NO_FIX_UID] and p["source"] == "cot" for p in no_fix)
    wall = requests.get(live_server.url + "/api/v1/positions", headers=bearer(live_server.token("wall"))).json()
    [placed] = wall["positions"]  # float32 on the map's path
    assert (placed["lat"], placed["lon"]) == (pytest.approx(43.967183, abs=1e-5), pytest.approx(-66.126446, abs=1e-5))

    # All twelve in one body: the same outcome, as one batch.
    answer = post_cot(live_server, b"\n".join(p.read_bytes() for p in SAMPLES), feed)
    assert answer.status_code == 200 and answer.json() == {"accepted": 10, "no_fix": 2, "unknown_device": 0, "rejected": []}
    assert stored(context)["T-GPS"][2] == "2020-02-08T18:19:58+00:00"  # the newest sample's time is kept
    assert set(stored(context)) == {"T-GPS"} and not cot_dead_letters(context)

    health = requests.get(live_server.url + "/api/v1/feeds", headers=bearer(live_server.token("wall"))).json()
    assert health["feeds"]["cot"]["accepted_total"] == 13 and health["feeds"]["cot"]["status"] == "ok"
    posts = context.audit.query(AuditQuery(action="feed.post", limit=20))
    assert posts[0]["target"] == "cot" and posts[0]["after"] == {"accepted": 10, "no_fix": 2, "unknown_device": 0, "rejected": 0}


def test_an_unknown_device_is_reported_and_dead_lettered_not_stored(context: Context, live_server: LiveServer) -> None:
    answer = post_cot(live_server, SAMPLES[3].read_bytes())
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["accepted"] == 0 and body["unknown_device"] == 1
    [refused] = body["rejected"]
    assert refused["field"] == "uid" and refused["uid"] == GPS_UID and "crisis devices add" in refused["message"]
    letter = cot_dead_letters(context)[refused["dead_letter_id"]]
    assert letter["uid"] == GPS_UID and GPS_UID in letter["body"] and letter["index"] == "0"
    assert not stored(context) and not position_events(context) and not context.redis.hlen(keys.DEVICE_SEEN)


def test_a_fix_at_0_0_is_no_fix_even_with_its_errors_known(context: Context, live_server: LiveServer) -> None:
    travellers(live_server, "T-NULL")
    assert add_device(live_server, GPS_UID, "T-NULL").status_code == 201
    answer = post_cot(live_server, event(point="lat='0' lon='0' hae='10' ce='5' le='9999999'"))
    assert answer.status_code == 200 and answer.json() == {"accepted": 0, "no_fix": 1, "unknown_device": 0, "rejected": []}
    assert "T-NULL" not in stored(context)  # never placed in the Gulf of Guinea
    assert json.loads(context.redis.hget(keys.DEVICE_SEEN, GPS_UID))["fix"] is False


BAD = {
    "missing lat": (event(point="lon='35.5' hae='1' ce='1' le='1'"), "point.lat", 422),
    "lat 95": (event(point="lat='95' lon='35.5' hae='1' ce='1' le='1'"), "point.lat", 422),
    "non-numeric": (event(point="lat='1' lon='east' hae='1' ce='1' le='1'"), "point.lon", 422),
    "no uid": (event(uid="").replace(b" uid=''", b""), "uid", 422),
    "time without zone": (event(time="2024-05-01T09:30:00"), "time", 422),
    "entity expansion": (b"<!DOCTYPE e [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;&a;'>]>" + event(uid="&b;").split(b"?>", 1)[1],
                         "document", 400),
    "external entity": (b"<!DOCTYPE e [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" + event(uid="&x;").split(b"?>", 1)[1],
                        "document", 400),
    "malformed": (event()[:-20], "line 1", 400),
}


def test_bad_events_are_refused_naming_the_field_dead_lettered_and_nothing_stored(context: Context,
                                                                                  live_server: LiveServer) -> None:
    travellers(live_server, "T-GPS")
    assert add_device(live_server, GPS_UID, "T-GPS").status_code == 201
    feed = live_server.token("feed")
    for name, (body, field, status) in BAD.items():
        answer = post_cot(live_server, body, feed)
        assert answer.status_code == status, (name, answer.text)
        [refused] = answer.json()["rejected"]
        assert refused["field"] == field and refused["index"] == 0, (name, refused)
        letter = cot_dead_letters(context)[refused["dead_letter_id"]]
        assert json.loads(letter["errors"])[0]["field"] == field and letter["actor"], name
        assert "/etc/passwd" not in letter["body"].replace("file:///etc/passwd", ""), "never expanded"
    assert not stored(context) and not position_events(context) and not context.redis.hlen(keys.DEVICE_SEEN)

    # One bad event among good ones costs only itself.
    answer = post_cot(live_server, event() + BAD["lat 95"][0] + event(time="2024-05-01T09:30:30Z"), feed)
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 2 and [(r["index"], r["field"]) for r in answer.json()["rejected"]] == [(1, "point.lat")]
    assert stored(context)["T-GPS"][:2] == [33.89, 35.5]

    wrong_type = post_cot(live_server, event(), feed, {"Content-Type": "application/json"})
    assert wrong_type.status_code == 415 and wrong_type.json()["errors"][0]["field"] == "Content-Type"
    assert wrong_type.json()["dead_letter_id"] in cot_dead_letters(context)
    assert post_cot(live_server, event(), feed, {}).status_code == 200  # no Content-Type: read as CoT


def test_cot_is_for_writers_and_the_device_table_for_editors(context: Context, live_server: LiveServer) -> None:
    travellers(live_server, "T-1")
    for role in ("feed", "duty_officer", "admin"):
        assert post_cot(live_server, event(uid=f"H-{role}"), live_server.token(role)).status_code == 422  # unknown, not 403
    for role, region in (("wall", None), ("regional_desk", "africa")):
        token = live_server.token(role, region)
        answer = post_cot(live_server, event(), token)
        assert answer.status_code == 403 and answer.json()["errors"][0]["field"] == "role"
    for role, region in (("feed", None), ("wall", None), ("regional_desk", "africa")):
        token = live_server.token(role, region)
        assert add_device(live_server, "H-1", "T-1", token).status_code == 403
        assert requests.get(live_server.url + "/api/v1/devices", headers=bearer(token)).status_code == 403
        assert requests.delete(live_server.url + "/api/v1/devices/H-1", headers=bearer(token)).status_code == 403
    assert not context.redis.hlen(keys.DEVICES)


def test_the_device_table_needs_a_known_traveller_and_is_audited(context: Context, live_server: LiveServer) -> None:
    travellers(live_server, "T-1", "T-2")
    officer = live_server.token("duty_officer")
    unknown = add_device(live_server, "H-1", "NOBODY", officer)
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"field": "traveller_id", "message": "no traveller 'NOBODY': import the traveller first"}]
    assert unknown.json()["dead_letter_id"] and not context.redis.hlen(keys.DEVICES)
    bad = add_device(live_server, "has space", "T-1", officer)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "uid"

    added = add_device(live_server, "H-1", "T-1", officer)
    assert added.status_code == 201 and added.json()["traveller_id"] == "T-1" and added.json()["last_seen"] is None
    moved = add_device(live_server, "H-1", "T-2", officer)
    assert moved.status_code == 200 and moved.json()["traveller_id"] == "T-2"
    assert post_cot(live_server, event(uid="H-1")).json()["accepted"] == 1
    assert set(stored(context)) == {"T-2"}

    listed = requests.get(live_server.url + "/api/v1/devices", headers=bearer(officer)).json()
    assert listed["count"] == 1 and listed["devices"][0]["uid"] == "H-1"
    assert listed["devices"][0]["last_seen"]["lat"] == 33.89 and listed["devices"][0]["last_seen"]["fix"] is True

    removed = requests.delete(live_server.url + "/api/v1/devices/H-1", headers=bearer(officer))
    assert removed.status_code == 200 and removed.json()["traveller_id"] == "T-2"
    assert requests.delete(live_server.url + "/api/v1/devices/H-1", headers=bearer(officer)).status_code == 404
    assert post_cot(live_server, event(uid="H-1", time="2024-05-01T09:30:30Z")).json()["unknown_device"] == 1

    actions = [(e["action"], e["target"], e.get("before"), e.get("after"))
               for e in context.audit.query(AuditQuery(action="device.", limit=10))]
    assert [a[:2] for a in actions] == [("device.remove", "H-1"), ("device.add", "H-1"), ("device.add", "H-1")]
    assert actions[0][2]["traveller_id"] == "T-2" and actions[1][2]["traveller_id"] == "T-1"
    assert actions[1][3]["traveller_id"] == "T-2" and actions[2][2] is None
    device_events = [f["type"] for _, f in context.redis.xrange(f"{keys.PREFIX}:log:devices")]
    assert device_events == [ev.DEVICE_ADDED, ev.DEVICE_ADDED, ev.DEVICE_REMOVED]


def test_answers_have_the_documented_shapes(context: Context, live_server: LiveServer) -> None:
    from tests.e2e.test_openapi import _conforms

    officer = bearer(live_server.token("duty_officer"))
    doc = requests.get(live_server.url + "/api/v1/openapi.json", headers=officer).json()
    travellers(live_server, "T-1")
    added = add_device(live_server, NO_FIX_UID, "T-1")
    _conforms(doc, "Device", added.json())
    _conforms(doc, "CotSummary", post_cot(live_server, b"".join(p.read_bytes() for p in SAMPLES[:3])).json())
    _conforms(doc, "CotSummary", post_cot(live_server, BAD["lat 95"][0]).json())
    _conforms(doc, "DeviceList", requests.get(live_server.url + "/api/v1/devices", headers=officer).json())
    removed = requests.delete(f"{live_server.url}/api/v1/devices/{NO_FIX_UID}", headers=officer)
    _conforms(doc, "Device", removed.json())
    _conforms(doc, "ErrorResponse", add_device(live_server, "H-2", "NOBODY").json())
    _conforms(doc, "ErrorResponse", post_cot(live_server, event(), headers={"Content-Type": "text/plain"}).json())
