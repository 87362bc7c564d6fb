"""Cursor-on-Target parsing: the real handset samples, the "no fix" rule, the stream
splitter, and every kind of bad event refused with its field (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crisis.errors import FeedError, InputError
from crisis.feeds.cot import (
    MAX_EVENTS_PER_BODY,
    DocumentTooLarge,
    EventSplitter,
    is_no_fix,
    parse_cot,
    parse_event,
    split_documents,
)
from tests.testdata import sample_path

SAMPLES = sorted(sample_path("cot").glob("*.xml"))
NO_FIX_SAMPLES = {"a-f-G-U-C-1581185446278.xml", "a-f-G-U-C-1581185449242.xml"}
GPS_UID = "ANDROID-351811095448994"


def event(point: str = "<point lat='33.89' lon='35.5' hae='10' ce='5' le='9999999'/>", uid: str = "uid='H-1'",
          time: str = "2024-05-01T09:30:00Z", start: str = "2024-05-01T09:30:00Z",
          stale: str = "2024-05-01T09:31:00Z", head: str = "", extra: str = "") -> bytes:
    return (f"{head}<event version='2.0' {uid} type='a-f-G-U-C' how='h-e' time='{time}' start='{start}' "
            f"stale='{stale}'>{point}<detail><contact callsign='Alpha'/>{extra}</detail></event>").encode()


def refused(document: bytes) -> tuple[str, str]:
    with pytest.raises(FeedError) as caught:
        parse_event(document)
    error = caught.value.errors[0]
    return error["field"], error["message"]


def test_the_twelve_samples_parse_with_their_points() -> None:
    assert len(SAMPLES) == 12
    for path in SAMPLES:
        parsed = parse_event(path.read_bytes())
        if path.name in NO_FIX_SAMPLES:
            # The handset without a fix: jitter around 0,0 and hae/ce 9999999, not a place at sea.
            assert parsed.uid == "ANDROID-R52JB0CDC4E" and parsed.no_fix
            assert abs(parsed.lat) < 0.01 and abs(parsed.lon) < 0.01 and parsed.hae == 9999999.0
            assert parsed.seen()["lat"] is None and parsed.seen()["fix"] is False
        else:
            assert parsed.uid == GPS_UID and not parsed.no_fix
            assert (parsed.lat, parsed.lon, parsed.ce) == (43.967183, -66.126446, 156.5)
            assert parsed.accuracy_m == 156.5 and parsed.callsign == "C0rv0"
        assert parsed.type == "a-f-G-U-C" and parsed.time.tzinfo is not None
    first = parse_event(SAMPLES[2].read_bytes())
    assert first.time == datetime(2020, 2, 8, 18, 10, 58, tzinfo=UTC)


def test_no_fix_is_0_0_with_an_unknown_height_or_error_or_exactly_0_0() -> None:
    assert is_no_fix(0.0, 0.0, 9999999.0, 9999999.0)
    assert is_no_fix(-0.0043, -0.0077, 9999999.0, 12.0)
    assert is_no_fix(0.0, 0.0, 12.0, 9999999.0)
    # exactly 0, 0 is a receiver's default, not a measurement, whatever errors it claims (the
    # API refuses it too); a ship near there, to the metre, stays a place
    assert is_no_fix(0.0, 0.0, 12.0, 10.0)
    assert not is_no_fix(0.00001, 0.0, 12.0, 10.0)
    assert not is_no_fix(33.89, 35.5, 9999999.0, 9999999.0)  # placed by hand, height unknown: a place
    assert not is_no_fix(1.5, 0.0, 9999999.0, 9999999.0)


def test_a_body_of_all_samples_back_to_back_is_twelve_events() -> None:
    body = b"".join(p.read_bytes() for p in SAMPLES)
    parsed = parse_cot(body)
    assert not parsed.rejected and len(parsed.events) == 12
    assert [e.index for e in parsed.events] == list(range(12))
    assert sum(e.no_fix for e in parsed.events) == 2


def test_the_splitter_cuts_a_stream_fed_a_byte_at_a_time() -> None:
    body = b"".join(p.read_bytes() for p in SAMPLES) + b"\n"
    splitter = EventSplitter()
    documents = [doc for i in range(len(body)) for doc in splitter.feed(body[i:i + 1])]
    assert len(documents) == 12 and not splitter.rest().strip()
    assert [parse_event(d).time for d in documents] == [parse_event(p.read_bytes()).time for p in SAMPLES]


def test_the_splitter_is_not_fooled_by_markup_in_values_comments_or_cdata() -> None:
    tricky = event(extra="<remarks a='x>y' b=\"/>\"><![CDATA[</event><event>]]><!-- </event> --></remarks>")
    body = tricky + b"\n<?xml version='1.0'?>" + event(uid="uid='H-2'")
    documents = split_documents(body)
    assert len(documents) == 2
    assert [parse_event(d).uid for d in documents] == ["H-1", "H-2"]
    # Cut inside a quoted attribute value holding ">": waits for the rest, then one document.
    splitter = EventSplitter()
    cut = tricky.index(b"x>y") + 2
    assert splitter.feed(tricky[:cut]) == [] and splitter.feed(tricky[cut:]) == [tricky]


def test_the_splitter_caps_an_unfinished_document() -> None:
    splitter = EventSplitter(max_bytes=1024)
    splitter.feed(b"<event uid='H-1'>")
    with pytest.raises(DocumentTooLarge) as caught:
        splitter.feed(b"<detail>" + b"x" * 2000)
    assert caught.value.head.startswith(b"<event uid='H-1'>")
    assert splitter.feed(event()) == [event()]  # a fresh start afterwards
    with pytest.raises(InputError) as too_large:
        split_documents(b"<event>" + b"y" * 70_000)
    assert too_large.value.errors[0]["field"] == "document" and "at most" in too_large.value.errors[0]["message"]
    with pytest.raises(InputError) as too_many:
        split_documents(b"<event/>" * (MAX_EVENTS_PER_BODY + 1))
    assert "10001 events" in too_many.value.errors[0]["message"]


@pytest.mark.parametrize(("document", "field", "words"), [
    (event(point="<point lon='35.5' hae='1' ce='1' le='1'/>"), "point.lat", "missing"),
    (event(point="<point lat='95' lon='35.5' hae='1' ce='1' le='1'/>"), "point.lat", "95 is out of range"),
    (event(point="<point lat='north' lon='35.5' hae='1' ce='1' le='1'/>"), "point.lat", "not a number: 'north'"),
    (event(point="<point lat='1' lon='-181' hae='1' ce='1' le='1'/>"), "point.lon", "out of range"),
    (event(point="<point lat='1' lon='1' hae='nan' ce='1' le='1'/>"), "point.hae", "not a finite number"),
    (event(point="<point lat='1' lon='1' hae='1' ce='-3' le='1'/>"), "point.ce", "out of range"),
    (event(point="<point lat='1' lon='1' hae='1' ce='1'/>"), "point.le", "missing"),
    (event(point=""), "point", "missing"),
    (event(point="<point lat='1' lon='1' hae='1' ce='1' le='1'/>" * 2), "point", "2 <point> elements"),
    (event(uid=""), "uid", "missing"),
    (event(uid="uid='has space'"), "uid", "not a device uid"),
    (event(time="2024-05-01T09:30:00"), "time", "needs a time zone"),
    (event(start="yesterday"), "start", "not an ISO 8601"),
    (event(stale="2024-05-01T09:00:00Z"), "stale", "before start"),
    (event().replace(b"type='a-f-G-U-C'", b""), "type", "missing"),
    (b"<alert><point/></alert>", "document", "not a CoT event"),
    (b"<event uid='H-1'><point lat='1'", "line 1", "malformed XML"),
    (b"\xbf\x01\xbf\x12\x34", "document", "protobuf"),
])
def test_bad_events_are_refused_naming_the_field(document: bytes, field: str, words: str) -> None:
    where, message = refused(document)
    assert where == field and words in message, message


def test_entities_and_dtds_are_refused_without_expansion() -> None:
    laughs = ("<!DOCTYPE e [<!ENTITY a 'aaaaaaaaaa'>" + "".join(
        f"<!ENTITY {chr(98 + i)} '{('&' + chr(97 + i) + ';') * 10}'>" for i in range(8)) + "]>")
    field, message = refused(event(head=laughs, uid="uid='&i;'"))
    assert field == "document" and "entity declarations are refused" in message
    field, message = refused(event(head="<!DOCTYPE e [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>", uid="uid='&x;'"))
    assert field == "document" and "file:///etc/passwd" in message
    # In a stream, the hostile document costs only itself.
    parsed = parse_cot(event(head=laughs, uid="uid='&i;'") + event(uid="uid='H-2'"))
    assert [e.uid for e in parsed.events] == ["H-2"]
    assert [(r["index"], r["field"]) for r in parsed.rejected] == [(0, "document")]


def test_a_time_far_ahead_of_receipt_is_a_wrong_clock() -> None:
    now = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert parse_event(event(), now=now).uid == "H-1"
    with pytest.raises(FeedError) as caught:
        parse_event(event(time="2024-05-03T09:30:00Z", start="2024-05-03T09:30:00Z", stale="2024-05-03T09:31:00Z"),
                    now=now)
    assert caught.value.errors[0]["field"] == "time"


def test_one_bad_event_among_good_ones_is_listed_with_its_index_and_body() -> None:
    bad = event(point="<point lat='95' lon='1' hae='1' ce='1' le='1'/>", uid="uid='H-9'")
    parsed = parse_cot(event() + bad + Path(SAMPLES[3]).read_bytes())
    assert [e.uid for e in parsed.events] == ["H-1", GPS_UID]
    assert [(r["index"], r["field"]) for r in parsed.rejected] == [(1, "point.lat")]
    assert parsed.rejected[0]["body"] == bad
    assert parse_cot(b"").rejected[0]["message"] == "document is empty"
