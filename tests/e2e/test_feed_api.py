"""The feed endpoints over a real server: CAP/GDACS/USGS posts, refusals, feed health.

The server is shared by the whole session, so counts are compared before and after, and
CAP examples get fresh identifiers where a test needs a new incident.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from crisis.adapters import keys
from crisis.bootstrap import Context
from crisis.config import Settings
from crisis.feeds.health import SILENCE_GRACE_SECONDS
from crisis.feeds.pollers import Fetcher, FeedSource, Poller
from crisis.web import create_app
from tests.conftest import LiveServer, random_ref
from tests.testdata import read_sample

CAP = {"Content-Type": "application/cap+xml"}
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
HOSTILE = {
    "malformed": (XML_HEAD + '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</sender></alert>',
                  "malformed XML at line 2"),
    "billion laughs": (XML_HEAD + '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
                       '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><alert>&lol3;</alert>',
                       "entity declarations are refused"),
    "external entity": (XML_HEAD + '<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><alert>&xxe;</alert>',
                        "tries to read 'file:///etc/passwd'"),
    "truncated": (read_sample("cap", "example2.xml").decode()[:700], "malformed XML"),
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fresh(example: int) -> bytes:
    """An OASIS example under a new identifier, so that it creates a new incident."""
    data = read_sample("cap", f"example{example}.xml").decode()
    return re.sub(r"<identifier>([^<]*)</identifier>", lambda m: f"<identifier>{m[1]}-{random_ref()}</identifier>",
                  data, count=1).encode()


def health(server: LiveServer, role: str = "duty_officer") -> dict[str, Any]:
    answer = requests.get(server.url + "/api/v1/feeds", headers=bearer(server.token(role)))
    assert answer.status_code == 200, answer.text
    return answer.json()["feeds"]  # type: ignore[no-any-return]


def post(server: LiveServer, feed: str, data: bytes, token: str, content_type: str | None = None) -> requests.Response:
    headers = bearer(token) | ({"Content-Type": content_type} if content_type else {})
    return requests.post(f"{server.url}/api/v1/feeds/{feed}", data=data, headers=headers, timeout=60)


def test_feeds_need_authentication_and_the_right_role(live_server: LiveServer) -> None:
    for method, path in (("post", "/api/v1/feeds/cap"), ("post", "/api/v1/feeds/gdacs"),
                         ("post", "/api/v1/feeds/usgs"), ("get", "/api/v1/feeds")):
        answer = requests.request(method, live_server.url + path, data=b"<alert/>", headers=CAP)
        assert answer.status_code == 401, path
    wall = post(live_server, "cap", fresh(2), live_server.token("wall"), CAP["Content-Type"])
    assert wall.status_code == 403
    feed_reads = requests.get(live_server.url + "/api/v1/feeds", headers=bearer(live_server.token("feed")))
    assert feed_reads.status_code == 403
    desk = requests.get(live_server.url + "/api/v1/feeds", headers=bearer(live_server.token("regional_desk", "africa")))
    assert desk.status_code == 200


def test_a_feed_token_posts_cap(live_server: LiveServer) -> None:
    token = live_server.token("feed")
    data = fresh(2)
    created = post(live_server, "cap", data, token, "application/cap+xml")
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["created"], body["accepted"]) == (1, 1)
    incident = body["incidents"][0]
    assert incident["id"] == body["incident_ids"][0] and incident["title"] == "SEVERE THUNDERSTORM WARNING"
    assert incident["area"]["type"] == "Polygon" and incident["country"] == "USA" and incident["source"] == "cap"
    again = post(live_server, "cap", data, token, "text/xml")
    assert again.status_code == 200 and again.json()["unchanged"] == 1
    assert again.json()["incident_ids"] == body["incident_ids"]
    officer = live_server.session()
    stored = officer.get(f"{live_server.url}/api/v1/incidents/{incident['id']}").json()
    assert stored["status"] == "reported" and len(stored["history"]) == 1


def test_cap_update_cancel_and_ignored_messages(live_server: LiveServer) -> None:
    token = live_server.token("feed")
    alert = fresh(4)
    identifier = re.search(rb"<identifier>([^<]*)</identifier>", alert)[1].decode()  # type: ignore[index]
    created = post(live_server, "cap", alert, token, "application/xml").json()
    cancel = alert.replace(b"<msgType>Alert</msgType>", b"<msgType>Cancel</msgType>").replace(
        f"<identifier>{identifier}</identifier>".encode(),
        f"<identifier>{identifier}-c</identifier><references>KARO@CLETS.DOJ.CA.GOV,{identifier},x</references>".encode())
    cancel = re.sub(rb"(?s)<info>.*</info>", b"", cancel)
    closed = post(live_server, "cap", cancel, token, "application/cap+xml")
    assert closed.status_code == 200, closed.text
    assert closed.json()["incidents"][0]["status"] == "closed"
    assert closed.json()["incident_ids"] == created["incident_ids"]
    test_message = fresh(1).replace(b"<status>Actual</status>", b"<status>Test</status>")
    ignored = post(live_server, "cap", test_message, token, "application/cap+xml")
    assert ignored.status_code == 202 and ignored.json()["ignored"] == 1 and ignored.json()["incidents"] == []
    assert "not stored" in ignored.json()["notes"][0]


def test_hostile_and_broken_documents_are_refused_counted_and_kept(live_server: LiveServer) -> None:
    token = live_server.token("feed")
    before = health(live_server)["cap"]["rejected_total"]
    letters = {}
    for name, (document, message) in HOSTILE.items():
        answer = post(live_server, "cap", document.encode(), token, "application/cap+xml")
        assert answer.status_code == 400, (name, answer.text)
        body = answer.json()
        assert message in body["errors"][0]["message"], (name, body)
        assert body["error"] == "rejected feed message" and body["dead_letter_id"]
        letters[body["dead_letter_id"]] = message
    cap_health = health(live_server)["cap"]
    assert cap_health["rejected_total"] == before + len(HOSTILE)
    assert cap_health["rejected_last_hour"] >= len(HOSTILE) and cap_health["last_error_at"]
    kept = live_server.session().get(live_server.url + "/api/v1/deadletters?count=50").json()["dead_letters"]
    kept_by_id = {d["id"]: d for d in kept}
    for letter_id, message in letters.items():
        assert kept_by_id[letter_id]["feed"] == "cap" and message in kept_by_id[letter_id]["reason"]
        # who sent it, from where, how: as every refusal of the API keeps it
        assert (kept_by_id[letter_id]["method"], kept_by_id[letter_id]["path"]) == ("POST", "/api/v1/feeds/cap"), kept_by_id[letter_id]
        assert kept_by_id[letter_id]["remote"] == "127.0.0.1" and kept_by_id[letter_id]["actor"], kept_by_id[letter_id]
    assert "/etc/passwd" in " ".join(d["body"] for d in kept)  # the sender's document, kept as sent
    assert "root:" not in " ".join(d["body"] for d in kept)  # and never resolved


def test_invalid_content_is_422_and_wrong_media_type_415(live_server: LiveServer) -> None:
    token = live_server.token("feed")
    invalid = fresh(2).replace(b"<severity>Severe", b"<severity>Apocalyptic")
    answer = post(live_server, "cap", invalid, token, "application/cap+xml")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "alert.info[0].severity" and answer.json()["dead_letter_id"]
    json_body = post(live_server, "cap", b'{"title": "x"}', token, "application/json")
    assert json_body.status_code == 415 and "application/cap+xml" in json_body.json()["errors"][0]["message"]
    untyped = post(live_server, "cap", fresh(3), token)  # no Content-Type: read as CAP
    assert untyped.status_code == 201


def test_gdacs_and_usgs_feeds(live_server: LiveServer) -> None:
    token = live_server.token("feed")
    gdacs = read_sample("gdacs", "gdacs-rss.xml")
    first = post(live_server, "gdacs", gdacs, token, "application/rss+xml")
    assert first.status_code == 200, first.text
    summary = first.json()
    assert summary["accepted"] == gdacs.count(b"<item>") and summary["rejected"] == []
    usgs = read_sample("usgs", "all_day_2019-01-30.geojson")
    one = post(live_server, "usgs", usgs, token, "application/geo+json").json()
    two = post(live_server, "usgs", usgs, token, "application/json").json()
    assert one["accepted"] == two["accepted"] == 233 and two["created"] == 0
    assert two["unchanged"] == 233 and sorted(two["incident_ids"]) == sorted(one["incident_ids"])
    broken = post(live_server, "usgs", b'{"type": "FeatureCollection", "features": [', token, "application/json")
    assert broken.status_code == 400 and broken.json()["errors"][0]["field"].startswith("line ")


def test_feed_health_lists_every_feed(live_server: LiveServer) -> None:
    post(live_server, "gdacs", read_sample("gdacs", "gdacs-rss.xml"), live_server.token("feed"), "text/xml")
    feeds = health(live_server)
    assert set(feeds) == {"api", "cap", "gdacs", "usgs", "positions", "sim", "cot"}
    for row in feeds.values():
        assert set(row) == {"status", "last_message_at", "accepted_last_hour", "rejected_last_hour", "accepted_total",
                            "rejected_total", "last_error", "last_error_at", "expected_interval_seconds",
                            "flagged_total", "last_defect", "last_defect_at"}
        assert row["status"] in {"ok", "silent", "failing", "unknown"}
    assert feeds["gdacs"]["status"] == "ok" and feeds["gdacs"]["accepted_last_hour"] >= 1
    assert feeds["gdacs"]["expected_interval_seconds"] is None  # no poller on the test server


def test_a_failing_poller_shows_in_feed_health_until_the_feed_recovers(live_server: LiveServer) -> None:
    before = health(live_server)["gdacs"]
    poller = Poller(live_server.context, FeedSource("gdacs", "http://127.0.0.1:9/", 300), Fetcher("test", timeout=5))
    for _ in range(max(1, before["accepted_last_hour"] - before["rejected_last_hour"] + 1)):
        assert poller.poll_once() is None
    failing = health(live_server)["gdacs"]
    assert failing["status"] == "failing", failing
    assert "http://127.0.0.1:9/" in failing["last_error"] and "ConnectionError" in failing["last_error"]
    assert failing["rejected_total"] > before["rejected_total"] and failing["last_error_at"]
    recovered = post(live_server, "gdacs", read_sample("gdacs", "gdacs-rss.xml"), live_server.token("feed"), "text/xml")
    assert recovered.status_code == 200
    assert health(live_server)["gdacs"]["status"] == "ok"


def test_oversize_documents_are_413_and_counted(live_server: LiveServer) -> None:
    before = health(live_server)["usgs"]["rejected_total"]
    huge = post(live_server, "usgs", b" " * (5 * 1024 * 1024), live_server.token("feed"), "application/json")
    assert huge.status_code == 413 and huge.json()["dead_letter_id"]
    assert health(live_server)["usgs"]["rejected_total"] == before + 1
    # Under the HTTP limit, over what the XML reader takes: too large as well, not "bad request".
    big = b'<?xml version="1.0"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' + b" " * (3 * 1024 * 1024) + b"</alert>"
    answer = post(live_server, "cap", big, live_server.token("feed"), "application/cap+xml")
    assert answer.status_code == 413 and answer.json()["errors"][0]["field"] == "document", answer.text
    assert "the limit is" in answer.json()["errors"][0]["message"] and answer.json()["dead_letter_id"]
    letter_id = answer.json()["dead_letter_id"]
    letter = dict(live_server.context.redis.xrange(keys.DEADLETTER_STREAM, min=letter_id, max=letter_id)[0][1])
    assert letter["body"] == "" and letter["length"] == str(len(big)) and letter["path"] == "/api/v1/feeds/cap", letter


def _backdate(server: LiveServer, feed: str, seconds: float) -> None:
    """Make the feed's last message (an accepted one) ``seconds`` old."""
    stats_key = keys.feed_stats(feed)
    then = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    server.context.redis.hset(stats_key, "last_message_at", then.isoformat())
    if server.context.redis.hexists(stats_key, "last_error_at"):  # an older error: the last message was good
        server.context.redis.hset(stats_key, "last_error_at", (then - timedelta(seconds=1)).isoformat())


