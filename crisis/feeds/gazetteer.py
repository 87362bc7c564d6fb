"""A CAP gazetteer: an alert with no polygon or circle, placed at its country.

Many CAP alerts only name their area (``<areaDesc>``) or list codes (``<geocode>``); an
alert the centre cannot place is an alert nobody sees on the map, so it is placed
approximately (``IncidentIn.approximate``) at the representative point of its country
(inside the country even when the outline is concave, unlike a centroid). Country-level
is as precise as the offline basemap allows; a better point needs a sub-national
gazetteer.

What is understood, in this order (machine codes before free text):

1. ``<geocode>`` under an ISO 3166 value name ("ISO3166", "ISO 3166-1", "ISO3166-2",
   "country", ...): an alpha-2 or alpha-3 code, or a subdivision code ("US-CA").
2. ``<geocode>`` schemes that only exist in one country or name it in their first two
   letters: SAME, FIPS6 and UGC (US National Weather Service and IPAWS: the United
   States, placed in the state the county or zone code names: SAME 006037, Los Angeles
   County, is in California, not at the middle of the country), CAP-CP locations (Canada), EMMA_ID and NUTS (MeteoAlarm: the country's
   two-letter code; NUTS writes Greece "EL" and the United Kingdom "UK").
3. A country name in ``<areaDesc>``: the basemap's ``name`` column (case-insensitive,
   whole words, the longest name first so "Papua New Guinea" is not "Guinea") plus a
   few common long forms and abbreviations ("U.S.", "USA", "UK": case-sensitive, so the
   word "us" is not a country). The first country mentioned wins.

4. A country named in another script (``crisis.feeds.places.country_in_script``: "Ливан",
   "لبنان", "黎巴嫩"), from pycountry's translations.

An ISO 3166-2 subdivision code ("AU-NSW", under an ISO value name, a URL value name such as
"https://www.iso.org/obp/ui/#iso:code:3166:AU", or any scheme not known to be national) places
the alert at a populated place inside that subdivision (``crisis.feeds.places``), not at the
country's point. A country the basemap lacks (Mauritius, small islands) is placed at its
central populated place. When the area says nothing, ``sender_place`` places the alert in
the sender's country (a WMO register OID, or the country domain of its address).

Known limit: a name is only a name. "Georgia" in "Fulton County, Georgia" is the
country; alerts from the US carry SAME/UGC codes, which are read first.
"""

from __future__ import annotations

import functools
import re

from crisis.feeds import places
from crisis.fusion.countries import CountryIndex

Place = tuple[float, float, str | None]

# ISO 3166-1 alpha-2 -> alpha-3, for the countries of the 1:110m basemap (codes the
# basemap does not hold can never be placed, so they are not listed). XK is Kosovo's
# user-assigned code; UK is ISO's exceptional reservation for the United Kingdom.
_ALPHA2 = dict(pair.split(":") for pair in """
AF:AFG AO:AGO AL:ALB AE:ARE AR:ARG AM:ARM AQ:ATA TF:ATF AU:AUS AT:AUT AZ:AZE BI:BDI BE:BEL
BJ:BEN BF:BFA BD:BGD BG:BGR BS:BHS BA:BIH BY:BLR BZ:BLZ BO:BOL BR:BRA BN:BRN BT:BTN BW:BWA
CF:CAF CA:CAN CH:CHE CL:CHL CN:CHN CI:CIV CM:CMR CD:COD CG:COG CO:COL CR:CRI CU:CUB CY:CYP
CZ:CZE DE:DEU DJ:DJI DK:DNK DO:DOM DZ:DZA EC:ECU EG:EGY ER:ERI EH:ESH ES:ESP EE:EST ET:ETH
FI:FIN FJ:FJI FK:FLK FR:FRA GA:GAB GB:GBR GE:GEO GH:GHA GN:GIN GM:GMB GW:GNB GQ:GNQ GR:GRC
GL:GRL GT:GTM GY:GUY HN:HND HR:HRV HT:HTI HU:HUN ID:IDN IN:IND IE:IRL IR:IRN IQ:IRQ IS:ISL
IL:ISR IT:ITA JM:JAM JO:JOR JP:JPN KZ:KAZ KE:KEN KG:KGZ KH:KHM KR:KOR KW:KWT LA:LAO LB:LBN
LR:LBR LY:LBY LK:LKA LS:LSO LT:LTU LU:LUX LV:LVA MA:MAR MD:MDA MG:MDG MX:MEX MK:MKD ML:MLI
MM:MMR ME:MNE MN:MNG MZ:MOZ MR:MRT MW:MWI MY:MYS NA:NAM NC:NCL NE:NER NG:NGA NI:NIC NL:NLD
NO:NOR NP:NPL NZ:NZL OM:OMN PK:PAK PA:PAN PE:PER PH:PHL PG:PNG PL:POL PR:PRI KP:PRK PT:PRT
PY:PRY PS:PSE QA:QAT RO:ROU RU:RUS RW:RWA SA:SAU SD:SDN SN:SEN SB:SLB SL:SLE SV:SLV SO:SOM
RS:SRB SS:SSD SR:SUR SK:SVK SI:SVN SE:SWE SZ:SWZ SY:SYR TD:TCD TG:TGO TH:THA TJ:TJK TM:TKM
TL:TLS TT:TTO TN:TUN TR:TUR TW:TWN TZ:TZA UG:UGA UA:UKR UY:URY US:USA UZ:UZB VE:VEN VN:VNM
VU:VUT XK:XKX YE:YEM ZA:ZAF ZM:ZMB ZW:ZWE UK:GBR EL:GRC
""".split())

