"""GDACS RSS -> incidents, against the real feed of 2019-12-30 (16 items)."""

from __future__ import annotations

import re
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
import shapely.geometry

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.testdata
from tests.testdata import read_sample  # noqa: E402

from crisis.domain.model import IncidentType  # noqa: E402
from crisis.errors import FeedError  # noqa: E402
from crisis.feeds.gdacs import GdacsResult, parse_gdacs  # noqa: E402
from crisis.feeds.schemas import IncidentIn  # noqa: E402

FEED = read_sample("gdacs", "gdacs-rss.xml")


def edit_item(index: int, pattern: str, replacement: str, data: bytes = FEED) -> bytes:
    """The feed with one substitution inside item ``index`` only."""
    text = data.decode("utf-8-sig")
    starts = [m.start() for m in re.finditer(r"<item>", text)]
    end = text.index("</item>", starts[index])
    item, count = re.subn(pattern, replacement, text[starts[index]:end])
    assert count, f"{pattern!r} not in item {index}"
    return (text[:starts[index]] + item + text[end:]).encode()


def by_id(result: GdacsResult) -> dict[str, IncidentIn]:
    return {i.source_id: i for i in result.incidents if i.source_id}


def test_the_real_feed() -> None:
    result = parse_gdacs(FEED)
    assert result.rejected == []
    assert len(result.incidents) == 16
    assert len({i.source_id for i in result.incidents}) == 16
    assert Counter(i.type for i in result.incidents) == {
        IncidentType.DROUGHT: 11, IncidentType.CYCLONE: 3, IncidentType.EARTHQUAKE: 2}
    assert Counter(i.severity for i in result.incidents) == {2: 8, 4: 8}  # 8 Green, 8 Orange
    assert all(i.source == "gdacs" and i.status is None for i in result.incidents)
    assert all(i.area is None and i.radius_km is None and not i.approximate
               for i in result.incidents)


def test_first_item_calvinia() -> None:
    incident = parse_gdacs(FEED).incidents[0]
    assert incident.source_id == "TC1000643"  # event type + event id, not the episode
    assert incident.title == ("Green alert for tropical cyclone CALVINIA-19. Population "
                              "affected by Category 1 (120 km/h) wind speeds or higher is 0.")
    assert incident.type is IncidentType.CYCLONE
    assert incident.severity == 2
    assert (incident.lat, incident.lon) == (-19.4, 59.8)
    assert incident.country == "MUS"
    assert incident.reported_at == datetime(2019, 12, 29, 12, tzinfo=timezone.utc)
    assert incident.description.startswith("From 29/12/2019 to 29/12/2019, a Tropical Storm")
    assert "http://www.gdacs.org/report.aspx?eventtype=TC&eventid=1000643" in incident.description


def test_orange_cyclone_and_earthquake() -> None:
    incidents = by_id(parse_gdacs(FEED))
    phanfone = incidents["TC1000641"]
    assert phanfone.severity == 4
    assert phanfone.country == "PHL"
    # reported_at is the event's start, not the latest episode's pubDate
    assert phanfone.reported_at == datetime(2019, 12, 21, 18, tzinfo=timezone.utc)
    quake = incidents["EQ1199929"]
    assert quake.type is IncidentType.EARTHQUAKE
    assert (quake.lat, quake.lon, quake.country) == (-44.5653, 37.087, "ZAF")
    assert quake.reported_at == datetime(2019, 12, 28, 15, 36, 35, tzinfo=timezone.utc)
    assert "Magnitude 5.5M, Depth:10km" in quake.description


def test_country_only_for_single_country_events() -> None:
    incidents = by_id(parse_gdacs(FEED))
    # gdacs:iso3 is BGR, but the drought spans four countries and its point is in Turkey
    assert incidents["DR1013682"].country is None
    assert incidents["DR1013682"].title == "Drought is on going in Bulgaria, Iraq, Iran, Turkey"
    assert incidents["DR1013588"].country == "AUS"
    assert sum(i.country is None for i in incidents.values()) == 7


def test_iscurrent_false_is_not_closed() -> None:
    # DR1013281 is iscurrent=false yet "on going", updated the feed's own day
    assert b"<gdacs:iscurrent>false</gdacs:iscurrent>" in FEED
    assert by_id(parse_gdacs(FEED))["DR1013281"].status is None


def test_bbox_as_area_only_when_asked_and_when_it_holds_the_point() -> None:
    incidents = by_id(parse_gdacs(FEED, bbox_area=True))
    quake = incidents["EQ1199929"]
    box = shapely.geometry.shape(quake.area)
    assert box.bounds == (33.087, -48.5653, 41.087, -40.5653)  # lonmin latmin lonmax latmax
    assert box.contains(shapely.geometry.Point(37.087, -44.5653))
    # Cyclone boxes do not contain the storm's position (SARAI-19's is an ocean away)
    for cyclone in ("TC1000643", "TC1000642", "TC1000641"):
        assert incidents[cyclone].area is None


def test_item_missing_geo_lat_is_rejected_and_the_rest_parse() -> None:
    data = edit_item(3, r"<geo:lat>[^<]*</geo:lat>", "")
    data = edit_item(3, r"<georss:point>[^<]*</georss:point>", "", data)
    result = parse_gdacs(data)
    assert len(result.incidents) == 15
    assert result.rejected == [{
        "index": 3, "field": "item[3].geo:lat",
        "message": "<geo:lat> is missing (and there is no georss:point)",
    }]
    assert "EQ1199647" not in by_id(result)


