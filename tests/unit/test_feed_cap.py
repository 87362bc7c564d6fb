"""CAP 1.1/1.2 -> one incident per message, against the four OASIS examples and our own
messages for what the examples do not cover."""

from __future__ import annotations

import itertools
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import shapely.geometry

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.testdata
from tests.testdata import read_sample  # noqa: E402

from crisis.domain.model import IncidentStatus, IncidentType  # noqa: E402
from crisis.errors import FeedError  # noqa: E402
from crisis.feeds.cap import CapMessage, cap_severity, cap_type, parse_cap  # noqa: E402

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"


def info(
    *areas: str,
    language: str | None = None,
    event: str = "Flash Flood",
    headline: str | None = "Flash flood warning",
    severity: str = "Severe",
    urgency: str = "Immediate",
    certainty: str = "Observed",
    category: str = "Met",
) -> str:
    parts = [f"<language>{language}</language>" if language else "",
             f"<category>{category}</category><event>{event}</event>",
             f"<urgency>{urgency}</urgency><severity>{severity}</severity>",
             f"<certainty>{certainty}</certainty>",
             f"<headline>{headline}</headline>" if headline else "",
             "<description>Water rising.</description><instruction>Move uphill.</instruction>"]
    return "<info>" + "".join(parts) + "".join(areas) + "</info>"


def area(*, polygon: str | None = None, circle: str | None = None, desc: str = "Riverside",
         geocodes: tuple[tuple[str, str], ...] = ()) -> str:
    return ("<area>" + f"<areaDesc>{desc}</areaDesc>"
            + (f"<polygon>{polygon}</polygon>" if polygon else "")
            + (f"<circle>{circle}</circle>" if circle else "")
            + "".join(f"<geocode><valueName>{n}</valueName><value>{v}</value></geocode>"
                      for n, v in geocodes)
            + "</area>")


SQUARE = "10,20 10,21 11,21 11,20 10,20"  # lat,lon: a 1-degree square


def alert(*infos: str, ns: str = CAP12, msg_type: str = "Alert", status: str = "Actual",
          references: str | None = None, identifier: str = "FL-1",
          sent: str = "2024-03-01T10:00:00+02:00", omit: str = "") -> bytes:
    header = {"identifier": identifier, "sender": "ops@example.org", "sent": sent,
              "status": status, "msgType": msg_type, "scope": "Public"}
    body = "".join(f"<{k}>{v}</{k}>" for k, v in header.items() if k != omit)
    if references:
        body += f"<references>{references}</references>"
    body += "".join(infos or (info(area(polygon=SQUARE)),))
    return f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="{ns}">{body}</alert>'.encode()


def refusal(data: bytes, **kwargs: object) -> dict[str, str]:
    with pytest.raises(FeedError) as caught:
        parse_cap(data, **kwargs)  # type: ignore[arg-type]
    return caught.value.errors[0]


# --- the OASIS examples ---------------------------------------------------------------


def test_example2_thunderstorm_polygon() -> None:
    message = parse_cap(read_sample("cap", "example2.xml"))
    assert (message.identifier, message.sender) == ("KSTO1055887203", "KSTO@NWS.NOAA.GOV")
    assert message.sent == datetime(2003, 6, 17, 21, 57, tzinfo=timezone.utc)
    assert (message.status, message.msg_type, message.references) == ("Actual", "Alert", ())
    incident = message.incident
    assert incident is not None
    assert incident.title == "SEVERE THUNDERSTORM WARNING"
    assert incident.type is IncidentType.WEATHER
    assert incident.severity == 4  # Severe / Immediate / Observed
    assert incident.source == "cap"
    assert incident.source_id == "KSTO@NWS.NOAA.GOV,KSTO1055887203"
    assert incident.reported_at == datetime(2003, 6, 17, 21, 57, tzinfo=timezone.utc)
    assert incident.status is None and incident.approximate is False
    assert incident.radius_km is None and incident.country is None
    # CAP "lat,lon" pairs become GeoJSON [lon, lat]
    expected = [(-120.14, 38.47), (-119.95, 38.34), (-119.74, 38.52), (-119.89, 38.62),
                (-120.14, 38.47)]
    assert incident.area is not None and incident.area["type"] == "Polygon"
    ring = [tuple(p) for p in incident.area["coordinates"][0]]
    assert set(ring) == set(expected) and ring[0] == ring[-1] and len(ring) == 5
    polygon = shapely.geometry.shape(incident.area)
    assert polygon.equals(shapely.geometry.Polygon(expected))
    assert polygon.contains(shapely.geometry.Point(incident.lon, incident.lat))
    assert (incident.lat, incident.lon) == pytest.approx((38.484, -119.935), abs=1e-3)
    assert incident.description.startswith("AT 254 PM PDT")
    assert incident.description.endswith("\n\nTAKE COVER IN A SUBSTANTIAL SHELTER UNTIL THE "
                                         "STORM PASSES.")  # description + instruction


