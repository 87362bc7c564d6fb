"""Safe XML parsing for every XML feed (CAP, GDACS RSS, CoT).

Feed documents come from outside and are hostile until proven otherwise, so this is the
only place the product turns XML bytes into elements:

* ``defusedxml`` with every protection on: a document type declaration (``<!DOCTYPE``) is
  refused outright, because it is the vehicle for entity-expansion ("billion laughs")
  and external-entity (XXE: read ``file:///etc/passwd``, reach internal URLs) attacks.
  No feed format the product reads needs a DTD.
* A size cap before parsing, so a huge document is refused without being read.
* Encodings: a UTF-8 byte-order mark is dropped; UTF-8/UTF-16/Latin-1 go straight to
  expat; any other encoding declared in the XML prolog (windows-1252, Shift_JIS, GB2312,
  ...) is decoded by Python and re-encoded as UTF-8, because expat cannot read multi-byte
  legacy encodings itself.

Every refusal is a :class:`~crisis.errors.FeedError` whose ``field`` says where
("document", "line 3") and whose message says what is accepted.
"""

from __future__ import annotations

import codecs
import re
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

from crisis.errors import DocumentTooLarge, FeedError

DEFAULT_MAX_BYTES = 2 * 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
# The encoding pseudo-attribute of the prolog, for ASCII-compatible documents (UTF-16
# documents start with a BOM or NUL bytes and are detected by expat itself).
_PROLOG_ENCODING = re.compile(
    rb"""\A\s*<\?xml\s[^>]*?encoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]*)\1"""
)
_EXPAT_NATIVE = {"utf-8", "utf-16", "utf-16-le", "utf-16-be", "latin-1", "iso8859-1", "ascii"}
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_EXTERNAL_ENTITY = re.compile(
    rb"""<!ENTITY\s+(?:%\s*)?[^\s>]+\s+(?:SYSTEM|PUBLIC)\s+(?:"[^"]*"\s+)?["']([^"']*)["']"""
)
_POSITION_SUFFIX = re.compile(r":\s*line \d+, column \d+$")


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Element:
    """Parse an untrusted XML document and return its root element.

    Raises FeedError for a document that is too large, empty, malformed, in an unknown
    encoding, or that carries a DTD / entity declarations / external references.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_xml expects bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DocumentTooLarge(
            "document", f"document is {len(data)} bytes; the limit is {max_bytes} bytes"
        )
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    if not data.strip():
        raise FeedError("document", "document is empty")
    data = _to_expat_encoding(data)
    try:
        return safe_et.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DTDForbidden as exc:
        raise FeedError("document", _dtd_message(data, exc)) from None
    except EntitiesForbidden:
        raise FeedError(
            "document",
            "XML entity declarations are refused (possible entity-expansion attack)",
        ) from None
    except ExternalReferenceForbidden as exc:
        raise FeedError(
            "document",
            f"external references are refused (tried to load {exc.sysid!r})",
        ) from None
    except DefusedXmlException as exc:  # any future defusedxml refusal
        raise FeedError("document", f"XML refused as unsafe: {exc}") from None
    except ParseError as exc:
        line, column = exc.position
        reason = _POSITION_SUFFIX.sub("", str(exc))
        raise FeedError(
            f"line {line}", f"malformed XML at line {line}, column {column}: {reason}"
        ) from None
    except (ValueError, LookupError) as exc:  # expat: unsupported encoding
        raise FeedError("document", f"cannot read the document's encoding: {exc}") from None


def _to_expat_encoding(data: bytes) -> bytes:
    """Re-encode a document in an encoding expat cannot read as UTF-8.

    The prolog's declaration is rewritten to match; line numbers are unchanged, so error
    positions still point at the sender's document.
    """
    match = _PROLOG_ENCODING.match(data)
    if match is None:
        return data
    declared = match.group(2).decode("ascii")
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        raise FeedError(
            "document", f"unknown encoding {declared!r} declared in the XML prolog"
        ) from None
    if codec in _EXPAT_NATIVE:
        return data
    start, end = match.span(2)
    try:
        body = data[end:].decode(codec)
    except UnicodeDecodeError as exc:
        raise FeedError(
            "document",
            f"byte {end + exc.start} is not valid {declared} (the encoding the prolog "
            "declares)",
        ) from None
    return data[:start] + b"utf-8" + body.encode("utf-8")


def _dtd_message(data: bytes, exc: DTDForbidden) -> str:
    """Say which attack the refused DTD could have carried, so the sender can fix it."""
    external = _EXTERNAL_ENTITY.search(data)
    if external is not None:
        target = external.group(1).decode("utf-8", "replace")
        return (
            f"external entity declarations are refused (the document tries to read "
            f"{target!r}); feeds must not contain <!DOCTYPE>"
        )
    if _ENTITY_DECL.search(data):
        return (
            "XML entity declarations are refused (possible entity-expansion attack); "
            "feeds must not contain <!DOCTYPE>"
        )
    if exc.sysid or exc.pubid:
        return (
            f"document type declarations are refused (the document refers to the "
            f"external DTD {exc.sysid or exc.pubid!r}); feeds must not contain <!DOCTYPE>"
        )
    return "document type declarations (<!DOCTYPE>) are refused in feed documents"
