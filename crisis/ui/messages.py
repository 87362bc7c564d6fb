"""Form errors in plain words, for any page that shows a validation error to a person.

``in_words(errors)`` takes pydantic's errors (``ValidationError.errors()``: ``loc``, ``type``,
``msg``, ``ctx``) or the product's ``{"field", "message"}`` list (``crisis.feeds.schemas.
field_errors``, ``InputError.errors``) and says each problem as a sentence a duty officer can
act on: "Give the incident a title." rather than "title: Field required". Each sentence once,
in the order of the errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# What a field is called in a sentence ("the ..."), and what to do when it is missing.
NOUNS = {
    "title": "title", "type": "type", "category": "category", "severity": "severity",
    "lat": "latitude", "lon": "longitude", "radius_km": "affected radius", "area": "affected area",
    "country": "country code", "description": "details", "reported_at": "time of the report",
    "status": "status", "owner": "owner", "note": "note", "source": "source", "source_id": "source's reference",
    "name": "name", "phase": "security phase", "officer_id": "officer", "incident_id": "incident",
    # the roster's forms (crisis/ui/components/roster_editor.py)
    "start": "start", "end": "end", "readiness_hours": "readiness", "role": "role (primary or alternate)",
    "region": "region", "home_lat": "home latitude", "home_lon": "home longitude", "home_name": "duty station",
    "home_country": "home country", "languages": "languages", "skills": "skills", "kind": "kind of absence", "slot_a": "selected slot", "slot_b": "slot to swap with",
    "from": "start", "officers": "officers", "period_days": "days per turn", "handover": "handover time",
    "alternate_readiness_hours": "alternates' readiness",
}
# A field named by its whole path where its last part alone would mislead (an area's circle
# has a radius, not an incident's "affected radius").
PATH_NOUNS = {"circle.radius_km": "circle's radius", "circle.lat": "centre's latitude", "circle.lon": "centre's longitude"}
MISSING = {
    "title": "Give the incident a title.",
    "type": "Choose the type of incident.",
    "category": "Choose the category of incident.",
    "severity": "Choose a severity from 1 (minor) to 5 (critical).",
    "lat": "Say where it happened: click the map, type coordinates or a place name.",
    "lon": "Say where it happened: click the map, type coordinates or a place name.",
    "slot_b": "Choose the slot to swap with.",
    "country": "Choose the country from the list.",
    "start": "Give the start, as year-month-day hour:minute (UTC).",
    "end": "Give the end, as year-month-day hour:minute (UTC).",
    "from": "Give the start, as year-month-day hour:minute (UTC).",
    "officers": "Choose the officers who take turns.",
}
UNITS = {"radius_km": " km", "description": " characters", "title": " characters"}

# The product's {"field", "message"} errors keep pydantic's sentence but not its type.
_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^Field required", "missing"),
    (r"^String should have at least (?P<min_length>\d+) character", "string_too_short"),
    (r"^String should have at most (?P<max_length>\d+) character", "string_too_long"),
    (r"^Input should be greater than or equal to (?P<ge>[-\d.]+)", "greater_than_equal"),
    (r"^Input should be greater than (?P<gt>[-\d.]+)", "greater_than"),
    (r"^Input should be less than or equal to (?P<le>[-\d.]+)", "less_than_equal"),
    (r"^Input should be less than (?P<lt>[-\d.]+)", "less_than"),
    (r"^Input should be a valid (integer|number)", "number_type"),
    (r"^Input should be (a valid string|a valid dictionary)", "wrong_type"),
    (r"^Input should be '", "enum"),
    (r"^Input should be a valid datetime", "datetime"),
    (r"^Input should have timezone info", "datetime"),
    (r"^Extra inputs are not permitted", "extra_forbidden"),
    (r"^String should match pattern", "string_pattern_mismatch"),
)


def _field(error: Mapping[str, Any]) -> str:
    if "loc" in error:
        parts = [str(p) for p in error.get("loc") or () if not isinstance(p, int)]
        return parts[-1] if parts else ""
    return str(error.get("field") or "").split(".")[-1]


def _kind(error: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    message = str(error.get("msg") or error.get("message") or "")
    if "type" in error:
        kind = str(error["type"])
        if kind in ("int_type", "int_parsing", "float_type", "float_parsing", "int_from_float", "finite_number"):
            kind = "number_type"
        elif kind.startswith("enum") or kind == "literal_error":
            kind = "enum"
        return kind, dict(error.get("ctx") or {})
    for pattern, kind in _PATTERNS:
        match = re.match(pattern, message)
        if match:
            return kind, {k: v for k, v in match.groupdict().items() if v is not None}
    return "", {}


def _number(value: Any) -> str:
    text = str(value)
    return text.removesuffix(".0")


def _path(error: Mapping[str, Any]) -> str:
    if "loc" in error:
        return ".".join(str(p) for p in error.get("loc") or () if not isinstance(p, int))
    return str(error.get("field") or "")


def _sentence(error: Mapping[str, Any]) -> str:
    field = _field(error)
    noun = PATH_NOUNS.get(_path(error)) or NOUNS.get(field, field.replace("_", " ") or "form")
    unit = UNITS.get(field, "")
    kind, ctx = _kind(error)
    if kind == "missing" or (kind == "string_too_short" and str(ctx.get("min_length", "1")) == "1"):
        return MISSING.get(field, f"Give the {noun}.")
    if kind == "string_too_short":
        return f"The {noun} needs at least {ctx['min_length']} characters."
    if kind == "string_too_long":
        return f"Make the {noun} shorter: at most {ctx['max_length']} characters."
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        if field in ("lat", "lon"):
            return "The latitude must be between -90 and 90, the longitude between -180 and 180."
        if field == "severity":
            return MISSING["severity"]
        bound = ctx.get("gt", ctx.get("ge", ctx.get("lt", ctx.get("le"))))
        words = {"greater_than": "more than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        return f"The {noun} must be {words} {_number(bound)}{unit}."
    if kind.startswith(("datetime", "timezone_aware")):
        return f"The {noun} must be a date and time, as 2026-12-03 18:00 UTC."
    if kind == "number_type":
        return f"The {noun} must be a number{(' of' + unit) if unit.strip() == 'km' else ''}."
    if kind == "enum":
        return MISSING.get(field, f"Choose the {noun} from the list.")
    if kind == "extra_forbidden":
        return f"The form has a field this page does not know ({noun}): reload the page."
    if kind == "string_pattern_mismatch":
        return f"The {noun} is not in the expected form."
    message = str(error.get("msg") or error.get("message") or "is not valid")
    message = re.sub(r"^(Value error|Assertion failed),\s*", "", message).rstrip(".")
    return f"The {noun}: {_lead(message)}." if field else message[:1].upper() + message[1:] + "."


def _lead(message: str) -> str:
    """A message going on after "The field:", its first letter lowered, but not a name's
    ("Brian Otieno is ...": two capitalised words) nor an acronym's ("UTC ...")."""
    words = message.split(" ", 2)
    if words[0][:1].isupper() and (words[0].isupper() and len(words[0]) > 1 or len(words) > 1 and words[1][:1].isupper()):
        return message
    return message[:1].lower() + message[1:]


def in_words(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each problem of a form as a plain sentence, each once, in order."""
    out: list[str] = []
    for error in errors:
        sentence = _sentence(error)
        if sentence not in out:
            out.append(sentence)
    return out
