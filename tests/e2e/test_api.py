"""The HTTP API over a real server: authentication, validation, storage, regions."""

import json

import pytest
import requests

from crisis.adapters import keys
from tests.conftest import LiveServer, random_ref

INCIDENT = {"title": "Armed robbery at guesthouse", "type": "crime", "severity": 3, "lat": -1.29, "lon": 36.82, "radius_km": 2}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_nothing_without_authentication(live_server: LiveServer) -> None:
    for method, path in (("get", "/api/v1/incidents"), ("post", "/api/v1/incidents"), ("post", "/api/v1/positions"), ("get", "/api/v1/positions"), ("post", "/_dash-update-component")):
        answer = requests.request(method, live_server.url + path, json={}, allow_redirects=False)
        assert answer.status_code == 401, path
        assert "incidents" not in answer.json()
    page = requests.get(live_server.url + "/", allow_redirects=False)
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    layout = requests.get(live_server.url + "/_dash-layout", allow_redirects=False)
    assert layout.status_code == 401
    wrong = requests.get(live_server.url + "/api/v1/incidents", headers=bearer("not-a-token"))
    assert wrong.status_code == 401


def test_wrong_password_is_refused(live_server: LiveServer) -> None:
    name = live_server.user()
    answer = live_server.sign_in(requests.Session(), name, "nope")
    assert answer.status_code == 401 and "wrong password" in answer.text


def test_post_incident_stores_before_answering(live_server: LiveServer) -> None:
    answer = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=bearer(live_server.token("feed")))
    assert answer.status_code == 201
    body = answer.json()
    assert body["id"] and body["country"] == "KEN" and body["region"] == "africa" and body["status"] == "reported"
    log = live_server.context.redis.xrange(keys.INCIDENT_STREAM, min=body["stream_id"], max=body["stream_id"])
    assert json.loads(log[0][1]["payload"])["incident"]["id"] == body["id"]
    listed = live_server.session().get(live_server.url + "/api/v1/incidents").json()
    assert body["id"] in [i["id"] for i in listed["incidents"]]


def test_invalid_incident_is_answered_with_fields_and_dead_lettered(live_server: LiveServer) -> None:
    before = live_server.context.redis.xlen(keys.INCIDENT_STREAM)
    answer = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "severity": 8, "lat": "north"}, headers=bearer(live_server.token("feed")))
    assert answer.status_code == 422
    body = answer.json()
    assert {e["field"] for e in body["errors"]} == {"severity", "lat"}
    assert live_server.context.redis.xlen(keys.INCIDENT_STREAM) == before
    dead = live_server.context.redis.xrange(keys.DEADLETTER_STREAM, min=body["dead_letter_id"], max=body["dead_letter_id"])
    assert '"severity": 8' in dead[0][1]["body"] and "severity" in dead[0][1]["reason"]


def test_malformed_json_and_oversize_bodies(live_server: LiveServer) -> None:
    token = live_server.token("feed")
    broken = requests.post(live_server.url + "/api/v1/incidents", data='{"title": "x",\n "severity": }', headers={**bearer(token), "Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["errors"][0]["field"] == "body (line 2, column 14)"
    huge = requests.post(live_server.url + "/api/v1/positions", data=b"[" + b" " * (5 * 1024 * 1024) + b"]", headers=bearer(token))
    assert huge.status_code == 413


def test_positions_batch_is_all_or_nothing(live_server: LiveServer) -> None:
    token = live_server.token("feed")
    prefix = random_ref("T")  # travellers no other test reports
    good = [{"traveller_id": f"{prefix}-{i}", "lat": 33.0 + i / 100, "lon": 35.5} for i in range(50)]
    bad = good + [{"traveller_id": f"{prefix}-999", "lat": 123, "lon": 0}]
    events = live_server.context.redis.xlen(keys.POSITION_STREAM)
    refused = requests.post(live_server.url + "/api/v1/positions", json={"positions": bad}, headers=bearer(token))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "positions.50.lat"
    nowhere = requests.post(live_server.url + "/api/v1/positions", json=good[:3] + [{**good[3], "lat": 0, "lon": 0}],
                            headers=bearer(token))  # 0, 0: a receiver without a fix; the batch is refused whole
    assert nowhere.status_code == 422 and nowhere.json()["errors"] == [
        {"field": "3.lat", "message": "0, 0 is what a receiver without a fix reports, not a place: leave the position out"}]
    stored = set(live_server.context.deps.positions.snapshot()["ids"])
    assert not {p["traveller_id"] for p in bad} & stored  # not the bad one, and none of the valid half
    assert live_server.context.redis.xlen(keys.POSITION_STREAM) == events
    reader = bearer(live_server.token("duty_officer"))
    listed = {p["traveller_id"] for p in requests.get(live_server.url + "/api/v1/positions", headers=reader).json()["positions"]}
    assert not {p["traveller_id"] for p in good} & listed
    live_server.know(good)
    accepted = requests.post(live_server.url + "/api/v1/positions", json=good, headers=bearer(token))
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 50
    snap = requests.get(live_server.url + "/api/v1/positions", headers=reader).json()
    assert {p["traveller_id"] for p in good} <= {p["traveller_id"] for p in snap["positions"]}


def test_an_older_report_is_kept_as_history_and_moves_no_one(live_server: LiveServer) -> None:
    from datetime import UTC, datetime, timedelta

    token, reader = bearer(live_server.token("feed")), bearer(live_server.token("duty_officer"))
    who = random_ref("T")
    now = datetime.now(UTC).replace(microsecond=0)
    fresh = {"traveller_id": who, "lat": 33.89, "lon": 35.5, "time": now.isoformat()}  # Beirut, now
    live_server.know([fresh])
    assert requests.post(live_server.url + "/api/v1/positions", json=[fresh], headers=token).status_code == 202
    old = {"traveller_id": who, "lat": 44.6, "lon": -63.6, "time": (now - timedelta(hours=3)).isoformat()}  # Halifax, delayed
    head = live_server.context.deps.log.last_id(keys.POSITION_STREAM)
    answer = requests.post(live_server.url + "/api/v1/positions", json={"positions": [old]}, headers=token)
    assert answer.status_code == 202, answer.text
    assert answer.json()["late"] == [{"index": 0, "field": "positions.0.time", "traveller_id": who,
                                      "message": f"older than the latest position held for {who}: kept as history, not as where they are"}]
    listed = {p["traveller_id"]: p for p in requests.get(live_server.url + "/api/v1/positions", headers=reader).json()["positions"]}
    assert (listed[who]["lat"], listed[who]["region"]) == (pytest.approx(33.89, abs=1e-4), "middle_east_north_africa")
    person = requests.get(f"{live_server.url}/api/v1/travellers/{who}", headers=reader).json()
    assert "33.89" in json.dumps(person) and "44.6" not in json.dumps(person), person
    americas = bearer(live_server.token("regional_desk", "americas"))
    assert who not in {p["traveller_id"] for p in requests.get(live_server.url + "/api/v1/positions", headers=americas).json()["positions"]}
    late = [e for e in live_server.context.deps.log.read_after(keys.POSITION_STREAM, head)
            if e.type == "positions.late" and who in e.payload["ids"]]
    assert [e.payload["lat"] for e in late] == [[44.6]]  # kept, as history


def test_roles_limit_what_can_be_done(live_server: LiveServer) -> None:
    wall = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=bearer(live_server.token("wall")))
    assert wall.status_code == 403
    feed_reads = requests.get(live_server.url + "/api/v1/incidents", headers=bearer(live_server.token("feed")))
    assert feed_reads.status_code == 403


def test_regional_desk_sees_only_its_region(live_server: LiveServer) -> None:
    token = live_server.token("feed")
    nairobi = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=bearer(token)).json()
    beirut = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "lat": 33.89, "lon": 35.5}, headers=bearer(token)).json()
    desk = requests.get(live_server.url + "/api/v1/incidents", headers=bearer(live_server.token("regional_desk", "africa"))).json()
    ids = {i["id"] for i in desk["incidents"]}
    assert nairobi["id"] in ids and beirut["id"] not in ids
    hidden = requests.get(f"{live_server.url}/api/v1/incidents/{beirut['id']}", headers=bearer(live_server.token("regional_desk", "africa")))
    assert hidden.status_code == 404


