"""Incident categories and their sub-types. No I/O here.

Security incident recording systems group incident types in categories: crime, civil
unrest, armed conflict, terrorism, hostage-taking and abduction, and hazards (natural and
technological). An incident's ``type`` (``crisis.domain.model.IncidentType``) is a
*sub-type*; its category follows from it (``category_of``). The flat types the product had
before categories (``crime``, ``civil_unrest``, ``armed_conflict``, ``terrorism``,
``hostage``, the hazards and ``other``) stay valid sub-types, each mapped to its category:
the four security ones read "Other crime", "Other civil unrest" and so on.
"""

from __future__ import annotations

from typing import TypedDict

# code -> label, in display order (the report form, the board filter, the README and the
# API's error message list them in this order).
CATEGORIES: dict[str, str] = {
    "crime": "Crime",
    "civil_unrest": "Civil unrest",
    "armed_conflict": "Armed conflict",
    "terrorism": "Terrorism",
    "hostage_abduction": "Hostage-taking and abduction",
    "hazard": "Hazard",
    "other": "Other",
}

# sub-type code -> (category code, label); within a category in display order.
SUBTYPES: dict[str, tuple[str, str]] = {
    # Crime
    "armed_robbery": ("crime", "Armed robbery"),
    "robbery": ("crime", "Robbery"),
    "burglary": ("crime", "Burglary"),
    "carjacking": ("crime", "Carjacking"),
    "assault": ("crime", "Assault"),
    "sexual_assault": ("crime", "Sexual assault"),
    "homicide": ("crime", "Homicide"),
    "theft": ("crime", "Theft"),
    "intimidation": ("crime", "Intimidation or harassment"),
    "arrest_detention": ("crime", "Arrest or detention"),
    "crime": ("crime", "Other crime"),
    # Civil unrest
    "demonstration": ("civil_unrest", "Demonstration"),
    "riot": ("civil_unrest", "Riot"),
    "roadblock": ("civil_unrest", "Roadblock or blockade"),
    "strike": ("civil_unrest", "Strike"),
    "looting": ("civil_unrest", "Looting"),
    "civil_unrest": ("civil_unrest", "Other civil unrest"),
    # Armed conflict
    "airstrike": ("armed_conflict", "Airstrike"),
    "shelling": ("armed_conflict", "Shelling"),
    "exchange_of_fire": ("armed_conflict", "Exchange of fire"),
    "ground_fighting": ("armed_conflict", "Ground fighting"),
    "landmine_uxo": ("armed_conflict", "Landmine or unexploded ordnance"),
    "armed_conflict": ("armed_conflict", "Other armed conflict"),
    # Terrorism
    "ied": ("terrorism", "IED, improvised explosive device"),
    "suicide_attack": ("terrorism", "Suicide attack"),
    "vehicle_bomb": ("terrorism", "Vehicle-borne bomb"),
    "armed_attack": ("terrorism", "Armed attack"),
    "grenade_attack": ("terrorism", "Grenade attack"),
    "terrorism": ("terrorism", "Other terrorism"),
    # Hostage-taking and abduction
    "kidnapping": ("hostage_abduction", "Kidnapping"),
    "abduction": ("hostage_abduction", "Abduction"),
    "hostage": ("hostage_abduction", "Hostage-taking"),
    # Hazards: natural, then technological
    "earthquake": ("hazard", "Earthquake"),
    "tsunami": ("hazard", "Tsunami"),
    "cyclone": ("hazard", "Cyclone"),
    "flood": ("hazard", "Flood"),
    "wildfire": ("hazard", "Wildfire"),
    "volcano": ("hazard", "Volcano"),
    "drought": ("hazard", "Drought"),
    "epidemic": ("hazard", "Epidemic"),
    "weather": ("hazard", "Severe weather"),
    "accident": ("hazard", "Technological accident"),
    # Other
    "other": ("other", "Other"),
}

# The sub-type used when a sender gives only a category (a category's own
# "other or unspecified" sub-type); hazards have none: a hazard must say which.
GENERAL_SUBTYPE: dict[str, str] = {
    "crime": "crime",
    "civil_unrest": "civil_unrest",
    "armed_conflict": "armed_conflict",
    "terrorism": "terrorism",
    "hostage_abduction": "hostage",
    "other": "other",
}


class Choice(TypedDict):
    label: str
    value: str
    category: str


def category_of(type_code: str) -> str:
    """The category code of a sub-type (an ``IncidentType`` or its value); "other" if unknown."""
    code = getattr(type_code, "value", type_code)
    entry = SUBTYPES.get(str(code))
    return entry[0] if entry else "other"


def label_of(type_code: str) -> str:
    """The plain label of a sub-type ("Riot"); the code with spaces if unknown."""
    code = str(getattr(type_code, "value", type_code))
    entry = SUBTYPES.get(code)
    return entry[1] if entry else code.replace("_", " ")


def full_label(type_code: str) -> str:
    """"Category - Sub-type" ("Civil unrest - Riot"); the category alone when they read alike."""
    code = str(getattr(type_code, "value", type_code))
    category = CATEGORIES[category_of(code)]
    label = label_of(code)
    return category if label == category else f"{category} - {label}"


def subtypes_of(category: str) -> list[str]:
    """The sub-type codes of a category, in display order."""
    return [code for code, (cat, _label) in SUBTYPES.items() if cat == category]


def choices() -> list[Choice]:
    """Options for a dropdown: every sub-type, grouped by category in display order."""
    return [Choice(label=full_label(code), value=code, category=category)
            for category in CATEGORIES for code in subtypes_of(category)]


def _named(code: str) -> str:
    label = SUBTYPES[code][1]
    return code if label.lower() == code.replace("_", " ") else f"{code} ({label})"


def in_words() -> str:
    """Every category and its sub-types as a sentence list, for error messages and docs."""
    parts = []
    for category, label in CATEGORIES.items():
        names = ", ".join(_named(code) for code in subtypes_of(category))
        parts.append(f"{label} ({category}): {names}")
    return "; ".join(parts)


def unknown_type_message(value: object) -> str:
    """The words a sender reads when the type it sent is not one we know."""
    return (f'"{value}" is not an incident type we know. Send "type" as one of the sub-types below '
            f'(and, if you like, "category" as its category). {in_words()}.')
