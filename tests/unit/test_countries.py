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