def test_a_polled_feed_quiet_longer_than_its_interval_is_silent(live_server: LiveServer, settings: Settings) -> None:
    """The test server polls nothing (every interval None), so a second app, on the same
    data, with a GDACS source polled every 60 s; its pollers are not started."""
    interval = 60.0
    polled = settings.with_(gdacs_url="http://127.0.0.1:9/gdacs.xml", gdacs_interval=interval)
    app = create_app(polled, dataclasses.replace(live_server.context, settings=polled), start_gateway=False, start_feeds=False)
    client = app.server.test_client()
    token = live_server.token("wall")

    def api_row() -> dict[str, Any]:
        answer = client.get("/api/v1/feeds", headers=bearer(token))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()["feeds"]["gdacs"]  # type: ignore[no-any-return]

    def page_row() -> dict[str, Any]:
        """The feed report the feed health page and the header badge are drawn from (the
        socket's "feeds" event, sent after a sync and with every heartbeat)."""
        socket = app.socketio.test_client(app.server, namespace="/live", auth={"token": token})
        try:
            assert socket.is_connected("/live")
            socket.emit("sync", {}, namespace="/live")
            reports = [m["args"][0] for m in socket.get_received("/live") if m["name"] == "feeds"]
        finally:
            socket.disconnect("/live")
        assert reports, "no feeds report"
        return reports[-1]["feeds"]["gdacs"]  # type: ignore[no-any-return]

    fresh = post(live_server, "gdacs", read_sample("gdacs", "gdacs-rss.xml"), live_server.token("feed"), "text/xml")
    assert fresh.status_code == 200
    for row in (api_row(), page_row()):
        assert row["expected_interval_seconds"] == interval and row["status"] == "ok", row
    _backdate(live_server, "gdacs", interval + SILENCE_GRACE_SECONDS - 10)  # late, within the grace
    assert api_row()["status"] == page_row()["status"] == "ok"
    _backdate(live_server, "gdacs", interval + SILENCE_GRACE_SECONDS + 30)  # two minutes: silent
    for row in (api_row(), page_row()):
        assert row["status"] == "silent", row
    assert health(live_server)["gdacs"]["status"] == "ok"  # the test server polls nothing: never silent
    again = post(live_server, "gdacs", read_sample("gdacs", "gdacs-rss.xml"), live_server.token("feed"), "text/xml")
    assert again.status_code == 200 and api_row()["status"] == "ok"  # heard from again


