"""Real, valid CAP alerts with no coordinates placed by subdivision, country code, script or
sender (issue 9, "Feeds found wanting"); the schema policy seen in feed health.

Against a real (embedded) Redis through ``ingest_cap``; the ``context`` fixture of
tests/conftest.py (a fresh database per test).
"""

from __future__ import annotations

import shapely.geometry

from crisis.bootstrap import Context
from crisis.feeds.gazetteer import CountryGazetteer
from crisis.feeds.intake import MessageRejected, ingest_cap
from crisis.fusion.countries import CountryIndex
from crisis.views import feed_health_report
from tests.conftest import random_ref
from tests.testdata import read_sample

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
ISO_URL = "https://www.iso.org/obp/ui/#iso:code:3166:AU"


def alert(identifier: str, area: str, sender: str = "ops@example.org", drop: str = "",
          event: str = "Severe Thunderstorm") -> bytes:
    """A valid CAP 1.2 alert whose only <area> is ``area``; ``drop`` omits one element."""
    elements = {
        "identifier": identifier, "sender": sender, "sent": "2024-03-01T10:00:00+11:00",
        "status": "Actual", "msgType": "Alert", "scope": "Public",
    }
    header = "".join(f"<{k}>{v}</{k}>" for k, v in elements.items() if k != drop)
    info = {"category": "Met", "event": event, "urgency": "Immediate", "severity": "Severe",
            "certainty": "Observed"}
    body = "".join(f"<{k}>{v}</{k}>" for k, v in info.items() if k != drop)
    return (f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="{CAP12}">{header}<info>{body}'
            f"<headline>{event} warning</headline>{area}</info></alert>").encode()


def area(desc: str, *geocodes: tuple[str, str]) -> str:
    codes = "".join(f"<geocode><valueName>{n}</valueName><value>{v}</value></geocode>" for n, v in geocodes)
    return f"<area><areaDesc>{desc}</areaDesc>{codes}</area>"


def stored(context: Context, data: bytes):  # type: ignore[no-untyped-def]
    result = ingest_cap(context, data, "test")
    assert (result.accepted, result.created, result.rejected) == (1, 1, [])
    return context.deps.incidents.get(result.incident_ids[0]), result


def test_an_alert_placed_only_by_au_nsw_lands_in_australia(context: Context, countries: CountryIndex) -> None:
    """The issue's test: the only place is an ISO 3166-2 geocode under a URL value name."""
    incident, _ = stored(context, alert(random_ref(), area("NSW", (ISO_URL, "AU-NSW"))))
    assert incident.country == "AUS" and incident.region == "asia_pacific"
    assert incident.approximate is True
    # At a place inside New South Wales (Sydney lies at -33.9, 151.2), not Australia's middle.
    assert -37.5 < incident.location.lat < -28.2 and 141.0 < incident.location.lon < 153.7
    assert countries.locate([incident.location.lat], [incident.location.lon])[0][0] == "AUS"


def test_a_subdivision_code_under_any_iso_value_name(context: Context) -> None:
    for value_name in ("ISO3166-2", "iso 3166-2", "http://www.iso.org/iso/country_codes"):
        incident, _ = stored(context, alert(random_ref(), area("Bayern", (value_name, "DE-BY"))))
        assert incident.country == "DEU" and incident.region == "europe_central_asia"
        assert shapely.geometry.Point(incident.location.lon, incident.location.lat).within(
            shapely.geometry.box(8.9, 47.2, 13.9, 50.6))  # Bavaria's bounding box


def test_a_non_latin_area_description_with_a_country_geocode_is_placed(context: Context) -> None:
    incident, _ = stored(context, alert(random_ref(), area("جنوب لبنان", ("ISO3166", "LB"))))
    assert incident.country == "LBN" and incident.region == "middle_east_north_africa"
    assert incident.approximate is True


def test_a_non_latin_area_description_alone_is_placed_by_its_name(context: Context) -> None:
    incident, _ = stored(context, alert(random_ref(), area("Ливан, южные районы")))
    assert incident.country == "LBN"
    incident, _ = stored(context, alert(random_ref(), area("黎巴嫩南部")))
    assert incident.country == "LBN"


def test_an_unknown_national_scheme_is_placed_by_the_senders_country(context: Context) -> None:
    # Australia's Bureau of Meteorology: a national area code only, an .au address.
    data = alert(random_ref(), area("Wagga Wagga district", ("AMOC-AreaCode", "NSW_FA009")),
                 sender="cap@bom.gov.au")
    incident, _ = stored(context, data)
    assert incident.country == "AUS" and incident.region == "asia_pacific" and incident.approximate


def test_a_wmo_register_sender_is_placed_in_its_country(context: Context) -> None:
    data = alert(random_ref(), area("Vestland", ("NUTS3-like", "V-46")), sender="urn:oid:2.49.0.0.578.0")
    incident, _ = stored(context, data)
    assert incident.country == "NOR"


