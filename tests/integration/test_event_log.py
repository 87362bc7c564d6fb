"""The event log and projections against the real embedded Redis."""

import json
from datetime import datetime, timedelta, timezone

import pytest
import redis

from crisis.adapters import keys
from crisis import handlers
from crisis.adapters.eventlog import PLAN_TRIES, QueueWrites
from crisis.adapters.incident_store import IncidentStore
from crisis.adapters.position_store import held_time
from crisis.bootstrap import Context
from crisis.domain import events as ev
from crisis.domain.events import Event
from crisis.errors import StorageError
from crisis.feeds.schemas import MAX_POSITIONS_PER_BATCH, IncidentIn, IncidentPatch, PositionBatch, parse
from crisis.handlers import report_incident, report_positions, update_incident
from tests.conftest import random_ref


def beirut(**fields: object) -> IncidentIn:
    body = {"title": "Airstrike in southern suburbs", "type": "armed_conflict", "severity": 5, "lat": 33.85, "lon": 35.5, "radius_km": 8}
    body.update(fields)
    return parse(IncidentIn, body)


def test_reported_incident_is_in_the_log_and_the_projection(context: Context) -> None:
    stored = report_incident(context.deps, beirut(), "duty1")
    entries = context.redis.xrange(keys.INCIDENT_STREAM)
    assert [e[0] for e in entries] == [stored.event_id]
    event = context.deps.log.read_after(keys.INCIDENT_STREAM, "0-0")[0]
    assert event.type == "incident.reported" and event.actor == "duty1"
    assert event.payload["incident"]["id"] == stored.incident.id
    projected = context.deps.incidents.get(stored.incident.id)
    assert projected == stored.incident
    assert projected.country == "LBN" and projected.region == "middle_east_north_africa"


def test_same_source_message_twice_updates_one_incident(context: Context) -> None:
    ref = random_ref("msg-")
    first = report_incident(context.deps, beirut(source="sims", source_id=ref), None)
    second = report_incident(context.deps, beirut(source="sims", source_id=ref, severity=4), None)
    assert first.created and not second.created
    assert second.incident.id == first.incident.id
    assert [i.severity for i in context.deps.incidents.all()] == [4]


def test_a_superseding_message_updates_and_can_close(context: Context) -> None:
    original = report_incident(context.deps, beirut(source="cap", source_id="s,1"), None)
    cancel = report_incident(context.deps, beirut(source="cap", source_id="s,2", supersedes=("s,1",), status="closed"), None)
    assert cancel.incident.id == original.incident.id
    assert cancel.incident.status.value == "closed"
    kinds = [h["kind"] for h in context.deps.incidents.history(original.incident.id)]
    assert kinds == ["reported", "status"]
    # A third message referring to the cancel's id still finds the incident.
    assert context.deps.incidents.id_for_source("cap", ["s,2"]) == original.incident.id


def test_person_updates_are_recorded_in_history(context: Context) -> None:
    stored = report_incident(context.deps, beirut(), "feed")
    patched = update_incident(context.deps, stored.incident.id, parse(IncidentPatch, {"status": "verified", "owner": "alice", "note": "confirmed by warden"}), "alice")
    assert patched.incident.status.value == "verified" and patched.incident.owner == "alice"
    last = context.deps.incidents.history(stored.incident.id)[-1]
    assert last["by"] == "alice" and last["note"] == "confirmed by warden" and last["status_from"] == "reported"


def test_projection_is_rebuilt_from_the_log(context: Context) -> None:
    a = report_incident(context.deps, beirut(), None)
    b = report_incident(context.deps, beirut(title="Flood in Dhaka", type="flood", lat=23.8, lon=90.4, severity=3), None)
    update_incident(context.deps, a.incident.id, parse(IncidentPatch, {"status": "active"}), "x")
    before = {i.id: i for i in context.deps.incidents.all()}
    context.redis.delete(keys.incident(a.incident.id), keys.INCIDENT_INDEX)
    applied = IncidentStore(context.redis).rebuild(context.deps.log)
    assert applied == 3
    assert {i.id: i for i in context.deps.incidents.all()} == before
    assert before[a.incident.id].status.value == "active" and b.incident.id in before


