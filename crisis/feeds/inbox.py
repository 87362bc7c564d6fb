"""The feeds inbox: nothing fetched or heard is lost when the feeds process dies.

A fetched feed document and every CoT document (a datagram, or one event cut from a TCP
stream) is first appended to the stream ``keys.FEED_INBOX`` (XADD: stored, with
``appendfsync always`` on disk, before anything else happens). The consumer group
``intake`` then takes each entry in (``crisis.feeds.intake.ingest`` or
``crisis.handlers_cot.ingest_cot``, as before) and acknowledges it: XACK and XDEL in one
transaction, so the stream holds only work still to do.

A consumer killed between reading an entry and acknowledging it leaves the entry pending.
A live consumer of the group (the restarted process, or another one) claims it with
XAUTOCLAIM once it has been idle ``CRISIS_INBOX_CLAIM_IDLE_MS`` (default 60 s) and takes it
in again. While a consumer works on an entry it keeps the entry fresh (XCLAIM to itself,
JUSTID, every third of that time), so a slow but live consumer is never robbed.

Taking an entry in twice has the effect of taking it in once. A CoT entry read for the
first time (XREADGROUP ">": no consumer ever had it, so nothing of it was applied) is taken
in with its writes held back: the positions, no-fix events, devices seen, counts and dead
letters of every such entry of a read batch are applied in the one MULTI/EXEC that also
acknowledges the batch (``InboxStore.done``). An entry is then either applied and
acknowledged, or neither and still pending: a replay has nothing to skip, and a CoT
document costs no step marks (issue 10: the marks' WATCH, HGET and fsync per step halved
the CoT throughput, BENCHMARKS.md section 17). The CoT intake may do this because it never
reads back what it writes (it reads only the device table, and the positions held, which it
compares its reports with: its position writes are guarded, ``EventLog.append_guarded``, so
applied later they still never replace a newer report; one found older by then is not
written, not even as history). Every other entry (feed
documents, whose intake reads its own writes; any entry delivered again) is taken in with
steps:

* incidents: the intake stores an item only when its source id is new or its facts
  changed (``crisis.feeds.intake._report``); an item stored before the kill is "unchanged"
  the second time, so no event is added;
* the feed log (counts, dead letters) and, for CoT, the position events: each write
  transaction of an entry is a numbered *step*; a step is applied in a MULTI/EXEC that also
  marks it done in ``keys.inbox_done(entry_id)`` (under WATCH), and a step already marked
  is skipped. The marks are deleted with the acknowledgement.

A consumer that starts under the name of a dead one (CRISIS_INBOX_CONSUMER, or a container
restarted as the same host:pid) first re-reads its own pending entries. An entry delivered
more than ``CRISIS_INBOX_MAX_DELIVERIES`` times (it killed its consumer each time; Redis
counts the deliveries) is dead-lettered and acknowledged, not retried for ever. An entry whose intake
raises a bug (not a storage error) is dead-lettered too; a storage error leaves it pending,
and the consumer retries it when Redis answers again.

Bodies are kept as latin-1 text (one character per byte: lossless for any bytes, and no
growth for ASCII, unlike base64), because the product's clients decode replies as text.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, cast

import redis

from crisis.adapters import keys
from crisis.adapters.eventlog import Entry, group_entries, xadd_fields
from crisis.adapters.redis_ha import is_write
from crisis.adapters.storage_health import is_storage_error, tail_options
from crisis.bootstrap import Context
from crisis.config import Settings
from crisis.feeds.intake import IntakeResult, MessageRejected, ingest
from crisis.handlers_cot import CotResult, ingest_cot

log = logging.getLogger(__name__)

COT = "cot"
DONE_TTL_S = 7 * 24 * 3600  # step marks of an entry never acknowledged (dead-lettered after max deliveries)
READ_COUNT = 100
BLOCK_MS = 1000
SUBMIT_WAIT_S = 120.0  # a poller waits this long for its document's outcome (it stays queued after)
_worker_numbers = itertools.count()

Outcome = IntakeResult | CotResult | Exception
Call = tuple[str, tuple[Any, ...], dict[str, Any]]  # a command queued on a pipeline: (method, args, kwargs)


class _Paused(Exception):
    """The test pause ended (the worker was stopped while holding an entry)."""


@dataclass(frozen=True)
class InboxItem:
    """One inbox entry: what came in (``kind``: a feed name or "cot"), from whom, and how."""

    id: str
    kind: str
    body: bytes
    actor: str | None
    origin: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_entry(cls, entry_id: str, fields: dict[str, str]) -> InboxItem:
        return cls(entry_id, fields["kind"], fields["body"].encode("latin-1"), fields.get("actor") or None,
                   json.loads(fields.get("origin") or "{}"))


class InboxStore:
    """The Redis side of the inbox: the stream, its consumer group, the step marks."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def ensure_group(self) -> None:
        try:
            self._redis.xgroup_create(keys.FEED_INBOX, keys.FEED_INBOX_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def put(self, kind: str, body: bytes, actor: str | None, origin: dict[str, str] | None = None) -> str:
        fields = {"kind": kind, "body": body.decode("latin-1"), "actor": actor or "",
                  "origin": json.dumps(origin or {}), "queued_at": datetime.now(timezone.utc).isoformat()}
        return str(self._redis.xadd(keys.FEED_INBOX, xadd_fields(fields)))

    def read_own(self, consumer: str, count: int = READ_COUNT) -> list[Entry]:
        """Entries given to ``consumer`` before and not acknowledged (after a claim, an error)."""
        reply = self._redis.xreadgroup(keys.FEED_INBOX_GROUP, consumer, {keys.FEED_INBOX: "0"}, count=count)
        return group_entries(reply)

    def read_new(self, consumer: str, count: int = READ_COUNT, block_ms: int = BLOCK_MS) -> list[Entry]:
        reply = self._redis.xreadgroup(keys.FEED_INBOX_GROUP, consumer, {keys.FEED_INBOX: ">"}, count=count,
                                       block=block_ms)
        return group_entries(reply)

    def claim_stale(self, consumer: str, min_idle_ms: int, count: int = READ_COUNT) -> tuple[list[Entry], bool]:
        """XAUTOCLAIM: take over (and be delivered) up to ``count`` entries idle ``min_idle_ms``
        (their consumer died); (the entries, whether more may wait)."""
        reply = self._redis.xautoclaim(keys.FEED_INBOX, keys.FEED_INBOX_GROUP, consumer, min_idle_ms,
                                       start_id="0-0", count=count)
        cursor, entries = str(reply[0]), cast("list[Entry]", reply[1])  # Redis 7 adds the deleted ids
        return [(str(i), f or {}) for i, f in entries], cursor != "0-0"

    def touch(self, consumer: str, entry_ids: list[str]) -> None:
        """Reset the idle time of entries ``consumer`` is working on (so none claims them)."""
        ids: list[Any] = list(entry_ids)
        if ids:
            self._redis.xclaim(keys.FEED_INBOX, keys.FEED_INBOX_GROUP, consumer, 0, ids, justid=True)

    def deliveries(self, entry_id: str) -> int:
        """How many times the entry was delivered (0: not pending)."""
        rows = self._redis.xpending_range(keys.FEED_INBOX, keys.FEED_INBOX_GROUP, min=entry_id, max=entry_id, count=1)
        return int(rows[0]["times_delivered"]) if rows else 0

    def done(self, entry_ids: list[str], writes: dict[str, list[Call]] | None = None) -> dict[str, Exception]:
        """Apply the held-back ``writes`` of entries (entry id -> commands), acknowledge and
        delete ``entry_ids``, and forget their step marks, in one transaction. The entries
        whose writes Redis refused (an error reply: the transaction still applies the rest):
        entry id -> the error."""
        if not entry_ids:
            return {}
        held = [(entry_id, call) for entry_id, calls in (writes or {}).items() for call in calls]
        with self._redis.pipeline(transaction=True) as pipe:
            for _, (name, args, kwargs) in held:
                getattr(pipe, name)(*args, **kwargs)
            pipe.xack(keys.FEED_INBOX, keys.FEED_INBOX_GROUP, *entry_ids)
            pipe.xdel(keys.FEED_INBOX, *entry_ids)
            pipe.delete(*(keys.inbox_done(i) for i in entry_ids))
            answers = pipe.execute(raise_on_error=False)
        refused: dict[str, Exception] = {}
        for (entry_id, _), answer in zip(held, answers):
            if isinstance(answer, Exception):
                refused.setdefault(entry_id, answer)
        for answer in answers[len(held):]:
            if isinstance(answer, Exception):  # the acknowledgement itself: as before, an error
                raise answer
        return refused

    def pending(self) -> int:
        """Entries delivered to a consumer and not acknowledged, in the whole group."""
        try:
            return int(self._redis.xpending(keys.FEED_INBOX, keys.FEED_INBOX_GROUP)["pending"])
        except redis.ResponseError:  # no stream or no group: nothing pending
            return 0

    def waiting(self) -> int:
        """Entries in the inbox (pending or never delivered)."""
        return int(self._redis.xlen(keys.FEED_INBOX))


# --- steps applied once -------------------------------------------------------------------------


class _QueuedPipeline:
    """Stands for a pipeline: records the commands queued on it; ``execute`` hands them to
    the step client, which applies them at most once."""

    def __init__(self, apply: Callable[[list[Call]], list[Any]]) -> None:
        self._calls: list[Call] = []
        self._apply = apply

    def __getattr__(self, name: str) -> Callable[..., _QueuedPipeline]:
        def queue(*args: Any, **kwargs: Any) -> _QueuedPipeline:
            self._calls.append((name, args, kwargs))
            return self
        return queue

    def __enter__(self) -> _QueuedPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self._calls = []

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        return self._apply(self._calls)


class StepClient:
    """A client for one inbox entry whose pipelines are numbered steps ("<name>:<n>"), each
    applied at most once (see the module doc); other commands go straight to ``client``.
    A step skipped as done answers "" for each of its commands."""

    def __init__(self, client: redis.Redis, entry_id: str, name: str) -> None:
        self._client = client
        self._key = keys.inbox_done(entry_id)
        self._name = name
        self._steps = itertools.count()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> _QueuedPipeline:
        step = f"{self._name}:{next(self._steps)}"
        return _QueuedPipeline(lambda calls: self._apply_once(step, calls))

    def _apply_once(self, step: str, calls: list[Call]) -> list[Any]:
        with self._client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(self._key)
                    done = pipe.hget(self._key, step)
                    if done is not None:  # applied before this consumer was killed
                        pipe.reset()
                        log.info("inbox %s: step %s applied before, skipped", self._key, step)
                        # Its answers (a dead letter's id) are not kept: one more write (and
                        # fsync) per step would buy nothing the callers use on a replay.
                        return [""] * len(calls)
                    pipe.multi()
                    for name, args, kwargs in calls:
                        getattr(pipe, name)(*args, **kwargs)
                    pipe.hset(self._key, step, "1")
                    pipe.expire(self._key, DONE_TTL_S)
                    return list(pipe.execute()[: len(calls)])
                except redis.WatchError:
                    continue


class HoldingClient:
    """A client for one CoT entry read for the first time: its pipelines (every write of
    the CoT intake is one) are not executed but held in ``writes``, to be applied with the
    batch's acknowledgement (``InboxStore.done``); each answers "" per command, as a step
    skipped on a replay does. Reads go straight to ``client``; a write outside a pipeline
    is refused (it would be applied now, apart from the acknowledgement, and again on a
    replay)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.writes: list[Call] = []

    def __getattr__(self, name: str) -> Any:
        if is_write(name):
            raise TypeError(f"inbox: {name.upper()} outside a pipeline; the CoT intake must queue its writes")
        return getattr(self._client, name)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> _QueuedPipeline:
        return _QueuedPipeline(self._hold)

    def _hold(self, calls: list[Call]) -> list[Any]:
        self.writes.extend(calls)
        return [""] * len(calls)


def _on(adapter: Any, client: StepClient | HoldingClient) -> Any:
    """The same adapter (FeedLog, EventLog: they keep their client in ``_redis``) over ``client``."""
    twin = copy.copy(adapter)
    twin._redis = client
    return twin


def take_in(context: Context, item: InboxItem, held: list[Call] | None = None) -> IntakeResult | CotResult:
    """Run the intake on one inbox entry, its feed-log writes (and, for CoT, its position
    events) as steps applied once. MessageRejected as the intake raises it.

    With ``held`` (a CoT entry read for the first time), the writes are not applied but
    appended to ``held`` (also when the intake rejects the body: its dead letter), for the
    caller to apply with the acknowledgement; nothing is appended when the intake fails."""
    if item.kind == COT and held is not None:
        holding = HoldingClient(context.redis)
        cot_context = replace(context, redis=cast(redis.Redis, holding), feed_log=_on(context.feed_log, holding),
                              deps=replace(context.deps, log=_on(context.deps.log, holding)))
        try:
            result = ingest_cot(cot_context, item.body, item.actor, item.origin)
        except MessageRejected:
            held.extend(holding.writes)
            raise
        held.extend(holding.writes)
        return result
    feed_log = _on(context.feed_log, StepClient(context.redis, item.id, "feed-log"))
    if item.kind == COT:
        events = _on(context.deps.log, StepClient(context.redis, item.id, "log"))
        cot_context = replace(context, feed_log=feed_log, deps=replace(context.deps, log=events))
        return ingest_cot(cot_context, item.body, item.actor, item.origin)
    # Incident events are not steps: the intake already skips an item stored before (same
    # source id, same facts), and numbering them would shift when it does.
    return ingest(replace(context, feed_log=feed_log), item.kind, item.body, item.actor)


# --- the consumer --------------------------------------------------------------------------------


def consumer_name(settings: Settings) -> str:
    """This process's consumer name: CRISIS_INBOX_CONSUMER, else host:pid (a restarted
    process is a new consumer: its predecessor's entries are claimed, not re-read)."""
    base = settings.inbox_consumer or f"{socket.gethostname()}:{os.getpid()}"
    number = next(_worker_numbers)
    return base if number == 0 else f"{base}:{number}"


class InboxWorker:
    """The consumer of one process: ``put`` (CoT) and ``submit`` (pollers) queue work,
    ``start()`` runs the consumer thread (and its keep-alive), ``stop()`` ends them."""

    def __init__(self, context: Context, consumer: str, claim_idle_ms: int = 60_000, max_deliveries: int = 5,
                 test_pause: str = "") -> None:
        self.context = context
        self.consumer = consumer
        self.claim_idle_ms = max(1, claim_idle_ms)
        self.max_deliveries = max(1, max_deliveries)
        self._test_pause = test_pause
        # A client of its own: the blocking read must not get the request paths' short time-outs.
        self._redis = context.redis_handle.client(**tail_options())
        self.store = InboxStore(self._redis)
        self._lock = threading.Lock()
        self._waiting: dict[str, Future[Outcome]] = {}
        self._in_flight: list[str] = []
        self._claimed: set[str] = set()  # entries taken over from a stopped consumer, not yet done
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.processed = 0
        self.claimed = 0
        self.claim_rounds = 0

    @classmethod
    def from_settings(cls, context: Context, settings: Settings | None = None) -> InboxWorker:
        settings = settings or context.settings
        return cls(context, consumer_name(settings), settings.inbox_claim_idle_ms, settings.inbox_max_deliveries,
                   settings.inbox_test_pause)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # --- producers ---

    def put(self, kind: str, body: bytes, actor: str | None, origin: dict[str, str] | None = None) -> str:
        """Queue a document; its entry id (it is stored when this returns)."""
        return self.store.put(kind, body, actor, origin)

    def submit(self, context: Context, feed: str, body: bytes, actor: str | None) -> IntakeResult | None:
        """The pollers' intake: queue the document, then wait (at most SUBMIT_WAIT_S) for this
        process's consumer to take it in. Its IntakeResult; MessageRejected as the intake
        raises it; None when it is still queued (it will be taken in, here or by another)."""
        future: Future[Outcome] = Future()
        with self._lock:
            entry_id = self.put(feed, body, actor)
            self._waiting[entry_id] = future
        try:
            outcome = future.result(SUBMIT_WAIT_S if self.running else 0)
        except FutureTimeout:
            log.warning("%s: document %s queued in the inbox, not taken in yet", feed, entry_id)
            return None
        finally:
            with self._lock:
                self._waiting.pop(entry_id, None)
        if isinstance(outcome, Exception):
            raise outcome
        return cast(IntakeResult, outcome)

    # --- the consumer ---

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for target, name in ((self.run, "consume"), (self._keep_alive, "keep-alive")):
            thread = threading.Thread(target=target, name=f"crisis-inbox-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("inbox consumer %s started (claims entries idle %d ms)", self.consumer, self.claim_idle_ms)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        self._redis.close()

    def run(self) -> None:
        """Claim stale entries now and then, re-read own pending ones, read new ones; never
        ends on an error (Redis down: back off and retry; the entries stay pending)."""
        failures, next_claim, own_first, starting = 0, 0.0, True, True
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_claim:
                    self.store.ensure_group()
                    claimed, more = self._claim()
                    next_claim = 0.0 if more else time.monotonic() + self.claim_idle_ms / 2000
                    self.work(claimed)
                entries = self.store.read_own(self.consumer) if own_first else []
                if starting:  # left by this consumer name's previous process (a container's host:1): as if claimed
                    with self._lock:
                        self._claimed.update(entry_id for entry_id, _ in entries)
                    starting = False
                own_first = bool(entries)
                if entries:
                    self.work(entries)
                else:
                    self.work(self.store.read_new(self.consumer), first_read=True)
                failures = 0
            except _Paused:
                return
            except Exception as exc:  # noqa: BLE001 - storage down (or a bug): the entries stay pending
                if "NOGROUP" not in str(exc):  # NOGROUP: the database was emptied: make the group again
                    failures = self._failed(failures, exc)
                next_claim, own_first = 0.0, True

    def _failed(self, failures: int, exc: Exception) -> int:
        delay = min(0.5 * 2 ** failures, 30.0)
        log.warning("inbox consumer %s: %s: %s; retrying in %.1f s", self.consumer, type(exc).__name__, exc, delay)
        self._stop.wait(delay)
        return failures + 1

    def _claim(self) -> tuple[list[Entry], bool]:
        """Take over the entries of dead consumers; (them, whether more may wait)."""
        claimed, more = self.store.claim_stale(self.consumer, self.claim_idle_ms)
        self.claim_rounds += 1
        if claimed:
            ids = [entry_id for entry_id, _ in claimed]
            self.claimed += len(ids)
            with self._lock:
                self._claimed.update(ids)
            log.warning("inbox consumer %s claimed %d entries left by a stopped consumer: %s", self.consumer,
                        len(ids), ", ".join(ids[:10]))
        return claimed, more

    def work(self, entries: list[Entry], first_read: bool = False) -> None:
        """Take in ``entries`` and acknowledge them (after the whole batch). A claimed entry
        delivered more than ``max_deliveries`` times (Redis counts them) is dead-lettered.
        ``first_read``: the entries come from XREADGROUP ">" (never delivered before), so
        their CoT writes are held back and applied with the acknowledgement (module doc)."""
        if not entries:
            return
        ids = [entry_id for entry_id, _ in entries]
        with self._lock:
            self._in_flight = ids
        outcomes: dict[str, Outcome] = {}
        held: dict[str, list[Call]] = {}
        for entry_id, fields in entries:
            if not fields:  # deleted from the stream before it was acknowledged: nothing to do
                continue
            item = InboxItem.from_entry(entry_id, fields)
            self._pause("read", item)
            if entry_id in self._claimed and self.store.deliveries(entry_id) > self.max_deliveries:
                outcomes[entry_id] = self._give_up(item, f"delivered more than {self.max_deliveries} times; "
                                                         "its consumer stopped each time")
                continue
            writes: list[Call] | None = [] if first_read and item.kind == COT else None
            outcomes[entry_id] = self._take_in(item, writes)
            if writes:
                held[entry_id] = writes
            self._pause("processed", item)
        for entry_id, error in self.store.done(ids, held).items():
            # Redis refused a held-back write when it ran (a key of another type): the
            # entry's other writes are applied and it is acknowledged; keep it as a dead letter.
            item = InboxItem.from_entry(entry_id, dict(entries)[entry_id])
            outcomes[entry_id] = self._give_up(item, f"storing its writes failed: {type(error).__name__}: {error}")
        self.processed += len(outcomes)
        with self._lock:
            self._in_flight = []
            self._claimed.difference_update(ids)
            for entry_id, outcome in outcomes.items():
                waiting = self._waiting.get(entry_id)
                if waiting is not None and not waiting.done():
                    waiting.set_result(outcome)

    def _take_in(self, item: InboxItem, held: list[Call] | None = None) -> Outcome:
        """The intake's outcome: its result, or the rejection. A storage error (Redis down,
        a write a replica did not confirm) propagates: the entry stays pending; a bug
        dead-letters the entry. ``held``: see ``take_in``."""
        try:
            result = take_in(self.context, item, held)
        except MessageRejected as exc:  # dead-lettered by the intake
            log.info("inbox %s (%s) rejected: %s", item.id, item.kind, exc)
            return exc
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the consumer or block the inbox
            if is_storage_error(exc):  # the entry stays pending; taken in again when storage answers
                raise
            log.exception("inbox %s (%s): the intake failed", item.id, item.kind)
            return self._give_up(item, f"the intake failed: {type(exc).__name__}: {exc}")
        if isinstance(result, CotResult) and result.rejected:
            log.info("inbox %s: %s", item.id, result.summary())
        return result

    def _give_up(self, item: InboxItem, message: str) -> MessageRejected:
        errors = [{"field": "inbox", "message": message}]
        dead = self.context.feed_log.rejected(item.kind, errors, item.body,
                                              {"actor": item.actor or "", "inbox_id": item.id, **item.origin})
        log.error("inbox %s (%s) dead-lettered as %s: %s", item.id, item.kind, dead, message)
        return MessageRejected(errors, message, 422, dead)

    def _keep_alive(self) -> None:
        """Keep the entries in hand fresh, so that no other consumer claims them."""
        while not self._stop.wait(self.claim_idle_ms / 3000):
            with self._lock:
                in_flight = list(self._in_flight)
            try:
                self.store.touch(self.consumer, in_flight)
            except redis.RedisError as exc:
                log.warning("inbox consumer %s: keep-alive failed: %s", self.consumer, exc)

    def _pause(self, point: str, item: InboxItem) -> None:
        """Tests only (CRISIS_INBOX_TEST_PAUSE): stop here, holding the entry, until stopped
        or killed, so that a test can kill the process mid-work."""
        if self._test_pause == point:
            log.warning("inbox test pause after %s %s", point, item.id)
            self._stop.wait()
            raise _Paused()