def test_a_small_island_state_missing_from_the_basemap_is_placed(context: Context) -> None:
    incident, _ = stored(context, alert(random_ref(), area("Port Louis", ("ISO3166-2", "MU-PL")), event="Cyclone"))
    assert incident.country == "MUS" and incident.region == "africa"
    incident, _ = stored(context, alert(random_ref(), area("Maurice", ("ISO3166", "MU")), event="Cyclone"))
    assert incident.country == "MUS" and incident.region == "africa"
    assert abs(incident.location.lat + 20.2) < 0.5 and abs(incident.location.lon - 57.6) < 0.5


def test_only_what_cannot_be_placed_anywhere_is_dead_lettered(context: Context) -> None:
    data = alert(random_ref(), area("Zone 7", ("district", "Z7")), sender="ops@example.org")
    try:
        ingest_cap(context, data, "test")
    except MessageRejected as refused:
        assert "no locatable area" in refused.errors[0]["message"]
        assert "nor its sender's country" in refused.errors[0]["message"]
    else:
        raise AssertionError("an alert with nothing to place it by was stored")


def test_missing_severity_is_flagged_exactly_like_missing_scope(context: Context) -> None:
    place = area("NSW", ("ISO3166-2", "AU-NSW"))
    flagged = {}
    for element in ("scope", "severity"):
        incident, result = stored(context, alert(random_ref(), place, drop=element))
        assert f"required element <{element}> is missing" in incident.description
        assert any(f"<{element}> is missing" in note for note in result.notes)
        health = feed_health_report(context)["feeds"]["cap"]
        flagged[element] = health["flagged_total"]
        assert health["status"] == "ok" and f"<{element}> is missing" in health["last_defect"]
    assert flagged == {"scope": 1, "severity": 2}
    assert int(context.feed_log.stats("cap").get("rejected_total", 0)) == 0


def test_the_oasis_examples_carry_no_defect(context: Context) -> None:
    for n in (1, 2, 3, 4):
        ingest_cap(context, read_sample("cap", f"example{n}.xml"), "test")
    assert feed_health_report(context)["feeds"]["cap"]["flagged_total"] == 0


def test_a_us_county_or_zone_code_is_placed_in_its_state_not_the_middle_of_the_country(context: Context,
                                                                                       countries: CountryIndex) -> None:
    """The finding: example4 (an AMBER alert for Los Angeles County, SAME 006037) was placed in
    Kansas, 2,000 km off, as the nationwide example1 was. A county code names its state."""
    gazetteer = CountryGazetteer(countries)
    for scheme, code in (("SAME", "006037"), ("FIPS6", "06037"), ("UGC", "CAZ041")):
        lat, lon, iso = gazetteer("", [(scheme, code)])
        assert iso == "USA" and 32.5 < lat < 42.0 and -124.5 < lon < -114.1, (scheme, code, lat, lon)  # California
    lat, lon, iso = gazetteer("", [("SAME", "048201")])  # Harris County, Texas
    assert iso == "USA" and 25.8 < lat < 36.5 and -106.7 < lon < -93.5, (lat, lon)
    assert gazetteer("", [("SAME", "072001")])[2] == "PRI"  # type: ignore[index]  # Puerto Rico: a country of ISO's
    marine = gazetteer("", [("UGC", "PZZ530")])  # a coastal-waters zone names no state: the country, as before
    assert marine is not None and marine[2] == "USA"
    amber = ingest_cap(context, read_sample("cap", "example4.xml"), "test")
    incident = context.deps.incidents.get(amber.incident_ids[0])
    assert incident.country == "USA" and 32.5 < incident.location.lat < 42.0 and incident.location.lon < -114.1, incident


def test_gazetteer_subdivisions_and_senders(countries: CountryIndex) -> None:
    gazetteer = CountryGazetteer(countries)
    lat, lon, iso = gazetteer("", [(ISO_URL, "AU-NSW")])
    assert iso == "AUS" and -37.5 < lat < -28.2
    assert gazetteer("", [("SAME", "US-CA")]) is None or gazetteer("", [("SAME", "US-CA")])[2] == "USA"
    assert gazetteer.sender_place("cap@meteo.fr") is not None and gazetteer.sender_place("cap@meteo.fr")[2] == "FRA"
    assert gazetteer.sender_place("alerts@met.gov.uk")[2] == "GBR"  # type: ignore[index]
    assert gazetteer.sender_place("w-nws.webmaster@noaa.gov")[2] == "USA"  # type: ignore[index]
    assert gazetteer.sender_place("ops@example.org") is None
    assert gazetteer.country_of("", [("http://www.iso.org/iso/country_codes", "LB")]) == "LBN"
    assert gazetteer.sender_place("someone", "2.49.0.1.36.0.2024") is not None
