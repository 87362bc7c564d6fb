"""The feeds inbox (crisis.feeds.inbox): a consumer killed mid-work loses nothing, and what
it left pending is claimed (XAUTOCLAIM) and taken in once in effect.

Real parts: the session's embedded redis-server, real ``crisis feeds`` subprocesses killed
with SIGKILL, real sockets. No sleeps are asserted on: every wait is on a condition.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from crisis import handlers
from crisis.adapters import keys
from crisis.adapters.device_store import DeviceStore
from crisis.bootstrap import Context
from crisis.config import Settings
from crisis.domain.travellers import Traveller
from crisis.feeds.cot import DeviceIn
from crisis.feeds.inbox import COT, InboxItem, InboxStore, InboxWorker, take_in
from crisis.handlers_cot import add_device
from tests.testdata import read_sample, sample_path

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]
GDACS_ITEMS = 16  # incidents in tests/samples/gdacs/gdacs-rss.xml
UID = "ANDROID-INBOX-1"
COT_EVENT = (f"<event version='2.0' uid='{UID}' type='a-f-G-U-C' time='2024-05-01T09:30:00Z' "
             "start='2024-05-01T09:30:00Z' stale='2024-05-01T09:31:00Z'>"
             "<point lat='33.89' lon='35.5' hae='10' ce='5' le='9999999'/></event>").encode()


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "a condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def pending(context: Context) -> int:
    """Entries delivered and not acknowledged; 0 while the group is not made yet (a worker
    makes it as it starts, on its own thread: the test may look first)."""
    try:
        return int(context.redis.xpending(keys.FEED_INBOX, keys.FEED_INBOX_GROUP)["pending"])
    except redis.exceptions.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        return 0


def feed_count(context: Context, feed: str, outcome: str = "accepted") -> int:
    return int(context.redis.hget(keys.feed_stats(feed), f"{outcome}_total") or 0)


def inbox_state(context: Context) -> tuple[int, int]:
    """(entries pending in the group, entries in the inbox)."""
    store = InboxStore(context.redis)
    return store.pending(), store.waiting()


def _free_port() -> int:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        port = int(tcp.getsockname()[1])
        udp.bind(("127.0.0.1", port))
        return port


class FeedsProcess:
    """A real ``crisis feeds`` subprocess; its stderr lines are collected as they come."""

    def __init__(self, settings: Settings, **env: str) -> None:
        clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY") and not k.startswith("CRISIS_")}
        full = {**clean, "CRISIS_DATA_DIR": str(settings.data_dir), "CRISIS_FEEDS": "0", "CRISIS_COT_PORT": "0",
                "CRISIS_INBOX_CLAIM_IDLE_MS": "1000", **env}
        self.process = subprocess.Popen([*CRISIS, "--log-level", "WARNING", "feeds"], env=full, cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def said(self, text: str) -> str | None:
        return next((line for line in self.lines if text in line), None)

    def wait_said(self, text: str, timeout: float = 90.0) -> str:
        def seen() -> str | None:
            assert self.process.poll() is None, "".join(self.lines)
            return self.said(text)
        return str(wait_for(seen, timeout, repr(text)))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._close()

    def _close(self) -> None:
        self._reader.join(10)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close()
        return int(self.process.returncode)


@pytest.fixture
def processes() -> Iterator[list[FeedsProcess]]:
    started: list[FeedsProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.mark.parametrize("pause", ["read", "processed"])
def test_a_feeds_process_killed_mid_work_leaves_the_document_to_the_next_consumer_once(
        context: Context, settings: Settings, processes: list[FeedsProcess], pause: str) -> None:
    """SIGKILL between reading the entry and acknowledging it (before taking it in, or
    after): another consumer claims it and the document counts once, its incidents once."""
    first = FeedsProcess(settings, CRISIS_GDACS_URL=str(sample_path("gdacs", "gdacs-rss.xml")),
                         CRISIS_GDACS_INTERVAL="3600", CRISIS_INBOX_TEST_PAUSE=pause)
    processes.append(first)
    held = first.wait_said(f"inbox test pause after {pause} ").split()[-1]
    first.kill()
    assert inbox_state(context) == (1, 1), "the killed consumer's entry is pending"
    taken = GDACS_ITEMS if pause == "processed" else 0
    assert len(context.deps.incidents.all()) == taken
    assert feed_count(context, "gdacs") == (1 if pause == "processed" else 0)
    events_before = context.redis.xlen(keys.INCIDENT_STREAM)

    second = FeedsProcess(settings, CRISIS_COT_PORT=str(_free_port()))  # polls nothing: only the inbox
    processes.append(second)
    claim = second.wait_said("claimed 1 entries left by a stopped consumer")
    assert held in claim
    wait_for(lambda: inbox_state(context) == (0, 0), what="the entry acknowledged and deleted")

    assert len(context.deps.incidents.all()) == GDACS_ITEMS
    assert feed_count(context, "gdacs") == 1, "the document is counted once"
    assert feed_count(context, "gdacs", "rejected") == 0 and not context.feed_log.dead_letters(5)
    events = context.redis.xlen(keys.INCIDENT_STREAM)
    assert events == GDACS_ITEMS, "one event per incident: none added by taking it in again"
    if pause == "processed":
        assert events == events_before
    assert not context.redis.keys(keys.inbox_done("*")), "the step marks go with the acknowledgement"
    assert second.stop() == 0


@pytest.fixture
def handset(context: Context) -> Context:
    handlers.import_travellers(context.deps, [(1, Traveller(id="T-1", name="A", agency="UNDP", category="visitor"))],
                               "test")
    add_device(context.deps, DeviceStore(context.redis), DeviceIn(uid=UID, traveller_id="T-1"), "test")
    return context


def test_a_cot_datagram_whose_consumer_was_killed_after_taking_it_in_adds_one_position(
        handset: Context, settings: Settings, processes: list[FeedsProcess]) -> None:
    """A CoT entry read for the first time has its writes held back until the batch's
    acknowledgement: killed after taking it in, nothing of it is stored yet; the consumer
    that claims it (with steps, being delivered again) stores it once."""
    port = _free_port()
    first = FeedsProcess(settings, CRISIS_COT_PORT=str(port), CRISIS_INBOX_TEST_PAUSE="processed")
    processes.append(first)
    wait_for(lambda: handset.redis.exists(keys.FEED_INBOX), what="the inbox consumer")
    positions_before = handset.redis.xlen(keys.POSITION_STREAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(COT_EVENT, ("127.0.0.1", port))
    first.wait_said("inbox test pause after processed ")
    first.kill()
    assert inbox_state(handset) == (1, 1)
    assert handset.redis.xlen(keys.POSITION_STREAM) == positions_before and feed_count(handset, "cot") == 0
    assert not handset.redis.hget(keys.POSITIONS, "T-1") and not handset.redis.keys(keys.inbox_done("*"))

    second = FeedsProcess(settings, CRISIS_COT_PORT=str(_free_port()))
    processes.append(second)
    second.wait_said("claimed 1 entries left by a stopped consumer")
    wait_for(lambda: inbox_state(handset) == (0, 0), what="the entry acknowledged and deleted")
    assert handset.redis.xlen(keys.POSITION_STREAM) == positions_before + 1, "no second position event"
    assert feed_count(handset, "cot") == 1, "the datagram is counted once"
    assert handset.redis.hget(keys.POSITIONS, "T-1")


def test_a_cot_document_taken_in_twice_adds_one_position_event_and_one_count(handset: Context) -> None:
    """The window a kill after taking in leaves: the same entry again adds nothing."""
    store = InboxStore(handset.redis)
    store.ensure_group()
    entry_id = store.put(COT, COT_EVENT, "cot-listener", {"remote": "127.0.0.1:9", "transport": "udp"})
    item = InboxItem.from_entry(entry_id, handset.redis.xrange(keys.FEED_INBOX)[0][1])
    assert item.body == COT_EVENT and item.origin["transport"] == "udp"
    positions_before = handset.redis.xlen(keys.POSITION_STREAM)
    assert take_in(handset, item).accepted == 1  # type: ignore[union-attr]
    again = take_in(handset, item)
    assert again.accepted == 1  # type: ignore[union-attr]
    assert handset.redis.xlen(keys.POSITION_STREAM) == positions_before + 1
    assert feed_count(handset, "cot") == 1
    store.done([entry_id])
    assert not handset.redis.exists(keys.inbox_done(entry_id)) and store.waiting() == 0
    # A new datagram with the same text is a new report: taken in, not mistaken for the old one.
    other = InboxItem(store.put(COT, COT_EVENT, "cot-listener"), COT, COT_EVENT, "cot-listener")
    take_in(handset, other)
    assert handset.redis.xlen(keys.POSITION_STREAM) == positions_before + 2 and feed_count(handset, "cot") == 2


def test_bytes_that_are_not_text_survive_the_inbox(context: Context) -> None:
    store = InboxStore(context.redis)
    body = bytes(range(256)) + read_sample("gdacs", "gdacs-rss.xml")[:100]
    entry_id = store.put("gdacs", body, None)
    assert InboxItem.from_entry(entry_id, context.redis.xrange(keys.FEED_INBOX)[0][1]).body == body


def _recording(worker: InboxWorker, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the entries ``worker`` takes in, in order (each time it does)."""
    taken: list[str] = []
    take_in_one = worker._take_in

    def record(item: InboxItem, *held: Any) -> Any:
        taken.append(item.id)
        return take_in_one(item, *held)

    monkeypatch.setattr(worker, "_take_in", record)
    return taken


