"""CAP alerts checked against the official OASIS CAP 1.1 and 1.2 schemas (``xmlschema``).

The schemas are the files in ``crisis/feeds/cap_schemas/`` (their sources are in the README
there), loaded once from disk with every outside access refused: no imports, no includes,
no network. The alert has already been parsed safely by ``crisis.feeds.xml.parse_xml``
(defusedxml); ``xmlschema`` only walks the parsed elements.

Each departure from the schema becomes a :class:`Defect` in plain words, with the path of
the element in the form the feed's errors use ("alert.info[0].severity"). What the feed
does with them is the CAP policy in ``crisis.feeds.cap``: accept and flag.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

import xmlschema

SCHEMA_DIR = Path(__file__).with_name("cap_schemas")
SCHEMA_FILES = {
    "urn:oasis:names:tc:emergency:cap:1.2": ("1.2", SCHEMA_DIR / "CAP-v1.2.xsd"),
    "urn:oasis:names:tc:emergency:cap:1.1": ("1.1", SCHEMA_DIR / "CAP-v1.1.xsd"),
}
# Elements that may repeat: their paths carry an index ("info[1]").
_REPEATED = {"info", "area", "resource", "geocode", "parameter", "eventCode", "polygon", "circle",
             "category", "responseType", "code"}
_DATE_TIMES = {"sent", "effective", "onset", "expires"}
MAX_DEFECTS = 20


@dataclass(frozen=True)
class Defect:
    """One departure from the CAP schema. ``missing`` names a required element that is absent."""

    field: str
    message: str
    missing: str | None = None


@functools.lru_cache(maxsize=2)
def _schema(namespace: str) -> xmlschema.XMLSchema:
    _version, path = SCHEMA_FILES[namespace]
    # The schema's text, not its path, with allow="none": nothing else is ever loaded.
    return xmlschema.XMLSchema(path.read_text(encoding="utf-8"), allow="none", defuse="always")


def version_of(namespace: str) -> str:
    return SCHEMA_FILES[namespace][0]


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def _paths(root: Element) -> dict[int, str]:
    """id(element) -> "alert.info[0].area[1].geocode[0]"."""
    paths = {id(root): _local(root.tag)}
    stack = [root]
    while stack:
        parent = stack.pop()
        counts: dict[str, int] = {}
        for child in parent:
            if not isinstance(child.tag, str):
                continue
            name = _local(child.tag)
            index = counts.get(name, 0)
            counts[name] = index + 1
            suffix = f"[{index}]" if name in _REPEATED else ""
            paths[id(child)] = f"{paths[id(parent)]}.{name}{suffix}"
            stack.append(child)
    return paths


def defects(root: Element, namespace: str) -> list[Defect]:
    """Every departure of ``root`` (a CAP ``<alert>``, tags still namespaced) from its schema."""
    version = version_of(namespace)
    paths: dict[int, str] | None = None  # built at the first error: a valid alert needs none
    out: list[Defect] = []
    for error in _schema(namespace).iter_errors(root):
        element = error.elem if isinstance(error.elem, Element) else None
        where = "alert"
        if element is not None:
            paths = paths if paths is not None else _paths(root)
            where = paths.get(id(element), "alert")
        out.append(_in_words(error, element, where, version))
        if len(out) >= MAX_DEFECTS:
            break
    return out


def _in_words(error: xmlschema.XMLSchemaValidationError, element: Element | None, where: str,
              version: str) -> Defect:
    expected = getattr(error, "expected", None) or []
    if expected and element is not None:
        wanted = [_local(getattr(e, "name", "") or "") for e in expected if getattr(e, "name", None)]
        if wanted:
            name = wanted[0]
            present = any(_local(child.tag) == name for child in element if isinstance(child.tag, str))
            if present:
                return Defect(where, f"<{name}> is out of the order CAP {version} requires in "
                                     f"<{_local(element.tag)}>")
            return Defect(f"{where}.{name}", f"required element <{name}> is missing (CAP {version})",
                          missing=name)
    name = _local(element.tag) if element is not None else "alert"
    value = (element.text or "").strip() if element is not None else ""
    if name in _DATE_TIMES:
        return Defect(where, f"<{name}> {value!r} is not written as CAP {version} requires "
                             "(like 2024-03-01T10:00:00+02:00: seconds, a numeric offset, no Z)")
    reason = re.sub(r"\s+", " ", str(error.reason or "is not valid")).strip()
    return Defect(where, f"<{name}> {value!r} does not follow the CAP {version} schema: {reason}")