SECRET_UID = "SECRET-HANDSET-JOHN-DOE"


def test_a_feeds_error_text_is_for_duty_officers_only(live_server: LiveServer) -> None:
    """The finding: an unknown handset's uid ('SECRET-HANDSET-JOHN-DOE') reached the wall in
    the CoT feed's last_error, by GET /api/v1/feeds and by the socket's "feeds" event. Only
    those who read the refused messages (duty officers, admins) get error texts; the others
    the counts, times and status."""
    from tests.e2e.test_cot_api import event, post_cot
    from tests.e2e.test_socket import connect

    wall = connect(live_server, auth={"token": live_server.token("wall")})
    desk = connect(live_server, auth={"token": live_server.token("regional_desk", "africa")})
    duty = connect(live_server, auth={"token": live_server.token("duty_officer")})
    try:
        for client in (wall, desk, duty):
            client.client.call("sync", {"last_id": None}, namespace="/live", timeout=10)
        before = health(live_server)["cot"]["rejected_total"]
        refused = post_cot(live_server, event(uid=SECRET_UID))
        assert refused.status_code in (200, 422) and refused.json()["unknown_device"] == 1, refused.text
        assert SECRET_UID in health(live_server)["cot"]["last_error"]
        assert SECRET_UID in health(live_server, "admin")["cot"]["last_error"]
        for role in ("wall", "regional_desk"):
            answer = requests.get(live_server.url + "/api/v1/feeds",
                                  headers=bearer(live_server.token(role, "africa" if role == "regional_desk" else None)))
            assert answer.status_code == 200 and SECRET_UID not in answer.text, (role, answer.text)
            cot = answer.json()["feeds"]["cot"]
            assert cot["last_error"] is None and cot["rejected_total"] > before and cot["last_error_at"], cot

        def pushed(client: Any) -> dict[str, Any]:
            return client.wait("feeds", lambda d: d["feeds"]["cot"]["rejected_total"] > before, timeout=15.0)  # type: ignore[no-any-return]

        assert SECRET_UID in pushed(duty)["feeds"]["cot"]["last_error"]
        for client in (wall, desk):
            report = pushed(client)
            assert report["feeds"]["cot"]["last_error"] is None and SECRET_UID not in repr(report)
        # a client that (re)syncs gets the report at once, cut the same way
        for client, shown in ((wall, False), (duty, True)):
            client.drain(0)
            client.client.call("sync", {"last_id": None}, namespace="/live", timeout=10)
            assert (SECRET_UID in repr(client.wait("feeds"))) is shown
    finally:
        for client in (wall, desk, duty):
            client.disconnect()


