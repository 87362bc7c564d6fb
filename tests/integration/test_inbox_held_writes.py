"""The feeds inbox's CoT fast path (crisis.feeds.inbox, issue 10): a CoT entry read for the
first time has its writes held back and applied in the transaction that acknowledges its
batch. It must store exactly what the step path (and the direct intake) stores, keep a bad
document's dead letter, drop the writes of an intake that failed, and dead-letter an entry
whose held-back write Redis refused.

Real parts: the session's embedded Redis, the real consumer's ``work`` on entries read with
XREADGROUP. (Killing a consumer mid-batch: tests/integration/test_inbox_claim.py.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from crisis import handlers
from crisis.adapters import keys
from crisis.adapters.device_store import DeviceStore
from crisis.bootstrap import Context
from crisis.domain.travellers import Traveller
from crisis.feeds import inbox as inbox_module
from crisis.feeds.cot import DeviceIn
from crisis.feeds.inbox import COT, HoldingClient, InboxItem, InboxStore, InboxWorker, take_in
from crisis.handlers_cot import add_device

UID = "ANDROID-HELD-1"


def cot(uid: str = UID, lat: str = "33.89", ce: str = "5", n: int = 0) -> bytes:
    return (f"<event version='2.0' uid='{uid}' type='a-f-G-U-C' time='2024-05-01T09:3{n}:00Z' "
            f"start='2024-05-01T09:3{n}:00Z' stale='2024-05-01T09:59:00Z'>"
            f"<point lat='{lat}' lon='35.5' hae='10' ce='{ce}' le='9999999'/></event>").encode()


NO_FIX = cot(lat="0", ce="9999999", n=1)  # a handset without a fix (crisis.feeds.cot: no place recorded)
UNKNOWN = cot(uid="ANDROID-NOBODY", n=2)
MALFORMED = b"<event uid='x'"  # refused per event (line 1), beside the others
OVERSIZE = b"<event uid='x'/>" * 10_001  # over crisis.feeds.cot.MAX_EVENTS_PER_BODY: the body refused whole


@pytest.fixture
def handset(context: Context) -> Context:
    handlers.import_travellers(context.deps, [(1, Traveller(id="T-1", name="A", agency="UNDP", category="visitor"))],
                               "test")
    add_device(context.deps, DeviceStore(context.redis), DeviceIn(uid=UID, traveller_id="T-1"), "test")
    return context


def stored(context: Context) -> dict[str, Any]:
    """What the CoT intake wrote, without the parts that differ run to run (ids, times)."""
    r = context.redis
    positions = [(f["type"], f["payload"]) for _, f in r.xrange(keys.POSITION_STREAM)]
    letters = [(d["feed"], d["reason"], d["body"], d.get("index"), d.get("uid"))
               for d in context.feed_log.dead_letters(10)]
    seen = {uid: {k: v for k, v in json.loads(raw).items() if k != "received_at"}
            for uid, raw in r.hgetall(keys.DEVICE_SEEN).items()}
    stats = {k: v for k, v in r.hgetall(keys.feed_stats("cot")).items() if not k.endswith("_at")}
    return {"positions": positions, "latest": r.hgetall(keys.POSITIONS), "seen": seen, "letters": letters,
            "stats": stats}


def read_batch(context: Context, bodies: list[bytes]) -> tuple[InboxWorker, list[tuple[str, dict[str, str]]]]:
    worker = InboxWorker(context, "held")
    worker.store.ensure_group()
    for body in bodies:
        worker.put(COT, body, "cot-listener", {"transport": "udp"})
    return worker, worker.store.read_new("held", block_ms=1)


BODIES = [cot(n=0), NO_FIX, UNKNOWN, MALFORMED, OVERSIZE, cot(lat="34.10", n=3)]


def test_held_writes_store_what_the_steps_store(handset: Context) -> None:
    """The same six documents (two fixes, a no-fix, an unknown handset, malformed XML,
    a body of too many events: MessageRejected) taken in by the step path and by the
    held-back path leave the same data; the held-back path leaves no step marks and an
    empty inbox."""
    worker, entries = read_batch(handset, BODIES)
    try:
        for entry_id, fields in entries:  # the step path, as for an entry delivered again
            try:
                take_in(handset, InboxItem.from_entry(entry_id, fields))
            except inbox_module.MessageRejected:
                pass
        by_steps = stored(handset)
        handset.redis.delete(keys.POSITION_STREAM, keys.POSITIONS, keys.DEVICE_SEEN, keys.DEADLETTER_STREAM,
                             keys.feed_stats("cot"), keys.FEED_INBOX, *handset.redis.keys(keys.inbox_done("*")))
        worker.store.ensure_group()
        for body in BODIES:
            worker.put(COT, body, "cot-listener", {"transport": "udp"})
        worker.work(worker.store.read_new("held", block_ms=1), first_read=True)
    finally:
        worker.stop()
    held = stored(handset)
    assert held == by_steps
    assert len(held["positions"]) == 3 and len(held["letters"]) == 3 and held["stats"]["accepted_total"] == "3"
    assert held["latest"]["T-1"].startswith("[34.1,")  # the newer fix is the one kept
    assert any("10001 events in one body" in reason for _, reason, *_ in held["letters"])  # the refused body's
    assert not handset.redis.keys(keys.inbox_done("*")) and InboxStore(handset.redis).waiting() == 0
    assert worker.processed == len(BODIES)


def test_nothing_is_stored_before_the_acknowledgement(handset: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held back: while the batch is taken in, none of its writes is in Redis; the
    transaction that acknowledges the batch stores them all."""
    worker, entries = read_batch(handset, [cot(n=0), cot(lat="34.10", n=3)])
    seen_before_ack: list[int] = []
    done = worker.store.done

    def ack(entry_ids: list[str], writes: Any = None) -> Any:
        seen_before_ack.append(handset.redis.xlen(keys.POSITION_STREAM))
        return done(entry_ids, writes)

    monkeypatch.setattr(worker.store, "done", ack)
    try:
        worker.work(entries, first_read=True)
    finally:
        worker.stop()
    assert seen_before_ack == [0]
    assert handset.redis.xlen(keys.POSITION_STREAM) == 2 and InboxStore(handset.redis).pending() == 0


