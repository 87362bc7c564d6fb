"""RosterStore on the real Redis: officers imported (and re-imported in place), slots,
leave and dispatches stored with their events in ``keys.ROSTER_STREAM``, the projection
rebuilt from the log alone, and the cached state of ``views_roster`` never stale."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisis import handlers_roster as roster
from crisis import views_roster
from crisis.adapters import keys
from crisis.adapters.eventlog import EventLog
from crisis.adapters.roster_store import EPOCH_KEY, RosterStore
from crisis.bootstrap import Context
from crisis.domain.events import Event
from crisis.feeds.schemas import IncidentIn
from crisis.handlers import report_incident
from crisis.roster.model import Home, Leave, Officer, Slot

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def officer(oid: str, region: str = "africa", name: str | None = None, lat: float = -1.29, lon: float = 36.82,
            skills: tuple[str, ...] = ("first_aid",), languages: tuple[str, ...] = ("en",)) -> Officer:
    return Officer(oid, name or f"Officer {oid}", Home("Nairobi", lat, lon, "KEN"), region, "P4", skills, languages,
                   f"{oid}@example.org")


def slot(officer_id: str, start: datetime, hours: float, role: str = "primary", region: str | None = "africa",
         readiness: int = 24, sid: str = "") -> Slot:
    return Slot(sid, officer_id, start, start + timedelta(hours=hours), readiness, role, region)


@pytest.fixture
def clock(context: Context, monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The context's clock, fixed at T0; set now[0] to move it."""
    now = [T0]
    monkeypatch.setattr(context.deps, "clock", lambda: now[0])
    return now


def _events(context: Context) -> list[Event]:
    return list(context.deps.log.replay(keys.ROSTER_STREAM))


def test_import_then_reimport_updates_in_place(context: Context, clock: list[datetime]) -> None:
    first = roster.import_officers(context, [officer("o1"), officer("o2")], "importer")
    assert first.accepted == ["o1", "o2"] and first.updated == []
    again = roster.import_officers(context, [officer("o2", name="Officer Two", region="europe_central_asia"),
                                             officer("o3")], "importer")
    assert again.accepted == ["o2", "o3"] and again.updated == ["o2"]

    stored = context.roster.officers()
    assert list(stored) == ["o1", "o2", "o3"]  # updated in place: no second o2
    assert stored["o2"].name == "Officer Two" and stored["o2"].region == "europe_central_asia"
    assert context.roster.officer("o1") == officer("o1")
    assert context.roster.officer("nobody") is None
    assert context.redis.hlen(keys.OFFICERS) == 3

    events = _events(context)
    assert [e.type for e in events] == ["roster.officers_imported"] * 2
    assert events[1].actor == "importer" and events[1].payload["updated"] == ["o2"]
    assert [o["id"] for o in events[1].payload["officers"]] == ["o2", "o3"]


