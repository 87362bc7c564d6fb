"""Feed intake against a real (embedded) Redis: CAP, GDACS and USGS documents in,
incidents, counts and dead letters out; the pollers; the gazetteer; ``crisis ingest``.

Uses the ``context`` fixture of tests/conftest.py (a fresh database per test).
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import re
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest
import shapely.geometry
from click.testing import CliRunner

from crisis import handlers
from crisis.adapters import keys
from crisis.bootstrap import Context
from crisis.config import Settings
from crisis.errors import Conflict
from crisis.feeds.gazetteer import CountryGazetteer
from crisis.feeds.health import feed_status
from crisis.domain.model import IncidentStatus
from crisis.feeds.intake import MessageRejected, ingest_cap, ingest_gdacs, ingest_usgs
from crisis.feeds.schemas import IncidentPatch
from crisis.feeds.pollers import Fetcher, FeedSource, Poller, Pollers
from crisis.fusion.countries import CountryIndex
from tests.conftest import random_ref
from tests.testdata import read_sample, sample_path

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
SQUARE = "10,20 10,21 11,21 11,20 10,20"  # lat,lon around Lake Chad's south-west


def cap(identifier: str, msg_type: str = "Alert", references: str = "", status: str = "Actual",
        headline: str = "Flash flood warning", severity: str = "Severe", info: bool = True,
        polygon: str = SQUARE, sent: str = "2024-03-01T10:00:00+02:00") -> bytes:
    """A small CAP 1.2 message from ops@example.org."""
    parts = [f"<identifier>{identifier}</identifier><sender>ops@example.org</sender>",
             f"<sent>{sent}</sent><status>{status}</status>",
             f"<msgType>{msg_type}</msgType><scope>Public</scope>"]
    if references:
        parts.append(f"<references>{references}</references>")
    if info:
        parts.append(f"<info><category>Met</category><event>Flood</event><urgency>Immediate</urgency>"
                     f"<severity>{severity}</severity><certainty>Observed</certainty>"
                     f"<headline>{headline}</headline><area><areaDesc>Riverside</areaDesc>"
                     f"<polygon>{polygon}</polygon></area></info>")
    return f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="{CAP12}">{"".join(parts)}</alert>'.encode()


def stats(context: Context, feed: str) -> dict[str, Any]:
    return context.feed_log.stats(feed)


def dead_letter(context: Context, entry_id: str) -> dict[str, str]:
    entries = context.redis.xrange(keys.DEADLETTER_STREAM, min=entry_id, max=entry_id)
    assert entries, f"no dead letter {entry_id}"
    return dict(entries[0][1])


# --- CAP ----------------------------------------------------------------------------------


def test_the_four_oasis_examples_become_incidents(context: Context) -> None:
    stored = {}
    for n in (1, 2, 3, 4):
        result = ingest_cap(context, read_sample("cap", f"example{n}.xml"), "test")
        assert (result.accepted, result.created, result.rejected) == (1, 1, [])
        stored[n] = context.deps.incidents.get(result.incident_ids[0])
    one, two, three, four = stored[1], stored[2], stored[3], stored[4]
    assert one.title == "Homeland Security Sets Code ORANGE" and one.severity == 4 and one.type.value == "terrorism"
    assert one.source_id == "hsas@dhs.gov,43b080713727" and one.approximate and one.country == "USA"
    assert one.reported_at == datetime(2003, 4, 2, 19, 39, 1, tzinfo=timezone.utc)
    assert two.title == "SEVERE THUNDERSTORM WARNING" and two.severity == 4 and two.type.value == "weather"
    assert two.source_id == "KSTO@NWS.NOAA.GOV,KSTO1055887203" and not two.approximate
    assert two.reported_at == datetime(2003, 6, 17, 21, 57, tzinfo=timezone.utc)
    polygon = shapely.geometry.shape(two.area)
    assert polygon.equals(shapely.geometry.Polygon(
        [(-120.14, 38.47), (-119.95, 38.34), (-119.74, 38.52), (-119.89, 38.62), (-120.14, 38.47)]))
    assert polygon.contains(shapely.geometry.Point(two.location.lon, two.location.lat))
    assert two.country == "USA" and two.region == "americas"
    assert three.title == "EQ 3.4 Imperial County CA" and three.severity == 1 and three.type.value == "earthquake"
    assert (three.location.lat, three.location.lon) == (32.9525, -115.5527)  # the circle's centre
    assert three.radius_km is None and three.area is None  # "32.9525,-115.5527 0": a point
    assert three.source_id == "trinet@caltech.edu,TRI13970876.2"
    assert three.reported_at == datetime(2003, 6, 12, 3, 56, tzinfo=timezone.utc)
    assert four.title == "Amber Alert in Los Angeles County" and four.severity == 4 and four.type.value == "abduction"
    assert four.source_id == "KARO@CLETS.DOJ.CA.GOV,KAR0-0306112239-SW"
    assert four.approximate and four.country == "USA"  # placed by its SAME geocode
    assert four.reported_at == datetime(2003, 6, 12, 5, 39, tzinfo=timezone.utc)
    assert all(i.status.value == "reported" and i.source == "cap" for i in stored.values())
    assert int(stats(context, "cap")["accepted_total"]) == 4


def test_a_circle_with_a_radius_is_the_affected_area(context: Context) -> None:
    data = read_sample("cap", "example3.xml").replace(b"-115.5527 0<", b"-115.5527 25<")
    incident = ingest_cap(context, data, "test").incidents[0]
    assert incident.radius_km == 25 and (incident.location.lat, incident.location.lon) == (32.9525, -115.5527)


def test_the_same_cap_twice_is_one_incident(context: Context) -> None:
    data = read_sample("cap", "example2.xml")
    first = ingest_cap(context, data, "test")
    events = context.redis.xlen(keys.INCIDENT_STREAM)
    again = ingest_cap(context, data, "test")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert again.incident_ids == first.incident_ids
    assert len(context.deps.incidents.all()) == 1
    assert context.redis.xlen(keys.INCIDENT_STREAM) == events  # nothing new to tell anyone
    assert len(context.deps.incidents.history(first.incident_ids[0])) == 1


def test_alert_update_cancel_closes_one_incident(context: Context) -> None:
    ref = random_ref("FL-")
    alert = ingest_cap(context, cap(f"{ref}-1"), "test")
    update = ingest_cap(context, cap(f"{ref}-2", "Update", f"ops@example.org,{ref}-1,2024-03-01T10:00:00+02:00",
                                     headline="Flash flood warning extended", severity="Extreme"), "test")
    cancel = ingest_cap(context, cap(f"{ref}-3", "Cancel", f"ops@example.org,{ref}-2,2024-03-01T11:00:00+02:00",
                                     info=False), "test")
    assert (alert.created, update.updated, cancel.updated) == (1, 1, 1)
    incident_id = alert.incident_ids[0]
    assert update.incident_ids == cancel.incident_ids == [incident_id]
    incident = context.deps.incidents.get(incident_id)
    assert incident.status.value == "closed" and incident.title == "Flash flood warning extended"
    assert incident.severity == 5
    history = context.deps.incidents.history(incident_id)
    assert [h["kind"] for h in history] == ["reported", "updated", "status"]
    assert history[-1]["note"] == f"cancelled by CAP {ref}-3" and history[-1]["status"] == "closed"
    again = ingest_cap(context, cap(f"{ref}-3", "Cancel", f"ops@example.org,{ref}-2,x", info=False), "test")
    assert (again.updated, again.unchanged) == (0, 1)
    assert len(context.deps.incidents.history(incident_id)) == 3
    assert len(context.deps.incidents.all()) == 1


def test_an_alert_sent_before_its_update_does_not_undo_it(context: Context) -> None:
    ref = random_ref("FL-")
    original = cap(f"{ref}-1", severity="Severe", sent="2024-03-01T10:00:00+02:00")
    alert = ingest_cap(context, original, "test")
    incident_id = alert.incident_ids[0]
    update = ingest_cap(context, cap(f"{ref}-2", "Update", f"ops@example.org,{ref}-1,2024-03-01T10:00:00+02:00",
                                     severity="Extreme", headline="Flash flood warning raised",
                                     sent="2024-03-01T10:23:00+02:00"), "test")
    assert update.updated == 1 and context.deps.incidents.get(incident_id).severity == 5
    events = context.redis.xlen(keys.INCIDENT_STREAM)
    late = ingest_cap(context, original, "test")  # re-delivered, or delayed on its way
    assert (late.created, late.updated, late.unchanged) == (0, 0, 1) and late.incident_ids == [incident_id]
    kept = context.deps.incidents.get(incident_id)
    assert (kept.severity, kept.title) == (5, "Flash flood warning raised")
    assert context.redis.xlen(keys.INCIDENT_STREAM) == events  # nothing stored, nothing pushed


def test_a_feed_saying_the_same_again_does_not_undo_a_persons_change(context: Context) -> None:
    data = read_sample("usgs", "all_day_2019-01-30.geojson")
    first = ingest_usgs(context, data, "test")
    incident_id = first.incident_ids[0]
    source = context.deps.incidents.get(incident_id)
    corrected = 3 if source.severity != 3 else 2
    handlers.update_incident(context.deps, incident_id, IncidentPatch(severity=corrected, title="Daly City quake, checked"),
                             "duty")
    again = ingest_usgs(context, data, "test")  # the feed re-read: nothing new from the source
    assert (again.updated, again.unchanged) == (0, 233)
    kept = context.deps.incidents.get(incident_id)
    assert (kept.severity, kept.title) == (corrected, "Daly City quake, checked")
    # The source says something new about the magnitude: its new word on severity (and its
    # description, which gives the magnitude) is taken; the person's title stands.
    revised = json.loads(data)
    revised["features"][0]["properties"]["mag"] = 7.9 if source.severity <= 3 else 1.0
    third = ingest_usgs(context, json.dumps(revised).encode(), "test")
    assert (third.updated, third.unchanged) == (1, 232)
    now = context.deps.incidents.get(incident_id)
    assert now.severity == 5 and "Magnitude 7.9" in now.description and now.title == "Daly City quake, checked"
    assert context.deps.incidents.history(incident_id)[-1]["fields"] == ["description", "severity"]


# The same centre as SQUARE (10.5, 20.5), other areas: a change of polygon alone.
BIGGER = "9.5,19.5 9.5,21.5 11.5,21.5 11.5,19.5 9.5,19.5"
SMALLER = "10.25,20.25 10.25,20.75 10.75,20.75 10.75,20.25 10.25,20.25"


def test_an_update_whose_only_change_is_its_polygon_changes_the_area(context: Context) -> None:
    ref = random_ref("FL-")
    first = ingest_cap(context, cap(f"{ref}-1"), "test")
    incident_id = first.incident_ids[0]
    before = context.deps.incidents.get(incident_id)
    assert shapely.geometry.shape(before.area).equals(shapely.geometry.box(20, 10, 21, 11))
    references = f"ops@example.org,{ref}-1,2024-03-01T10:00:00+02:00"
    update = ingest_cap(context, cap(f"{ref}-2", "Update", references, polygon=BIGGER), "test")
    assert (update.created, update.updated, update.unchanged) == (0, 1, 0) and update.incident_ids == [incident_id]
    after = context.deps.incidents.get(incident_id)
    assert shapely.geometry.shape(after.area).equals(shapely.geometry.box(19.5, 9.5, 21.5, 11.5))
    assert after.location == before.location and after.title == before.title and after.severity == before.severity
    history = context.deps.incidents.history(incident_id)
    assert [h["kind"] for h in history] == ["reported", "updated"] and history[-1]["fields"] == ["area"]
    # The same message id sent again with another polygon (a correction in place): stored
    # as updated, not taken for the message already applied.
    corrected = ingest_cap(context, cap(f"{ref}-2", "Update", references, polygon=SMALLER), "test")
    assert (corrected.updated, corrected.unchanged) == (1, 0)
    assert shapely.geometry.shape(context.deps.incidents.get(incident_id).area).equals(
        shapely.geometry.box(20.25, 10.25, 20.75, 10.75))
    again = ingest_cap(context, cap(f"{ref}-2", "Update", references, polygon=SMALLER), "test")
    assert (again.updated, again.unchanged) == (0, 1)
    assert len(context.deps.incidents.history(incident_id)) == 3


def test_a_cancel_of_nothing_known_is_accepted_and_says_so(context: Context) -> None:
    result = ingest_cap(context, cap("C-1", "Cancel", "ops@example.org,never-seen,x", info=False), "test")
    assert (result.accepted, result.ignored, result.incident_ids) == (1, 1, [])
    assert "references no known incident" in result.notes[0]


@pytest.mark.parametrize(("status", "msg_type"), [("Test", "Alert"), ("Actual", "Ack"), ("Actual", "Error"),
                                                  ("System", "Alert"), ("Draft", "Alert")])
def test_messages_without_an_event_are_accepted_not_stored(context: Context, status: str, msg_type: str) -> None:
    result = ingest_cap(context, cap(random_ref(), msg_type, status=status), "test")
    assert (result.accepted, result.ignored, result.created) == (1, 1, 0)
    assert f"CAP {status} {msg_type} message" in result.notes[0] and "not stored" in result.notes[0]
    assert context.deps.incidents.all() == []
    assert int(stats(context, "cap")["accepted_total"]) == 1


@pytest.mark.parametrize(("data", "status", "field", "text"), [
    (b"<alert><identifier>x</alert>", 400, "line 1", "malformed XML"),
    (b"<rss><channel/></rss>", 400, "alert", "not a CAP alert"),
    (cap("A-1").replace(b"<severity>Severe", b"<severity>Catastrophic"), 422, "alert.info[0].severity",
     "unknown value 'Catastrophic'"),
    (cap("A-2").replace(b"2024-03-01T10:00:00+02:00", b"yesterday"), 422, "alert.sent", "not a date-time"),
])
def test_a_refused_cap_is_dead_lettered(context: Context, data: bytes, status: int, field: str, text: str) -> None:
    with pytest.raises(MessageRejected) as caught:
        ingest_cap(context, data, "test")
    assert caught.value.status == status
    assert caught.value.errors[0]["field"] == field and text in caught.value.errors[0]["message"]
    letter = dead_letter(context, caught.value.dead_letter_id)
    assert letter["feed"] == "cap" and letter["body"] == data.decode() and text in letter["reason"]
    assert int(stats(context, "cap")["rejected_total"]) == 1
    assert context.deps.incidents.all() == []


def test_a_conflict_is_409_and_dead_lettered(context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> None:
        raise Conflict("an incident that is closed cannot become reported; allowed: active")

    monkeypatch.setattr(handlers, "report_incident", refuse)
    with pytest.raises(MessageRejected) as caught:
        ingest_cap(context, cap("X-1"), "test")
    assert caught.value.status == 409 and caught.value.errors[0]["field"] == "status"
    letter = dead_letter(context, caught.value.dead_letter_id)
    assert "cannot become reported" in letter["reason"] and letter["identifier"] == "X-1"


# --- GDACS and USGS -------------------------------------------------------------------------


def test_gdacs_feed_one_incident_per_item(context: Context) -> None:
    data = read_sample("gdacs", "gdacs-rss.xml")
    items = data.count(b"<item>")
    result = ingest_gdacs(context, data, "test")
    assert (result.accepted, result.created, result.rejected) == (items, items, [])
    assert len(context.deps.incidents.all()) == items
    assert {i.source for i in context.deps.incidents.all()} == {"gdacs"}
    assert int(stats(context, "gdacs")["accepted_total"]) == 1  # one document


def test_gdacs_bad_item_is_dead_lettered_alone(context: Context) -> None:
    text = read_sample("gdacs", "gdacs-rss.xml").decode("utf-8-sig")
    start = [m.start() for m in re.finditer("<item>", text)][2]
    end = text.index("</item>", start)
    item = re.sub(r"<geo:lat>[^<]*</geo:lat>|<georss:point>[^<]*</georss:point>", "", text[start:end])
    data = (text[:start] + item + text[end:]).encode()
    result = ingest_gdacs(context, data, "test")
    items = data.count(b"<item>")
    assert result.created == items - 1 and len(result.rejected) == 1
    refused = result.rejected[0]
    assert refused["index"] == 2 and refused["field"] == "item[2].geo:lat"
    letter = dead_letter(context, refused["dead_letter_id"])
    assert letter["body"].startswith("<item") and letter["index"] == "2" and "geo:lat" in letter["reason"]
    health = stats(context, "gdacs")
    assert feed_status(health, 300, datetime.now(timezone.utc)) == "ok"  # one slip, not a failing feed


def test_usgs_feed_and_the_same_feed_again(context: Context) -> None:
    data = read_sample("usgs", "all_day_2019-01-30.geojson")
    result = ingest_usgs(context, data, "test")
    assert result.created == 233 - len(result.rejected) - result.skipped == 233
    events = context.redis.xlen(keys.INCIDENT_STREAM)
    again = ingest_usgs(context, data, "test")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 233)
    assert len(context.deps.incidents.all()) == 233
    assert context.redis.xlen(keys.INCIDENT_STREAM) == events
    revised = json.loads(data)
    revised["features"][0]["properties"]["mag"] = 6.1
    third = ingest_usgs(context, json.dumps(revised).encode(), "test")
    assert (third.created, third.updated, third.unchanged) == (0, 1, 232)


def test_a_usgs_quake_at_sea_takes_the_country_its_place_names_and_one_on_land_its_outline(context: Context) -> None:
    ingest_usgs(context, read_sample("usgs", "all_day_2019-01-30.geojson"), "test")
    country = {i.source_id: i.country for i in context.deps.incidents.all()}
    assert country["us1000iry2"] == "TON"  # 113 km NE of Hihifo, Tonga: the nearest outline was Samoa's
    assert country["us1000irv8"] == "FJI"  # 74 km ESE of Ndoi Island, Fiji: the nearest outline was Tonga's
    assert country["us1000irwt"] == "TON"  # 155 km W of Neiafu, Tonga
    assert country["pr2019030019"] == "DOM"  # 104 km NNE of Punta Cana, Dominican Republic
    assert country["nc73138146"] == "USA"  # The Geysers, CA: on land, its outline ("CA" is no country)
    # on land near a border, the place's town can be across it: the outline decides
    border = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "id": "xx-border-1", "geometry": {"type": "Point", "coordinates": [-92.35, 14.8, 60.0]},
        "properties": {"mag": 5.1, "place": "20km WNW of Tecun Uman, Guatemala", "time": 1548800000000, "type": "earthquake"}}]}
    ingest_usgs(context, json.dumps(border).encode(), "test")
    assert {i.source_id: i.country for i in context.deps.incidents.all()}["xx-border-1"] == "MEX"


@pytest.mark.parametrize(("feed", "sample", "parser"), [
    ("gdacs", ("gdacs", "gdacs-rss.xml"), "parse_gdacs"),
    ("usgs", ("usgs", "all_day_2019-01-30.geojson"), "parse_usgs"),
])
def test_an_item_the_lifecycle_refuses_is_dead_lettered_and_the_rest_stored(
        context: Context, monkeypatch: pytest.MonkeyPatch, feed: str, sample: tuple[str, str], parser: str) -> None:
    """A real lifecycle conflict, raised by the real handler: an item of the feed asks to
    take a closed incident back to "reported", which the lifecycle forbids.

    Neither parser asks for such a step today (USGS only ever closes, on "deleted"; GDACS
    never sets a status), so the parser's real output for the real document is kept
    and one item of it is given that status; the intake, the handler and the lifecycle
    rule run unchanged."""
    from crisis.feeds import intake

    data = read_sample(*sample)
    first = intake.ingest(context, feed, data, "test")
    assert first.rejected == [] and first.created == len(first.incident_ids) > 3
    victim_id = first.incident_ids[3]
    victim = context.deps.incidents.get(victim_id)
    handlers.update_incident(context.deps, victim_id, IncidentPatch(status=IncidentStatus.CLOSED), "duty-ann")
    real_parse = getattr(intake, parser)

    def reopening(*args: Any) -> Any:
        parsed = real_parse(*args)
        items = [c.model_copy(update={"status": IncidentStatus.REPORTED}) if c.source_id == victim.source_id else c
                 for c in parsed.incidents]
        return dataclasses.replace(parsed, incidents=items)

    monkeypatch.setattr(intake, parser, reopening)
    before = stats(context, feed)
    result = intake.ingest(context, feed, data, "test")
    assert len(result.rejected) == 1
    refused = result.rejected[0]
    assert refused["source_id"] == victim.source_id and refused["field"] == "status"
    assert "an incident that is closed cannot become reported" in refused["message"]
    assert result.unchanged == len(first.incident_ids) - 1 and (result.created, result.updated) == (0, 0)
    assert victim_id not in result.incident_ids
    letter = dead_letter(context, refused["dead_letter_id"])
    assert letter["feed"] == feed and letter["source_id"] == victim.source_id
    assert "cannot become reported" in letter["reason"] and json.loads(letter["body"])["source_id"] == victim.source_id
    assert context.deps.incidents.get(victim_id).status == IncidentStatus.CLOSED  # nothing stored for it
    assert len(context.deps.incidents.history(victim_id)) == 2
    after = stats(context, feed)
    assert int(after["rejected_total"]) == int(before.get("rejected_total") or 0) + 1
    assert int(after["accepted_total"]) == int(before["accepted_total"]) + 1  # the document, still taken in


def test_usgs_minimum_magnitude_skips_small_events(context: Context) -> None:
    result = ingest_usgs(context, read_sample("usgs", "all_day_2019-01-30.geojson"), "test", min_magnitude=4.5)
    assert result.created == 16 and result.skipped == 233 - 16 and result.accepted == 233
    # The summary says what was written, not only what was taken in (skipped items write nothing).
    assert result.to_dict()["stored"] == 16 and result.items == 233 and "233 items" in result.summary()


def test_a_document_that_is_not_the_feed_is_400(context: Context) -> None:
    for ingest, data in ((ingest_gdacs, b'{"type": "FeatureCollection"}'), (ingest_usgs, b"<rss/>")):
        with pytest.raises(MessageRejected) as caught:
            ingest(context, data, "test")
        assert caught.value.status == 400


# --- pollers ----------------------------------------------------------------------------------


def test_poller_reading_a_file_stores_incidents(context: Context, settings: Settings) -> None:
    pollers = Pollers.from_settings(context, settings.with_(
        gdacs_url=str(sample_path("gdacs", "gdacs-rss.xml")),
        usgs_url=sample_path("usgs", "all_day_2019-01-30.geojson").as_uri()))
    pollers.start()
    try:
        deadline = time.monotonic() + 60
        while len(context.deps.incidents.all()) < 16 + 233 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        pollers.stop()
    assert {p.source.feed: p.failures for p in pollers.pollers} == {"gdacs": 0, "usgs": 0}
    assert len(context.deps.incidents.all()) == 16 + 233
    assert {i.source for i in context.deps.incidents.all()} == {"gdacs", "usgs"}


def test_a_failing_url_shows_in_feed_health(context: Context) -> None:
    poller = Poller(context, FeedSource("gdacs", "http://127.0.0.1:9/", 300), Fetcher("test-agent", timeout=5))
    assert poller.poll_once() is None and poller.failures == 1
    health = stats(context, "gdacs")
    assert "http://127.0.0.1:9/" in health["last_error"] and "ConnectionError" in health["last_error"]
    assert int(health["rejected_total"]) == 1
    assert feed_status(health, 300, datetime.now(timezone.utc)) == "failing"
    assert context.feed_log.dead_letters(1)[0]["url"] == "http://127.0.0.1:9/"


class _FeedServer(http.server.BaseHTTPRequestHandler):
    """Serves one GDACS document with an ETag; /broken answers 500."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        _FeedServer.seen.append(dict(self.headers))
        if self.path == "/broken":
            self.send_error(500, "feed generator crashed")
        elif self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.end_headers()
        else:
            body = read_sample("gdacs", "gdacs-rss.xml")
            self.send_response(200)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_poller_uses_conditional_requests_and_records_http_errors(context: Context) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FeedServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        poller = Poller(context, FeedSource("gdacs", url + "/rss.xml", 300), Fetcher("ccc-test/1"))
        assert poller.poll_once().created == 16  # type: ignore[union-attr]
        assert poller.poll_once() is None  # 304: nothing stored, the feed is alive
        assert _FeedServer.seen[0]["User-Agent"] == "ccc-test/1" and "If-None-Match" not in _FeedServer.seen[0]
        assert _FeedServer.seen[1]["If-None-Match"] == '"v1"'
        assert int(stats(context, "gdacs")["accepted_total"]) == 1 and poller.failures == 0
        broken = Poller(context, FeedSource("gdacs", url + "/broken", 300), Fetcher("ccc-test/1"))
        assert broken.poll_once() is None and broken.failures == 1
        assert "HTTP 500" in stats(context, "gdacs")["last_error"]
    finally:
        server.shutdown()
        server.server_close()


