"""USGS GeoJSON summary feed -> incidents, against the real "all day" feed of 2019-01-30."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.testdata
from tests.testdata import read_sample  # noqa: E402

from crisis.domain.model import IncidentStatus, IncidentType  # noqa: E402
from crisis.errors import FeedError  # noqa: E402
from crisis.feeds.usgs import magnitude_severity, parse_usgs  # noqa: E402

FEED = read_sample("usgs", "all_day_2019-01-30.geojson")


def feed_with(*features: dict[str, Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def real_feature(index: int = 0) -> dict[str, Any]:
    feature: dict[str, Any] = json.loads(FEED)["features"][index]
    return feature


def rejected_field(feature: dict[str, Any]) -> dict[str, Any]:
    result = parse_usgs(feed_with(feature, real_feature(1)))
    assert len(result.incidents) == 1 and len(result.rejected) == 1
    return result.rejected[0]


def test_the_real_feed() -> None:
    result = parse_usgs(FEED)
    assert result.rejected == [] and result.skipped == 0
    assert len(result.incidents) == 233
    assert len({i.source_id for i in result.incidents}) == 233
    assert all(i.source == "usgs" and i.status is None for i in result.incidents)
    assert Counter(i.severity for i in result.incidents) == {1: 210, 2: 17, 3: 6}
    # 223 earthquakes; the 5 quarry blasts and 5 explosions are not earthquakes
    assert Counter(i.type for i in result.incidents) == {
        IncidentType.EARTHQUAKE: 223, IncidentType.OTHER: 10}


def test_first_feature_daly_city() -> None:
    incident = parse_usgs(FEED).incidents[0]
    assert incident.source_id == "nc73138176"
    assert incident.title == "M 2.8 - 4km WSW of Daly City, CA"
    assert incident.type is IncidentType.EARTHQUAKE
    assert incident.severity == 1
    assert (incident.lat, incident.lon) == (37.6756668, -122.512001)  # from [lon, lat, depth]
    assert incident.reported_at == datetime(2019, 1, 30, 18, 28, 53, 560000, tzinfo=timezone.utc)
    assert incident.radius_km is None and incident.area is None and incident.country is None
    assert incident.description == (
        "4km WSW of Daly City, CA\nMagnitude 2.79 md, depth 12.48 km\nReview status: automatic\n"
        "https://earthquake.usgs.gov/earthquakes/eventpage/nc73138176")


def test_strongest_events_and_pager() -> None:
    incidents = {i.source_id: i for i in parse_usgs(FEED).incidents}
    chile = incidents["us1000iryd"]
    assert chile.title == "M 5.6 - 63km SSW of Taltal, Chile"
    assert chile.severity == 3  # M5.6; PAGER green does not change it
    assert "PAGER alert: green" in chile.description
    assert incidents["us1000irxk"].title == "M 5.3 - 90km ESE of Hualian, Taiwan"
    assert incidents["us1000irxk"].severity == 3
    quarry = [i for i in incidents.values() if "Quarry Blast" in i.title]
    assert len(quarry) == 5 and all(i.type is IncidentType.OTHER for i in quarry)


def test_associated_ids_become_supersedes() -> None:
    incidents = {i.source_id: i for i in parse_usgs(FEED).incidents}
    assert incidents["pr2019030017"].supersedes == ("pt19030052", "us1000is41")
    assert incidents["nc73138176"].supersedes == ()


def test_min_magnitude_skips_small_events() -> None:
    magnitudes = [f["properties"]["mag"] for f in json.loads(FEED)["features"]]
    result = parse_usgs(FEED, min_magnitude=4.5)
    expected = sum(m is not None and m >= 4.5 for m in magnitudes)
    assert len(result.incidents) == expected == 16
    assert result.skipped == 233 - expected
    assert all(i.severity >= 2 for i in result.incidents)


@pytest.mark.parametrize(
    ("magnitude", "alert", "expected"),
    [(None, None, 1), (-0.5, None, 1), (3.99, None, 1), (4.0, None, 2), (4.99, None, 2),
     (5.0, None, 3), (6.0, None, 4), (6.99, None, 4), (7.0, None, 5), (9.1, None, 5),
     (2.0, "green", 1), (2.0, "yellow", 3), (2.0, "orange", 4), (2.0, "red", 5),
     (6.5, "yellow", 4), (7.5, "green", 5), (5.0, "RED ", 5), (5.0, "pending", 3)],
)
def test_severity_table(magnitude: float | None, alert: str | None, expected: int) -> None:
    assert magnitude_severity(magnitude, alert) == expected


def test_deleted_event_is_closed() -> None:
    feature = real_feature()
    feature["properties"]["status"] = "deleted"
    incident = parse_usgs(feed_with(feature)).incidents[0]
    assert incident.status is IncidentStatus.CLOSED


def test_tsunami_flag_is_mentioned() -> None:
    feature = real_feature()
    feature["properties"]["tsunami"] = 1
    assert "tsunami" in parse_usgs(feed_with(feature)).incidents[0].description


def test_title_when_the_feed_has_none() -> None:
    feature = real_feature()
    del feature["properties"]["title"]
    assert parse_usgs(feed_with(feature)).incidents[0].title == "M 2.79 - 4km WSW of Daly City, CA"


def test_missing_depth_is_allowed() -> None:
    feature = real_feature()
    feature["geometry"]["coordinates"] = [-122.5, 37.6]
    incident = parse_usgs(feed_with(feature)).incidents[0]
    assert (incident.lat, incident.lon) == (37.6, -122.5) and "depth" not in incident.description


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [(lambda f: f["geometry"].update(coordinates=[10, 95, 5]),
      "features[0].geometry.coordinates[1]", "latitude 95.0 is outside -90..90"),
     (lambda f: f["geometry"].update(coordinates=[-190, 5]), "features[0].geometry.coordinates[0]",
      "longitude -190.0 is outside -180..180"),
     (lambda f: f["geometry"].update(coordinates=["10", 5]), "features[0].geometry.coordinates[0]",
      "'10' is not a number"),
     (lambda f: f.update(geometry=None), "features[0].geometry", "expected a GeoJSON Point"),
     (lambda f: f["properties"].pop("time"), "features[0].properties.time", "missing origin time"),
     (lambda f: f["properties"].update(mag="big"), "features[0].properties.mag",
      "'big' is not a number"),
     (lambda f: f["properties"].update(mag=True), "features[0].properties.mag",
      "True is not a number"),
     (lambda f: f.update(id=""), "features[0].id", "missing or empty event id"),
     (lambda f: f.update(type="Point"), "features[0].type", "not a GeoJSON Feature")],
)
def test_bad_feature_is_rejected_and_the_rest_parse(change: Any, field: str, message: str) -> None:
    feature = real_feature()
    change(feature)
    assert rejected_field(feature) == {"index": 0, "field": field, "message": message}


def test_invalid_json_reports_line_and_column() -> None:
    broken = FEED[:5000]  # cut mid-document: the feed is one feature per line
    with pytest.raises(FeedError) as caught:
        parse_usgs(broken)
    error = caught.value.errors[0]
    line = broken.count(b"\n") + 1
    assert error["field"] == f"line {line}"
    assert error["message"].startswith(f"invalid JSON at line {line}, column ")


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [(b'{"type": "FeatureCollection", "features": [NaN]}', "document", "NaN is not a JSON number"),
     (b"[]", "type", "FeatureCollection"),
     (b'{"type": "Feature"}', "type", "FeatureCollection"),
     (b'{"type": "FeatureCollection", "features": {}}', "type", '"features" list'),
     (b"\xff\xfe{}", "document", "not valid UTF-8")],
)
def test_not_a_feed(data: bytes, field: str, text: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_usgs(data)
    assert caught.value.errors[0]["field"] == field
    assert text in caught.value.errors[0]["message"]


def test_bom_and_size_cap() -> None:
    assert len(parse_usgs(b"\xef\xbb\xbf" + FEED).incidents) == 233
    with pytest.raises(FeedError, match="the limit is 1000"):
        parse_usgs(FEED, max_bytes=1000)


def test_an_origin_time_in_the_future_is_refused_alone() -> None:
    feature = real_feature(0)
    feature["properties"]["time"] = 253402214400000  # 9999-12-31
    refused = rejected_field(feature)
    assert refused["field"].endswith("properties.time") and "in the future" in refused["message"]


def test_the_country_a_usgs_place_names() -> None:
    from crisis.feeds.usgs import place_country

    assert place_country("113km NE of Hihifo, Tonga") == "TON"
    assert place_country("Kermadec Islands, New Zealand") == "NZL"
    assert place_country("20km N of Anchorage, Alaska") == "USA"
    assert place_country("6km NW of The Geysers, CA") is None  # an abbreviation: never read as Canada
    assert place_country("Fiji region") is None and place_country("Central East Pacific Rise") is None
    assert place_country(None) is None and place_country("1km N of X, Atlantis") is None