def test_every_write_is_stored_with_its_event_and_rebuilt_from_the_log(context: Context, clock: list[datetime]) -> None:
    incident = report_incident(context.deps, IncidentIn(title="Flood", type="flood", severity=3, lat=-4.0, lon=39.6),
                               "tester").incident.id
    roster.import_officers(context, [officer("o1"), officer("o2"), officer("o3")], "importer")
    a, _ = roster.add_slots(context, [slot("o1", T0 - timedelta(hours=2), 24),
                                      slot("o2", T0 - timedelta(hours=2), 24, role="alternate")], "duty")
    assert a.id.startswith("slot-") and context.roster.slot(a.id) == a
    extra = roster.add_slots(context, [slot("o3", T0 + timedelta(days=3), 24)], "duty")[0]
    roster.patch_slot(context, extra.id, {"readiness_hours": 48, "note": "longer notice"}, "duty")
    rotation = roster.generate_rotation(context, {"officers": ["o1", "o2", "o3"], "from": "2026-04-01T00:00:00Z",
                                                  "weeks": 3, "period_days": 7, "handover": "08:00",
                                                  "pattern": "round_robin", "region": "americas"}, "planner")
    roster.remove_slot(context, rotation[-1].id, "duty")
    leave = roster.add_leave(context, Leave("", "o3", T0 + timedelta(days=10), T0 + timedelta(days=12)), "duty")
    gone = roster.add_leave(context, Leave("", "o3", T0 + timedelta(days=20), T0 + timedelta(days=21)), "duty")
    roster.remove_leave(context, gone.id, "duty")
    roster.swap_slots(context, rotation[0].id, rotation[3].id, "family matter", "duty")
    roster.override_slot(context, extra.id, "o2", "o3 unwell", "duty")
    dispatch = roster.create_dispatch(context, incident, "o1", "send the nearest", "duty")
    clock[0] = T0 + timedelta(minutes=5)
    roster.step_dispatch(context, dispatch.id, "accepted", "o1")
    roster.report_dispatch_position(context, dispatch.id, -2.0, 38.0, "o1")

    events = _events(context)
    assert [e.type for e in events] == [
        "roster.officers_imported", "roster.slots_added", "roster.slots_added", "roster.slot_changed",
        "roster.rotation_generated", "roster.slot_removed", "roster.leave_added", "roster.leave_added",
        "roster.leave_removed", "roster.swap", "roster.override", "dispatch.created", "dispatch.step",
        "dispatch.position"]
    assert all(e.actor for e in events)
    rotation_event = events[4]
    assert rotation_event.actor == "planner" and rotation_event.payload["params"]["handover"] == "08:00"
    assert len(rotation_event.payload["slots"]) == len(rotation)

    def projection() -> dict[str, dict[str, Any]]:
        return {key: {k: json.loads(v) for k, v in context.redis.hgetall(key).items()}
                for key in (keys.OFFICERS, keys.SLOTS, keys.LEAVE, keys.DISPATCHES)}

    before = projection()
    assert set(before[keys.LEAVE]) == {leave.id}
    assert rotation[-1].id not in before[keys.SLOTS]
    assert before[keys.DISPATCHES][dispatch.id]["status"] == "accepted"
    assert before[keys.DISPATCHES][dispatch.id]["position"]["lat"] == -2.0
    promoted = before[keys.DISPATCHES][dispatch.id]["promoted_slot_id"]
    assert promoted and before[keys.SLOTS][promoted]["officer_id"] == "o2"

    for key in (keys.OFFICERS, keys.SLOTS, keys.LEAVE, keys.DISPATCHES):
        context.redis.delete(key)
    context.redis.hset(keys.SLOTS, "stray", "{}")  # rebuild drops what no event wrote
    assert context.roster.rebuild(context.deps.log) == len(events)
    assert projection() == before
    assert views_roster.state(context).slots == tuple(context.roster.slots())


def test_reads_are_ordered_and_typed(context: Context, clock: list[datetime]) -> None:
    roster.import_officers(context, [officer("b"), officer("a")], "importer")
    later = slot("a", T0 + timedelta(days=1), 12)
    earlier = slot("b", T0, 12)
    stored = roster.add_slots(context, [later, earlier], "duty")
    assert [s.officer_id for s in context.roster.slots()] == ["b", "a"]
    assert context.roster.slot(stored[0].id) == stored[0]
    assert context.roster.slot("nope") is None and context.roster.dispatch("nope") is None
    assert context.roster.leave() == [] and context.roster.dispatches() == []
    assert context.roster.officer_ids() == {"a", "b"}


def test_state_is_cached_per_stream_id_and_never_stale(context: Context, clock: list[datetime]) -> None:
    roster.import_officers(context, [officer("o1")], "importer")
    first = views_roster.state(context)
    assert views_roster.state(context) is first  # nothing written: the cached state
    assert first.stream_id == context.deps.log.last_id(keys.ROSTER_STREAM)

    # Another process (its own connection) writes through the log: the next read sees it.
    other = context.redis_handle.client()
    try:
        extra = officer("o2")
        payload = {"officers": [extra.to_dict()], "updated": []}
        EventLog(other).append(keys.ROSTER_STREAM,
                               Event(type="roster.officers_imported", time=T0, actor="elsewhere", payload=payload),
                               lambda pipe: RosterStore.queue_event(pipe, "roster.officers_imported", payload))
    finally:
        other.close()
    second = views_roster.state(context)
    assert second is not first and list(second.officers) == ["o1", "o2"]

    # The database emptied under the cache (a restore, a test's FLUSHDB): reloaded.
    context.redis.flushdb()
    assert dict(views_roster.state(context).officers) == {}
    # Restored (another database, its own epoch) with the same last stream id: not the cached state.
    roster.import_officers(context, [officer("o3")], "importer")
    cached = views_roster.state(context)
    context.redis.flushdb()
    restored = officer("o4")
    with context.redis.pipeline(transaction=True) as pipe:
        pipe.xadd(keys.ROSTER_STREAM, {"type": "roster.officers_imported", "time": T0.isoformat(), "actor": "x",
                                       "payload": json.dumps({"officers": [restored.to_dict()], "updated": []})},
                  id=cached.stream_id)
        RosterStore.queue_event(pipe, "roster.officers_imported", {"officers": [restored.to_dict()]})
        pipe.set(EPOCH_KEY, "the-restored-database-token")
        pipe.execute()
    assert context.deps.log.last_id(keys.ROSTER_STREAM) == cached.stream_id
    assert list(views_roster.state(context).officers) == ["o4"]


