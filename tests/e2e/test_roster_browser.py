"""Surge dispatch in a real headless Chromium: a duty officer dispatches an officer in three
clicks from an incident's page; the deployment appears on an open live map (a line from
the officer's home towards the incident, later the reported position) and on a second,
already open roster page the coverage changes (one fewer on standby, a "dispatch left a
slot empty" warning) without reloading. A wall display sees the warnings but no names.

With CRISIS_SCREENSHOTS=1 the roster page is saved to docs/roster.png (CI leaves docs/ alone).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from crisis import handlers_roster
from crisis.adapters.audit import AuditQuery
from crisis.bootstrap import Context
from crisis.roster.model import Home, Officer, Slot
from tests.conftest import LiveServer
from tests.e2e.test_people_pages_browser import open_page

DOCS = Path(__file__).resolve().parents[2] / "docs"
MENA = "middle_east_north_africa"
NAMES = ("Amira Haddad", "Jean Dupont", "Kofi Mensah")


def _seed(context: Context, live_server: LiveServer) -> str:
    """Three officers on standby now: Amira (Amman, primary for the Middle East, no
    alternate there), Jean and Kofi (worldwide); an incident near Beirut."""
    officers = [
        Officer("OF-AMIRA", NAMES[0], Home("Amman office", 31.95, 35.93, "JOR"), MENA, "P4",
                ("close_protection", "first_aid"), ("ar", "en")),
        Officer("OF-JEAN", NAMES[1], Home("Geneva office", 46.2, 6.14, "CHE"), "europe_central_asia", "P5",
                ("hostage_incident_management",), ("fr", "en")),
        Officer("OF-KOFI", NAMES[2], Home("Nairobi office", -1.29, 36.82, "KEN"), "africa", "P3",
                ("hostage_incident_management", "stress_counselling"), ("ar", "fr", "en")),
    ]
    handlers_roster.import_officers(context, officers, "roster-test")
    now = context.deps.clock().replace(microsecond=0)
    start, end = now - timedelta(hours=2), now + timedelta(days=12)
    on_standby = {s.officer_id for s in context.roster.slots() if s.start <= now < s.end}
    if not {"OF-AMIRA", "OF-JEAN", "OF-KOFI"} <= on_standby:  # else seeded before on this server: they would overlap
        handlers_roster.add_slots(context, [
            Slot("", "OF-AMIRA", start, end, 24, "primary", MENA),
            Slot("", "OF-JEAN", start, end, 24, "primary", None),
            Slot("", "OF-KOFI", start, end, 24, "alternate", None),
        ], "roster-test")
    body: dict[str, Any] = {"title": "Kidnapping near Beirut", "type": "armed_conflict", "severity": 4, "lat": 33.89, "lon": 35.5,
                            "radius_km": 20}
    posted = requests.post(live_server.url + "/api/v1/incidents", json=body,
                           headers={"Authorization": "Bearer " + live_server.token("duty_officer")}, timeout=30)
    assert posted.status_code == 201, posted.text
    return str(posted.json()["id"])


SOURCE_FEATURES = """() => {
    const map = window.crisisLive && window.crisisLive.layer.map;
    const source = map && map.getSource('crisis-dispatches');
    if (!source) { return null; }
    const data = source.serialize().data;
    return data && data.features ? data.features : null;
}"""


def find_feature(condition: str) -> str:
    """A JS function (with an ``id`` argument) answering the first dispatch feature meeting ``condition``, or null."""
    return "id => { const fs = (" + SOURCE_FEATURES + ")(); return fs && fs.find(f => " + condition + ") || null; }"


def test_three_clicks_dispatch_shows_on_the_map_and_changes_cover_on_another_page(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    incident = _seed(context, live_server)

    # A second page, open before: the roster, with three on standby and no dispatch gap.
    roster = open_page(browser, live_server, "/roster")
    roster.wait_for_selector("#roster-standby-total", timeout=15_000)
    assert roster.inner_text("#roster-standby-total") == "3"
    assert roster.locator("#roster-warnings li[data-kind='dispatch_gap']").count() == 0
    assert NAMES[0] in roster.inner_text("#roster-standby")
    roster.evaluate("() => { window.__sameDocument = true; }")  # proof that it is not reloaded
    # A live map, open before too.
    live_map = open_page(browser, live_server, "/")
    live_map.wait_for_function(SOURCE_FEATURES.replace("return data && data.features ? data.features : null;",
                                                       "return Array.isArray(data.features);"), timeout=30_000)
    live_map.evaluate("() => { window.__sameDocument = true; }")

    officer = open_page(browser, live_server, f"/incident/{incident}")
    officer.wait_for_selector("#incident-coming .coming-none", timeout=15_000)
    # Click 1: from the incident to the ranked list.
    officer.click("#incident-dispatch-link")
    officer.wait_for_selector("#dispatch-candidates li.candidate", timeout=20_000)
    ranked = officer.eval_on_selector_all("#dispatch-candidates li.candidate", "els => els.map(e => e.dataset.officer)")
    assert ranked[0] == "OF-AMIRA", ranked  # on standby, 300 km away
    assert set(ranked) == {"OF-AMIRA", "OF-JEAN", "OF-KOFI"}
    first = officer.locator("#dispatch-candidates li.candidate[data-officer='OF-AMIRA']")
    assert first.locator(".cand-reasons li").count() > 0  # each rank explains itself
    assert "km" in first.inner_text() and "ETA" in first.inner_text()
    # Click 2: send her; click 3: confirm.
    first.locator("button.cand-send").click()
    officer.wait_for_selector("#dispatch-confirm-panel:visible", timeout=15_000)
    assert NAMES[0] in officer.inner_text("#dispatch-confirm-panel")
    officer.click("#dispatch-confirm")
    officer.wait_for_selector("#dispatch-message .dispatch-done", timeout=20_000)
    dispatches = context.roster.dispatches()
    assert [(d.officer_id, d.incident_id, d.status) for d in dispatches] == [("OF-AMIRA", incident, "requested")]
    dispatch_id = dispatches[0].id
    officer.wait_for_selector(f"#dispatch-active tr[data-dispatch='{dispatch_id}'][data-status='requested']", timeout=15_000)
    entries = context.audit.page(AuditQuery(action="dispatch.create")).entries
    assert any(e.get("target") == dispatch_id and e.get("via") == "ui" for e in entries)

    # The open live map draws the line from Amman towards the incident, without reload.
    line = live_map.wait_for_function(find_feature("f.properties.id === id && f.properties.kind === 'line'"),
                                      arg=dispatch_id, timeout=20_000).json_value()
    coords = line["geometry"]["coordinates"]
    assert abs(coords[0][0] - 35.93) < 1e-3 and abs(coords[0][1] - 31.95) < 1e-3
    assert abs(coords[-1][0] - 35.5) < 1e-3 and abs(coords[-1][1] - 33.89) < 1e-3
    assert line["properties"]["label"].startswith(NAMES[0]) and "ETA" in line["properties"]["label"]
    live_map.wait_for_selector(f".dispatch-labels .dispatch-label[data-dispatch='{dispatch_id}']", timeout=10_000)
    # Who is coming to the incident picked on the map.
    live_map.evaluate("id => document.dispatchEvent(new CustomEvent('crisis:incident-picked', {detail: {id}}))", incident)
    live_map.wait_for_selector(f"#map-coming:has-text('{NAMES[0]}')", timeout=10_000)
    assert "ETA" in live_map.inner_text("#map-coming")

    # The roster page: one fewer on standby and the gap warned, without reload.
    roster.wait_for_function("() => document.getElementById('roster-standby-total').innerText === '2'", timeout=20_000)
    roster.wait_for_selector("#roster-warnings li[data-kind='dispatch_gap']", timeout=20_000)
    roster.wait_for_selector("#roster-badge.loud", timeout=10_000)
    assert roster.evaluate("() => window.__sameDocument") is True

    # She accepts (through the API, elsewhere): the dispatch page follows live; the next step
    # from its button; a reported position shows on the map, live.
    officer.evaluate("() => { window.__sameDocument = true; }")
    accepted = requests.patch(live_server.url + f"/api/v1/dispatches/{dispatch_id}", json={"status": "accepted"}, timeout=30,
                              headers={"Authorization": "Bearer " + live_server.token("duty_officer")})
    assert accepted.status_code == 200, accepted.text
    officer.wait_for_selector(f"#dispatch-active tr[data-dispatch='{dispatch_id}'][data-status='accepted']", timeout=15_000)
    assert officer.evaluate("() => window.__sameDocument") is True
    officer.click(f"#dispatch-active tr[data-dispatch='{dispatch_id}'] button.step-travelling")
    officer.wait_for_selector(f"#dispatch-active tr[data-dispatch='{dispatch_id}'][data-status='travelling']", timeout=15_000)
    handlers_roster.report_dispatch_position(context, dispatch_id, 32.9, 35.7, "roster-test")
    position = live_map.wait_for_function(find_feature("f.properties.id === id && f.properties.kind === 'position'"),
                                          arg=dispatch_id, timeout=20_000).json_value()
    assert position["geometry"]["coordinates"] == [35.7, 32.9]
    assert live_map.evaluate("() => window.__sameDocument") is True

    # The incident page says who is coming and when, and follows the steps live.
    officer.goto(live_server.url + f"/incident/{incident}")
    officer.wait_for_selector(f"#incident-coming:has-text('{NAMES[0]}')", timeout=15_000)
    assert "travelling" in officer.inner_text("#incident-coming").lower()
    officer.evaluate("() => { window.__sameDocument = true; }")
    handlers_roster.step_dispatch(context, dispatch_id, "on_site", "roster-test")
    officer.wait_for_selector("#incident-coming .coming-item[data-status='on_site']", timeout=15_000)
    assert officer.evaluate("() => window.__sameDocument") is True

    if os.environ.get("CRISIS_SCREENSHOTS"):
        roster.set_viewport_size({"width": 1600, "height": 1500})
        roster.wait_for_timeout(600)
        roster.screenshot(path=str(DOCS / "roster.png"))
    for page in (officer, roster, live_map):
        assert page.errors == [], page.errors
        page.context.close()


def test_a_wall_sees_the_cover_warnings_but_no_names(context: Context, live_server: LiveServer, browser: Any) -> None:
    incident = _seed(context, live_server)
    sent = handlers_roster.create_dispatch(context, incident, "OF-AMIRA", None, "roster-test")
    wall = open_page(browser, live_server, "/roster", "wall")
    wall.wait_for_selector("#roster-warnings li[data-kind='dispatch_gap']", timeout=15_000)
    wall.wait_for_selector("#roster-badge.loud", timeout=15_000)
    assert wall.inner_text("#roster-standby-total") == "2"
    text = wall.inner_text("body")
    assert not any(name in text for name in NAMES), text
    assert "OF-AMIRA" not in wall.content()
    # A live map opened after the dispatch draws it from GET /api/v1/dispatches?status=active:
    # the line and the ETA, not who.
    wall.goto(live_server.url + "/")
    line = wall.wait_for_function(find_feature("f.properties.kind === 'line'"), arg=None, timeout=30_000).json_value()
    assert line["properties"]["label"].startswith("ETA ") and line["properties"]["incident_id"] == incident
    assert len(line["geometry"]["coordinates"]) == 64
    wall.evaluate("id => document.dispatchEvent(new CustomEvent('crisis:incident-picked', {detail: {id}}))", incident)
    wall.wait_for_selector("#map-coming:has-text('an officer')", timeout=10_000)
    assert not any(name in wall.inner_text("body") for name in NAMES)
    # the dispatch page is not for a wall
    wall.goto(live_server.url + "/dispatch?incident=" + incident)
    wall.wait_for_selector(".dispatch-page", timeout=15_000)
    assert "for duty officers" in wall.inner_text(".dispatch-page")
    assert wall.locator("li.candidate").count() == 0
    # a dispatch's step pushed meanwhile leaves the refused page as it is, without an error
    handlers_roster.step_dispatch(context, sent.id, "accepted", "roster-test")
    wall.wait_for_timeout(2_000)
    assert "for duty officers" in wall.inner_text(".dispatch-page")
    assert wall.errors == []
    wall.context.close()


def test_a_role_that_may_not_dispatch_is_refused_and_audited(context: Context, live_server: LiveServer) -> None:
    """A forged "Confirm" callback from a wall or a regional desk dispatches nobody."""
    from crisis.adapters.accounts import Principal
    from crisis.ui.pages.dispatch import NOT_ALLOWED, dispatch_officer

    incident = _seed(context, live_server)
    for role, region in (("wall", None), ("regional_desk", MENA)):
        made, message = dispatch_officer(context, Principal(f"{role}-1", role, region), incident, "OF-AMIRA", None)
        assert made is None and message == NOT_ALLOWED
    assert context.roster.dispatches() == []
    denied = context.audit.page(AuditQuery(action="access.denied")).entries
    assert {e["actor"] for e in denied} >= {"wall-1", "regional_desk-1"}
    made, message = dispatch_officer(context, Principal("duty-1", "duty_officer"), incident, "OF-AMIRA", "go")
    assert made is not None and message.startswith(f"Dispatched {NAMES[0]} to Kidnapping near Beirut: ETA ")
    # ... and twice is refused: she is deployed
    again, message = dispatch_officer(context, Principal("duty-1", "duty_officer"), incident, "OF-AMIRA", None)
    assert again is None and message.startswith("Not sent:") and "deployed" in message


def test_a_duty_officer_cancels_a_dispatch_from_the_page_with_a_reason(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    incident = _seed(context, live_server)
    made = handlers_roster.create_dispatch(context, incident, "OF-KOFI", None, "roster-test")
    # Closing the incident would ask what becomes of him: on its page, and in the map's panel.
    page = open_page(browser, live_server, f"/incident/{incident}")
    close = page.wait_for_selector("button.action-closed", timeout=15_000)
    assert "1 surge officer is still sent to it: stand them down, or cancel their dispatches" in close.get_attribute("data-confirm")
    page.goto(live_server.url + "/")
    page.locator(f"#incident-list li[data-incident-id='{incident}']").first.click(timeout=30_000)
    page.wait_for_function(
        "() => { const b = document.querySelector(\"#incident-panel-lifecycle button[data-to='closed']\");"
        " return !!b && b.getAttribute('data-confirm').includes('1 surge officer is still sent to it'); }", timeout=15_000)
    page.goto(live_server.url + f"/dispatch?incident={incident}")
    row = f"#dispatch-active tr[data-dispatch='{made.id}']"
    page.wait_for_selector(f"{row}[data-status='requested']", timeout=15_000)
    # The next steps are actions, in words; cancelling is one of them.
    labels = page.locator(f"{row} .dispatch-steps button").all_inner_texts()
    assert labels == ["Mark accepted", "Mark declined", "Cancel (recall)"], labels
    # Without a reason: refused, and said how to do it.
    page.click(f"{row} button.step-cancelled")
    page.wait_for_selector("#dispatch-message:has-text('say why in the reason box')", timeout=15_000)
    assert context.roster.dispatch(made.id).status == "requested"  # type: ignore[union-attr]
    page.fill("#dispatch-step-reason", "Sent the wrong officer: Jean speaks the language")
    page.click(f"{row} button.step-cancelled")
    page.wait_for_selector(f"#dispatch-message:has-text('{NAMES[2]} (Kidnapping near Beirut): cancelled.')", timeout=15_000)
    page.wait_for_selector(row, state="detached", timeout=15_000)  # no longer active
    after = context.roster.dispatch(made.id)
    assert after is not None and after.status == "cancelled"
    assert after.steps[-1].note == "Sent the wrong officer: Jean speaks the language"
    entries = [e for e in context.audit.page(AuditQuery(action="dispatch.step")).entries if e.get("target") == made.id]
    assert entries and entries[0]["after"]["status"] == "cancelled", entries
    assert page.errors == []
    page.context.close()


def test_the_roster_says_an_officer_back_from_a_deployment_is_resting_not_available(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    incident = _seed(context, live_server)
    handlers_roster.import_officers(context, [Officer("OF-REST", "Rhea Rest", Home("Cairo office", 30.04, 31.24, "EGY"), MENA, "P3",
                                                      ("first_aid",), ("ar", "en"))], "roster-test")
    made = handlers_roster.create_dispatch(context, incident, "OF-REST", None, "roster-test")
    for status in ("accepted", "travelling", "on_site", "stood_down", "returned"):
        handlers_roster.step_dispatch(context, made.id, status, "roster-test")
    page = open_page(browser, live_server, "/roster")
    cell = "#roster-officers .ag-row[row-id='OF-REST'] .ag-cell[col-id='status']"
    page.wait_for_selector(cell, timeout=15_000)
    text = page.inner_text(cell)
    assert text.startswith("resting until ") and text.endswith(" UTC"), text  # 7 days' rest (the dispatch page's word)
    assert page.errors == []
    page.context.close()


def test_the_map_panel_says_what_each_officer_brings_and_links_to_the_whole_ranking(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    incident = _seed(context, live_server)
    handlers_roster.import_officers(context, [
        Officer(f"OF-MORE{n}", f"Extra Officer {n}", Home("Rome office", 41.9, 12.5, "ITA"), "europe_central_asia", "P3",
                ("first_aid",), ("it",)) for n in range(4)], "roster-test")
    page = open_page(browser, live_server, "/")
    page.locator(f"#incident-list li[data-incident-id='{incident}']").first.click(timeout=30_000)
    amira = page.wait_for_selector("#incident-panel-candidates li[data-officer-id='OF-AMIRA']", timeout=30_000)
    text = amira.inner_text()
    assert "close protection, first aid" in text and "speaks Arabic, English" in text, text  # in words, not codes
    link = page.wait_for_selector("#incident-panel-all-candidates", timeout=15_000)
    assert link.get_attribute("href") == f"/dispatch?incident={incident}"
    assert "more ranked: all of them, with filters by skill and language" in link.inner_text()
    link.click()
    page.wait_for_selector("#dispatch-candidates .candidates li", timeout=30_000)
    assert page.errors == []
    page.context.close()


def test_the_dispatch_page_follows_the_incidents_live(context: Context, live_server: LiveServer, browser: Any) -> None:
    """Renamed, raised, or new: the incident list and the chosen incident's ranking say it
    without a reload (they kept the title the page opened with, and missed new incidents)."""
    incident = _seed(context, live_server)
    page = open_page(browser, live_server, f"/dispatch?incident={incident}")
    page.wait_for_selector("#dispatch-candidates .candidates li", timeout=30_000)
    page.evaluate("() => { window.__sameDocument = true; }")
    duty = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    renamed = requests.patch(f"{live_server.url}/api/v1/incidents/{incident}", headers=duty, timeout=30,
                             json={"title": "Two staff kidnapped near Beirut", "severity": 5})
    assert renamed.status_code == 200, renamed.text
    page.wait_for_function("() => document.getElementById('dispatch-incident').innerText.includes("
                           "'Two staff kidnapped near Beirut (severity 5')", timeout=15_000)
    page.wait_for_selector("#dispatch-candidates .cand-note:has-text('Two staff kidnapped near Beirut')", timeout=15_000)
    posted = requests.post(f"{live_server.url}/api/v1/incidents", headers=duty, timeout=30, json={
        "title": "Hostage taking in Baalbek", "type": "armed_conflict", "severity": 4, "lat": 34.0, "lon": 36.2})
    assert posted.status_code == 201, posted.text
    page.click("#dispatch-incident")
    page.wait_for_selector("text=Hostage taking in Baalbek (severity 4", timeout=15_000)
    assert page.evaluate("() => window.__sameDocument") is True
    assert page.errors == []
    page.context.close()
