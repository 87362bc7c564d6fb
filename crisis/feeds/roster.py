"""The officers of the standby roster: imported as JSON or CSV, validated one by one.

JSON: a list of officers, or ``{"officers": [...]}``; each officer is
``{id, name, home: {name, lat, lon, country?}, region, grade?, skills: [...], languages: [...],
contact?}``. A rejected officer's ``row`` is its 1-based position in the list.

CSV (``Content-Type: text/csv``, UTF-8, a header line), one row per officer:

==============  ==========================================================================
id              the officer's id (letters, digits, ``_ . : -``), required
name            required
home_name       the home duty station: name, lat, lon (decimal degrees), and an optional
home_lat        ISO 3166-1 alpha-3 country
home_lon
home_country
region          the officer's regional desk (``crisis.domain.regions.REGIONS``)
grade           their grade ("P4", "FS6"), optional
skills          ``;``-separated, each from the configured vocabulary (CRISIS_ROSTER_SKILLS)
languages       ``;``-separated ISO 639-1 codes ("ar;fr;en")
contact         a phone number or address, optional
==============  ==========================================================================

An unknown skill, a language that is not ISO 639-1, an unknown region, a latitude or
longitude out of range and a missing id are row errors ``{"row", "field", "message"}``
(the field is the CSV column, or the JSON path such as ``home.lat`` or ``skills.1``); the
good officers are kept. An officer listed twice in one document is refused the second
time. Re-importing an officer (the same id) updates it in place (``handlers_roster``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pycountry
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from crisis.domain.regions import REGIONS
from crisis.errors import InputError
from crisis.feeds import csv_text
from crisis.feeds.csv_text import MALFORMED_CSV
from crisis.feeds.schemas import Latitude, Longitude, _Strict, field_errors, known_country
from crisis.feeds.travellers import json_list
from crisis.roster.model import Home, Officer

CSV_COLUMNS = ("id", "name", "home_name", "home_lat", "home_lon", "home_country", "region", "grade", "skills",
               "languages", "contact")
REQUIRED_COLUMNS = ("id", "name", "home_name", "home_lat", "home_lon", "region")
CSV_TYPES = ("text/csv", "application/csv")
OFFICER_ID = r"^[A-Za-z0-9_.:-]+$"
MAX_OFFICERS = 50_000
FEED = "roster"  # the feed name of the dead letters and the feed counts
Progress = Callable[[int, int], None]  # (officers validated, officers in all)


def language_error(code: str) -> str | None:
    """Why ``code`` is not an ISO 639-1 language code, or None when it is one."""
    if not isinstance(code, str) or len(code) != 2 or not code.isalpha():
        return f"{code!r} is not an ISO 639-1 language code (two letters, such as 'ar' or 'fr')"
    if pycountry.languages.get(alpha_2=code.lower()) is None:
        return f"{code!r} is not an ISO 639-1 language code"
    return None


def skill_error(skill: str, vocabulary: Sequence[str]) -> str | None:
    if skill not in vocabulary:
        return f"unknown skill {skill!r}: use one of {', '.join(vocabulary)}"
    return None


class HomeIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    lat: Latitude
    lon: Longitude
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$", description="ISO 3166-1 alpha-3.")

    _known_country = field_validator("country")(lambda value: known_country(value))


class OfficerIn(_Strict):
    """A field security officer of the standby roster."""

    id: str = Field(min_length=1, max_length=64, pattern=OFFICER_ID)
    name: str = Field(min_length=1, max_length=200)
    home: HomeIn = Field(description="The home duty station, where a deployment starts from.")
    region: str = Field(description="The officer's regional desk.")
    grade: str = Field(default="", max_length=32)
    skills: list[str] = Field(default_factory=list, max_length=50, description="From the configured vocabulary (CRISIS_ROSTER_SKILLS).")
    languages: list[str] = Field(default_factory=list, max_length=30, description="ISO 639-1 codes.")
    contact: str | None = Field(default=None, max_length=200)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in REGIONS:
            raise ValueError(f"unknown region {value!r}: use one of {', '.join(REGIONS)}")
        return value

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: list[str], info: ValidationInfo) -> list[str]:
        vocabulary = (info.context or {}).get("skills")
        if vocabulary is not None:
            for skill in value:
                problem = skill_error(skill, vocabulary)
                if problem:
                    raise ValueError(problem)
        return list(dict.fromkeys(value))

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for code in value:
            problem = language_error(code)
            if problem:
                raise ValueError(problem)
        return list(dict.fromkeys(code.lower() for code in value))

    def to_domain(self) -> Officer:
        home = Home(self.home.name, float(self.home.lat), float(self.home.lon),
                    self.home.country.upper() if self.home.country else None)
        return Officer(self.id, self.name, home, self.region, self.grade, tuple(self.skills), tuple(self.languages),
                       self.contact or None)


def _skills_of(skills_vocab: Sequence[str] | None) -> tuple[str, ...]:
    if skills_vocab is not None:
        return tuple(skills_vocab)
    from crisis.config import Settings

    return tuple(Settings.roster_skills)


def validate(data: Any, skills_vocab: Sequence[str] | None = None) -> tuple[Officer | None, list[dict[str, Any]]]:
    """One officer's JSON: the officer, or the list of {field, message}."""
    if not isinstance(data, dict):
        return None, [{"field": "body", "message": "an officer must be a JSON object"}]
    try:
        return OfficerIn.model_validate(data, context={"skills": _skills_of(skills_vocab)}).to_domain(), []
    except ValidationError as exc:
        errors = field_errors(exc)
        return None, [{**e, "message": e["message"].removeprefix("Value error, ")} for e in errors]