def test_example3_earthquake_update_with_circle() -> None:
    message = parse_cap(read_sample("cap", "example3.xml"))
    assert message.msg_type == "Update"
    assert message.sent == datetime(2003, 6, 12, 3, 56, tzinfo=timezone.utc)
    assert message.references == ("trinet@caltech.edu,TRI13970876.1",)
    incident = message.incident
    assert incident is not None
    assert incident.title == "EQ 3.4 Imperial County CA"
    assert incident.type is IncidentType.EARTHQUAKE
    assert incident.severity == 1  # Minor / Past / Observed
    assert (incident.lat, incident.lon) == (32.9525, -115.5527)  # the circle's centre
    assert incident.radius_km is None  # radius 0: a point, not an area
    assert incident.area is None and incident.approximate is False
    assert incident.supersedes == ("trinet@caltech.edu,TRI13970876.1",)
    assert incident.source_id == "trinet@caltech.edu,TRI13970876.2"
    assert incident.status is None  # an Update: the handler updates the incident


def test_example1_area_description_only_needs_a_gazetteer() -> None:
    data = read_sample("cap", "example1.xml")
    error = refusal(data)
    assert error["field"] == "alert.info[0].area[0]"
    assert "no locatable area" in error["message"]
    assert "no gazetteer is configured" in error["message"]
    assert "U.S. nationwide and interests worldwide" in error["message"]

    calls: list[tuple[str, list[tuple[str, str]]]] = []

    def gazetteer(desc: str, geocodes: list[tuple[str, str]]) -> tuple[float, float, str]:
        calls.append((desc, geocodes))
        return 38.9, -77.04, "USA"

    message = parse_cap(data, gazetteer=gazetteer)
    assert calls == [("U.S. nationwide and interests worldwide", [])]
    incident = message.incident
    assert incident is not None
    assert incident.title == "Homeland Security Sets Code ORANGE"
    assert incident.type is IncidentType.TERRORISM
    assert incident.severity == 4  # Severe / Immediate / Likely
    assert (incident.lat, incident.lon, incident.country) == (38.9, -77.04, "USA")
    assert incident.approximate is True
    assert incident.reported_at == datetime(2003, 4, 2, 19, 39, 1, tzinfo=timezone.utc)
    assert "Protective Measures" in incident.description  # the instruction is kept


def test_example4_two_languages_make_one_english_incident() -> None:
    data = read_sample("cap", "example4.xml")
    seen: list[list[tuple[str, str]]] = []

    def gazetteer(desc: str, geocodes: list[tuple[str, str]]) -> tuple[float, float, None]:
        seen.append(geocodes)
        return 34.05, -118.25, None

    message = parse_cap(data, gazetteer=gazetteer)
    incident = message.incident
    assert incident is not None
    assert incident.title == "Amber Alert in Los Angeles County"
    assert incident.description.startswith("DATE/TIME: 06/11/03, 1915 HRS.")
    assert incident.type is IncidentType.ABDUCTION  # an AMBER alert: a child abduction
    assert incident.severity == 4
    assert incident.approximate is True and incident.country is None
    assert seen == [[("SAME", "006037")]]  # the English block's area only
    assert message.sent == datetime(2003, 6, 12, 5, 39, tzinfo=timezone.utc)


