"""Country and regional desk of points, in bulk."""

import numpy as np

from crisis.fusion.countries import CountryIndex


def test_points_get_their_country_and_desk(countries: CountryIndex) -> None:
    lat = np.array([33.89, 48.85, -1.29, 27.7, 18.54, 0.0])
    lon = np.array([35.5, 2.35, 36.82, 85.3, -72.34, -30.0])
    iso, region = countries.locate(lat, lon)
    assert iso.tolist() == ["LBN", "FRA", "KEN", "NPL", "HTI", None]
    # mid-Atlantic, more than 500 km from any country: no country, the desk of its ocean basin
    assert region.tolist() == ["middle_east_north_africa", "europe_central_asia", "africa", "asia_pacific", "americas",
                               "africa"]


def test_coastal_airport_just_outside_the_coarse_outline_still_gets_its_country(countries: CountryIndex) -> None:
    iso, _ = countries.locate(np.array([33.82]), np.array([35.49]))  # Beirut airport, on the coast
    assert iso[0] == "LBN"


def test_codes_missing_in_natural_earth_are_fixed(countries: CountryIndex) -> None:
    assert countries.centroid("FRA") is not None and countries.centroid("NOR") is not None
    assert countries.centroid("ZZZ") is None


def test_small_countries_the_coarse_outlines_leave_out_get_their_own_code(countries: CountryIndex) -> None:
    # Mauritius, Malta, Singapore, Bahrain, Barbados, Tuvalu and the Maldives have no 1:110m
    # outline; San Marino lies inside 1:110m Italy: its own 1:10m outline comes first.
    places = {"MUS": (-20.16, 57.5), "MLT": (35.9, 14.5), "SGP": (1.35, 103.82), "BHR": (26.1, 50.55),
              "BRB": (13.1, -59.6), "TUV": (-8.5, 179.2), "MDV": (4.17, 73.5), "SMR": (43.94, 12.45)}
    lat, lon = (np.array([p[i] for p in places.values()]) for i in (0, 1))
    iso, region = countries.locate(lat, lon)
    assert iso.tolist() == list(places)
    assert region.tolist() == ["africa", "europe_central_asia", "asia_pacific", "middle_east_north_africa",
                               "americas", "asia_pacific", "asia_pacific", "europe_central_asia"]
    # Rome is still Italy; 300 km east of Mauritius, at sea, is nearest Mauritius
    iso, _ = countries.locate(np.array([41.9, -20.2]), np.array([12.45, 60.4]))
    assert iso.tolist() == ["ITA", "MUS"]


def test_a_small_country_can_be_an_area_and_a_centre(countries: CountryIndex) -> None:
    centre = countries.centroid("MUS")
    assert centre is not None and -20.6 < centre[0] < -19.9 and 57.2 < centre[1] < 57.9
    assert countries.countries_in_area({"type": "Polygon", "coordinates": [[[57, -21], [58, -21], [58, -19.8],
                                                                            [57, -19.8], [57, -21]]]}) == ["MUS"]
    assert countries.region_of_country("SGP") == "asia_pacific"


def test_the_distance_from_a_point_to_the_country_named_beside_it(countries: CountryIndex) -> None:
    # Amman in Jordan; Geneva just outside Switzerland's coarse outline; Amman's coordinates swapped
    # (Turkey); Mauritius from its small outline; a code with no outline.
    km = countries.km_to_country(np.array([31.95, 46.2, 35.93, -20.16, 10.0]), np.array([35.93, 6.14, 31.95, 57.5, 10.0]),
                                 ["JOR", "CHE", "JOR", "MUS", "XXX"])
    assert km[0] == 0.0 and km[3] < 5
    assert 0 < km[1] < 20  # the 1:110m outline puts Geneva in France, a few km off
    assert 300 < km[2] < 600
    assert np.isnan(km[4])