# A parsed document: the good officers with their row, each problem with its row and the
# row's text (kept as the dead letter's body), and the number of rows.
Parsed = tuple[list[tuple[int, Officer]], list[dict[str, Any]], int]


def _dedupe(found: list[tuple[int, Officer]], rejected: list[dict[str, Any]], bodies: dict[int, str]) -> list[tuple[int, Officer]]:
    first: dict[str, int] = {}
    kept = []
    for row, officer in found:
        if officer.id in first:
            rejected.append({"row": row, "field": "id", "message": f"officer {officer.id!r} is already in row {first[officer.id]}",
                             "body": bodies.get(row, "")})
            continue
        first[officer.id] = row
        kept.append((row, officer))
    return kept


def parse_json_rows(body: bytes | str, skills_vocab: Sequence[str] | None = None, progress: Progress | None = None) -> Parsed:
    """A JSON document (raises InputError when the document as a whole is unusable)."""
    data = json_list(body, "officers", MAX_OFFICERS)
    vocabulary = _skills_of(skills_vocab)
    found: list[tuple[int, Officer]] = []
    rejected: list[dict[str, Any]] = []
    bodies: dict[int, str] = {}
    for index, item in enumerate(data):
        if progress is not None and index % 500 == 0:
            progress(index, len(data))
        bodies[index + 1] = json.dumps(item)[:10_000]
        officer, errors = validate(item, vocabulary)
        if officer is not None:
            found.append((index + 1, officer))
        rejected.extend({"row": index + 1, **e, "body": bodies[index + 1]} for e in errors)
    if progress is not None:
        progress(len(data), len(data))
    found = _dedupe(found, rejected, bodies)
    rejected.sort(key=lambda r: r["row"])
    return found, rejected, len(data)


def _number(text: str) -> Any:
    """A CSV cell as a number when it is one, else as it came (validation names it)."""
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return text


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row.get("id", ""), "name": row.get("name", ""),
        "home": {"name": row.get("home_name", ""), "lat": _number(row.get("home_lat", "")),
                 "lon": _number(row.get("home_lon", "")), "country": row.get("home_country") or None},
        "region": row.get("region", ""), "grade": row.get("grade", ""),
        "skills": _list(row.get("skills", "")), "languages": _list(row.get("languages", "")),
        "contact": row.get("contact") or None,
    }


def _csv_column(where: str) -> str:
    """A validation error's path as the CSV column it came from."""
    parts = where.split(".")
    if parts[0] == "home":
        return f"home_{parts[1]}" if len(parts) > 1 else "home_name"
    return parts[0]


def parse_csv_rows(text: bytes | str, skills_vocab: Sequence[str] | None = None, progress: Progress | None = None) -> Parsed:
    """A CSV document (raises InputError when the document as a whole is unusable)."""
    try:
        decoded = text.decode("utf-8-sig") if isinstance(text, bytes) else text.removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError([{"field": "body", "message": f"not UTF-8 ({exc.reason} at byte {exc.start})"}], MALFORMED_CSV) from None
    if not decoded.strip():
        raise InputError([{"field": "body", "message": "empty: expected a header line and rows"}], MALFORMED_CSV)
    reader = csv_text.rows(decoded)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InputError([{"field": "header", "message": csv_text.problem(exc)}], MALFORMED_CSV) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        problems = ([{"field": "header", "message": f"missing column {c!r}"} for c in missing]
                    + [{"field": "header", "message": f"unknown column {c!r}: the columns are {', '.join(CSV_COLUMNS)}"} for c in unknown])
        raise InputError(problems, MALFORMED_CSV)
    reader.fieldnames = header
    vocabulary = _skills_of(skills_vocab)
    found: list[tuple[int, Officer]] = []
    rejected: list[dict[str, Any]] = []
    bodies: dict[int, str] = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    number = 0
    try:
        for number, raw in enumerate(reader, start=1):
            if number > MAX_OFFICERS:
                raise InputError([{"field": "body", "message": f"more than {MAX_OFFICERS} rows a document"}])
            row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
            bodies[number] = ",".join(header) + "\n" + ",".join(row.get(c, "") for c in header)
            if None in raw:
                rejected.append({"row": number, "field": "row", "message": "more cells than columns", "body": bodies[number]})
            elif not row.get("id"):
                rejected.append({"row": number, "field": "id", "message": "Field required", "body": bodies[number]})
            else:
                rows.append((number, row))
    except csv.Error as exc:
        raise InputError([{"field": f"body (row {number + 1})", "message": csv_text.problem(exc)}], MALFORMED_CSV) from None
    for done, (number, row) in enumerate(rows):
        if progress is not None and done % 500 == 0:
            progress(done, len(rows))
        officer, errors = validate(_csv_record(row), vocabulary)
        if officer is not None:
            found.append((number, officer))
        # "skills.2" (the third skill) and "skills" both name the column "skills"
        rejected.extend({"row": number, "field": _csv_column(e["field"]), "message": e["message"], "body": bodies[number]}
                        for e in errors)
    if progress is not None:
        progress(len(rows), len(rows))
    found = _dedupe(found, rejected, bodies)
    rejected.sort(key=lambda r: r["row"])
    return found, rejected, number