# Long forms and other names for basemap countries whose basemap name is abbreviated
# ("Dem. Rep. Congo") or not the one alerts use. Matched case-insensitively.
_NAMES = {
    "United States": "USA", "Democratic Republic of the Congo": "COD", "DR Congo": "COD",
    "Republic of the Congo": "COG", "Central African Republic": "CAF",
    "Bosnia and Herzegovina": "BIH", "Dominican Republic": "DOM", "Equatorial Guinea": "GNQ",
    "South Sudan": "SSD", "Solomon Islands": "SLB", "Falkland Islands": "FLK",
    "Western Sahara": "ESH", "Ivory Coast": "CIV", "Cote d'Ivoire": "CIV",
    "Czech Republic": "CZE", "North Macedonia": "MKD", "Eswatini": "SWZ", "Swaziland": "SWZ",
    "Burma": "MMR", "Russian Federation": "RUS", "Syrian Arab Republic": "SYR",
    "Viet Nam": "VNM", "Lao PDR": "LAO", "Republic of Korea": "KOR", "Great Britain": "GBR",
    "East Timor": "TLS", "Türkiye": "TUR", "Turkiye": "TUR", "Holland": "NLD",
    "Occupied Palestinian Territory": "PSE", "Gaza": "PSE", "West Bank": "PSE",
}
# Abbreviations, matched exactly: "us" and "uk" are English words in lower case.
_ABBREVIATIONS = {
    "U.S.A.": "USA", "U.S.": "USA", "USA": "USA", "U.K.": "GBR", "UK": "GBR",
    "UAE": "ARE", "U.A.E.": "ARE", "DRC": "COD",
}
# Geocode schemes of one country (value names compared without spaces, dots, dashes).
_NATIONAL_SCHEMES = {"same": "USA", "fips6": "USA", "ugc": "USA"}
_CANADIAN_SCHEME = "profile:capcp:location"
_COUNTRY_PREFIX_SCHEMES = ("emmaid", "nuts")
_ISO_SCHEMES = ("iso3166", "iso", "country", "countrycode", "iso2", "iso3")  # and "iso3166url"


# US state FIPS codes (the SS of SAME "PSSCCC" and FIPS6 "SSCCC") -> the state's postal code,
# which is its ISO 3166-2 code after "US-" and the first two letters of a UGC zone ("CAZ041").
# The territories have countries of their own in ISO 3166-1.
_US_STATE_FIPS = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT", "10": "DE", "11": "DC",
    "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL", "18": "IN", "19": "IA", "20": "KS", "21": "KY",
    "22": "LA", "23": "ME", "24": "MD", "25": "MA", "26": "MI", "27": "MN", "28": "MS", "29": "MO", "30": "MT",
    "31": "NE", "32": "NV", "33": "NH", "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND", "39": "OH",
    "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD", "47": "TN", "48": "TX", "49": "UT",
    "50": "VT", "51": "VA", "53": "WA", "54": "WV", "55": "WI", "56": "WY",
    "60": "AS", "66": "GU", "69": "MP", "72": "PR", "78": "VI",
}
_US_TERRITORIES = {"AS": "ASM", "GU": "GUM", "MP": "MNP", "PR": "PRI", "VI": "VIR"}
_US_POSTAL = frozenset(_US_STATE_FIPS.values())


def us_state(scheme: str, value: str) -> str | None:
    """The US state (postal code) a SAME, FIPS6 or UGC geocode lies in, or None (a marine
    zone, a national code, a malformed value): a county code names its state."""
    digits = re.sub(r"\D", "", value)
    if scheme == "same" and len(digits) == 6:
        return _US_STATE_FIPS.get(digits[1:3])
    if scheme == "fips6" and len(digits) in (5, 6):
        return _US_STATE_FIPS.get(digits[-5:-3])
    if scheme == "ugc" and re.fullmatch(r"[A-Z]{2}[CZ]\d{3}", value):
        return value[:2] if value[:2] in _US_POSTAL else None
    return None


def _scheme(value_name: str) -> str:
    folded = re.sub(r"[\s_.\-]", "", value_name).casefold()
    # A value name that is a URL about ISO 3166 ("https://www.iso.org/obp/ui/#iso:code:3166:AU",
    # "http://www.iso.org/iso/country_codes") is the ISO scheme.
    if re.match(r"^(https?:|urn:)", folded) and "iso" in folded and ("3166" in folded or "country" in folded):
        return "iso3166url"
    return folded


