"""Pure feed logic: poll scheduling and backoff, the feed health rule, fetch rules.

No Redis here: the poller is driven with a fake feed log and a fake intake.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from crisis.config import Settings
from crisis.errors import CrisisError
from crisis.feeds.health import SILENCE_GRACE_SECONDS, feed_health, feed_status, merge_stats, report_for
from crisis.feeds.intake import IntakeResult, MessageRejected
from crisis.feeds.pollers import (
    Fetcher,
    FetchError,
    FeedSource,
    Poller,
    display_location,
    expected_intervals,
    feed_sources,
    next_delay,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat()


# --- scheduling -------------------------------------------------------------------------


@pytest.mark.parametrize(("interval", "failures", "expected"), [
    (60, 0, 60), (60, 1, 120), (60, 2, 240), (60, 3, 480), (60, 4, 600), (60, 50, 600),
    (300, 1, 600), (300, 5, 600), (3600, 0, 3600), (3600, 3, 3600), (5, 3, 40),
])
def test_next_delay_doubles_after_failures_up_to_ten_minutes(interval: float, failures: int, expected: float) -> None:
    assert next_delay(interval, failures) == expected


def test_sources_and_intervals_come_from_settings() -> None:
    settings = Settings(gdacs_url="https://www.gdacs.org/xml/rss.xml", usgs_url=None, cap_url="/srv/cap.xml",
                        gdacs_interval=300, cap_interval=30)
    assert feed_sources(settings) == [FeedSource("gdacs", "https://www.gdacs.org/xml/rss.xml", 300),
                                      FeedSource("cap", "/srv/cap.xml", 30)]
    intervals = expected_intervals(settings)
    assert intervals == {"api": None, "cap": 30, "gdacs": 300, "usgs": None, "positions": None, "sim": None, "cot": None}


def test_settings_read_feed_options_from_the_environment() -> None:
    settings = Settings.from_env({"CRISIS_CAP_URL": "https://alerts.example.org/cap.xml", "CRISIS_CAP_INTERVAL": "15",
                                  "CRISIS_USGS_MIN_MAGNITUDE": "4.5", "CRISIS_FEED_USER_AGENT": "ccc/1 ops@example.org"})
    assert (settings.cap_url, settings.cap_interval, settings.usgs_min_magnitude) == (
        "https://alerts.example.org/cap.xml", 15.0, 4.5)
    assert settings.feed_user_agent == "ccc/1 ops@example.org"
    assert Settings.from_env({}).usgs_min_magnitude is None


def test_credentials_are_not_shown() -> None:
    assert display_location("https://user:secret@feeds.example.org/x.xml") == "https://feeds.example.org/x.xml"
    assert display_location("/srv/feeds/x.xml") == "/srv/feeds/x.xml"


# --- the health rule --------------------------------------------------------------------


def test_never_heard_is_unknown() -> None:
    assert feed_status({}, 60, NOW) == "unknown"
    assert feed_status({"accepted_total": "0"}, None, NOW) == "unknown"


def test_recent_good_message_is_ok() -> None:
    assert feed_status({"last_message_at": ago(10), "accepted_last_hour": 3}, 60, NOW) == "ok"


def test_polled_feed_quiet_beyond_its_interval_is_silent() -> None:
    assert feed_status({"last_message_at": ago(60 + SILENCE_GRACE_SECONDS - 1)}, 60, NOW) == "ok"
    assert feed_status({"last_message_at": ago(60 + SILENCE_GRACE_SECONDS + 1)}, 60, NOW) == "silent"


def test_push_feed_is_never_silent() -> None:
    assert feed_status({"last_message_at": ago(86_400)}, None, NOW) == "ok"


def test_last_message_rejected_and_more_rejected_than_accepted_is_failing() -> None:
    stats = {"last_message_at": ago(5), "last_error_at": ago(5), "accepted_last_hour": 1, "rejected_last_hour": 2}
    assert feed_status(stats, 60, NOW) == "failing"
    assert feed_status(stats, None, NOW) == "failing"


def test_one_bad_message_among_good_ones_is_not_failing() -> None:
    stats = {"last_message_at": ago(5), "last_error_at": ago(5), "accepted_last_hour": 9, "rejected_last_hour": 1}
    assert feed_status(stats, 60, NOW) == "ok"


def test_an_error_followed_by_a_good_message_is_not_failing() -> None:
    stats = {"last_message_at": ago(5), "last_error_at": ago(30), "accepted_last_hour": 0, "rejected_last_hour": 5}
    assert feed_status(stats, 60, NOW) == "ok"


def test_an_old_failure_of_a_silent_feed_is_silent() -> None:
    stats = {"last_message_at": ago(7200), "last_error_at": ago(7200), "rejected_last_hour": 0}
    assert feed_status(stats, 300, NOW) == "silent"


def test_failing_wins_over_silent() -> None:
    stats = {"last_message_at": ago(1800), "last_error_at": ago(1800), "rejected_last_hour": 3}
    assert feed_status(stats, 300, NOW) == "failing"


def test_merged_stats_sum_counts_and_keep_the_latest_times() -> None:
    merged = merge_stats([
        {"last_message_at": ago(100), "accepted_total": "5", "accepted_last_hour": "2"},
        {"last_message_at": ago(10), "last_error_at": ago(10), "last_error": "body: malformed JSON",
         "rejected_total": "1", "rejected_last_hour": "1"},
    ])
    assert merged["accepted_total"] == 5 and merged["rejected_total"] == 1
    assert merged["last_message_at"] == NOW - timedelta(seconds=10)
    assert merged["last_error"] == "body: malformed JSON"
    row = feed_health(merged, None, NOW)
    assert row["status"] == "ok" and row["last_error_at"] == ago(10) and row["expected_interval_seconds"] is None


def test_only_duty_officers_and_admins_read_a_feeds_error_texts() -> None:
    """A refused message's error quotes what was sent (an unknown handset's uid
    'SECRET-HANDSET-JOHN-DOE'): the roles that read the refused messages get it, the others
    the same row with counts, times and status but no texts."""
    row = feed_health(merge_stats([{"last_message_at": ago(10), "last_error_at": ago(10), "rejected_last_hour": "1",
                                    "last_error": "uid: no device 'SECRET-HANDSET-JOHN-DOE' in the device table",
                                    "last_defect_at": ago(20), "last_defect": "<severity> is missing"}]), None, NOW)
    report = {"feeds": {"cot": row}, "checked_at": NOW.isoformat()}
    for role in ("admin", "duty_officer"):
        assert report_for(SimpleNamespace(role=role, region=None), report) == report
    for role, region in (("wall", None), ("regional_desk", "africa"), ("feed", None)):
        cut = report_for(SimpleNamespace(role=role, region=region), report)
        assert cut["feeds"]["cot"] == {**row, "last_error": None, "last_defect": None}, role
        assert "JOHN-DOE" not in repr(cut) and cut["feeds"]["cot"]["status"] == row["status"]


# --- fetching -----------------------------------------------------------------------------


def test_file_is_read_again_only_when_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(b"<rss/>")
    fetcher = Fetcher("test-agent")
    first = fetcher.fetch(str(path), 1000)
    assert first.body == b"<rss/>"
    assert fetcher.fetch(str(path), 1000).body == b"<rss/>"  # not remembered: not stored yet
    fetcher.remember(str(path), first)
    assert fetcher.fetch(path.as_uri(), 1000).body == b"<rss/>"  # another location key
    assert fetcher.fetch(str(path), 1000).body is None
    path.write_bytes(b"<rss version='2.0'/>")
    assert fetcher.fetch(str(path), 1000).body == b"<rss version='2.0'/>"
    assert fetcher.fetch(str(path), 1000, conditional=False).body is not None


def test_fetch_refuses_other_schemes_missing_files_and_oversize(tmp_path: Path) -> None:
    fetcher = Fetcher("test-agent")
    for location, text in (("ftp://example.org/feed.xml", "scheme 'ftp' is not allowed"),
                           (str(tmp_path / "missing.xml"), "cannot read"),
                           ("gopher://example.org/", "not allowed")):
        with pytest.raises(FetchError, match=text):
            fetcher.fetch(location, 1000)
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(FetchError, match="the limit is 1000"):
        fetcher.fetch(str(big), 1000)


# --- the poller loop ------------------------------------------------------------------------


class FakeFeedLog:
    def __init__(self) -> None:
        self.accepted_calls: list[tuple[str, int]] = []
        self.rejections: list[tuple[str, list[dict[str, Any]], dict[str, str] | None]] = []

    def accepted(self, feed: str, count: int = 1) -> None:
        self.accepted_calls.append((feed, count))

    def rejected(self, feed: str, errors: list[dict[str, Any]], body: bytes, detail: dict[str, str] | None = None) -> str:
        self.rejections.append((feed, errors, detail))
        return "1-0"


def make_poller(tmp_path: Path, intake: Any) -> tuple[Poller, FakeFeedLog, Path]:
    feed_log = FakeFeedLog()
    path = tmp_path / "gdacs.xml"
    path.write_bytes(b"<rss><channel/></rss>")
    context = SimpleNamespace(feed_log=feed_log)
    poller = Poller(context, FeedSource("gdacs", str(path), 300), Fetcher("test-agent"), intake)  # type: ignore[arg-type]
    return poller, feed_log, path


def test_poller_ingests_then_only_notes_that_nothing_changed(tmp_path: Path) -> None:
    calls: list[bytes] = []

    def intake(context: Any, feed: str, body: bytes, actor: str | None) -> IntakeResult:
        calls.append(body)
        assert (feed, actor) == ("gdacs", "poller:gdacs")
        return IntakeResult(feed, accepted=0)

    poller, feed_log, _ = make_poller(tmp_path, intake)
    assert isinstance(poller.poll_once(), IntakeResult)
    assert poller.poll_once() is None
    assert len(calls) == 1 and feed_log.accepted_calls == [("gdacs", 0)] and poller.failures == 0


def test_poller_survives_every_kind_of_failure_and_backs_off(tmp_path: Path) -> None:
    failures = iter([MessageRejected([{"field": "document", "message": "bad"}], "rejected", 400, "1-0"),
                     CrisisError("redis went away"), RuntimeError("a bug")])

    def intake(context: Any, feed: str, body: bytes, actor: str | None) -> IntakeResult:
        raise next(failures)

    poller, feed_log, path = make_poller(tmp_path, intake)
    for expected in (1, 2, 3):
        assert poller.poll_once() is None
        assert poller.failures == expected
    # The rejected document was dead-lettered by the intake; the other two are logged here.
    assert [r[1][0]["message"].split(": ", 1)[1] for r in feed_log.rejections] == [
        "CrisisError: redis went away", "RuntimeError: a bug"]
    path.unlink()
    assert poller.poll_once() is None and poller.failures == 4
    assert "cannot read" in feed_log.rejections[-1][1][0]["message"]
    assert next_delay(poller.source.interval, poller.failures) == 600


def test_poller_thread_stops_promptly(tmp_path: Path) -> None:
    poller, _, _ = make_poller(tmp_path, lambda *args: IntakeResult("gdacs"))
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while poller.polls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()  # the poller is now waiting its 300 s interval: it must not finish it
    thread.join(5)
    assert not thread.is_alive() and poller.polls == 1


def test_a_refusal_under_any_name_counts_in_a_feed_row_its_acceptances_only_where_listed() -> None:
    from crisis.feeds.health import log_names, refusals_only

    names = log_names(["api:list_incidents", "usgs", "socket:sync", "api:post_positions", "travellers"])
    assert names["api"] == (("api", "api:create_incident", "api:patch_incident", "api:oversize"),
                            ("api:list_incidents", "socket:sync", "travellers"))
    assert names["positions"] == (("positions", "api:post_positions"), ()) and names["usgs"] == (("usgs",), ())
    imported = {"accepted_total": "5000", "accepted_last_hour": "5000", "rejected_total": "2", "rejected_last_hour": "2",
                "last_error": "row 3: lat: out of range", "last_error_at": ago(5), "last_message_at": ago(1)}
    row = feed_health(merge_stats([refusals_only(imported)]), None, NOW)
    assert (row["accepted_total"], row["rejected_total"], row["last_error"]) == (0, 2, "row 3: lat: out of range")
    assert row["status"] == "failing"