# --- the gazetteer ---------------------------------------------------------------------------------


def test_gazetteer_codes_and_names(countries: CountryIndex) -> None:
    gazetteer = CountryGazetteer(countries)
    assert gazetteer.country_of("", [("ISO3166", "lb")]) == "LBN"
    assert gazetteer.country_of("", [("ISO 3166-1", "KEN")]) == "KEN"
    assert gazetteer.country_of("", [("ISO3166-2", "US-CA")]) == "USA"
    assert gazetteer.country_of("", [("country", "ne")]) == "NER"
    assert gazetteer.country_of("Nairobi", [("SAME", "006037")]) == "USA"
    assert gazetteer.country_of("", [("EMMA_ID", "FR433")]) == "FRA"
    assert gazetteer.country_of("", [("postcode", "75001"), ("ISO3166", "XX")]) is None
    assert gazetteer.country_of("Northern NIGERIA and Niger", []) == "NGA"  # the first named
    assert gazetteer.country_of("Port Moresby, Papua New Guinea", []) == "PNG"
    assert gazetteer.country_of("Goma, Dem. Rep. Congo", []) == "COD"
    assert gazetteer.country_of("U.S. nationwide", []) == "USA"
    assert gazetteer.country_of("let us know", []) is None
    assert gazetteer.country_of("Los Angeles County", []) is None
    lat, lon, iso = gazetteer("south lebanon", [])
    assert iso == "LBN" and countries.locate([lat], [lon])[0][0] == "LBN"  # inside the country


