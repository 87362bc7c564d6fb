"""parse_xml: the one door for XML feeds. Hostile documents must be refused, with a
message a sender can act on, and legitimate encodings must get through."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.testdata
from tests.testdata import read_sample  # noqa: E402

from crisis.errors import FeedError  # noqa: E402
from crisis.feeds.xml import DEFAULT_MAX_BYTES, parse_xml  # noqa: E402

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>
"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE rss SYSTEM "http://attacker.example/rss.dtd">
<rss version="2.0"><channel/></rss>
"""


def refusal(data: bytes, **kwargs: int) -> dict[str, str]:
    with pytest.raises(FeedError) as caught:
        parse_xml(data, **kwargs)
    assert len(caught.value.errors) == 1
    return caught.value.errors[0]


def test_parses_the_real_cap_example() -> None:
    root = parse_xml(read_sample("cap", "example2.xml"))
    assert root.tag == "{urn:oasis:names:tc:emergency:cap:1.2}alert"


def test_strips_the_utf8_bom_of_the_real_gdacs_feed() -> None:
    data = read_sample("gdacs", "gdacs-rss.xml")
    assert data.startswith(b"\xef\xbb\xbf")  # the real file carries one
    root = parse_xml(data)
    assert root.tag == "rss" and len(root.findall("channel/item")) == 16


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("windows-1252", "Séisme – 5 € damage"),
        ("ISO-8859-15", "Séisme €"),
        ("Shift_JIS", "地震警報"),
        ("GB2312", "地震预警"),
        ("UTF-16", "زلزال 地震"),
        ("utf-8", "زلزال 地震"),
    ],
)
def test_honours_the_encoding_declared_in_the_prolog(encoding: str, text: str) -> None:
    data = f'<?xml version="1.0" encoding="{encoding}"?>\n<a>{text}</a>'.encode(encoding)
    assert parse_xml(data).text == text


def test_billion_laughs_is_refused_before_any_expansion() -> None:
    error = refusal(BILLION_LAUGHS)
    assert error["field"] == "document"
    assert "entity declarations are refused" in error["message"]
    assert "entity-expansion" in error["message"]


def test_external_entity_is_refused_and_the_file_is_not_read() -> None:
    error = refusal(XXE)
    assert error["field"] == "document"
    assert "external entity" in error["message"]
    assert "file:///etc/passwd" in error["message"]
    assert "root:" not in error["message"]  # no file content leaks into the error


def test_external_dtd_is_refused() -> None:
    error = refusal(EXTERNAL_DTD)
    assert "http://attacker.example/rss.dtd" in error["message"]
    assert "<!DOCTYPE>" in error["message"]


def test_even_a_harmless_doctype_is_refused() -> None:
    error = refusal(b"<?xml version='1.0'?><!DOCTYPE rss><rss/>")
    assert "document type declarations" in error["message"]


def test_truncated_document_reports_line_and_column() -> None:
    data = read_sample("cap", "example3.xml")[:600]
    error = refusal(data)
    assert error["field"].startswith("line ")
    line = int(error["field"].split()[1])
    assert line == data.count(b"\n") + 1  # the last, cut-off line
    assert error["message"].startswith(f"malformed XML at line {line}, column ")


def test_mismatched_tag_names_the_line() -> None:
    error = refusal(b"<alert>\n  <sender>x</sendr>\n</alert>")
    assert error["field"] == "line 2"
    assert "mismatched tag" in error["message"]


def test_size_cap_is_checked_before_parsing() -> None:
    error = refusal(b"<a>" + b"x" * 100 + b"</a>", max_bytes=64)
    assert error == {"field": "document",
                     "message": "document is 107 bytes; the limit is 64 bytes"}


def test_default_size_cap_is_two_mebibytes() -> None:
    assert DEFAULT_MAX_BYTES == 2 * 1024 * 1024
    body = b"<a>" + b"x" * (DEFAULT_MAX_BYTES - 7) + b"</a>"
    assert len(body) == DEFAULT_MAX_BYTES and parse_xml(body).tag == "a"
    assert "limit" in refusal(body + b" ")["message"]


@pytest.mark.parametrize("data", [b"", b"   \n", b"\xef\xbb\xbf"])
def test_empty_document(data: bytes) -> None:
    assert refusal(data) == {"field": "document", "message": "document is empty"}


def test_unknown_declared_encoding() -> None:
    error = refusal(b'<?xml version="1.0" encoding="klingon"?><a/>')
    assert "unknown encoding 'klingon'" in error["message"]


def test_bytes_that_do_not_match_the_declared_encoding() -> None:
    error = refusal(b'<?xml version="1.0" encoding="GB2312"?><a>\xff\xff</a>')
    assert "not valid GB2312" in error["message"]


def test_text_instead_of_bytes_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        parse_xml("<a/>")  # type: ignore[arg-type]