def test_georss_point_is_the_fallback() -> None:
    incident = parse_gdacs(edit_item(0, r"(?s)<geo:Point>.*?</geo:Point>", "")).incidents[0]
    assert (incident.lat, incident.lon) == (-19.4, 59.8)


@pytest.mark.parametrize(
    ("pattern", "replacement", "field", "message"),
    [(r"<geo:lat>[^<]*", "<geo:lat>95", "item[0].geo:lat", "latitude 95.0 is outside -90..90"),
     (r"<geo:long>[^<]*", "<geo:long>east", "item[0].geo:long", "'east' is not a number"),
     (r"<gdacs:alertlevel>[^<]*", "<gdacs:alertlevel>Purple", "item[0].gdacs:alertlevel",
      "unknown alert level 'Purple'; expected Green, Orange or Red"),
     (r"<gdacs:eventid>[^<]*", "<gdacs:eventid>", "item[0].gdacs:eventid",
      "required element <gdacs:eventid> is missing or empty"),
     (r"<gdacs:fromdate>[^<]*", "<gdacs:fromdate>29/12/2019", "item[0].gdacs:fromdate",
      "'29/12/2019' is not an RFC 822 date like 'Sun, 29 Dec 2019 12:00:00 GMT'")],
)
def test_bad_items_name_the_field(pattern: str, replacement: str, field: str,
                                  message: str) -> None:
    result = parse_gdacs(edit_item(0, pattern, replacement))
    assert result.rejected == [{"index": 0, "field": field, "message": message}]
    assert len(result.incidents) == 15


def test_red_alert_and_alertscore_fallback() -> None:
    red = parse_gdacs(edit_item(0, r"<gdacs:alertlevel>Green", "<gdacs:alertlevel>Red"))
    assert red.incidents[0].severity == 5
    no_level = edit_item(0, r"<gdacs:alertlevel>Green</gdacs:alertlevel>", "")
    assert parse_gdacs(no_level).incidents[0].severity == 2  # alertscore 1: Green
    orange = edit_item(0, r"<gdacs:alertscore>1<", "<gdacs:alertscore>2<", no_level)
    assert parse_gdacs(orange).incidents[0].severity == 4


def test_unknown_event_type_is_other() -> None:
    data = edit_item(0, r"<gdacs:eventtype>TC", "<gdacs:eventtype>XX")
    incident = parse_gdacs(data).incidents[0]
    assert incident.type is IncidentType.OTHER and incident.source_id == "XX1000643"


def test_pubdate_when_there_is_no_fromdate() -> None:
    data = edit_item(2, r"<gdacs:fromdate>[^<]*</gdacs:fromdate>", "")
    incident = parse_gdacs(data).incidents[2]
    assert incident.reported_at == datetime(2019, 12, 29, 18, tzinfo=timezone.utc)


def test_empty_channel() -> None:
    result = parse_gdacs(b'<rss version="2.0"><channel><title>x</title></channel></rss>')
    assert result.incidents == [] and result.rejected == []


@pytest.mark.parametrize(
    "data",
    [read_sample("cap", "example1.xml"),
     b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>',
     b'<rss version="2.0"></rss>'],
)
def test_not_rss(data: bytes) -> None:
    with pytest.raises(FeedError) as caught:
        parse_gdacs(data)
    assert caught.value.errors[0]["field"] == "rss"
    assert "expected <rss> with a <channel>" in caught.value.errors[0]["message"]


def test_hostile_or_broken_xml_kills_the_whole_document() -> None:
    with pytest.raises(FeedError, match="refused"):
        parse_gdacs(b'<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss>&x;</rss>')
    with pytest.raises(FeedError, match="malformed XML"):
        parse_gdacs(FEED[: len(FEED) // 2])


def test_an_event_starting_in_the_future_is_refused_alone() -> None:
    result = parse_gdacs(edit_item(0, r"<gdacs:fromdate>[^<]*</gdacs:fromdate>",
                                   "<gdacs:fromdate>Fri, 31 Dec 9999 12:00:00 GMT</gdacs:fromdate>"))
    assert [(r["index"], r["field"]) for r in result.rejected] == [(0, "item[0].gdacs:fromdate")]
    assert "in the future" in result.rejected[0]["message"]
    assert len(result.incidents) == FEED.count(b"<item>") - 1


def test_a_country_code_that_is_no_country_is_dropped_with_a_note_and_the_event_placed_by_its_point() -> None:
    result = parse_gdacs(edit_item(0, r"<gdacs:iso3>[^<]*</gdacs:iso3>", "<gdacs:iso3>ZZZ</gdacs:iso3>"))
    assert result.rejected == []
    cyclone = by_id(result)["TC1000643"]
    assert cyclone.country is None and "<gdacs:iso3>ZZZ</gdacs:iso3> is not an ISO 3166-1 alpha-3" in cyclone.description
    assert by_id(parse_gdacs(FEED))["TC1000643"].country == "MUS"


def test_a_title_wrapped_over_lines_is_one_line_and_one_with_a_nul_is_refused_alone() -> None:
    wrapped = parse_gdacs(edit_item(0, r"<title>[^<]*</title>", "<title>Tropical cyclone\n   over\tMauritius</title>"))
    assert by_id(wrapped)["TC1000643"].title == "Tropical cyclone over Mauritius"
    nul = parse_gdacs(edit_item(0, r"<title>[^<]*</title>", "<title>Tropical cyclone &#x202E;suitiruaM</title>"))
    assert [r["field"] for r in nul.rejected] == ["item[0].title"] and "bidirectional override" in nul.rejected[0]["message"]