def test_gazetteer_that_does_not_know_the_area() -> None:
    error = refusal(read_sample("cap", "example4.xml"), gazetteer=lambda desc, codes: None)
    assert error["field"] == "alert.info[0].area[0]"
    assert "the gazetteer knows none of its areas ('Los Angeles County')" in error["message"]


def test_gazetteer_returning_a_bad_point_is_refused() -> None:
    error = refusal(read_sample("cap", "example4.xml"), gazetteer=lambda d, c: (95.0, 0.0, None))
    assert error["field"] == "alert.info[0].area[0]"
    assert "latitude 95.0 is outside -90..90" in error["message"]


# --- message types, references, statuses ----------------------------------------------


def test_update_references_become_supersedes() -> None:
    refs = ("ops@example.org,FL-1,2024-03-01T08:00:00+02:00 "
            "ops@example.org,FL-2,2024-03-01T09:00:00+02:00")
    message = parse_cap(alert(msg_type="Update", references=refs, identifier="FL-3"))
    assert message.references == ("ops@example.org,FL-1", "ops@example.org,FL-2")
    assert message.incident is not None
    assert message.incident.supersedes == message.references
    assert message.incident.source_id == "ops@example.org,FL-3"
    assert message.incident.status is None


def test_malformed_reference() -> None:
    error = refusal(alert(msg_type="Update", references="just-an-identifier"))
    assert error["field"] == "alert.references"
    assert "'sender,identifier,sent'" in error["message"]


def test_cancel_closes_the_incident() -> None:
    refs = "ops@example.org,FL-1,2024-03-01T08:00:00Z"
    message = parse_cap(alert(msg_type="Cancel", references=refs))
    assert message.incident is not None
    assert message.incident.status is IncidentStatus.CLOSED
    assert message.incident.supersedes == ("ops@example.org,FL-1",)


def test_cancel_without_info_carries_only_the_references() -> None:
    data = alert(msg_type="Cancel", references="ops@example.org,FL-1,2024-03-01T08:00:00Z")
    data = data.replace(data[data.index(b"<info>"):data.index(b"</alert>")], b"")
    message = parse_cap(data)
    assert message.incident is None
    assert message.references == ("ops@example.org,FL-1",)


def test_ack_is_not_an_incident() -> None:
    message = parse_cap(alert(msg_type="Ack"))
    assert isinstance(message, CapMessage) and message.incident is None


def test_alert_without_info_is_refused() -> None:
    data = alert()
    data = data.replace(data[data.index(b"<info>"):data.index(b"</alert>")], b"")
    assert refusal(data) == {"field": "alert.info",
                             "message": "an Alert must carry at least one <info> block"}


def test_exercise_can_never_pass_for_a_real_incident() -> None:
    message = parse_cap(alert(status="Exercise"))
    assert message.status == "Exercise"
    assert message.incident is not None
    assert message.incident.title == "[Exercise] Flash flood warning"


@pytest.mark.parametrize("status", ["Test", "System", "Draft"])
def test_statuses_to_disregard_make_no_incident(status: str) -> None:
    message = parse_cap(alert(status=status))
    assert message.status == status and message.incident is None


def test_sent_is_normalised_to_utc() -> None:
    message = parse_cap(alert(sent="2024-03-01T10:00:00+02:00"))
    assert message.sent == datetime(2024, 3, 1, 8, tzinfo=timezone.utc)
    assert message.sent.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


# --- several <info> blocks ------------------------------------------------------------


def test_english_block_wins_wherever_it_is_and_severity_is_the_highest() -> None:
    spanish = info(area(polygon=SQUARE), language="es-ES", headline="Aviso de inundación",
                   severity="Extreme")
    english = info(area(polygon=SQUARE), language="en-GB", headline="Flood warning",
                   severity="Moderate")
    incident = parse_cap(alert(spanish, english)).incident
    assert incident is not None
    assert incident.title == "Flood warning"
    assert incident.severity == 5  # Extreme, from the Spanish block
    assert incident.area is not None and incident.area["type"] == "Polygon"  # copies merged


def test_first_block_when_none_is_english() -> None:
    french = info(area(polygon=SQUARE), language="fr-CA", headline="Avertissement")
    spanish = info(area(polygon=SQUARE), language="es-MX", headline="Aviso")
    incident = parse_cap(alert(french, spanish)).incident
    assert incident is not None and incident.title == "Avertissement"