class CountryGazetteer:
    """Callable as ``crisis.feeds.cap.Gazetteer``: (areaDesc, [(valueName, value)]) ->
    (lat, lon, ISO3) at the country's representative point, or None."""

    def __init__(self, countries: CountryIndex) -> None:
        table = countries.countries[countries.countries["iso_a3"].notna()]
        self._points: dict[str, tuple[float, float]] = {}
        for iso, geometry in zip(table["iso_a3"], table.geometry):
            if iso not in self._points:  # N. Cyprus shares CYP: the first row is Cyprus
                point = geometry.representative_point()
                self._points[iso] = (point.y, point.x)
        self._alpha2 = {a2: a3 for a2, a3 in _ALPHA2.items() if a3 in self._points}
        names = {str(n).casefold(): str(i) for n, i in zip(table["name"], table["iso_a3"])}
        names |= {n.casefold(): i for n, i in _NAMES.items() if i in self._points}
        self._names = names
        self._abbreviations = {a: i for a, i in _ABBREVIATIONS.items() if i in self._points}
        alternatives = [(n, True) for n in names] + [(a, False) for a in self._abbreviations]
        alternatives.sort(key=lambda item: -len(item[0]))
        body = "|".join(f"(?i:{re.escape(n)})" if ci else re.escape(n) for n, ci in alternatives)
        self._pattern = re.compile(rf"(?<!\w)(?:{body})(?!\w)")

    def __call__(self, area_desc: str, geocodes: list[tuple[str, str]]) -> Place | None:
        for value_name, value in geocodes:
            scheme, code = _scheme(value_name), value.strip().upper()
            place = self._subdivision(scheme, code) or self._us_state(scheme, code)
            if place is not None:
                return place
        iso = self.country_of(area_desc, geocodes) or places.country_in_script(area_desc)
        return self._country_place(iso) if iso else None

    def sender_place(self, sender: str, identifier: str = "") -> Place | None:
        """The sender's country (WMO register OID, or its address's country domain)."""
        iso = places.sender_country(sender, identifier)
        return self._country_place(iso) if iso else None

    def _country_place(self, iso: str) -> Place | None:
        point = self._points.get(iso) or places.country_point(iso)
        return (point[0], point[1], iso) if point else None

    def _us_state(self, scheme: str, value: str) -> Place | None:
        """A US county or zone code placed in its state (not the middle of the country)."""
        state = us_state(scheme, value)
        if state is None:
            return None
        if state in _US_TERRITORIES:
            return self._country_place(_US_TERRITORIES[state])
        point = places.subdivision_point(f"US-{state}")
        return (point[0], point[1], "USA") if point else None

    def _subdivision(self, scheme: str, value: str) -> Place | None:
        if places.ISO_3166_2.match(value) is None:
            return None
        if scheme in _NATIONAL_SCHEMES or scheme.startswith((_CANADIAN_SCHEME, *_COUNTRY_PREFIX_SCHEMES)):
            return None
        found = places.subdivision(value)
        if found is None:
            return None
        point = places.subdivision_point(value)
        return (point[0], point[1], found[0]) if point else self._country_place(found[0])

    def country_of(self, area_desc: str, geocodes: list[tuple[str, str]]) -> str | None:
        """The ISO3 code of the country the area lies in, or None when nothing says."""
        for value_name, value in geocodes:
            iso = self._from_geocode(_scheme(value_name), value.strip().upper())
            if iso is not None:
                return iso
        return self.country_named(area_desc)

    def country_named(self, text: str) -> str | None:
        """The first basemap country named in free text (see the module docstring)."""
        match = self._pattern.search(text)
        if match is None:
            return None
        found = match.group(0)
        return self._abbreviations.get(found) or self._names.get(found.casefold())

    def _from_geocode(self, scheme: str, value: str) -> str | None:
        if scheme in _NATIONAL_SCHEMES:
            return _NATIONAL_SCHEMES[scheme] if _NATIONAL_SCHEMES[scheme] in self._points else None
        if scheme.startswith(_CANADIAN_SCHEME):
            return "CAN" if "CAN" in self._points else None
        if scheme.startswith(_COUNTRY_PREFIX_SCHEMES):
            return self._alpha2.get(value[:2])
        if scheme.startswith(_ISO_SCHEMES):
            code = value.split("-", 1)[0] if re.fullmatch(r"[A-Z]{2}-[A-Z0-9]{1,3}", value) else value
            if len(code) == 2:
                return self._alpha2.get(code) or self._placeable(places.alpha3(code))
            if len(code) == 3 and code.isalpha():
                return code if code in self._points else self._placeable(code)
        return None

    def _placeable(self, iso: str | None) -> str | None:
        """An ISO3 code the basemap lacks but the places table can place, else None."""
        return iso if iso and places.country_point(iso) is not None else None


@functools.lru_cache(maxsize=4)
def gazetteer_for(countries: CountryIndex) -> CountryGazetteer:
    """One gazetteer per country index (building it compiles a 200-name pattern)."""
    return CountryGazetteer(countries)