def test_moving_an_incident_over_several_countries_keeps_the_regions_of_the_others(context: Context) -> None:
    shelling = report_incident(context.deps, beirut(title="Cross-border shelling", type="shelling", lat=33.27, lon=35.3,
                                                    countries=["LBN", "SYR", "TUR"], radius_km=30), "feed")
    assert set(shelling.incident.regions) == {"middle_east_north_africa", "europe_central_asia"}  # Turkey: Europe's desk
    moved = update_incident(context.deps, shelling.incident.id, parse(IncidentPatch, {"lat": 33.3, "lon": 35.35}), "duty")
    assert moved.incident.location.lat == 33.3
    assert set(moved.incident.regions) == {"middle_east_north_africa", "europe_central_asia"}, moved.incident.regions
    assert context.deps.incidents.get(shelling.incident.id).countries == ("LBN", "SYR", "TUR")


def test_a_change_keeps_what_each_fact_was_and_became(context: Context) -> None:
    from crisis.domain.incidents import changed_words
    from crisis.views_shiftlog import log_entries

    made = report_incident(context.deps, beirut(), None)
    update_incident(context.deps, made.incident.id, parse(IncidentPatch, {"severity": 3, "title": "Airstrike, checked",
                                                                          "lat": 33.86, "lon": 35.51}), "duty")
    last = context.deps.incidents.history(made.incident.id)[-1]
    assert last["values"]["severity"] == [5, 3] and last["values"]["location"] == [[33.85, 35.5], [33.86, 35.51]]
    words = changed_words(last)
    assert "severity 5 -> 3" in words and "title \u201cAirstrike in southern suburbs\u201d -> \u201cAirstrike, checked\u201d" in words
    assert "location 33.8500, 35.5000 -> 33.8600, 35.5100" in words, words
    from crisis.adapters.accounts import Principal
    from datetime import timedelta
    log = log_entries(context, Principal("duty", "duty_officer"), datetime.now(timezone.utc) - timedelta(minutes=5))
    assert any("severity 5 -> 3" in e["text"] for e in log if e.get("incident_id") == made.incident.id), log


def test_positions_batch_is_one_event_and_latest_position_wins(context: Context) -> None:
    first = parse(PositionBatch, {"positions": [{"traveller_id": "T1", "lat": 33.9, "lon": 35.5}, {"traveller_id": "T2", "lat": -1.29, "lon": 36.82}]})
    second = parse(PositionBatch, {"positions": [{"traveller_id": "T1", "lat": 31.95, "lon": 35.93}]})
    report_positions(context.deps, first, "feed")
    report_positions(context.deps, second, "feed")
    assert context.redis.xlen(keys.POSITION_STREAM) == 2
    snap = context.deps.positions.snapshot()
    where = {t: (round(float(a), 2), round(float(o), 2), r) for t, a, o, r in zip(snap["ids"], snap["lat"], snap["lon"], snap["region"])}
    assert where == {"T1": (31.95, 35.93, "middle_east_north_africa"), "T2": (-1.29, 36.82, "africa")}
    assert context.deps.positions.snapshot("africa")["ids"] == ["T2"]


def test_the_newest_report_by_its_time_is_where_a_person_is_whatever_order_they_came_in(context: Context) -> None:
    one, two = "TL1-" + random_ref(), "TL2-" + random_ref()
    head = context.deps.log.last_id(keys.POSITION_STREAM)
    fresh = parse(PositionBatch, {"positions": [{"traveller_id": one, "lat": 33.89, "lon": 35.5, "time": "2026-12-02T12:00:00Z"}]})
    older = parse(PositionBatch, {"positions": [
        {"traveller_id": one, "lat": 36.0, "lon": 36.0, "time": "2026-12-02T11:00:00+02:00"},  # 09:00 UTC: late
        {"traveller_id": two, "lat": -1.29, "lon": 36.82, "time": "2026-12-02T10:00:00Z"},  # nobody held: where TL2 is
        {"traveller_id": two, "lat": -1.3, "lon": 36.9, "time": "2026-12-02T09:00:00Z"},  # older than the one above
    ]})
    assert report_positions(context.deps, fresh, "feed").late == []
    stored = report_positions(context.deps, older, "feed")
    assert stored.late == [0, 2]
    snap = context.deps.positions.snapshot()
    where = {t: (round(float(a), 2), round(float(o), 2), tm) for t, a, o, tm in zip(snap["ids"], snap["lat"], snap["lon"], snap["time"])
             if t in (one, two)}
    assert where == {one: (33.89, 35.5, "2026-12-02T12:00:00+00:00"), two: (-1.29, 36.82, "2026-12-02T10:00:00+00:00")}
    # The late reports are history in the log, apart from the positions every map and count follows.
    events = context.deps.log.read_after(keys.POSITION_STREAM, head)
    kinds = {e.id: e.type for e in events}
    assert kinds[stored.stream_id] == ev.POSITIONS_REPORTED
    late = [e for e in events if e.type == ev.POSITIONS_LATE and one in e.payload["ids"]]
    assert [(e.payload["ids"], e.payload["time"]) for e in late] == [
        ([one, two], ["2026-12-02T09:00:00+00:00", "2026-12-02T09:00:00+00:00"])]
    reported = next(e for e in events if e.id == stored.stream_id)
    assert reported.payload["ids"] == [two]
    assert context.deps.positions.held_times([one, two]) == [datetime(2026, 12, 2, 12, tzinfo=timezone.utc).timestamp(),
                                                               datetime(2026, 12, 2, 10, tzinfo=timezone.utc).timestamp()]