def _public(rejected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "body"} for r in rejected]


def parse_json(body: bytes | str, skills_vocab: Sequence[str] | None = None) -> tuple[list[Officer], list[dict[str, Any]]]:
    """The officers of a JSON document and the rejected rows [{row, field, message}]."""
    found, rejected, _ = parse_json_rows(body, skills_vocab)
    return [officer for _, officer in found], _public(rejected)


def parse_csv(text: bytes | str, skills_vocab: Sequence[str] | None = None) -> tuple[list[Officer], list[dict[str, Any]]]:
    """The officers of a CSV document and the rejected rows [{row, field, message}]."""
    found, rejected, _ = parse_csv_rows(text, skills_vocab)
    return [officer for _, officer in found], _public(rejected)


def intake(context: Any, body: bytes, content_type: str | None, actor: str | None,
           origin: dict[str, str] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Parse, store the good officers (``handlers_roster.import_officers``), dead-letter each
    rejected row (feed "roster"): the answer {"accepted", "updated", "rejected": [{row, field,
    message, dead_letter_id}], "warnings": [{row, officer_id, field, message}] (stored, but a
    home whose coordinates lie in another country than its own: ``home_warnings``)}.

    Raises InputError when the document as a whole is unusable (the caller dead-letters it)."""
    from crisis import handlers_roster

    vocabulary = tuple(context.settings.roster_skills)
    parse = parse_csv_rows if content_type in CSV_TYPES else parse_json_rows
    found, rejected, _ = parse(body, vocabulary, progress)
    accepted = updated = 0
    if found:
        result = handlers_roster.import_officers(context, [officer for _, officer in found], actor)
        # "accepted" counts the new officers, "updated" the known ones (as the travellers' import)
        accepted, updated = len(set(result.accepted) - set(result.updated)), len(result.updated)
    warnings = home_warnings(context.deps.countries, found)
    answered = []
    for item in rejected:
        error = {"field": item["field"], "message": item["message"]}
        dead = context.feed_log.rejected(FEED, [{**error, "field": f"row {item['row']}: {item['field']}"}],
                                         item.get("body", ""), origin)
        answered.append({"row": item["row"], **error, "dead_letter_id": dead})
    if accepted + updated:
        context.feed_log.accepted(FEED, accepted + updated)
    return {"accepted": accepted, "updated": updated, "rejected": answered, "warnings": warnings}


def _country_words(iso3: str | None) -> str:
    if not iso3:
        return "at sea, far from any country"
    found = pycountry.countries.get(alpha_3=iso3)
    return f"in {found.name} ({iso3})" if found else f"in {iso3}"


HOME_TOLERANCE_KM = 50.0  # the map's outlines are coarse (1:110m puts Geneva in France): closer than this is fine


def home_warnings(countries: Any, found: list[tuple[int, Officer]]) -> list[dict[str, Any]]:
    """Officers stored whose home coordinates lie more than HOME_TOLERANCE_KM outside the home
    country they give (the outlines of ``CountryIndex``, the map's): stored (the coordinates
    may be right and the country wrong), but said: latitude and longitude swapped put Amman in
    Turkey, and the ETA and the ranking measure from the coordinates. A country the index has
    no outline of is not checked. [{"row", "officer_id", "field": "home", "message"}]."""
    declared = [(row, o) for row, o in found if o.home.country]
    if not declared:
        return []
    lat = np.array([o.home.lat for _, o in declared])
    lon = np.array([o.home.lon for _, o in declared])
    km = countries.km_to_country(lat, lon, [str(o.home.country) for _, o in declared])
    located, _ = countries.locate(lat, lon)
    out = []
    for (row, officer), iso3, off in zip(declared, located.tolist(), km.tolist(), strict=True):
        if off > HOME_TOLERANCE_KM:  # (NaN: no outline to measure against, never more)
            out.append({"row": row, "officer_id": officer.id, "field": "home",
                        "message": f"{officer.name}'s home ({officer.home.lat:g}, {officer.home.lon:g}) lies "
                                   f"{_country_words(iso3)}, {off:,.0f} km from {officer.home.country} that its country "
                                   "says: check the coordinates (latitude and longitude swapped?)"})
    return out
