"""Every incident and person belongs to a region; an incident over several countries to
every region it touches; a desk may be granted several regions (issue 9, regional desks).

Samples: tests/samples/gdacs/gdacs-rss.xml (GDACS, (c) European Union) and
tests/samples/usgs/all_day_2019-01-30.geojson (USGS, public domain), read in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest

from crisis.adapters.accounts import Principal
from crisis.domain import access
from crisis.domain.model import GeoPoint, Incident, IncidentType
from crisis.domain.regions import (
    REGION_BOUNDS,
    REGIONS,
    initial_view,
    region_at_sea,
    region_for_country,
    region_names,
)
from crisis.domain.serialize import incident_from_dict, incident_to_dict
from crisis.feeds.gdacs import parse_gdacs
from crisis.fusion.countries import CountryIndex, iso3_of_names
from tests.testdata import samples_dir

TESTDATA = samples_dir()  # tests/samples: the shared testdata, copied unmodified (tests/testdata.py)
MENA, EUROPE, AFRICA, ASIA, AMERICAS = ("middle_east_north_africa", "europe_central_asia", "africa", "asia_pacific",
                                        "americas")


def _gdacs() -> list:
    return parse_gdacs((TESTDATA / "gdacs" / "gdacs-rss.xml").read_bytes()).incidents


def _usgs() -> dict[str, tuple[float, float]]:
    data = json.loads((TESTDATA / "usgs" / "all_day_2019-01-30.geojson").read_text())
    return {f["id"]: (f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0]) for f in data["features"]}


# -- points at sea ------------------------------------------------------------------------------


def test_offshore_earthquakes_of_the_usgs_sample_all_get_a_region(countries: CountryIndex) -> None:
    quakes = _usgs()
    lat = np.array([q[0] for q in quakes.values()])
    lon = np.array([q[1] for q in quakes.values()])
    iso, region = countries.locate(lat, lon)
    assert all(r in REGIONS for r in region.tolist()), "an earthquake without a desk"
    by_id = dict(zip(quakes, zip(iso.tolist(), region.tolist())))
    assert by_id["pr2019030019"] == ("DOM", AMERICAS)  # 104 km NNE of Punta Cana: the nearest country
    assert by_id["us1000is2c"] == (None, AMERICAS)  # Central East Pacific Rise: far out, by ocean basin
    assert by_id["us1000irwt"] == ("TON", ASIA)  # 155 km W of Neiafu: Tonga (a 1:10m outline, countries-small)


def test_the_sea_limit_is_geodesic_kilometres(countries: CountryIndex) -> None:
    # 21.5 N 70 W, north of Hispaniola: 198 km from the Dominican Republic's outline (the
    # 1:110m countries only: the Turks and Caicos, a small country, are nearer)
    coarse = countries.countries[countries.countries["continent"].notna()]  # small ones have no continent
    assert "TCA" not in coarse["iso_a3"].tolist() and "TCA" in countries.countries["iso_a3"].tolist()
    assert CountryIndex(coarse, sea_region_km=210).locate(np.array([21.5]), np.array([-70.0]))[0][0] == "DOM"
    assert CountryIndex(coarse, sea_region_km=185).locate(np.array([21.5]), np.array([-70.0]))[0][0] is None
    # 78 N 36 E, east of Svalbard: 8.8 degrees from it in lon/lat, but a degree of longitude
    # is 23 km there: within 300 km on the ellipsoid (a rule in degrees would miss it).
    assert CountryIndex(countries.countries, sea_region_km=300).locate(np.array([78.0]), np.array([36.0]))[0][0] == "NOR"


def test_beyond_the_limit_a_point_goes_to_its_ocean_basins_desk() -> None:
    assert region_at_sea(-25.0, 70.0) == ASIA  # Indian Ocean, east
    assert region_at_sea(-25.0, 60.0) == AFRICA  # Indian Ocean, west (Mauritius' waters)
    assert region_at_sea(-10.0, -100.0) == AMERICAS  # Pacific, east
    assert region_at_sea(-10.0, -150.0) == ASIA  # Pacific, central
    assert region_at_sea(45.0, -20.0) == EUROPE  # North Atlantic, east
    assert region_at_sea(80.0, 0.0) == EUROPE  # Arctic
    assert region_at_sea(-5.0, -10.0) == AFRICA  # Gulf of Guinea, off Africa


def test_countries_without_an_outline_have_a_desk() -> None:
    assert region_for_country("MUS") == AFRICA
    assert region_for_country("SYC") == AFRICA
    assert region_for_country("MDV") == ASIA
    assert region_for_country("MLT") == EUROPE
    assert region_for_country("BHR") == MENA


def test_mauritius_cyclone_of_the_gdacs_sample_is_placed_in_africa(countries: CountryIndex) -> None:
    cyclone = next(i for i in _gdacs() if "CALVINIA" in i.title)
    assert cyclone.country == "MUS"
    country, regions = countries.regions_for(cyclone.lat, cyclone.lon, cyclone.country, cyclone.countries, cyclone.area)
    assert country == "MUS" and regions == (AFRICA,)


# -- incidents over several countries ---------------------------------------------------------


def test_gdacs_names_every_country_of_a_multi_country_event() -> None:
    drought = next(i for i in _gdacs() if "Iraq" in i.title)
    assert drought.country is None  # no one country: its <gdacs:iso3> is only the first listed
    assert drought.countries == ("BGR", "IRQ", "IRN", "TUR")
    assert iso3_of_names("Bosnia & Herzegovina, Russia, Turkey") == ("BIH", "RUS", "TUR")


def test_drought_over_iraq_and_iran_belongs_to_both_desks(countries: CountryIndex) -> None:
    drought = next(i for i in _gdacs() if "Iraq" in i.title)
    country, regions = countries.regions_for(drought.lat, drought.lon, drought.country, drought.countries)
    assert country == "TUR"  # where its point is
    assert regions[0] == EUROPE and MENA in regions and set(regions) == {EUROPE, MENA}


def test_an_area_over_several_countries_touches_each_region(countries: CountryIndex) -> None:
    # a box over the Sinai: Egypt (MENA) and Israel / Jordan / Saudi Arabia; and over Sudan (Africa)
    area = {"type": "Polygon", "coordinates": [[[30.0, 18.0], [36.0, 18.0], [36.0, 31.0], [30.0, 31.0], [30.0, 18.0]]]}
    _, regions = countries.regions_for(27.0, 31.0, None, (), area)
    assert regions[0] == MENA and AFRICA in regions


def test_incident_region_is_the_first_of_its_regions() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    incident = Incident("i", "t", IncidentType.DROUGHT, 2, GeoPoint(39.5, 31.9), now, now, regions=(EUROPE, MENA))
    assert incident.region == EUROPE
    back = incident_from_dict(incident_to_dict(incident))
    assert back.regions == (EUROPE, MENA) and incident_to_dict(incident)["regions"] == [EUROPE, MENA]
    old = Incident("j", "t", IncidentType.FLOOD, 2, GeoPoint(0, 0), now, now, region=AFRICA)
    assert old.regions == (AFRICA,)
    assert old.with_changes(region=MENA).regions == (MENA,)


# -- who sees what --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    role: str
    region: str | None = None


def test_a_desk_with_two_regions_sees_both_and_not_a_third() -> None:
    desk = Principal("d", "regional_desk", region=AFRICA, regions=(AFRICA, MENA))
    assert access.regions_of(desk) == {AFRICA, MENA}
    assert access.may_see_region(desk, AFRICA) and access.may_see_region(desk, MENA)
    assert not access.may_see_region(desk, EUROPE)
    assert access.region_scope(desk) == f"{AFRICA},{MENA}"
    assert access.in_scope(access.region_scope(desk), [MENA]) and not access.in_scope(access.region_scope(desk), [ASIA])


def test_a_multi_region_incident_is_seen_by_every_desk_it_touches() -> None:
    mena, europe, asia = (Principal(n, "regional_desk", region=r) for n, r in (("m", MENA), ("e", EUROPE), ("a", ASIA)))
    assert access.may_see_regions(mena, (EUROPE, MENA)) and access.may_see_regions(europe, (EUROPE, MENA))
    assert not access.may_see_regions(asia, (EUROPE, MENA))
    assert not access.may_see_regions(mena, (None,))


def test_no_region_is_nothing_and_all_roles_see_everything() -> None:
    assert access.regions_of(Principal("x", "regional_desk")) == frozenset()
    assert not access.may_see_regions(Principal("x", "regional_desk"), (AFRICA,))
    with pytest.raises(PermissionError):
        access.region_scope(Principal("x", "regional_desk"))
    assert access.regions_of(Principal("f", "feed", region=AFRICA)) == frozenset()
    assert access.regions_of(Principal("d", "duty_officer")) is None
    assert access.may_see_regions(Viewer("wall"), (ASIA,))
    # a viewer that carries a scope key (a room's) reads as its regions
    assert access.regions_of(Viewer("regional_desk", f"{AFRICA},{MENA}")) == {AFRICA, MENA}


# -- the desk's map and header ---------------------------------------------------------------------


def test_a_desk_map_opens_on_its_region() -> None:
    assert initial_view(None) is None  # every region: the world
    view = initial_view([MENA])
    assert view is not None
    west, south, east, north = REGION_BOUNDS[MENA]
    centre = view["center"]
    assert isinstance(centre, dict) and west < centre["lon"] < east and south < centre["lat"] < north
    assert 2.5 < float(view["zoom"]) < 5  # a region, not the world (1.2) nor a city
    both = initial_view([AFRICA, MENA])
    assert both is not None and float(both["zoom"]) < float(view["zoom"])


def test_regions_in_words() -> None:
    assert region_names([MENA]) == "Middle East and North Africa"
    assert region_names([MENA, AFRICA]) == "Africa, Middle East and North Africa"
