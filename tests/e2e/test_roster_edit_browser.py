"""Keeping the standby roster from its page, in a real headless Chromium: a duty officer
puts another officer on a slot, adds a slot, records leave (told where it takes the officer
off standby) and takes it back, is told in words what is wrong with a form, previews and
lays out a rotation, removes a slot after confirming, and imports officers from a file; a second roster page, open before, follows each change without
reloading. A regional desk sees its region's slots but no editing part; a wall no slots.

With CRISIS_SCREENSHOTS=1 the page is saved to docs/roster-edit.png (CI leaves docs/ alone).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from crisis import handlers_roster
from crisis.adapters.audit import AuditQuery
from crisis.bootstrap import Context
from crisis.roster.model import Home, Officer, Slot
from tests.conftest import LiveServer
from tests.e2e.test_people_pages_browser import choose, grid_rows, open_page

DOCS = Path(__file__).resolve().parents[2] / "docs"
MENA = "middle_east_north_africa"


def _seed(context: Context) -> dict[str, Slot]:
    """Amira primary for the Middle East now, Jean worldwide alternate now, Kofi (Africa) off standby."""
    handlers_roster.import_officers(context, [
        Officer("OF-AMIRA", "Amira Haddad", Home("Amman office", 31.95, 35.93, "JOR"), MENA, "P4", ("first_aid",), ("ar", "en")),
        Officer("OF-JEAN", "Jean Dupont", Home("Geneva office", 46.2, 6.14, "CHE"), "europe_central_asia", "P5", (), ("fr", "en")),
        Officer("OF-KOFI", "Kofi Mensah", Home("Nairobi office", -1.29, 36.82, "KEN"), "africa", "P3", (), ("en",)),
    ], "roster-test")
    now = context.deps.clock().replace(microsecond=0)
    amira, jean = handlers_roster.add_slots(context, [
        Slot("", "OF-AMIRA", now - timedelta(hours=2), now + timedelta(days=6), 24, "primary", MENA),
        Slot("", "OF-JEAN", now - timedelta(hours=2), now + timedelta(days=6), 48, "alternate", None),
    ], "roster-test")
    return {"amira": amira, "jean": jean}


def _message(page: Any, kind: str, expect: str) -> str:
    """The page's answer once it is of this kind ("done", "refused") and says ``expect``."""
    page.wait_for_function("([kind, expect]) => { const p = document.querySelector('#roster-edit-message .roster-edit-' + kind);"
                           " return !!p && p.innerText.includes(expect); }", arg=[kind, expect], timeout=15_000)
    return str(page.inner_text("#roster-edit-message"))


def _officers(page: Any) -> dict[str, str]:
    return {r["_id"]: r.get("officer", "") for r in grid_rows(page, "roster-slots")}