def test_of_two_batches_committing_at_once_the_newer_report_stays_whichever_commits_last(
        context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race README's Limits once named: batch B (an older report of a person) reads the
    times held, then batch A (a newer one) commits before B does. B must not write its
    older report over A's: its transaction fails on the watched positions and B is sorted
    again on what A left, so its report is late history."""
    person = "TR-" + random_ref()
    head = context.deps.log.last_id(keys.POSITION_STREAM)
    newer = parse(PositionBatch, {"positions": [{"traveller_id": person, "lat": 33.89, "lon": 35.5, "time": "2026-12-02T12:00:00Z"}]})
    older = parse(PositionBatch, {"positions": [{"traveller_id": person, "lat": 36.0, "lon": 36.0, "time": "2026-12-02T11:00:00Z"}]})
    seen: list[float | None] = []

    def then_the_newer_commits(raw: str | None) -> float | None:
        seen.append(held_time(raw))
        if len(seen) == 1:  # B has read what is held: A stores its report before B writes
            assert report_positions(context.deps, newer, "feed-a").late == []
        return held_time(raw)

    monkeypatch.setattr(handlers, "held_time", then_the_newer_commits)
    stored = report_positions(context.deps, older, "feed-b")
    monkeypatch.undo()
    noon = datetime(2026, 12, 2, 12, tzinfo=timezone.utc).timestamp()
    # B found nothing held, then A found nothing and stored; B's write was refused, and B,
    # reading again, found A's report.
    assert seen == [None, None, noon]
    assert stored.late == [0]
    assert context.deps.positions.held_times([person]) == [noon]
    events = [e for e in context.deps.log.read_after(keys.POSITION_STREAM, head) if person in e.payload["ids"]]
    assert [(e.type, e.actor) for e in events] == [(ev.POSITIONS_REPORTED, "feed-a"), (ev.POSITIONS_LATE, "feed-b")]


def _versioned(name: str, version: float) -> str:
    return json.dumps([name, version])


def test_a_plan_overtaken_every_time_is_refused_as_storage_unavailable(context: Context) -> None:
    stream, key = "crisis:test:" + random_ref(), "crisis:test:guarded:" + random_ref()
    other = redis.Redis(connection_pool=context.redis.connection_pool)
    tries: list[list[object]] = []

    def plan(basis: list[object]) -> tuple[list[Event], QueueWrites, dict[str, str]]:
        tries.append(basis)
        other.hset(key, "f", _versioned("theirs", 100 + len(tries)))  # a newer one comes in after each read
        return [_event(1)], lambda pipe: pipe.set(key + ":other", "x"), {"f": _versioned("mine", 50)}

    with pytest.raises(StorageError):
        context.deps.log.append_guarded(stream, key, ["f"], plan)
    assert len(tries) == PLAN_TRIES
    assert context.redis.xlen(stream) == 0
    assert tries[:2] == [[None], [_versioned("theirs", 101)]]
    assert json.loads(context.redis.hget(key, "f")) == ["theirs", 100 + PLAN_TRIES]
    assert context.redis.get(key + ":other") is None  # nor the other writes


@pytest.mark.parametrize("meanwhile", [
    ("other", _versioned("theirs", 99)),  # another field, newer
    ("f", _versioned("theirs", 40)),  # the field, older
    ("f", _versioned("theirs", 60)),  # the field, the same version
    ("f", '["stored before versions were kept", "x"]'),  # no version: no bound
])
def test_a_guarded_write_is_not_held_up_by_other_fields_or_older_versions(
        context: Context, meanwhile: tuple[str, str]) -> None:
    stream, key = "crisis:test:" + random_ref(), "crisis:test:guarded:" + random_ref()
    context.redis.hset(key, mapping={"f": _versioned("old", 10), "other": _versioned("old", 10)})
    tries: list[list[object]] = []

    def plan(basis: list[object]) -> tuple[list[Event], QueueWrites, dict[str, str]]:
        tries.append(basis)
        context.redis.hset(key, *meanwhile)  # someone writes meanwhile
        return [_event(1), _event(2)], lambda pipe: pipe.set(key + ":other", "x"), {"f": _versioned("mine", 60)}

    ids = context.deps.log.append_guarded(stream, key, ["f"], plan)
    assert tries == [[_versioned("old", 10)]]
    assert len(ids) == 2 and [e.id for e in context.deps.log.read_after(stream, "0-0")] == ids
    assert json.loads(context.redis.hget(key, "f")) == ["mine", 60]
    assert context.redis.get(key + ":other") == "x"


def test_in_a_batch_with_times_a_report_without_one_is_compared_too(context: Context) -> None:
    """A report without a time is stamped on receipt; in a batch where others carry their
    time, it is compared with what is held like them: a report dated a little ahead of the
    centre's clock (within the skew allowed) is not replaced by it."""
    ahead, other = "TA-" + random_ref(), "TO-" + random_ref()
    soon = (datetime.now(timezone.utc) + timedelta(minutes=3)).replace(microsecond=0)
    report_positions(context.deps, parse(PositionBatch, {"positions": [
        {"traveller_id": ahead, "lat": 33.89, "lon": 35.5, "time": soon.isoformat()}]}), "feed")
    mixed = parse(PositionBatch, {"positions": [
        {"traveller_id": other, "lat": -1.29, "lon": 36.82, "time": "2026-12-02T10:00:00Z"},
        {"traveller_id": ahead, "lat": 36.0, "lon": 36.0},  # no time: now, older than held
    ]})
    assert report_positions(context.deps, mixed, "feed").late == [1]
    assert context.deps.positions.held_times([ahead]) == [soon.timestamp()]


def test_a_full_batch_of_timed_reports_is_stored_in_one_guarded_write(context: Context) -> None:
    """The largest batch the API takes (10,000 reports, each with its time) goes through the
    guarded write (its writes in Lua, where one command takes at most ~8,000 words)."""
    prefix = "TB-" + random_ref() + "-"
    reports = [{"traveller_id": f"{prefix}{n}", "lat": 10 + n / 1000, "lon": 20.0, "time": "2026-12-02T12:00:00Z"}
               for n in range(MAX_POSITIONS_PER_BATCH)]
    assert report_positions(context.deps, parse(PositionBatch, {"positions": reports}), "feed").late == []
    again = [dict(r, time="2026-12-02T11:00:00Z") for r in reports[:3]]
    assert report_positions(context.deps, parse(PositionBatch, {"positions": again}), "feed").late == [0, 1, 2]
    ids = [r["traveller_id"] for r in reports]
    noon = datetime(2026, 12, 2, 12, tzinfo=timezone.utc).timestamp()
    assert context.deps.positions.held_times(ids) == [noon] * MAX_POSITIONS_PER_BATCH


def _event(n: int) -> Event:
    return Event(type="test.event", time=datetime.now(timezone.utc), payload={"n": n})


def test_replay_coverage_detects_trimmed_history(context: Context) -> None:
    stream = "crisis:test:" + random_ref()
    ids = [context.deps.log.append(stream, _event(n)) for n in range(5)]
    assert context.deps.log.covers(stream, ids[1])
    context.redis.xtrim(stream, maxlen=2, approximate=False)
    assert not context.deps.log.covers(stream, ids[1])
    assert context.deps.log.covers(stream, ids[3])
    assert [e.payload["n"] for e in context.deps.log.read_after(stream, ids[3])] == [4]