def test_event_is_the_title_without_headline() -> None:
    incident = parse_cap(alert(info(area(polygon=SQUARE), headline=None))).incident
    assert incident is not None and incident.title == "Flash Flood"


# --- CAP versions and envelope --------------------------------------------------------


def test_cap_1_1_namespace_is_accepted() -> None:
    incident = parse_cap(alert(ns=CAP11)).incident
    assert incident is not None and incident.type is IncidentType.FLOOD


@pytest.mark.parametrize("ns", ["http://www.incident.com/cap/1.0", ""])
def test_other_namespaces_are_refused(ns: str) -> None:
    error = refusal(alert(ns=ns))
    assert error["field"] == "alert"
    assert CAP12 in error["message"] and CAP11 in error["message"]


def test_wrong_root_element() -> None:
    error = refusal(read_sample("gdacs", "gdacs-rss.xml"))
    assert error["field"] == "alert"
    assert "root element is <rss>" in error["message"]


REQUIRED = {  # CAP 1.2's required elements -> their path in a one-info, one-area alert
    "identifier": "alert.identifier", "sender": "alert.sender", "sent": "alert.sent",
    "status": "alert.status", "msgType": "alert.msgType", "scope": "alert.scope",
    "category": "alert.info[0].category", "event": "alert.info[0].event",
    "urgency": "alert.info[0].urgency", "severity": "alert.info[0].severity",
    "certainty": "alert.info[0].certainty", "areaDesc": "alert.info[0].area[0].areaDesc",
}


def without(element: str, ns: str = CAP12) -> bytes:
    data = alert(ns=ns)
    return re.sub(rf"<{element}>[^<]*</{element}>".encode(), b"", data, count=1)


@pytest.mark.parametrize("ns", [CAP12, CAP11])
@pytest.mark.parametrize("element", list(REQUIRED))
def test_every_missing_required_element_is_accepted_and_flagged_alike(element: str, ns: str) -> None:
    """One policy: a missing <scope> is treated exactly like a missing <severity> or <sent>."""
    message = parse_cap(without(element, ns))
    assert message.incident is not None  # accepted
    missing = [d for d in message.defects if d.missing == element]
    assert len(missing) == 1 and missing[0].field == REQUIRED[element]
    assert f"required element <{element}> is missing" in missing[0].message
    version = "1.2" if ns == CAP12 else "1.1"
    assert f"The source alert departs from CAP {version}: required element <{element}> is missing" \
        in message.incident.description
    assert "taken as" in message.incident.description


def test_missing_scope_and_missing_severity_get_the_same_treatment() -> None:
    scope, severity = parse_cap(without("scope")), parse_cap(without("severity"))
    for message in (scope, severity):
        assert message.incident is not None and len(message.defects) == 1
    assert scope.incident is not None and severity.incident is not None
    assert scope.incident.severity == 4  # Severe / Immediate / Observed, as sent
    assert severity.incident.severity == 2  # Unknown severity: 2, never lower


def test_defaults_for_a_missing_envelope() -> None:
    message = parse_cap(without("status"))
    assert message.status == "Actual" and message.incident is not None
    assert parse_cap(without("msgType")).msg_type == "Alert"
    no_sent = parse_cap(without("sent"))
    assert no_sent.sent is None and no_sent.incident is not None and no_sent.incident.reported_at is None
    no_id = without("identifier")
    first, again = parse_cap(no_id), parse_cap(no_id)
    assert first.identifier.startswith("sha1-") and first.identifier == again.identifier
    assert first.incident is not None and first.incident.source_id == f"ops@example.org,{first.identifier}"


def test_a_valid_alert_has_no_defects_and_a_clean_description() -> None:
    for n in (1, 2, 3, 4):
        message = parse_cap(read_sample("cap", f"example{n}.xml"), gazetteer=lambda d, c: (1.0, 2.0, None))
        assert message.defects == ()
        assert message.incident is not None and "departs from CAP" not in message.incident.description


