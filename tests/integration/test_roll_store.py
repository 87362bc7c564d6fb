"""RollStore on the real Redis: statuses per scope, history oldest first, check-in places,
written inside an event log transaction; and the accountability commands that write it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from crisis import handlers_people, views
from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.adapters.roll_store import RollStore
from crisis.bootstrap import Context
from crisis.domain.events import Event
from crisis.errors import InputError, NotFound
from crisis.feeds.schemas import IncidentIn
from crisis.handlers import report_incident


def _record(status: str, at: str, by: str = "officer", via: str = "duty_officer") -> dict[str, str]:
    return {"status": status, "at": at, "by": by, "note": "", "via": via}


def test_statuses_history_and_places(context: Context) -> None:
    roll = context.roll
    assert isinstance(roll, RollStore)
    scope = "incident:inc-1"

    def writes(pipe):  # type: ignore[no-untyped-def]
        RollStore.queue_set(pipe, scope, "t1", _record("safe", "2026-01-01T00:00:00+00:00"))
        RollStore.queue_set(pipe, scope, "t2", _record("needs_help", "2026-01-01T00:01:00+00:00"))
        RollStore.queue_checkin_place(pipe, "t1", 33.5, 35.5, "2026-01-01T00:00:00+00:00")

    event = Event(type="checkin.recorded", time=datetime.now(timezone.utc), payload={"scope": scope})
    context.deps.log.append(keys.PEOPLE_STREAM, event, writes)
    context.deps.log.append(keys.PEOPLE_STREAM, event,
                            lambda pipe: RollStore.queue_set(pipe, scope, "t1", _record("unsure", "2026-01-01T00:02:00+00:00")))

    statuses = roll.statuses(scope)
    assert statuses["t1"]["status"] == "unsure" and statuses["t2"]["status"] == "needs_help"
    assert statuses["t1"]["via"] == "duty_officer" and statuses["t1"]["by"] == "officer"
    assert roll.status_of(scope, ["t1", "t2", "t3"]) == {"t1": "unsure", "t2": "needs_help", "t3": "no_response"}
    assert roll.status_of("area:a1", ["t1"]) == {"t1": "no_response"}
    assert roll.status_many([scope, "area:a1"]) == {scope: {"t1": "unsure", "t2": "needs_help"}, "area:a1": {}}
    history = roll.history(scope)
    assert [(h["traveller_id"], h["status"]) for h in history] == [("t1", "safe"), ("t2", "needs_help"), ("t1", "unsure")]
    assert history[0]["at"] == "2026-01-01T00:00:00+00:00" and history[0]["by"] == "officer"
    assert roll.checkin_places(["t1", "t2"]) == {"t1": (33.5, 35.5, "2026-01-01T00:00:00+00:00")}
    assert roll.record(scope, "t9") is None
    assert len(context.redis.xrange(keys.PEOPLE_STREAM)) == 2


def test_history_pages_past_one_read(context: Context) -> None:
    scope = "area:big"
    with context.redis.pipeline(transaction=True) as pipe:
        for n in range(5200):
            RollStore.queue_set(pipe, scope, f"t{n}", _record("safe", f"2026-01-01T00:00:{n % 60:02d}+00:00"))
        pipe.execute()
    history = context.roll.history(scope)
    assert len(history) == 5200
    assert history[0]["traveller_id"] == "t0" and history[-1]["traveller_id"] == "t5199"
    assert len({h["traveller_id"] for h in history}) == 5200


# --- the commands (crisis.handlers_people) on the real Redis -----------------------------


def _setup(context: Context) -> str:
    for tid in ("p1", "p2"):
        context.redis.hset(keys.TRAVELLERS, tid, json.dumps({"id": tid, "name": tid, "agency": "A", "category": "visitor",
                                                              "duty_station": {"name": "X", "lat": 10.0, "lon": 10.0}}))
    stored = report_incident(context.deps, IncidentIn(title="T", type="civil_unrest", severity=3, lat=10.0, lon=10.0,
                                                      radius_km=20.0), "tester")
    return stored.incident.id


def test_set_status_refuses_and_stores_nothing(context: Context) -> None:
    incident = _setup(context)
    scope = f"incident:{incident}"
    with pytest.raises(InputError) as bad:
        handlers_people.set_status(context, scope, "p1", "fine", None, "officer")
    assert bad.value.errors[0]["field"] == "status"
    with pytest.raises(InputError) as nobody:
        handlers_people.set_status(context, scope, "nobody", "safe", None, "officer")
    assert nobody.value.errors[0]["field"] == "traveller_id"
    with pytest.raises(NotFound):
        handlers_people.set_status(context, "incident:inc-nope", "p1", "safe", None, "officer")
    with pytest.raises(NotFound):
        handlers_people.set_status(context, "area:nope", "p1", "safe", None, "officer")
    with pytest.raises(InputError):
        handlers_people.set_status(context, "elsewhere:1", "p1", "safe", None, "officer")
    with pytest.raises(InputError) as via:
        handlers_people.set_status(context, scope, "p1", "safe", None, "officer", via="pigeon")
    assert via.value.errors[0]["field"] == "via"
    assert context.redis.xlen(keys.PEOPLE_STREAM) == 0 and context.roll.statuses(scope) == {}
    done = handlers_people.set_status(context, scope, "p1", "needs_help", "hurt leg", "officer")
    assert done.payload["previous"] == "no_response" and done.scopes == [scope]
    again = handlers_people.set_status(context, scope, "p1", "safe", None, "officer")
    assert again.payload["previous"] == "needs_help"
    assert [h["status"] for h in context.roll.history(scope)] == ["needs_help", "safe"]


def test_checkin_refuses_a_half_or_wrong_place(context: Context) -> None:
    _setup(context)
    for lat, lon, field in ((10.0, None, "lon"), (None, 10.0, "lat"), (95.0, 10.0, "lat"), (10.0, -180.5, "lon"),
                            (float("nan"), 10.0, "lat"), (True, 10.0, "lat")):
        with pytest.raises(InputError) as bad:
            handlers_people.checkin(context, "p1", "safe", None, lat, lon, None, "p1")  # type: ignore[arg-type]
        assert bad.value.errors[0]["field"] == field, (lat, lon)
    with pytest.raises(InputError) as bad:
        handlers_people.checkin(context, "p1", "safe", "inc-nope", None, None, None, "p1")
    assert bad.value.errors[0]["field"] == "incident_id"
    assert context.redis.xlen(keys.PEOPLE_STREAM) == 0 and not context.redis.hlen(keys.CHECKIN_PLACES)
    # the edges are places
    done = handlers_people.checkin(context, "p1", "safe", None, -90.0, 180.0, None, "p1")
    assert done.scopes == [] and context.roll.checkin_places(["p1"])["p1"][:2] == (-90.0, 180.0)


def test_the_summary_computed_from_redis(context: Context) -> None:
    """``accountability_summary`` with an explicit time computes from Redis (not from a web
    process's live picture): per incident, per region by the worst status, open only."""
    incident = _setup(context)
    other = report_incident(context.deps, IncidentIn(title="U", type="civil_unrest", severity=3, lat=10.05, lon=10.0,
                                                     radius_km=20.0), "tester").incident.id
    handlers_people.set_status(context, f"incident:{incident}", "p1", "safe", None, "officer")
    handlers_people.set_status(context, f"incident:{other}", "p1", "needs_help", None, "officer")
    summary = views.accountability_summary(context, Principal("a", "admin"), now=context.deps.clock())
    rows = {i["incident"]: (i["counts"]["total"], i["accounted_pct"]) for i in summary["incidents"]}
    assert rows == {incident: (2, 50.0), other: (2, 50.0)}
    # each person once per region, by their worst status: p1 needs_help (not safe), p2 no_response
    assert [(r["counts"]["total"], r["counts"]["needs_help"], r["counts"]["safe"]) for r in summary["regions"]] == [(2, 1, 0)]
    assert summary["incidents"][0]["incident"] == other  # needs_help first
    assert all(i["regions"] == [i["region"]] for i in summary["incidents"])  # every region each touches
