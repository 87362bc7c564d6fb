"""The five regional desks and which country belongs to which.

Regional desks of the Division of Regional Operations (A/61/531 para. 17). A country's
desk is decided by its ISO 3166-1 alpha-3 code; the continent (as in Natural Earth) is
the fallback for codes not listed in the exceptions below.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

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

# Countries and territories the 1:110m basemap has no outline for (small states, islands):
# their desk by ISO 3166-1 alpha-3, following the UN M49 continent as the basemap's own
# continents do (Bahrain is in _MENA above).
_WITHOUT_OUTLINE = {
    **dict.fromkeys("COM CPV IOT MUS MYT REU SHN STP SYC".split(), "africa"),
    **dict.fromkeys("ABW AIA ATG BES BLM BMU BRB BVT CUW CYM DMA GLP GRD GUF KNA LCA MAF MSR MTQ SGS SPM SXM TCA "
                    "VCT VGB VIR".split(), "americas"),
    **dict.fromkeys("ASM CCK COK CXR FSM GUM HKG HMD KIR MAC MDV MHL MNP NFK NIU NRU PCN PLW PYF SGP TKL TON TUV "
                    "UMI WLF WSM".split(), "asia_pacific"),
    **dict.fromkeys("ALA AND FRA FRO GGY GIB IMN JEY LIE MCO MLT NOR SJM SMR VAT".split(), "europe_central_asia"),
}

# The map extent each desk opens on: (west, south, east, north) in degrees.
REGION_BOUNDS: dict[str, tuple[float, float, float, float]] = {
    "africa": (-26.0, -36.0, 60.0, 28.0),
    "americas": (-170.0, -56.0, -30.0, 72.0),
    "asia_pacific": (60.0, -48.0, 180.0, 55.0),
    "europe_central_asia": (-25.0, 34.0, 90.0, 72.0),
    "middle_east_north_africa": (-18.0, 12.0, 64.0, 42.0),
}

# Beyond CRISIS_SEA_REGION_KM of any country a point at sea goes to the desk that covers
# its ocean basin: the first box (west, south, east, north) that holds it. The boxes cover
# the whole globe, so every point gets a desk.
OCEAN_BASINS: tuple[tuple[str, tuple[float, float, float, float], str], ...] = (
    ("Arctic Ocean", (-180.0, 66.0, 180.0, 90.0), "europe_central_asia"),
    ("North Atlantic, east", (-40.0, 30.0, 30.0, 66.0), "europe_central_asia"),
    ("Atlantic, off Africa", (-30.0, -90.0, 20.0, 30.0), "africa"),
    ("Atlantic west, Caribbean and Pacific east", (-120.0, -90.0, -30.0, 66.0), "americas"),
    ("Indian Ocean, west", (20.0, -90.0, 65.0, 30.0), "africa"),
    ("Indian Ocean, east", (65.0, -90.0, 120.0, 30.0), "asia_pacific"),
    ("Pacific, west and central", (-180.0, -90.0, 180.0, 66.0), "asia_pacific"),
)

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
        if not continent and code in _WITHOUT_OUTLINE:
            return _WITHOUT_OUTLINE[code]
    if continent:
        return _CONTINENT_REGION.get(continent)
    return None


def region_at_sea(lat: float, lon: float) -> str:
    """The desk of a point at sea beyond reach of any country: by its ocean basin."""
    for _name, (west, south, east, north), region in OCEAN_BASINS:
        if west <= lon <= east and south <= lat <= north:
            return region
    return "asia_pacific"  # not reached: the last basin covers the rest of the globe


def is_region(code: str) -> bool:
    return code in REGIONS


def unique_regions(regions: Iterable[str | None]) -> tuple[str, ...]:
    """The known region codes among ``regions``, first occurrence first, each once."""
    seen: dict[str, None] = {}
    for code in regions:
        if code and code in REGIONS:
            seen.setdefault(code, None)
    return tuple(seen)


def region_names(regions: Iterable[str]) -> str:
    """The regions in words, in the order of REGIONS, separated by commas (their names have
    "and" in them: "Africa, Middle East and North Africa", never "Africa and Middle East and
    North Africa", which reads as three)."""
    order = list(REGIONS)
    codes = sorted(set(regions), key=lambda c: (order.index(c) if c in REGIONS else len(order), c))
    return ", ".join(REGIONS.get(code, code) for code in codes)


def bounds_of(regions: Iterable[str]) -> tuple[float, float, float, float] | None:
    """The extent (west, south, east, north) that holds every one of ``regions`` (None: none known)."""
    boxes = [REGION_BOUNDS[code] for code in regions if code in REGION_BOUNDS]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _mercator_y(lat: float) -> float:
    lat = max(-85.0, min(85.0, lat))
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def initial_view(regions: Iterable[str] | None, width_px: int = 900, height_px: int = 600) -> dict[str, object] | None:
    """Where a map opens for a desk of ``regions``: {"center": {"lat", "lon"}, "zoom"} fitting
    their bounds in a map of about ``width_px`` x ``height_px`` (web Mercator, 512 px tiles);
    None for every region (the world view)."""
    if regions is None:
        return None
    box = bounds_of(regions)
    if box is None:
        return None
    west, south, east, north = box
    y0, y1 = _mercator_y(south), _mercator_y(north)
    centre_lat = math.degrees(2 * math.atan(math.exp((y0 + y1) / 2)) - math.pi / 2)
    zoom_x = math.log2(width_px / 512 * 360 / max(east - west, 1e-6))
    zoom_y = math.log2(height_px / 512 * 2 * math.pi / max(y1 - y0, 1e-6))
    zoom = max(0.0, min(zoom_x, zoom_y, 8.0))
    return {"center": {"lat": round(centre_lat, 4), "lon": round((west + east) / 2, 4)}, "zoom": round(zoom, 2)}