def test_a_state_read_during_a_rebuild_is_not_kept(context: Context, clock: list[datetime],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    roster.import_officers(context, [officer("o1")], "importer")
    roster.import_officers(context, [officer("o2")], "importer")
    replay = context.deps.log.replay
    seen: list[list[str]] = []

    def replay_and_read(stream: str, batch: int = 5000) -> Any:
        for n, event in enumerate(replay(stream, batch)):
            if n == 1:  # another reader, half way: the projection is not complete
                seen.append(list(views_roster.state(context).officers))
            yield event

    monkeypatch.setattr(context.deps.log, "replay", replay_and_read)
    assert context.roster.rebuild(context.deps.log) == 2
    assert seen and seen[0] != ["o1", "o2"]
    assert list(views_roster.state(context).officers) == ["o1", "o2"]


def _loaded(context: Context) -> views_roster.RosterState:
    """The roster as a fresh process would load it (RosterStore.snapshot)."""
    _, last, officers, slots, leave, dispatches = context.roster.snapshot()
    return views_roster.RosterState(officers, tuple(slots), tuple(leave), tuple(dispatches), last)


def _same(held: views_roster.RosterState, loaded: views_roster.RosterState) -> None:
    assert list(held.officers.items()) == list(loaded.officers.items())
    assert (held.slots, held.leave, held.dispatches, held.stream_id) == (
        loaded.slots, loaded.leave, loaded.dispatches, loaded.stream_id)


def test_the_cached_roster_catches_up_with_each_write_without_loading_it_again(
        context: Context, clock: list[datetime], monkeypatch: pytest.MonkeyPatch) -> None:
    """After every kind of roster write, the cached state equals a fresh load, in the same
    order, and was brought up to date from the events (one load in all: ~300 ms each for
    5,000 officers and 12,000 slots, BENCHMARKS.md section 9)."""
    incident = report_incident(context.deps, IncidentIn(title="Flood", type="flood", severity=3, lat=-4.0, lon=39.6),
                               "tester").incident.id
    roster.import_officers(context, [officer("o2"), officer("o3")], "importer")
    loads = []
    snapshot = RosterStore.snapshot

    def counted(self: RosterStore) -> Any:
        loads.append(1)
        return snapshot(self)

    monkeypatch.setattr(RosterStore, "snapshot", counted)
    _same(views_roster.state(context), _loaded(context))
    made: list[Slot] = []
    steps: list[Any] = [
        lambda: roster.import_officers(context, [officer("o1"), officer("o3", name="Officer Three")], "importer"),
        lambda: roster.add_slots(context, [slot("o1", T0 - timedelta(hours=2), 24),
                                           slot("o2", T0 - timedelta(hours=2), 24, role="alternate")], "duty"),
        lambda: roster.add_slots(context, [slot("o3", T0 + timedelta(days=3), 24, sid="s-extra")], "duty"),
        lambda: roster.patch_slot(context, "s-extra", {"start": (T0 - timedelta(days=3)).isoformat(), "end": (T0 - timedelta(days=2)).isoformat()}, "duty"),
        lambda: made.extend(roster.generate_rotation(
            context, {"officers": ["o1", "o2", "o3"], "from": "2026-04-01T00:00:00Z", "weeks": 3, "period_days": 7,
                      "handover": "08:00", "pattern": "round_robin", "region": "americas"}, "planner")),
        lambda: roster.remove_slot(context, made[-1].id, "duty"),
        lambda: roster.add_leave(context, Leave("lv-1", "o3", T0 + timedelta(days=10), T0 + timedelta(days=12)), "duty"),
        lambda: roster.add_leave(context, Leave("lv-0", "o3", T0 + timedelta(days=5), T0 + timedelta(days=6)), "duty"),
        lambda: roster.remove_leave(context, "lv-1", "duty"),
        lambda: roster.swap_slots(context, made[0].id, made[3].id, "family matter", "duty"),
        lambda: roster.override_slot(context, "s-extra", "o2", "o3 unwell", "duty"),
        lambda: roster.create_dispatch(context, incident, "o1", "send the nearest", "duty"),
        lambda: roster.step_dispatch(context, context.roster.dispatches()[0].id, "accepted", "o1"),
        lambda: roster.report_dispatch_position(context, context.roster.dispatches()[0].id, -2.0, 38.0, "o1"),
    ]
    for n, step in enumerate(steps):
        clock[0] = T0 + timedelta(minutes=n)
        step()
        _same(views_roster.state(context), _loaded(context))
    assert len(loads) == 1 + len(steps) + 1  # the first load, then only the comparisons' own
    assert [s.id for s in views_roster.state(context).slots][0] == "s-extra"  # moved first by its new start


def test_the_cached_roster_is_loaded_again_when_catching_up_cannot_be_sure(
        context: Context, clock: list[datetime], monkeypatch: pytest.MonkeyPatch) -> None:
    roster.import_officers(context, [officer("o1")], "importer")
    first = views_roster.state(context)
    # More events than a catch-up takes: loaded again, and right.
    monkeypatch.setattr(views_roster, "CATCH_UP_MOST", 2)
    for n in range(3):
        roster.add_leave(context, Leave(f"lv-{n}", "o1", T0 + timedelta(days=10 * n), T0 + timedelta(days=10 * n + 1)), "d")
    assert context.roster.changes_after(context.redis.get(EPOCH_KEY), first.stream_id, 2) is None
    assert len(context.roster.changes_after(context.redis.get(EPOCH_KEY), first.stream_id, 3)[1]) == 3
    assert context.roster.changes_after(context.redis.get(EPOCH_KEY), views_roster.state(context).stream_id, 2) == (
        views_roster.state(context).stream_id, [])
    _same(views_roster.state(context), _loaded(context))
    held = views_roster.state(context)
    # Entries after the cached id trimmed away (retention): not caught up from what is left.
    roster.add_leave(context, Leave("lv-9", "o1", T0 + timedelta(days=90), T0 + timedelta(days=91)), "d")
    roster.remove_leave(context, "lv-0", "d")
    newest = context.deps.log.last_id(keys.ROSTER_STREAM)
    context.redis.xtrim(keys.ROSTER_STREAM, minid=newest, approximate=False)  # only the removal is kept
    epoch = context.redis.get(EPOCH_KEY)
    assert context.roster.changes_after(epoch, held.stream_id, 10) is None
    assert context.roster.changes_after("another-epoch", newest, 10) is None
    assert [p.id for p in views_roster.state(context).leave] == ["lv-1", "lv-2", "lv-9"]


def test_a_cached_roster_is_loaded_again_after_a_failover_lost_its_newest_writes(
        context: Context, clock: list[datetime]) -> None:
    """The new primary never had the last writes the cache saw (their entries and projections
    gone, the epoch the same), then writes on: the cache is not caught up from another
    history; it is loaded again."""
    roster.import_officers(context, [officer("o1")], "importer")
    roster.add_leave(context, Leave("lv-kept", "o1", T0 + timedelta(days=1), T0 + timedelta(days=2)), "d")
    both_had = context.deps.log.last_id(keys.ROSTER_STREAM)
    roster.add_leave(context, Leave("lv-lost", "o1", T0 + timedelta(days=5), T0 + timedelta(days=6)), "d")
    assert [p.id for p in views_roster.state(context).leave] == ["lv-kept", "lv-lost"]  # cached with lv-lost
    # What the replica had: everything up to both_had.
    later = [entry_id for entry_id, _ in context.redis.xrange(keys.ROSTER_STREAM, min="(" + both_had)]
    context.redis.xdel(keys.ROSTER_STREAM, *later)
    context.redis.hdel(keys.LEAVE, "lv-lost")
    _same(views_roster.state(context), _loaded(context))
    assert [p.id for p in views_roster.state(context).leave] == ["lv-kept"]
    # Lost again, and the new primary writes on (its ids are newer than the lost ones).
    roster.add_leave(context, Leave("lv-lost2", "o1", T0 + timedelta(days=7), T0 + timedelta(days=8)), "d")
    views_roster.state(context)
    both_had = context.deps.log.last_id(keys.ROSTER_STREAM)
    roster.add_leave(context, Leave("lv-gone", "o1", T0 + timedelta(days=9), T0 + timedelta(days=10)), "d")
    assert "lv-gone" in [p.id for p in views_roster.state(context).leave]
    later = [entry_id for entry_id, _ in context.redis.xrange(keys.ROSTER_STREAM, min="(" + both_had)]
    context.redis.xdel(keys.ROSTER_STREAM, *later)
    context.redis.hdel(keys.LEAVE, "lv-gone")
    roster.add_leave(context, Leave("lv-new", "o1", T0 + timedelta(days=11), T0 + timedelta(days=12)), "d")
    _same(views_roster.state(context), _loaded(context))
    assert [p.id for p in views_roster.state(context).leave] == ["lv-kept", "lv-lost2", "lv-new"]