def test_a_duty_officer_keeps_the_roster_from_its_page_and_another_page_follows(
        context: Context, live_server: LiveServer, browser: Any, tmp_path: Path) -> None:
    slots = _seed(context)
    other = open_page(browser, live_server, "/roster")
    other.wait_for_selector(f"#roster-slots .ag-row[row-id='{slots['amira'].id}']", timeout=20_000)
    other.evaluate("() => { window.__sameDocument = true; }")
    page = open_page(browser, live_server, "/roster")
    page.wait_for_selector("#roster-edit", timeout=20_000)
    page.wait_for_selector(f"#roster-slots .ag-row[row-id='{slots['amira'].id}']", timeout=20_000)
    assert _officers(page) == {slots["amira"].id: "Amira Haddad", slots["jean"].id: "Jean Dupont"}

    # Put Kofi on Amira's slot, with a reason.
    page.click(f"#roster-slots .ag-row[row-id='{slots['amira'].id}'] .ag-cell[col-id='officer']")
    page.wait_for_selector("#roster-selected b", timeout=10_000)
    assert "Middle East and North Africa primary, Amira Haddad" in page.inner_text("#roster-selected")
    # The list says who is free then, and why the others are not: Jean is on standby then and cannot be chosen.
    page.click("#roster-replace-officer")
    jean = page.get_by_role("option", name="Jean Dupont (Europe and Central Asia): on standby then (worldwide alternate)", exact=True)
    assert jean.is_disabled() or jean.get_attribute("aria-disabled") == "true"
    page.keyboard.press("Escape")
    choose(page, "roster-replace-officer", "Kofi Mensah (Africa): free")
    page.fill("#roster-slot-reason", "Amira is sick")
    page.click("#roster-replace")
    _message(page, "done", "Kofi Mensah replaces Amira Haddad")
    page.wait_for_function(f"() => !!document.querySelector(\"#roster-slots .ag-row[row-id='{slots['amira'].id}'] "
                           ".ag-cell[col-id='officer']\")?.innerText.includes('Kofi Mensah')", timeout=15_000)
    assert context.roster.slot(slots["amira"].id).officer_id == "OF-KOFI"  # type: ignore[union-attr]
    assert page.input_value("#roster-slot-reason") == ""  # cleared once done
    entries = context.audit.query(AuditQuery(action="roster.override"))
    assert [(e.get("via"), e.get("target")) for e in entries] == [("ui", slots["amira"].id)]
    # ... and the page open before follows, without reloading.
    other.wait_for_function(f"() => !!document.querySelector(\"#roster-slots .ag-row[row-id='{slots['amira'].id}'] "
                            ".ag-cell[col-id='officer']\")?.innerText.includes('Kofi Mensah')", timeout=15_000)

    # Its times, filled in when it is selected, changed: the end a day later, 48 h readiness.
    assert page.input_value("#roster-edit-start") == slots["amira"].start.strftime("%Y-%m-%d %H:%M")
    new_end = slots["amira"].end + timedelta(days=1)
    page.fill("#roster-edit-end", new_end.strftime("%Y-%m-%d %H:%M"))
    page.click("#roster-edit-readiness input[value='48']")
    page.click("#roster-edit-save")
    _message(page, "done", "Changed: Middle East and North Africa primary, Kofi Mensah")
    changed = context.roster.slot(slots["amira"].id)
    assert changed is not None and changed.readiness_hours == 48
    assert changed.end.strftime("%Y-%m-%d %H:%M") == new_end.strftime("%Y-%m-%d %H:%M")
    other.wait_for_function(f"() => !!document.querySelector(\"#roster-slots .ag-row[row-id='{slots['amira'].id}'] "
                            ".ag-cell[col-id='readiness']\")?.innerText.includes('48 h')", timeout=15_000)

    # A form with nothing in it: told what is missing, in words; nothing stored.
    before = len(context.roster.slots())
    page.click("#roster-new-add")
    refused = _message(page, "refused", "Not saved")
    assert "Give the officer." in refused and "Give the start" in refused and "Field required" not in refused
    assert len(context.roster.slots()) == before

    # A new slot: Amira, worldwide primary, from tomorrow for a week.
    now = context.deps.clock()
    start, end = (now + timedelta(days=1)).strftime("%Y-%m-%d 08:00"), (now + timedelta(days=8)).strftime("%Y-%m-%d 08:00")
    choose(page, "roster-new-officer", "Amira Haddad (Middle East and North Africa)")
    page.fill("#roster-new-from", start)
    page.fill("#roster-new-until", end)
    page.click("#roster-new-add")
    _message(page, "done", "Added: Worldwide primary, Amira Haddad")
    [added] = [s for s in context.roster.slots() if s.officer_id == "OF-AMIRA"]
    assert (added.region, added.role, added.readiness_hours) == (None, "primary", 24)
    assert added.start.strftime("%Y-%m-%d %H:%M") == start and added.start.utcoffset() == timedelta(0)
    page.wait_for_selector(f"#roster-slots .ag-row[row-id='{added.id}']", timeout=15_000)
    other.wait_for_selector(f"#roster-slots .ag-row[row-id='{added.id}']", timeout=15_000)

    # Leave for Jean over his standby: recorded, and said that it takes him off standby.
    choose(page, "roster-leave-officer", "Jean Dupont (Europe and Central Asia)")
    page.fill("#roster-leave-from", (now + timedelta(days=2)).strftime("%Y-%m-%d 00:00"))
    page.fill("#roster-leave-until", (now + timedelta(days=3)).strftime("%Y-%m-%d 00:00"))
    page.fill("#roster-leave-note", "medical appointment")
    page.click("#roster-leave-add")
    _message(page, "done", "Recorded: Jean Dupont leave")
    assert page.locator("#roster-edit-message .roster-edit-warning").count() == 1
    assert "Jean Dupont" in page.inner_text("#roster-edit-message .roster-edit-warning")
    [leave] = context.roster.leave()
    page.wait_for_selector(f"#roster-leave .ag-row[row-id='{leave.id}']", timeout=15_000)
    other.wait_for_selector(f"#roster-leave .ag-row[row-id='{leave.id}']", timeout=15_000)
    # ... and taken back.
    page.click(f"#roster-leave .ag-row[row-id='{leave.id}'] .ag-cell[col-id='officer']")
    page.click("#roster-leave-remove")
    _message(page, "done", "Removed: Jean Dupont's leave")
    assert context.roster.leave() == []
    other.wait_for_selector(f"#roster-leave .ag-row[row-id='{leave.id}']", state="detached", timeout=15_000)

    # A rotation of Jean and Kofi, worldwide, for two weeks from in ten days: previewed (nothing stored), then laid out.
    count = len(context.roster.slots())
    choose(page, "roster-rot-officers", "Jean Dupont (Europe and Central Asia)")
    kofi = page.get_by_role("option", name="Kofi Mensah (Africa)", exact=True)
    if not kofi.is_visible():  # a multiple choice may keep its list open after a pick
        page.click("#roster-rot-officers")
    kofi.click()
    page.keyboard.press("Escape")
    assert page.inner_text("#roster-rot-officers").index("Jean Dupont") < page.inner_text("#roster-rot-officers").index("Kofi Mensah")
    page.fill("#roster-rot-from", (now + timedelta(days=10)).strftime("%Y-%m-%d 08:00"))
    page.fill("#roster-rot-weeks", "2")
    page.click("#roster-rot-preview")
    page.wait_for_selector("#roster-rot-plan .roster-rot-preview-words", timeout=15_000)
    preview = page.inner_text("#roster-rot-plan")
    assert "Preview: 4 slots" in preview and "primary Jean Dupont 1, Kofi Mensah 1" in preview, preview
    assert page.locator("#roster-rot-plan tbody tr").count() == 2
    assert len(context.roster.slots()) == count
    page.click("#roster-rot-store")
    page.wait_for_function("() => document.querySelector('#roster-rot-plan .roster-edit-done')?.innerText.startsWith('Laid out: 4 slots')",
                           timeout=15_000)
    laid = [s for s in context.roster.slots() if s.start >= now + timedelta(days=9)]
    assert len(context.roster.slots()) == count + 4 and len(laid) == 4
    for made in laid:
        other.wait_for_selector(f"#roster-slots .ag-row[row-id='{made.id}']", timeout=15_000)

    # On standby now: every region is said, the ones nobody covers too (Jean's worldwide slot covers them, thinly).
    from crisis.domain.regions import REGIONS
    others = len(REGIONS) - 1  # all but the Middle East (Kofi, on Amira's slot)
    assert page.locator("#roster-standby .roster-thin").count() == others
    assert page.locator("#roster-standby .roster-gap").count() == 0

    # Removing a slot is asked once more; "Keep it" keeps it.
    page.click(f"#roster-slots .ag-row[row-id='{slots['jean'].id}'] .ag-cell[col-id='officer']")
    page.wait_for_function("() => document.querySelector('#roster-selected')?.innerText.includes('Jean Dupont')", timeout=10_000)
    page.click("#roster-remove-ask")
    page.wait_for_selector("#roster-remove-panel:visible", timeout=10_000)
    page.click("#roster-remove-keep")
    page.wait_for_selector("#roster-remove-panel", state="hidden", timeout=10_000)
    assert context.roster.slot(slots["jean"].id) is not None
    page.click("#roster-remove-ask")
    page.click("#roster-remove-confirm")
    _message(page, "done", "Removed: Worldwide alternate, Jean Dupont")
    assert context.roster.slot(slots["jean"].id) is None
    page.wait_for_function("() => document.querySelector('#roster-selected')?.innerText.startsWith('Click a slot')", timeout=10_000)
    other.wait_for_selector(f"#roster-slots .ag-row[row-id='{slots['jean'].id}']", state="detached", timeout=15_000)
    # ... and with Jean's worldwide slot gone, nobody covers the other regions, nor worldwide: said, in red.
    other.wait_for_function("n => document.querySelectorAll('#roster-standby .roster-gap').length === n", arg=others + 1,
                            timeout=15_000)
    assert other.locator("#roster-standby .roster-thin").count() == 0

    # Officers imported from a file: the new one is in the officers' table of both pages; a bad row is said.
    upload = tmp_path / "officers.csv"
    upload.write_text("id,name,home_name,home_lat,home_lon,home_country,region,grade,skills,languages,contact\n"
                      "OF-LINA,Lina Saab,Beirut office,33.89,35.5,LBN,middle_east_north_africa,P3,first_aid,ar;fr,+961 1\n"
                      "OF-BAD,Bad Row,Nowhere,95,0,,mars,P3,,en,\n")
    page.set_input_files("#roster-import input[type=file]", str(upload))
    page.wait_for_selector("#roster-import-result .roster-edit-done", timeout=15_000)
    result = page.inner_text("#roster-import-result")
    assert "officers.csv: 1 new officers, 0 updated, 1 rows refused." in result, result
    assert "Row 2 refused: The home latitude must be at most 90. The region: unknown region 'mars'" in result, result
    assert context.roster.officer("OF-LINA") is not None and context.roster.officer("OF-BAD") is None
    other.wait_for_selector("#roster-officers .ag-row[row-id='OF-LINA']", timeout=15_000)

    if os.environ.get("CRISIS_SCREENSHOTS") == "1":
        page.locator("#roster-slots").scroll_into_view_if_needed()
        page.screenshot(path=str(DOCS / "roster-edit.png"))
    assert other.evaluate("() => window.__sameDocument") is True
    assert page.errors == [] and other.errors == []
    page.context.close()
    other.context.close()


def test_a_desk_sees_its_regions_slots_and_cannot_change_them_and_a_wall_sees_no_slots(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    slots = _seed(context)
    desk = open_page(browser, live_server, "/roster", role="regional_desk", region=MENA)
    desk.wait_for_selector(f"#roster-slots .ag-row[row-id='{slots['amira'].id}']", timeout=20_000)
    assert _officers(desk) == {slots["amira"].id: "Amira Haddad"}  # not Jean's: a worldwide slot of a European officer
    assert desk.locator("#roster-edit").count() == 0
    assert desk.locator("#roster-new-add").count() == 0
    desk.context.close()
    wall = open_page(browser, live_server, "/roster", role="wall")
    wall.wait_for_selector("#roster-standby-total", timeout=20_000)
    assert wall.locator("#roster-edit").count() == 0
    assert not wall.locator("#roster-slots").is_visible()
    assert "Amira Haddad" not in wall.content()
    wall.context.close()
