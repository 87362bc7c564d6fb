"""The shift log page in a real Chromium: the handover for the next shift (printable: only
the handover goes on paper), a free note from the form, the log following a change made
elsewhere without a reload, and a regional desk's narrower view."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import requests

from crisis.adapters.audit import AuditQuery
from crisis.bootstrap import Context
from tests.conftest import LiveServer
from tests.e2e.test_people_pages_browser import bearer, open_page, traveller

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_handover_prints_notes_are_added_and_the_log_follows_changes(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    officer = bearer(live_server.token("duty_officer"))
    body = {"title": "Armed robbery at the Kampala warehouse", "type": "armed_conflict", "severity": 4, "lat": 0.35, "lon": 32.58}
    incident = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer, timeout=10).json()["id"]
    quiet = {"title": "Flooding in the Zambezi valley", "type": "flood", "severity": 5, "lat": -15.9, "lon": 30.0}
    requests.post(live_server.url + "/api/v1/incidents", json=quiet, headers=officer, timeout=10).raise_for_status()
    kampala = {"name": "Kampala office", "lat": 0.35, "lon": 32.58, "country": "UGA"}
    requests.post(live_server.url + "/api/v1/travellers", json=[traveller("UG0", "Grace Achieng", kampala, 0)],
                  headers=officer, timeout=10).raise_for_status()
    requests.put(f"{live_server.url}/api/v1/incidents/{incident}/people/UG0", json={"status": "needs_help"},
                 headers=officer, timeout=10).raise_for_status()

    page = open_page(browser, live_server, "/shiftlog")
    page.wait_for_selector("#handover-incidents:has-text('Armed robbery at the Kampala warehouse')", timeout=15_000)
    # Our people first: the robbery where one of ours needs help is above a more severe flood, and red.
    rows = page.locator("#handover-incidents tbody tr")
    assert rows.nth(0).inner_text().split("\t")[:3] == ["4", "Armed robbery at the Kampala warehouse", "1 of ours, 1 needs help"]
    assert "handover-needs-help" in (rows.nth(0).get_attribute("class") or "")
    assert "Zambezi" in rows.nth(1).inner_text() and not rows.nth(1).get_attribute("class")
    page.evaluate("() => { window.__sameDocument = true; window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
    for section in ("#handover-people", "#handover-movements", "#handover-dispatches", "#handover-roster", "#handover-notes"):
        assert page.locator(section).count() == 1, section

    # A note in words; an empty one is refused in words.
    page.click("#shiftlog-note-add")
    page.wait_for_selector("#shiftlog-note-message:has-text('Write the note first.')", timeout=10_000)
    page.fill("#shiftlog-note-text", "Kampala warehouse: police on site, staff told to stay home tomorrow.")
    page.click("#shiftlog-note-add")
    page.wait_for_selector("#shiftlog-note-message:has-text('Note added.')", timeout=10_000)
    page.wait_for_selector("#handover-notes:has-text('police on site')", timeout=10_000)
    page.wait_for_selector("#shiftlog-log .shiftlog-entry.note:has-text('police on site')", timeout=10_000)
    note = context.audit.page(AuditQuery(action="shiftlog.note")).entries[0]
    assert note["via"] == "ui" and note["after"]["text"].startswith("Kampala warehouse")

    # A change made elsewhere shows in the log without a reload.
    requests.patch(f"{live_server.url}/api/v1/incidents/{incident}", json={"status": "active", "note": "confirmed by the warden"},
                   headers=officer, timeout=10)
    page.wait_for_selector("#shiftlog-log .shiftlog-entry:has-text('confirmed by the warden')", timeout=10_000)
    assert page.evaluate("() => window.__sameDocument") is True

    # Print: the button prints; on paper only the handover (no header, banner, form or log).
    page.click("#shiftlog-print")
    assert page.evaluate("() => window.__printed") == 1
    page.emulate_media(media="print")
    assert page.locator("#handover-incidents").is_visible()
    for hidden in (".shell-header", ".shiftlog-note-form", "#shiftlog-log", "#shiftlog-print"):
        assert not page.locator(hidden).first.is_visible(), hidden
    page.emulate_media(media="screen")
    if os.environ.get("CRISIS_SCREENSHOTS"):  # CI leaves docs/ alone
        page.set_viewport_size({"width": 1500, "height": 1400})
        page.wait_for_timeout(300)
        page.screenshot(path=str(DOCS / "screenshot-shiftlog.png"))

    # The download links answer with the handover in the signed-in user's scope.
    href = page.get_attribute("#handover-md", "href")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    md = requests.get(live_server.url + href, cookies=cookies, timeout=30)
    assert md.status_code == 200 and "Armed robbery at the Kampala warehouse" in md.text
    assert page.errors == []
    page.context.close()

    # A desk of another region: the page without this incident, and no note form; the note
    # written with no region is for every region, so the desk reads it.
    assert context.audit.page(AuditQuery(action="shiftlog.note")).entries[0]["after"]["regions"] == []
    desk = open_page(browser, live_server, "/shiftlog", "regional_desk", "europe_central_asia")
    desk.wait_for_selector("#handover-notes:has-text('police on site')", timeout=15_000)
    assert "Armed robbery at the Kampala warehouse" not in desk.inner_text("#shiftlog-page")
    assert desk.locator("#shiftlog-note-text").count() == 0
    desk.context.close()
    wall = open_page(browser, live_server, "/shiftlog", "wall")
    assert wall.locator("#handover-incidents").count() == 0
    wall.context.close()
