"""The five regional desks and which country belongs to which.

Regional desks of the Division of Regional Operations (A/61/531 para. 17). A country's
desk is decided by its ISO 3166-1 alpha-3 code; the continent (as in Natural Earth) is
the fallback for codes not listed in the exceptions below.
"""

from __future__ import annotations

REGIONS: dict[str, str] = {
    "africa": "Africa",
    "americas": "Americas",
    "asia_pacific": "Asia and the Pacific",
    "europe_central_asia": "Europe and Central Asia",
    "middle_east_north_africa": "Middle East and North Africa",
}

_MENA = frozenset(
    "DZA EGY LBY MAR TUN ESH BHR IRN IRQ ISR JOR KWT LBN OMN PSE QAT SAU SYR ARE YEM".split()
)
_EUROPE_CENTRAL_ASIA = frozenset("KAZ KGZ TJK TKM UZB ARM AZE GEO TUR CYP".split())

_CONTINENT_REGION = {
    "Africa": "africa",
    "North America": "americas",
    "South America": "americas",
    "Asia": "asia_pacific",
    "Oceania": "asia_pacific",
    "Europe": "europe_central_asia",
}


def region_for_country(iso3: str | None, continent: str | None = None) -> str | None:
    """The regional desk responsible for a country, or None when it has none."""
    if iso3:
        code = iso3.upper()
        if code in _MENA:
            return "middle_east_north_africa"
        if code in _EUROPE_CENTRAL_ASIA:
            return "europe_central_asia"
    if continent:
        return _CONTINENT_REGION.get(continent)
    return None


def is_region(code: str) -> bool:
    return code in REGIONS