def test_patch_moves_an_incident_through_its_lifecycle(live_server: LiveServer) -> None:
    officer = live_server.session()
    created = officer.post(live_server.url + "/api/v1/incidents", json=INCIDENT).json()
    url = f"{live_server.url}/api/v1/incidents/{created['id']}"
    assert officer.patch(url, json={"status": "active", "owner": "duty-a"}).json()["status"] == "active"
    backwards = officer.patch(url, json={"status": "reported"})
    assert backwards.status_code == 409 and "cannot become reported" in backwards.json()["errors"][0]["message"]
    history = officer.get(url).json()["history"]
    assert [h["kind"] for h in history] == ["reported", "status"]


# Through the API, a representative part of the lifecycle (the whole table is tried on
# the domain function in tests/unit/test_domain.py): (path to the start, step, allowed?).
PATCH_STEPS = [
    ([], "verified", True),
    ([], "closed", True),
    (["verified"], "reported", False),
    (["active"], "verified", False),
    (["active"], "reported", False),
    (["contained"], "verified", False),
    (["contained"], "active", True),
    (["closed"], "contained", False),
    (["closed"], "reported", False),
    (["closed"], "verified", False),
    (["closed"], "active", True),
]


def test_patch_answers_409_for_every_step_the_lifecycle_forbids(live_server: LiveServer) -> None:
    token = live_server.token("duty_officer")
    for path, step, allowed in PATCH_STEPS:
        created = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=bearer(token)).json()
        url = f"{live_server.url}/api/v1/incidents/{created['id']}"
        for status in path:
            assert requests.patch(url, json={"status": status}, headers=bearer(token)).status_code == 200
        start = path[-1] if path else "reported"
        answer = requests.patch(url, json={"status": step}, headers=bearer(token))
        after = requests.get(url, headers=bearer(token)).json()
        if allowed:
            assert answer.status_code == 200 and answer.json()["status"] == step, (start, step, answer.text)
            assert after["status"] == step and after["history"][-1]["status_from"] == start
        else:
            assert answer.status_code == 409, (start, step, answer.status_code)
            assert f"an incident that is {start} cannot become {step}" in answer.json()["errors"][0]["message"]
            assert after["status"] == start and len(after["history"]) == 1 + len(path)  # nothing stored


def test_a_retried_report_that_changes_nothing_answers_an_id_of_the_log(live_server: LiveServer) -> None:
    """The advice for a write answered 503 or cut off: retry with the same source_id. The retry
    stores nothing (it says nothing new) and its stream_id is an entry of the log, as the first's."""
    officer = bearer(live_server.token("duty_officer"))
    body = {**INCIDENT, "title": "Retried " + random_ref(), "source_id": random_ref("retry-")}
    first = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer)
    again = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer)
    assert first.status_code == 201 and again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"] and again.json()["stream_id"] >= first.json()["stream_id"]
    log = live_server.context.redis
    assert log.xrange(keys.INCIDENT_STREAM, min=again.json()["stream_id"], max=again.json()["stream_id"])