def test_other_schema_departures_are_flagged_not_refused() -> None:
    data = alert(sent="2024-03-01T08:00:00Z")  # ISO 8601, but CAP 1.2 wants a numeric offset
    message = parse_cap(data.replace(b"<category>Met</category>", b"<category>Weather</category>"))
    assert message.incident is not None
    fields = {d.field: d.message for d in message.defects}
    assert "no Z" in fields["alert.sent"]
    assert "'Weather'" in fields["alert.info[0].category[0]"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"status": "Real"}, "alert.status"), ({"msg_type": "Notice"}, "alert.msgType"),
     ({"sent": "2024-03-01T10:00:00"}, "alert.sent"), ({"sent": "yesterday"}, "alert.sent")],
)
def test_bad_envelope_values(kwargs: dict[str, str], field: str) -> None:
    assert refusal(alert(**kwargs))["field"] == field  # type: ignore[arg-type]


def test_unknown_severity_word_names_the_block() -> None:
    data = alert(info(area(polygon=SQUARE)), info(area(polygon=SQUARE), severity="High"))
    error = refusal(data)
    assert error["field"] == "alert.info[1].severity"
    assert "'High'" in error["message"] and "Extreme" in error["message"]


@pytest.mark.parametrize("attack", ["billion laughs", "external entity"])
def test_hostile_xml_is_refused(attack: str) -> None:
    doctype = ('<!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
               if attack == "billion laughs"
               else '<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    data = alert().replace(b"<alert ", doctype.encode() + b"<alert ", 1)
    error = refusal(data)
    assert error["field"] == "document"
    assert "refused" in error["message"]


def test_truncated_alert() -> None:
    error = refusal(read_sample("cap", "example2.xml")[:-40])
    assert error["field"].startswith("line ")
    assert "malformed XML" in error["message"]


# --- geometry -------------------------------------------------------------------------


def test_bad_latitude_names_the_polygon() -> None:
    bad = "10,20 95,21 11,21 10,20"
    error = refusal(alert(info(area(polygon=SQUARE), area(polygon=bad))))
    assert error["field"] == "alert.info[0].area[1].polygon"
    assert error["message"] == "point 2 '95,21': latitude 95.0 is outside -90..90"


def test_bad_longitude_names_the_circle() -> None:
    error = refusal(alert(info(area(circle="10,200 5"))))
    assert error["field"] == "alert.info[0].area[0].circle"
    assert "longitude 200.0 is outside -180..180" in error["message"]


@pytest.mark.parametrize(
    ("polygon", "message"),
    [("10,20 10;21 11,21 10,20", "point 2 '10;21' is not 'lat,lon'"),
     ("10,20 10,21 10,20", "at least 3 distinct"),
     ("10,20 11,21 10,21 11,20 10,20", "crosses itself"),
     ("nan,20 10,21 11,21 nan,20", "latitude nan is outside")],
)
def test_malformed_polygons(polygon: str, message: str) -> None:
    error = refusal(alert(info(area(polygon=polygon))))
    assert error["field"] == "alert.info[0].area[0].polygon"
    assert message in error["message"]


@pytest.mark.parametrize("circle", ["10,20", "10,20 -1", "10,20 abc", "10,20 9000"])
def test_malformed_circles(circle: str) -> None:
    assert refusal(alert(info(area(circle=circle))))["field"] == "alert.info[0].area[0].circle"


def test_unclosed_ring_is_closed() -> None:
    incident = parse_cap(alert(info(area(polygon="10,20 10,21 11,21 11,20")))).incident
    assert incident is not None and incident.area is not None
    ring = incident.area["coordinates"][0]
    assert tuple(ring[0]) == tuple(ring[-1]) and len(ring) == 5


def test_separate_polygons_make_a_multipolygon_with_lon_lat_order() -> None:
    far = "40,-5 40,-4 41,-4 41,-5 40,-5"
    incident = parse_cap(alert(info(area(polygon=SQUARE), area(polygon=far)))).incident
    assert incident is not None and incident.area is not None
    assert incident.area["type"] == "MultiPolygon"
    shape = shapely.geometry.shape(incident.area)
    assert shape.is_valid and len(shape.geoms) == 2
    assert shape.bounds == (-5.0, 10.0, 21.0, 41.0)  # (minlon, minlat, maxlon, maxlat)


def test_adjacent_areas_sharing_an_edge_merge_into_one_valid_polygon() -> None:
    neighbour = "10,21 10,22 11,22 11,21 10,21"
    incident = parse_cap(alert(info(area(polygon=SQUARE), area(polygon=neighbour)))).incident
    assert incident is not None and incident.area is not None
    assert incident.area["type"] == "Polygon"
    assert shapely.geometry.shape(incident.area).bounds == (20.0, 10.0, 22.0, 11.0)
    assert (incident.lat, incident.lon) == pytest.approx((10.5, 21.0))


def test_circle_gives_location_and_radius() -> None:
    incident = parse_cap(alert(info(area(circle="-33.45,-70.66 25.5")))).incident
    assert incident is not None
    assert (incident.lat, incident.lon, incident.radius_km) == (-33.45, -70.66, 25.5)
    assert incident.area is None


def test_several_circles_are_covered_by_one() -> None:
    incident = parse_cap(alert(info(area(circle="0,0 10"), area(circle="0,1 10")))).incident
    assert incident is not None
    assert (incident.lat, incident.lon) == (0.0, 0.0)
    assert incident.radius_km == pytest.approx(111.2 + 10, abs=0.5)


def test_circle_and_polygon_together() -> None:
    incident = parse_cap(alert(info(area(polygon=SQUARE, circle="10.5,20.5 5")))).incident
    assert incident is not None
    assert (incident.lat, incident.lon, incident.radius_km) == (10.5, 20.5, 5.0)
    assert incident.area is not None and incident.area["type"] == "Polygon"


def test_geocode_only_area_with_gazetteer() -> None:
    data = alert(info(area(desc="Kathmandu", geocodes=(("ISO3166-2", "NP-BA"),))))
    incident = parse_cap(data, gazetteer=lambda d, c: (27.7, 85.3, "npl")).incident
    assert incident is not None
    assert (incident.lat, incident.lon, incident.country) == (27.7, 85.3, "NPL")
    assert incident.approximate is True and incident.area is None


def test_geocode_only_area_without_gazetteer() -> None:
    data = alert(info(area(desc="Kathmandu", geocodes=(("ISO3166-2", "NP-BA"),))))
    error = refusal(data)
    assert error["field"] == "alert.info[0].area[0]"
    assert "no locatable area" in error["message"] and "'Kathmandu'" in error["message"]


def test_info_without_any_area() -> None:
    error = refusal(alert(info()))
    assert error == {"field": "alert.info[0].area", "message": "the alert has no <area>"}


# --- mappings -------------------------------------------------------------------------

SEVERITIES = ["Unknown", "Minor", "Moderate", "Severe", "Extreme"]  # weakest first
URGENCIES = ["Past", "Future", "Expected", "Immediate"]
CERTAINTIES = ["Unlikely", "Possible", "Likely", "Observed"]


def test_severity_is_monotone_and_within_1_to_5() -> None:
    for s, u, c in itertools.product(range(5), range(4), range(4)):
        score = cap_severity(SEVERITIES[s], URGENCIES[u], CERTAINTIES[c])
        assert 1 <= score <= 5
        if s < 4:
            assert cap_severity(SEVERITIES[s + 1], URGENCIES[u], CERTAINTIES[c]) >= score
        if u < 3:
            assert cap_severity(SEVERITIES[s], URGENCIES[u + 1], CERTAINTIES[c]) >= score
        if c < 3:
            assert cap_severity(SEVERITIES[s], URGENCIES[u], CERTAINTIES[c + 1]) >= score


@pytest.mark.parametrize(
    ("severity", "urgency", "certainty", "expected"),
    [("Extreme", "Immediate", "Observed", 5), ("Severe", "Immediate", "Likely", 4),
     ("Moderate", "Expected", "Likely", 3), ("Minor", "Immediate", "Observed", 2),
     ("Minor", "Past", "Observed", 1), ("Extreme", "Future", "Possible", 3),
     ("Extreme", "Unknown", "Unknown", 5), ("Unknown", "Unknown", "Unknown", 2),
     ("Minor", "Past", "Unlikely", 1), ("severe", "IMMEDIATE", "observed", 4)],
)
def test_severity_table(severity: str, urgency: str, certainty: str, expected: int) -> None:
    assert cap_severity(severity, urgency, certainty) == expected


# Each <certainty> moves the score by its own weight, shown on a base (Severe/Immediate,
# 4) where neither the floor of 1 nor the ceiling of 5 can hide a wrong weight:
# Observed, Likely and Unknown 0, Possible -1, Unlikely -2.
CERTAINTY_WEIGHTS = [("Observed", 4), ("Likely", 4), ("Unknown", 4), ("Possible", 3), ("Unlikely", 2)]


@pytest.mark.parametrize(("certainty", "expected"), CERTAINTY_WEIGHTS)
def test_each_certainty_weight_away_from_the_clamp(certainty: str, expected: int) -> None:
    assert cap_severity("Severe", "Immediate", certainty) == expected
    assert cap_severity("Severe", "Expected", certainty.upper()) == expected
    assert cap_severity("Moderate", "Immediate", certainty) == expected - 1  # the same weight on another base


@pytest.mark.parametrize(("certainty", "expected"), CERTAINTY_WEIGHTS)
def test_certainty_sets_the_incident_severity(certainty: str, expected: int) -> None:
    message = parse_cap(alert(info(area(polygon=SQUARE), severity="Severe", urgency="Immediate", certainty=certainty)))
    assert message.incident is not None and message.incident.severity == expected


def test_unlikely_lowers_an_extreme_alert_by_two() -> None:
    assert cap_severity("Extreme", "Immediate", "Unlikely") == 3
    assert cap_severity("Extreme", "Immediate", "Possible") == 4
    assert cap_severity("Extreme", "Future", "Unlikely") == 2


@pytest.mark.parametrize(
    ("event", "categories", "expected"),
    [("Earthquake", ["Geo"], IncidentType.EARTHQUAKE),
     ("Tsunami Warning after earthquake", ["Geo"], IncidentType.TSUNAMI),
     ("SEVERE THUNDERSTORM", ["Met"], IncidentType.WEATHER),
     ("Hurricane Warning", ["Met"], IncidentType.CYCLONE),
     ("Flash Flood", ["Met"], IncidentType.FLOOD),
     ("Bushfire", ["Fire"], IncidentType.WILDFIRE),
     ("Child Abduction", ["Rescue"], IncidentType.ABDUCTION),
     ("Missile alert", ["Security"], IncidentType.ARMED_CONFLICT),
     ("Air raid warning", ["Security"], IncidentType.AIRSTRIKE),
     ("Artillery shelling expected", ["Security"], IncidentType.SHELLING),
     ("Riot in the city centre", ["Security"], IncidentType.RIOT),
     ("Protest march", ["Security"], IncidentType.DEMONSTRATION),
     ("Kidnapping threat", ["Security"], IncidentType.KIDNAPPING),
     ("Suspected explosive device", ["Security"], IncidentType.IED),
     ("Civil Disturbance", ["Security"], IncidentType.CIVIL_UNREST),
     ("Hostage situation", ["Security"], IncidentType.HOSTAGE),
     ("Cholera outbreak", ["Health"], IncidentType.EPIDEMIC),
     ("Hazardous Materials", ["CBRNE"], IncidentType.ACCIDENT),
     ("Volcanic ash advisory", ["Geo"], IncidentType.VOLCANO),
     ("Law enforcement warning", ["Security"], IncidentType.CRIME),
     ("Avviso", ["Met"], IncidentType.WEATHER),  # not English: the category decides
     ("Aviso", ["Security"], IncidentType.OTHER),  # Security alone says too little
     ("Police activity", [], IncidentType.CRIME)],
)
def test_type_mapping(event: str, categories: list[str], expected: IncidentType) -> None:
    assert cap_type(event, categories) is expected


def test_an_alert_sent_in_the_future_is_refused() -> None:
    error = refusal(alert(sent="9999-12-31T00:00:00+00:00"))
    assert error["field"] == "alert.sent" and "in the future" in error["message"]
    assert parse_cap(alert(sent=datetime.now(timezone.utc).isoformat())).incident is not None