def test_the_feed_report_is_cut_for_the_viewer_named_not_for_the_request_being_served(
        session_context: Context, live_server: LiveServer) -> None:
    """``views.feed_health_report`` reads no Flask request state: the caller names the viewer
    (GET /api/v1/feeds passes ``current_principal()``). Inside a request signed in as a wall,
    a report asked for without a viewer is the whole one (the gateway cuts it per room), and
    one asked for the wall is cut."""
    from flask import Flask, g

    from crisis.adapters.accounts import Principal
    from crisis.views import feed_health_report

    message = f"unknown handset {random_ref('VIEWER-')}"
    session_context.feed_log.rejected("cot", [{"field": "uid", "message": message}], b"<event/>", {"remote": "test"})
    wall = Principal(name="wall-display", role="wall")
    with Flask(__name__).test_request_context("/api/v1/feeds"):
        g.principal = wall
        assert message in (feed_health_report(session_context)["feeds"]["cot"]["last_error"] or "")
        assert feed_health_report(session_context, viewer=wall)["feeds"]["cot"]["last_error"] is None
    assert message in health(live_server)["cot"]["last_error"]
    assert requests.get(live_server.url + "/api/v1/feeds", headers=bearer(live_server.token("wall"))).json()[
        "feeds"]["cot"]["last_error"] is None


