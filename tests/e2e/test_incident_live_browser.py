"""Every view of an incident is live: the /incident/<id> page follows changes made
elsewhere (the API here) without a reload, within 2 s: status (closed, then reopened),
facts (title, severity, radius), the history, and the affected people's counts."""

from __future__ import annotations

import time
from typing import Any

import requests

from crisis.bootstrap import Context
from tests.conftest import LiveServer
from tests.e2e.test_people_pages_browser import _setup, bearer, count, open_page

WITHIN_MS = 2_000


def _fact(page: Any, label: str) -> str:
    return str(page.evaluate(
        "label => { const dt = Array.from(document.querySelectorAll('#incident-detail-facts dt'))"
        ".find(d => d.textContent.trim() === label); return dt ? dt.nextElementSibling.textContent : null; }", label))


def _wait_fact(page: Any, label: str, value: str) -> float:
    start = time.monotonic()
    page.wait_for_function(
        "([label, value]) => { const dt = Array.from(document.querySelectorAll('#incident-detail-facts dt'))"
        ".find(d => d.textContent.trim() === label); return dt && dt.nextElementSibling.textContent === value; }",
        arg=[label, value], timeout=WITHIN_MS)
    return time.monotonic() - start


def test_the_incident_page_follows_status_facts_and_counts_without_reload(
        context: Context, live_server: LiveServer, browser: Any) -> None:
    incident = _setup(live_server)["beirut"]
    officer = bearer(live_server.token("duty_officer"))
    page = open_page(browser, live_server, f"/incident/{incident}")
    page.wait_for_selector("#people-grid .ag-row", timeout=15_000)
    page.evaluate("() => { window.__sameDocument = true; }")
    assert _fact(page, "Status") == "reported"
    assert count(page, "total") == "7" and count(page, "safe") == "0"
    page.fill("#detail-note", "typing a note meanwhile")  # kept while the facts re-render

    def patch(body: dict[str, Any]) -> None:
        answer = requests.patch(f"{live_server.url}/api/v1/incidents/{incident}", json=body, headers=officer, timeout=10)
        assert answer.status_code == 200, answer.text

    took = []
    patch({"status": "closed"})
    took.append(_wait_fact(page, "Status", "closed"))
    page.wait_for_selector("#incident-detail-facts button.action-active", timeout=WITHIN_MS)  # the next steps follow
    patch({"status": "active", "note": "reopened: new reports"})  # reopened
    took.append(_wait_fact(page, "Status", "active"))
    page.wait_for_selector("#incident-detail-history .history-note:has-text('reopened: new reports')", timeout=WITHIN_MS)
    patch({"title": "Shelling near Beirut port and airport", "severity": 5})
    page.wait_for_function("() => document.querySelector('#incident-detail-facts h2').innerText.includes('and airport')",
                           timeout=WITHIN_MS)
    assert _fact(page, "Severity").startswith("5")

    # Counts: a person marked safe through the API, then the area shrunk to nothing near the office.
    answer = requests.put(f"{live_server.url}/api/v1/incidents/{incident}/people/LB2", json={"status": "safe"},
                          headers=officer, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    page.wait_for_function("() => document.getElementById('people-count-safe').innerText === '1'", timeout=WITHIN_MS)

    assert page.input_value("#detail-note") == "typing a note meanwhile"
    assert page.evaluate("() => window.__sameDocument") is True
    assert page.errors == []
    print("status shown after", [f"{t:.2f} s" for t in took if t])
    page.context.close()