# --- the command line ------------------------------------------------------------------------------


def test_crisis_ingest_command(context: Context, settings: Settings) -> None:
    from crisis.cli import main

    runner = CliRunner()
    env = {"CRISIS_DATA_DIR": str(settings.data_dir), "REDIS_URL": None}
    answer = runner.invoke(main, ["ingest", "cap", str(sample_path("cap", "example1.xml"))], env=env)
    assert answer.exit_code == 0, answer.output
    assert "1 created" in answer.output and "Homeland Security Sets Code ORANGE" in answer.output
    incident_id = context.deps.incidents.id_for_source("cap", ["hsas@dhs.gov,43b080713727"])
    assert incident_id and context.deps.incidents.get(incident_id).title == "Homeland Security Sets Code ORANGE"
    from crisis.adapters.audit import AuditQuery

    (entry,) = context.audit.query(AuditQuery(action="feed.post"))  # a change from the command line is audited
    assert entry["target"] == "cap" and entry["via"] == "cli" and entry["after"]["created"] == 1
    assert entry["detail"]["location"].endswith("example1.xml")
    refused = runner.invoke(main, ["ingest", "gdacs", str(sample_path("cap", "example1.xml"))], env=env)
    assert refused.exit_code == 1 and "not an RSS feed" in refused.output