def test_every_refusal_counts_on_the_feeds_report_whatever_its_dead_letter_name(
        session_context: Context, live_server: LiveServer) -> None:
    """A refusal dead-lettered under a name FEED_LOG_NAMES does not list (an unknown filter
    of GET /api/v1/incidents, "api:list_incidents"; of an export, "api:export_incidents"; a
    refused traveller row, "travellers") counts in the "api" row of GET /api/v1/feeds (and the
    socket's "feeds", which also refreshes the dead-letter table of /feeds): its count, its
    text for a duty officer, its time; the dead letter keeps what was wrong and where."""
    from crisis.feeds.health import FEED_LOG_NAMES, feed_of
    from crisis.views import recent_dead_letters

    officer = bearer(live_server.token("duty_officer"))
    for name in ("api:list_incidents", "api:export_incidents", "travellers"):
        assert name not in {n for names in FEED_LOG_NAMES.values() for n in names} and feed_of(name) == "api"
    asked = [f"/api/v1/incidents?status=exploded-{random_ref()}", f"/api/v1/exports/incidents.csv?region=mars-{random_ref()}"]
    for path in asked:
        before = health(live_server)["api"]
        answer = requests.get(live_server.url + path, headers=officer, timeout=30)
        assert answer.status_code == 400, answer.text
        row = health(live_server)["api"]
        assert row["rejected_total"] == before["rejected_total"] + 1, (before, row)
        assert row["rejected_last_hour"] == before["rejected_last_hour"] + 1
        assert path.rsplit("=", 1)[1] in row["last_error"] and row["last_error_at"], row
        wall = requests.get(live_server.url + "/api/v1/feeds", headers=bearer(live_server.token("wall"))).json()["feeds"]["api"]
        assert wall["rejected_total"] == row["rejected_total"] and wall["last_error"] is None
        letters = requests.get(live_server.url + "/api/v1/deadletters?count=5", headers=officer, timeout=30).json()["dead_letters"]
        letter = next(d for d in letters if d["id"] == answer.json()["dead_letter_id"])
        assert (letter["method"], letter["path"]) == ("GET", path) and path.rsplit("=", 1)[1] in letter["reason"], letter
        shown = next(d for d in recent_dead_letters(session_context) if d["id"] == letter["id"])
        assert shown["request"] == f"GET {path}" and shown["feed"].startswith("api:"), shown
    before = health(live_server)["api"]["rejected_total"]
    person = {"id": random_ref("R-"), "name": "A", "agency": "UN", "category": "visitor",
              "duty_station": {"name": "Nowhere", "lat": 95.0, "lon": 0.0}}
    refused = requests.post(live_server.url + "/api/v1/travellers", json=[person], headers=officer, timeout=30)
    assert refused.status_code == 422, refused.text
    assert health(live_server)["api"]["rejected_total"] == before + 1


def test_refusals_of_queries_forms_and_syncs_are_counted_but_do_not_make_a_feed_failing(session_context: Context) -> None:
    """A mistyped filter, a form or a socket's sync refused (dead-lettered under a name that is
    no feed's own: "ui", "api:list_incidents"...) counts and shows in the "api" row, but only
    the API's own messages decide its status: a duty officer's typo must not raise "FEEDS: api
    failing" in every header."""
    from crisis.views import feed_health_report

    session_context.feed_log.accepted("api")  # the API's own last message went in
    before = feed_health_report(session_context)["feeds"]["api"]
    assert before["status"] == "ok", before
    message = f"title: give the incident a title ({random_ref()})"
    extra = max(1, before["accepted_last_hour"] - before["rejected_last_hour"] + 1)  # more refused than accepted
    for _ in range(extra):
        session_context.feed_log.rejected("ui", [{"field": "title", "message": message}], b"{}", {"user": "duty"})
    row = feed_health_report(session_context)["feeds"]["api"]
    assert row["rejected_last_hour"] == before["rejected_last_hour"] + extra and row["last_error"] and message in row["last_error"]
    assert row["status"] == "ok", row