def test_an_intake_that_fails_stores_nothing_of_its_document_and_is_dead_lettered(
        handset: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the intake of one document (after it queued writes) dead-letters that entry;
    its queued writes are dropped, the batch's other documents are stored."""
    real = inbox_module.ingest_cot

    def buggy(context: Context, body: bytes, *rest: Any) -> Any:
        result = real(context, body, *rest)
        if b"34.10" in body:
            raise KeyError("a bug after the writes were queued")
        return result

    monkeypatch.setattr(inbox_module, "ingest_cot", buggy)
    worker, entries = read_batch(handset, [cot(n=0), cot(lat="34.10", n=3)])
    try:
        worker.work(entries, first_read=True)
    finally:
        worker.stop()
    assert handset.redis.xlen(keys.POSITION_STREAM) == 1
    assert handset.redis.hget(keys.feed_stats("cot"), "accepted_total") == "1"
    letter = handset.feed_log.dead_letters(1)[0]
    assert letter["inbox_id"] == entries[1][0] and "the intake failed: KeyError" in letter["reason"]
    assert InboxStore(handset.redis).waiting() == 0


def test_an_entry_whose_held_write_redis_refuses_is_dead_lettered(handset: Context) -> None:
    """Redis refuses a held-back write (here: the devices-seen key holds a string): the
    batch is still acknowledged, the others' writes stored, and that entry dead-lettered."""
    handset.redis.set(keys.DEVICE_SEEN, "not a hash")
    worker, entries = read_batch(handset, [UNKNOWN, cot(n=0)])
    try:
        worker.work(entries, first_read=True)
    finally:
        worker.stop()
    letters = {d.get("inbox_id", "intake"): d for d in handset.feed_log.dead_letters(5)}
    refused = letters[entries[1][0]]
    assert "storing its writes failed" in refused["reason"] and "WRONGTYPE" in refused["reason"]
    assert letters["intake"]["uid"] == "ANDROID-NOBODY"  # the unknown handset's dead letter, stored with the batch
    assert handset.redis.xlen(keys.POSITION_STREAM) == 1  # the refused entry's other writes are applied
    assert InboxStore(handset.redis).waiting() == 0


def test_a_holding_client_reads_through_and_refuses_a_write_outside_a_pipeline(handset: Context) -> None:
    """A write that bypassed the held-back transaction would be applied apart from the
    acknowledgement (and again on a replay): refused, so the intake's bug shows."""
    holding = HoldingClient(handset.redis)
    assert holding.hget(keys.DEVICES, UID)
    with pytest.raises(TypeError, match="HSET outside a pipeline"):
        holding.hset(keys.DEVICE_SEEN, UID, "{}")
    with holding.pipeline() as pipe:
        pipe.hset(keys.DEVICE_SEEN, UID, "{}")
        assert pipe.execute() == [""]
    assert holding.writes == [("hset", (keys.DEVICE_SEEN, UID, "{}"), {})]
    assert not handset.redis.exists(keys.DEVICE_SEEN)
