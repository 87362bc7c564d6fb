"""The audit trail against the real embedded Redis: what an entry holds, filters and
paging, trimming by age only, the UI's changes recorded with who and from where, the
read model refusing everyone but administrators, and no product code that can change
or delete an entry."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.adapters.audit import AuditLog, AuditQuery, changes, incident_facts
from crisis.bootstrap import Context
from crisis.domain.model import GeoPoint, Incident, IncidentType
from crisis.feeds.schemas import IncidentIn
from crisis import handlers
from crisis.ui.commands import change_incident, report_from_form
from crisis.views import audit_entries

ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000
ADMIN = Principal("root", "admin")
DUTY = Principal("d.officer", "duty_officer")
NON_ADMINS = (DUTY, Principal("desk", "regional_desk", "africa"), Principal("wall", "wall"), Principal("feeder", "feed", via_token=True))


def _incident(context: Context, title: str = "Roadblock on the airport road") -> str:
    stored = handlers.report_incident(context.deps, IncidentIn(title=title, severity=3, lat=-1.29, lon=36.82), "feeder")
    return stored.incident.id


def _request(address: str) -> Any:
    """A request context from this client address, as a Dash callback runs in."""
    return Flask("audit-test").test_request_context("/_dash-update-component", method="POST", environ_base={"REMOTE_ADDR": address})


# --- what an entry holds, filters, paging -------------------------------------------


def test_an_entry_keeps_who_what_when_where_and_before_after(context: Context) -> None:
    entry_id = context.audit.record("incident.update", actor="ana", role="duty_officer", via="token", remote="10.0.0.7",
                                    target="inc-1", before={"status": "reported"}, after={"status": "verified"}, detail={"n": 1})
    [entry] = context.audit.query(AuditQuery())
    assert entry == {
        "id": entry_id, "time": entry["time"], "action": "incident.update", "actor": "ana", "role": "duty_officer",
        "via": "token", "remote": "10.0.0.7", "target": "inc-1",
        "before": {"status": "reported"}, "after": {"status": "verified"}, "detail": {"n": 1},
    }
    assert abs(datetime.fromisoformat(entry["time"]) - datetime.now(timezone.utc)) < timedelta(seconds=5)
    bare_id = context.audit.record("auth.logout", actor="ana")
    assert "before" not in context.audit.query(AuditQuery(before_id=None, limit=1))[0] and bare_id > entry_id


def test_filters_by_actor_and_action_exact_or_prefix(context: Context) -> None:
    for action, actor in (("auth.login", "ana"), ("auth.login_failed", "bob"), ("incident.update", "ana"),
                          ("incident.create", "bob"), ("authority.x", "ana")):
        context.audit.record(action, actor=actor)
    actions = lambda **kw: [e["action"] for e in context.audit.query(AuditQuery(**kw))]  # noqa: E731
    assert actions() == ["authority.x", "incident.create", "incident.update", "auth.login_failed", "auth.login"]
    assert actions(actor="ana") == ["authority.x", "incident.update", "auth.login"]
    assert actions(action="auth.login") == ["auth.login"]  # exact: not auth.login_failed
    assert actions(action="auth.") == ["auth.login_failed", "auth.login"]  # prefix: not authority.x
    assert actions(action="incident.", actor="bob") == ["incident.create"]
    assert actions(action="auth") == []


def test_since_until_and_paging_with_explicit_ids(context: Context) -> None:
    base = int(datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp() * 1000)
    ids = [context.redis.xadd(keys.AUDIT_STREAM, {"time": "", "action": "x.y", "actor": "a" if i % 2 else "b"}, id=f"{base + i * 60_000}-0")
           for i in range(10)]
    at = lambda i: datetime.fromtimestamp((base + i * 60_000) / 1000, timezone.utc)  # noqa: E731
    got = lambda **kw: [e["id"] for e in context.audit.query(AuditQuery(**kw))]  # noqa: E731
    assert got(since=at(7)) == ids[7:][::-1]
    assert got(until=at(2)) == ids[:3][::-1]
    assert got(since=at(3), until=at(5)) == ids[3:6][::-1]
    assert got(since=at(3) + timedelta(seconds=1), until=at(5) - timedelta(seconds=1)) == [ids[4]]
    # Paging: each page starts strictly before the last one's end; the last has no next.
    pages, before = [], None
    while True:
        page = context.audit.page(AuditQuery(limit=4, before_id=before))
        pages.append([e["id"] for e in page.entries])
        if page.next is None:
            break
        assert page.next == page.entries[-1]["id"]
        before = page.next
    assert pages == [ids[9:5:-1], ids[5:1:-1], ids[1::-1]]
    exact = context.audit.page(AuditQuery(limit=5, before_id=ids[5]))
    assert [e["id"] for e in exact.entries] == ids[4::-1] and exact.next is None
    # Paging with a filter over more than one batch read from Redis.
    assert len(context.audit.query(AuditQuery(actor="a", limit=1000))) == 5
    assert got(actor="a", before_id=ids[5], limit=2) == [ids[3], ids[1]]
    assert [e["id"] for e in context.audit.entries(AuditQuery(actor="b", until=at(4)))] == [ids[0], ids[2], ids[4]]


def test_filters_reach_past_one_batch(context: Context) -> None:
    for i in range(1200):
        context.redis.xadd(keys.AUDIT_STREAM, {"action": "x.y", "actor": "rare" if i in (3, 1100) else "busy"})
    assert [e["actor"] for e in context.audit.query(AuditQuery(actor="rare"))] == ["rare", "rare"]
    ids = [entry_id for entry_id, _ in context.redis.xrange(keys.AUDIT_STREAM)]
    assert [e["id"] for e in context.audit.query(AuditQuery(limit=1000))] == ids[::-1][:1000]  # none twice, none skipped
    assert [e["id"] for e in context.audit.entries(AuditQuery())] == ids


# --- retention -----------------------------------------------------------------------


def test_trim_drops_only_entries_older_than_the_kept_age(context: Context) -> None:
    now = int(time.time() * 1000)
    keep = context.settings.audit_keep_days
    assert keep == 400
    ages = [1000, 401, 400.01, 399.99, 399, 30, 0.5]  # days
    for age in ages:
        context.redis.xadd(keys.AUDIT_STREAM, {"action": "x.y", "actor": str(age)}, id=f"{now - int(age * DAY_MS)}-0")
    assert context.audit.trim() == 3
    assert [float(e["actor"]) for e in context.audit.entries(AuditQuery())] == [399.99, 399, 30, 0.5]
    assert context.audit.trim() == 0


def test_the_kept_age_is_configurable_and_recording_trims(context: Context) -> None:
    now = int(time.time() * 1000)
    for age in (12, 9):
        context.redis.xadd(keys.AUDIT_STREAM, {"action": "x.y", "actor": str(age)}, id=f"{now - age * DAY_MS}-0")
    AuditLog(context.redis, keep_days=10).record("x.z")  # a process's first record trims
    assert [e["actor"] for e in context.audit.entries(AuditQuery())] == ["9", ""]
    with pytest.raises(ValueError):
        AuditLog(context.redis, keep_days=0)


def test_no_product_code_can_change_or_delete_an_entry() -> None:
    """Only crisis/adapters/audit.py writes the stream, and only with XADD, XTRIM MINID,
    XRANGE, XREVRANGE and XLEN; the retention report (``crisis retention``) names it to read
    its length and size, with read-only commands."""
    users = [p for p in (ROOT / "crisis").rglob("*.py") if "AUDIT_STREAM" in p.read_text()]
    assert sorted(p.relative_to(ROOT).as_posix() for p in users) == [
        "crisis/adapters/audit.py", "crisis/adapters/keys.py", "crisis/adapters/retention.py"]
    reporting = set(re.findall(r"client\.(\w+)\(", (ROOT / "crisis/adapters/retention.py").read_text()))
    assert reporting <= {"xrange", "xlen", "memory_usage", "scan_iter", "keys"}, reporting
    calls = set(re.findall(r"self\._redis\.(\w+)\(", (ROOT / "crisis/adapters/audit.py").read_text()))
    assert calls == {"xadd", "xtrim", "xrange", "xrevrange", "xlen"}
    spelled_out = [p.name for p in (ROOT / "crisis").rglob("*.py") if p.name != "keys.py" and re.search(r":audit[\"']", p.read_text())]
    assert spelled_out == [], "the stream's name is keys.AUDIT_STREAM, used by crisis/adapters/audit.py alone"


# --- the UI's changes ------------------------------------------------------------------


def test_a_status_change_in_the_ui_is_recorded_with_who_where_before_and_after(context: Context) -> None:
    incident_id = _incident(context)
    with _request("192.0.2.44"):
        assert change_incident(context, DUTY, incident_id, status="verified") == "Saved."
    [entry] = context.audit.query(AuditQuery(action="incident.update"))
    assert {k: entry[k] for k in ("actor", "role", "via", "remote", "target", "before", "after")} == {
        "actor": "d.officer", "role": "duty_officer", "via": "ui", "remote": "192.0.2.44", "target": incident_id,
        "before": {"status": "reported"}, "after": {"status": "verified"},
    }
    assert entry["detail"]["stream_id"]


def test_owner_and_note_in_the_ui_are_recorded_and_refusals_too(context: Context) -> None:
    incident_id = _incident(context)
    with _request("192.0.2.45"):
        assert change_incident(context, DUTY, incident_id, owner="j.okafor", note="Called the warden") == "Saved."
        assert change_incident(context, Principal("w", "wall"), incident_id, status="verified").startswith("A wall cannot")
        assert change_incident(context, DUTY, incident_id, status="bogus").startswith("Not saved")
        assert change_incident(context, DUTY, "inc-000000000000", status="verified").startswith("Not saved")
    entries = context.audit.query(AuditQuery())
    assert [e["action"] for e in entries] == ["access.denied", "incident.update"]  # nothing for what was not saved
    denied, changed = entries
    assert (denied["actor"], denied["role"], denied["target"], denied["remote"]) == ("w", "wall", incident_id, "192.0.2.45")
    assert changed["before"] == {"owner": None} and changed["after"] == {"owner": "j.okafor", "note": "Called the warden"}


def test_an_incident_reported_in_the_ui_is_recorded_with_its_facts(context: Context) -> None:
    with _request("192.0.2.46"):
        refused, said = report_from_form(context, DUTY, {"title": "", "severity": 4, "lat": 33.27, "lon": 35.2},
                                         [{"field": "radius_km", "message": "The affected radius must be between 0.1 and 5000 km."}])
        incident_id, message = report_from_form(context, DUTY, {"title": "Shots heard", "type": "exchange_of_fire",
                                                                "severity": 4, "lat": 33.27, "lon": 35.2})
    # every problem of the form at once: the page's (the radius), the type not chosen, the title
    assert refused is None and said == ("Not reported: The affected radius must be between 0.1 and 5000 km. "
                                        "Choose the type of incident. Give the incident a title."), said
    assert incident_id and message.startswith("Reported")
    [entry] = context.audit.query(AuditQuery(action="incident.create"))
    assert (entry["actor"], entry["via"], entry["remote"], entry["target"]) == ("d.officer", "ui", "192.0.2.46", incident_id)
    assert entry["after"]["title"] == "Shots heard" and entry["after"]["severity"] == 4 and "before" not in entry


def test_a_big_area_is_kept_as_its_size() -> None:
    ring = [[float(i % 7), float(i % 5)] for i in range(500)]
    now = datetime.now(timezone.utc)
    incident = Incident(id="inc-1", title="t", type=IncidentType.OTHER, severity=1, location=GeoPoint(0.0, 0.0),
                        reported_at=now, updated_at=now, area={"type": "Polygon", "coordinates": [ring]})
    assert incident_facts(incident)["area"] == {"type": "Polygon", "points": 500}
    assert changes({"a": 1, "b": 2, "updated_at": 1}, {"a": 1, "b": 3, "c": 4, "updated_at": 2}) == ({"b": 2, "c": None}, {"b": 3, "c": 4})


# --- who may read ----------------------------------------------------------------------


def test_the_read_model_refuses_everyone_but_administrators(context: Context) -> None:
    context.audit.record("auth.login", actor="ana")
    assert [e["actor"] for e in audit_entries(context, ADMIN, AuditQuery()).entries] == ["ana"]
    for principal in NON_ADMINS:
        with pytest.raises(PermissionError):
            audit_entries(context, principal, AuditQuery())
