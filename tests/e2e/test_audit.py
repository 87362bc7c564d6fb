"""The audit trail over a real server: changes through the API and the UI recorded with
who, role, address, before and after; GET /api/v1/audit for administrators only, with
its filters and paging; no way to change or delete an entry; the /audit page."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest
import requests
from flask import g

from crisis.adapters.accounts import Principal
from tests.conftest import LiveServer, random_ref
from tests.e2e.test_browser import login
from tests.e2e.test_openapi import _conforms
from tests.testdata import read_sample

INCIDENT = {"title": "Checkpoint closed at Naqoura", "type": "civil_unrest", "severity": 2, "lat": 33.12, "lon": 35.14}
NON_ADMINS = (("duty_officer", None), ("regional_desk", "middle_east_north_africa"), ("wall", None), ("feed", None))


def _token(live_server: LiveServer, role: str, region: str | None = None) -> tuple[str, dict[str, str]]:
    """(token name, Authorization header) of a new token."""
    name = random_ref(f"{role}-")
    return name, {"Authorization": "Bearer " + live_server.context.accounts.create_token(name, role, region)}


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> dict[str, str]:
    return _token(live_server, "admin")[1]


def _audit(live_server: LiveServer, admin: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(live_server.url + "/api/v1/audit", params=params, headers=admin, timeout=10)


def _entries(live_server: LiveServer, admin: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = _audit(live_server, admin, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]  # type: ignore[no-any-return]


def _ms(entry_id: str) -> datetime:
    return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, timezone.utc)


# --- what is recorded --------------------------------------------------------------------


def test_a_status_change_through_the_api_is_recorded_with_who_where_before_and_after(live_server: LiveServer, admin: dict[str, str]) -> None:
    name, duty = _token(live_server, "duty_officer")
    created = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=duty, timeout=10).json()
    incident_id = created["id"]
    patched = requests.patch(f"{live_server.url}/api/v1/incidents/{incident_id}",
                             json={"status": "verified", "owner": "j.okafor", "note": "Confirmed by the warden"}, headers=duty, timeout=10)
    assert patched.status_code == 200, patched.text
    update, create = _entries(live_server, admin, actor=name, action="incident.")
    assert {k: update[k] for k in ("action", "actor", "role", "via", "remote", "target", "before", "after")} == {
        "action": "incident.update", "actor": name, "role": "duty_officer", "via": "token", "remote": "127.0.0.1",
        "target": incident_id,
        "before": {"status": "reported", "owner": None},
        "after": {"status": "verified", "owner": "j.okafor", "note": "Confirmed by the warden"},
    }
    assert update["detail"]["stream_id"] == patched.json()["stream_id"]
    assert abs((datetime.fromisoformat(update["time"]) - datetime.now(timezone.utc)).total_seconds()) < 30
    assert (create["action"], create["target"], create["via"], create["remote"]) == ("incident.create", incident_id, "token", "127.0.0.1")
    assert create["after"]["title"] == INCIDENT["title"] and create["after"]["status"] == "reported" and "before" not in create
    # A refused change is not a change: nothing recorded for it.
    refused = requests.patch(f"{live_server.url}/api/v1/incidents/{incident_id}", json={"status": "reported"}, headers=duty, timeout=10)
    assert refused.status_code == 409
    assert len(_entries(live_server, admin, actor=name, action="incident.")) == 2


def test_a_change_through_a_signed_in_session_is_recorded_as_the_user(live_server: LiveServer, admin: dict[str, str]) -> None:
    _, feed = _token(live_server, "feed")
    incident_id = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=feed, timeout=10).json()["id"]
    http = live_server.session("duty_officer")
    answer = http.patch(f"{live_server.url}/api/v1/incidents/{incident_id}", json={"status": "active"}, timeout=10)
    assert answer.status_code == 200, answer.text
    [entry] = _entries(live_server, admin, actor=http.user_name, action="incident.update")  # type: ignore[attr-defined]
    assert (entry["via"], entry["role"], entry["remote"], entry["target"]) == ("session", "duty_officer", "127.0.0.1", incident_id)
    assert (entry["before"], entry["after"]) == ({"status": "reported"}, {"status": "active"})


def test_a_status_change_in_the_ui_command_is_recorded(live_server: LiveServer, admin: dict[str, str]) -> None:
    from crisis.ui.commands import change_incident

    _, feed = _token(live_server, "feed")
    incident_id = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=feed, timeout=10).json()["id"]
    officer = Principal(random_ref("ui-officer-"), "duty_officer")
    with live_server.app.server.test_request_context("/_dash-update-component", method="POST",  # type: ignore[attr-defined]
                                                     environ_base={"REMOTE_ADDR": "198.51.100.9"}):
        assert change_incident(live_server.context, officer, incident_id, status="contained") == "Saved."
    [entry] = _entries(live_server, admin, actor=officer.name)
    assert {k: entry[k] for k in ("action", "role", "via", "remote", "target", "before", "after")} == {
        "action": "incident.update", "role": "duty_officer", "via": "ui", "remote": "198.51.100.9", "target": incident_id,
        "before": {"status": "reported"}, "after": {"status": "contained"},
    }


def test_feed_documents_and_position_batches_are_recorded_once_each_as_counts(live_server: LiveServer, admin: dict[str, str]) -> None:
    name, feed = _token(live_server, "feed")
    gdacs = requests.post(live_server.url + "/api/v1/feeds/gdacs", data=read_sample("gdacs", "gdacs-rss.xml"),
                          headers={**feed, "Content-Type": "application/rss+xml"}, timeout=60)
    assert gdacs.status_code == 200, gdacs.text
    cap = read_sample("cap", "example3.xml").decode().replace("</identifier>", f"-{random_ref()}</identifier>", 1)
    assert requests.post(live_server.url + "/api/v1/feeds/cap", data=cap.encode(),
                         headers={**feed, "Content-Type": "application/cap+xml"}, timeout=30).status_code == 201
    marker = random_ref("T-audit-")
    positions = [{"traveller_id": f"{marker}-{i}", "lat": 33.5, "lon": 35.5} for i in range(50)]
    live_server.know(positions)
    stored = requests.post(live_server.url + "/api/v1/positions", json=positions, headers=feed, timeout=10)
    assert stored.status_code == 202, stored.text

    entries = [e for e in _entries(live_server, admin, actor=name) if e["action"] in ("feed.post", "positions.post")]
    assert [(e["action"], e["target"]) for e in entries] == [("positions.post", "positions"), ("feed.post", "cap"), ("feed.post", "gdacs")]
    batch, cap_entry, gdacs_entry = entries
    assert batch["after"] == {"count": 50} and batch["detail"] == {"stream_id": stored.json()["stream_id"]}
    assert marker not in json.dumps(entries), "an audit entry names no traveller"
    summary = gdacs.json()
    assert gdacs_entry["after"] == {k: summary[k] for k in ("accepted", "created", "updated", "unchanged", "ignored", "skipped")} | {
        "rejected": len(summary["rejected"])}
    assert cap_entry["after"]["created"] == 1
    assert all((e["role"], e["via"], e["remote"]) == ("feed", "token", "127.0.0.1") for e in entries)


# --- who may read -------------------------------------------------------------------------


def test_only_administrators_read_the_audit_trail(live_server: LiveServer, admin: dict[str, str]) -> None:
    anonymous = requests.get(live_server.url + "/api/v1/audit", timeout=10)
    assert anonymous.status_code == 401 and "entries" not in anonymous.json()
    for role, region in NON_ADMINS:
        answer = _audit(live_server, _token(live_server, role, region)[1])
        assert answer.status_code == 403, (role, answer.status_code)
        assert answer.json()["errors"][0]["field"] == "role" and "entries" not in answer.json()
    assert live_server.session("duty_officer").get(live_server.url + "/api/v1/audit", timeout=10).status_code == 403
    for answer in (_audit(live_server, admin), live_server.session("admin").get(live_server.url + "/api/v1/audit", timeout=10)):
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
        assert set(answer.json()) == {"entries", "next"}


def test_answers_have_the_documented_shape(live_server: LiveServer, admin: dict[str, str]) -> None:
    doc = requests.get(live_server.url + "/api/v1/openapi.json", headers=admin, timeout=10).json()
    actor = random_ref("shape-")
    live_server.context.audit.record("auth.login", actor=actor, role="wall", via="session", remote="10.0.0.3")
    live_server.context.audit.record("incident.update", actor=actor, target="inc-1", before={"owner": None}, after={"owner": "x"},
                                     detail={"stream_id": "1-0"})
    answer = _audit(live_server, admin, actor=actor, limit=1)
    _conforms(doc, "AuditEntryList", answer.json())
    assert answer.json()["next"]
    _conforms(doc, "AuditEntryList", _audit(live_server, admin, actor=actor, before=answer.json()["next"]).json())
    _conforms(doc, "ErrorResponse", _audit(live_server, admin, since="nope").json())


# --- filters and paging ---------------------------------------------------------------------


def test_filters_and_paging(live_server: LiveServer, admin: dict[str, str]) -> None:
    actor, other = random_ref("ana-"), random_ref("bob-")
    ids = []
    for i, action in enumerate(("auth.login", "incident.create", "incident.update", "auth.login_failed", "incident.update",
                                "incident.update", "auth.logout")):
        ids.append(live_server.context.audit.record(action, actor=actor, target=f"t{i}"))
        live_server.context.audit.record(action, actor=other)
        time.sleep(0.003)  # each pair in a millisecond of its own
    newest_first = ids[::-1]
    got = lambda **params: [e["id"] for e in _entries(live_server, admin, actor=actor, **params)]  # noqa: E731
    assert got() == newest_first
    assert got(action="incident.update") == [ids[5], ids[4], ids[2]]
    assert got(action="incident.") == [ids[5], ids[4], ids[2], ids[1]]
    assert got(action="auth.login") == [ids[0]]
    assert got(since=_ms(ids[4]).isoformat()) == newest_first[:3]
    assert got(until=_ms(ids[1]).isoformat().replace("+00:00", "Z")) == [ids[1], ids[0]]
    assert got(since=_ms(ids[2]).isoformat(), until=_ms(ids[3]).isoformat(), action="auth.") == [ids[3]]
    # Pages of 3: each "next" is the "before" of the next page; the last says null.
    pages, before = [], None
    while True:
        params = {"actor": actor, "limit": 3, **({"before": before} if before else {})}
        page = _audit(live_server, admin, **params).json()
        pages.append([e["id"] for e in page["entries"]])
        before = page["next"]
        if before is None:
            break
    assert pages == [newest_first[:3], newest_first[3:6], newest_first[6:]]
    assert len(_entries(live_server, admin, limit=1)) == 1 and len(_entries(live_server, admin, limit=1000)) >= 14


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"since": "yesterday"}, "since", "ISO 8601"),
    ({"since": "2024-05-01T09:30:00"}, "since", "time zone"),
    ({"until": "2024-05-01"}, "until", "time zone"),
    ({"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"}, "until", "before since"),
    ({"limit": "0"}, "limit", "1"),
    ({"limit": "1001"}, "limit", "1000"),
    ({"limit": "ten"}, "limit", "integer"),
    ({"before": "not-an-id"}, "before", "pattern"),
    ({"action": "DROP TABLE"}, "action", "pattern"),
    ({"actros": "ana"}, "actros", "not permitted"),
])
def test_a_bad_parameter_is_422_naming_it_and_dead_lettered(live_server: LiveServer, admin: dict[str, str], params: dict[str, str],
                                                             field: str, says: str) -> None:
    answer = _audit(live_server, admin, **params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [e["field"] for e in body["errors"]] == [field] and says in body["errors"][0]["message"], body
    letters = requests.get(live_server.url + "/api/v1/deadletters", headers=admin, timeout=10).json()["dead_letters"]
    [letter] = [d for d in letters if d["id"] == body["dead_letter_id"]]
    assert letter["feed"] == "api:list_audit" and field in letter["reason"]


def test_a_parameter_given_twice_is_refused(live_server: LiveServer, admin: dict[str, str]) -> None:
    answer = requests.get(live_server.url + "/api/v1/audit?actor=a&actor=b", headers=admin, timeout=10)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "actor"


# --- append-only ------------------------------------------------------------------------------


def test_nobody_can_change_or_delete_an_entry(live_server: LiveServer, admin: dict[str, str]) -> None:
    actor = random_ref("kept-")
    entry_id = live_server.context.audit.record("incident.update", actor=actor, before={"status": "reported"}, after={"status": "active"})
    before = _entries(live_server, admin, actor=actor)
    session = live_server.session("admin")
    for method in ("DELETE", "PUT", "PATCH", "POST"):
        for http, headers in ((requests, admin), (session, {})):
            answer = http.request(method, live_server.url + "/api/v1/audit", json={"id": entry_id, "after": {}},
                                  params={"actor": actor}, headers=headers, timeout=10)
            assert answer.status_code == 405, (method, answer.status_code)
            assert set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert _entries(live_server, admin, actor=actor) == before and before[0]["id"] == entry_id
    routes = [r for r in live_server.app.server.url_map.iter_rules() if "audit" in r.rule]  # type: ignore[attr-defined]
    assert [(r.rule, r.methods - {"HEAD", "OPTIONS"}) for r in routes] == [("/api/v1/audit", {"GET"})]


# --- the page ------------------------------------------------------------------------------------


def test_the_page_callback_answers_administrators_only(live_server: LiveServer) -> None:
    from crisis.ui.pages import audit as page

    actor = random_ref("page-")
    live_server.context.audit.record("auth.login", actor=actor)
    live_server.context.audit.record("incident.update", actor=actor)
    with live_server.app.server.test_request_context("/_dash-update-component", method="POST"):  # type: ignore[attr-defined]
        g.principal = Principal("root", "admin")
        rows, message = page.show_entries(actor, None, None, 0)
        assert [r["action"] for r in rows] == ["incident.update", "auth.login"] and message.startswith("2 entries")
        assert [r["action"] for r in page.show_entries(actor, "auth.", None, 0)[0]] == ["auth.login"]
        assert page.show_entries(actor, None, "2999-01-01", 0)[0] == []
        rows, message = page.show_entries(actor, None, "yesterday", 0)
        assert rows == [] and "since" in message
        for role, region in NON_ADMINS:
            g.principal = Principal("x", role, region)
            assert page.show_entries(actor, None, None, 0) == ([], page.NOT_ALLOWED)
            assert page.NOT_ALLOWED in str(page.layout())


def test_the_page_shows_administrators_the_trail_and_others_nothing(browser: object, live_server: LiveServer) -> None:
    name, duty = _token(live_server, "duty_officer")
    incident_id = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=duty, timeout=10).json()["id"]
    requests.patch(f"{live_server.url}/api/v1/incidents/{incident_id}", json={"status": "verified"}, headers=duty, timeout=10)

    page = login(browser, live_server, "admin")
    assert "Audit trail" in page.inner_text(".shell-nav")
    page.click(".shell-nav >> text=Audit trail")
    page.wait_for_selector("#audit-grid .ag-row", timeout=15_000)
    page.fill("#audit-filter-actor", name)
    page.press("#audit-filter-actor", "Enter")
    page.fill("#audit-filter-action", "incident.")
    page.press("#audit-filter-action", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#audit-grid .ag-row').length === 2", timeout=15_000)
    first = "#audit-grid .ag-row[row-index='0'] .ag-cell"
    assert page.inner_text(f"{first}[col-id='action']").strip() == "incident.update"
    assert page.inner_text(f"{first}[col-id='actor']").strip() == name
    assert page.inner_text(f"{first}[col-id='target']").strip() == incident_id
    assert '"verified"' in page.inner_text(f"{first}[col-id='after']")
    assert '"reported"' in page.inner_text(f"{first}[col-id='before']")
    page.fill("#audit-filter-action", "incident.create")
    page.press("#audit-filter-action", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#audit-grid .ag-row').length === 1", timeout=15_000)
    assert page.errors == []
    page.close()

    page = login(browser, live_server, "duty_officer")
    assert "Audit trail" not in page.inner_text(".shell-nav")
    page.goto(live_server.url + "/audit")
    page.wait_for_selector("text=Not allowed", timeout=15_000)
    assert page.locator("#audit-grid").count() == 0
    page.close()