def test_a_consumer_restarted_under_its_name_takes_in_what_it_left_pending_first_and_once(
        context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries a consumer was given but never acknowledged (killed between taking them in and
    the ack) are re-read by its successor of the same name before new ones: none is lost,
    none taken in twice."""
    store = InboxStore(context.redis)
    store.ensure_group()
    entries = [store.put("cap", f"<alert n='{n}'/>".encode(), "poller:cap") for n in range(3)]
    assert [i for i, _ in store.read_new("same", count=2, block_ms=1)] == entries[:2]  # given, never acknowledged
    worker = InboxWorker(context, "same", claim_idle_ms=600_000)  # no claims: its own list only
    taken = _recording(worker, monkeypatch)
    worker.start()
    try:
        entries.append(worker.put("cap", b"<alert n='3'/>", "poller:cap"))
        wait_for(lambda: inbox_state(context) == (0, 0), what="every entry taken in")
    finally:
        worker.stop()
    assert taken == entries and worker.processed == 4


def test_an_entry_deleted_before_it_was_acknowledged_is_passed_over(context: Context,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A pending entry gone from the stream (its consumer's own list gives its id without
    fields) is acknowledged and passed over; the consumer does not stop on it. (A running
    worker's first claim round clears such entries too: XAUTOCLAIM drops deleted ones.)"""
    store = InboxStore(context.redis)
    store.ensure_group()
    gone, kept = (store.put("cap", f"<alert n='{n}'/>".encode(), "poller:cap") for n in range(2))
    assert len(store.read_new("same", block_ms=1)) == 2  # both given, neither acknowledged
    context.redis.xdel(keys.FEED_INBOX, gone)
    worker = InboxWorker(context, "same")
    taken = _recording(worker, monkeypatch)
    try:
        own = store.read_own("same")
        assert own[0] == (gone, {})
        worker.work(own)
    finally:
        worker.stop()
    assert taken == [kept] and inbox_state(context) == (0, 0)


def test_a_live_slow_consumer_keeps_its_entry_and_a_dead_ones_is_claimed(context: Context) -> None:
    """Keep-alive: an entry in hand longer than the claim idle time is not claimed while its
    consumer lives; once it stops, the other consumer claims it and takes it in."""
    slow = InboxWorker(context, "slow", claim_idle_ms=1500, test_pause="read")
    other = InboxWorker(context, "other", claim_idle_ms=1500)
    slow.start()
    try:
        entry_id = slow.put("gdacs", read_sample("gdacs", "gdacs-rss.xml"), "poller:gdacs")
        wait_for(lambda: pending(context) == 1, what="the entry in the slow consumer's hands")
        other.start()
        # The other consumer looks for stale entries every 0.75 s: after six rounds the entry
        # has been in hand three times the claim idle time, and the keep-alive still holds it.
        wait_for(lambda: other.claim_rounds >= 6, what="six claim rounds")
        assert other.claimed == 0
        assert context.redis.xpending_range(keys.FEED_INBOX, keys.FEED_INBOX_GROUP, "-", "+", 5)[0]["consumer"] == "slow"
        slow.stop()  # as if killed mid-work: the entry stays pending
        wait_for(lambda: inbox_state(context) == (0, 0), what="the entry claimed and taken in")
        assert other.claimed == 1 and entry_id
        assert len(context.deps.incidents.all()) == GDACS_ITEMS and feed_count(context, "gdacs") == 1
    finally:
        slow.stop()
        other.stop()


@pytest.mark.parametrize("left_by", ["another consumer", "this consumer name's previous process"])
def test_an_entry_that_kills_its_consumer_every_time_is_dead_lettered(context: Context, left_by: str) -> None:
    """Claimed (XAUTOCLAIM) or found in its own pending list at start (a container restarted
    as the same host:pid): an entry delivered more than max_deliveries times is given up."""
    store = InboxStore(context.redis)
    store.ensure_group()
    entry_id = store.put("cap", b"<alert/>", "poller:cap")
    dead = "died" if left_by == "another consumer" else "live"
    assert store.read_new(dead, block_ms=1)[0][0] == entry_id  # delivered once, never acknowledged
    assert store.read_own(dead)[0][0] == entry_id  # twice
    # A short claim idle time claims from "died" at once; a long one leaves "live" to its own list.
    worker = InboxWorker(context, "live", claim_idle_ms=1 if dead == "died" else 600_000, max_deliveries=2)
    worker.start()
    try:
        wait_for(lambda: inbox_state(context) == (0, 0), what="the entry given up")
    finally:
        worker.stop()
    letter = context.feed_log.dead_letters(1)[0]
    assert letter["inbox_id"] == entry_id and letter["errors"][0]["field"] == "inbox"
    assert "delivered more than 2 times" in letter["reason"] and letter["body"] == "<alert/>"
    assert worker.claimed == (1 if dead == "died" else 0)
