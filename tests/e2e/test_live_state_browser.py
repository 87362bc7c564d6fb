"""Staleness, for real: a server frozen with SIGSTOP shows STALE within 2 heartbeats.

The server is the product's own ``crisis serve`` in a subprocess on the tests' data
directory (so it shares the tests' embedded Redis and secret key); the test freezes it
(SIGSTOP: the socket stays open, nothing arrives, exactly what a hung server or a stuck
proxy does), watches the header and the banner in a real Chromium, then lets it run again
(SIGCONT), and finally stops it (the connection is lost: RECONNECTING).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crisis.auth import display
from crisis.bootstrap import Context
from crisis.config import Settings
from crisis.realtime.gateway import HEARTBEAT_SECONDS
from tests.conftest import PASSWORD, _free_port, live_page, random_ref, stop_process, wait_healthy

STATES = {"LIVE", "STALE", "RECONNECTING"}


@pytest.fixture
def served(settings: Settings, session_context: Context) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``crisis serve`` in a process of its own, on the tests' data directory."""
    port = _free_port()
    env = {**os.environ, "CRISIS_DATA_DIR": str(settings.data_dir), "SECRET_KEY": "test-secret", "CRISIS_FEEDS": "0",
           "CRISIS_COT_PORT": "0", "CRISIS_TICK_SECONDS": "0.1"}
    env.pop("REDIS_URL", None)
    crisis = Path(sys.executable).with_name("crisis")
    process = subprocess.Popen([str(crisis), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(url, 60, process, poll_s=0.2):
            raise RuntimeError("crisis serve did not start")
        yield url, process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            stop_process(process, 20)


def _banner(page: object) -> tuple[bool, str]:
    return page.evaluate(  # type: ignore[attr-defined, no-any-return]
        "() => { const b = document.getElementById('live-banner');"
        " return [!!b && b.offsetHeight > 0 && getComputedStyle(b).display !== 'none', b ? b.innerText : '']; }"
    )


def test_a_frozen_server_shows_stale_within_two_heartbeats_and_recovery_clears_it(
        browser: object, served: tuple[str, subprocess.Popen[bytes]], session_context: Context) -> None:
    url, process = served
    name = random_ref("duty-")
    session_context.accounts.add_user(name, PASSWORD, "duty_officer", None)
    page, errors = live_page(browser, url, name)
    # Every text the header's state ever shows, and every state the hook reports, from here on.
    page.evaluate("""() => {
        window.__seen = []; window.__hook = [];
        const el = document.getElementById('live-status');
        new MutationObserver(() => window.__seen.push(el.innerText)).observe(el, {childList: true, characterData: true, subtree: true});
        window.crisisLive.onStatus(s => window.__hook.push(s));
    }""")
    assert _banner(page)[0] is False
    assert page.evaluate("() => window.crisisLive.staleAfterMs()") <= 2 * HEARTBEAT_SECONDS * 1000 - 1000
    # A wall display on the same server, at 4K, signed in by its display token.
    wall_context = browser.new_context(viewport={"width": 3840, "height": 2160})  # type: ignore[attr-defined]
    wall = wall_context.new_page()
    wall.goto(display.display_url(url, display.add_display(session_context.accounts, random_ref("wall-stale-"))))
    wall.wait_for_selector("#wall-root", timeout=60_000)
    wall.wait_for_selector(".live-status.ok", timeout=60_000)
    assert _banner(wall)[0] is False

    os.kill(process.pid, signal.SIGSTOP)
    frozen = time.monotonic()
    stale = ("() => document.getElementById('live-status').innerText === 'STALE'"
             " && document.getElementById('live-banner').offsetHeight > 0")
    page.wait_for_function(stale, timeout=2 * HEARTBEAT_SECONDS * 1000)
    took = time.monotonic() - frozen
    assert took <= 2 * HEARTBEAT_SECONDS, took
    wall.wait_for_function(stale, timeout=max(1, 2 * HEARTBEAT_SECONDS - (time.monotonic() - frozen)) * 1000)
    wall_took = time.monotonic() - frozen
    assert wall_took <= 2 * HEARTBEAT_SECONDS, wall_took
    # On the wall, read from across the room: the whole width, large type, above the panels.
    shown, text = _banner(wall)
    assert shown and text.startswith("STALE"), text
    loud = wall.evaluate("""() => { const b = document.getElementById('live-banner'), r = b.getBoundingClientRect();
        const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return [r.width, parseFloat(getComputedStyle(b).fontSize), r.top >= 0 && r.bottom <= innerHeight,
                !!top && b.contains(top)]; }""")
    assert loud[0] >= 3840 - 1 and loud[1] >= 40 and loud[2] and loud[3], loud
    shown, text = _banner(page)
    assert shown and text.startswith("STALE"), text
    assert "LIVE" not in page.inner_text("#live-age") and "STALE" not in page.inner_text("#live-age")
    # Loud: full width, large type.
    box = page.evaluate("() => { const b = document.getElementById('live-banner').getBoundingClientRect();"
                        " return [b.width, parseFloat(getComputedStyle(document.getElementById('live-banner')).fontSize)]; }")
    assert box[0] >= 1600 - 1 and box[1] >= 24, box
    if os.environ.get("CRISIS_SCREENSHOTS"):  # CI leaves docs/ alone
        page.screenshot(path=str(Path(__file__).resolve().parents[2] / "docs" / "screenshot-stale-banner.png"))

    os.kill(process.pid, signal.SIGCONT)
    resumed = time.monotonic()
    page.wait_for_function(
        "() => document.getElementById('live-status').innerText === 'LIVE'"
        " && getComputedStyle(document.getElementById('live-banner')).display === 'none'",
        timeout=10_000,
    )
    wall.wait_for_function("() => document.getElementById('live-status').innerText === 'LIVE'"
                           " && getComputedStyle(document.getElementById('live-banner')).display === 'none'",
                           timeout=10_000)
    print(f"STALE {took:.1f} s (wall {wall_took:.1f} s) after the freeze; LIVE {time.monotonic() - resumed:.1f} s after it resumed")
    wall_context.close()
    page.wait_for_timeout(600)
    assert page.inner_text("#live-status") == "LIVE" and _banner(page)[0] is False

    # The server goes away: RECONNECTING, loud, and nothing else.
    process.terminate()
    process.wait(timeout=20)
    page.wait_for_function(
        "() => document.getElementById('live-status').innerText === 'RECONNECTING'"
        " && document.getElementById('live-banner').offsetHeight > 0", timeout=10_000,
    )
    assert _banner(page)[1].startswith("RECONNECTING")

    seen = page.evaluate("() => window.__seen")
    assert seen and set(seen) <= STATES, seen  # one state word at a time, never mixed text
    hook = page.evaluate("() => window.__hook")
    assert hook[:3] == ["live", "stale", "live"] and hook[-1] == "reconnecting", hook
    assert errors == []
    page.close()


def test_a_dropped_connection_shows_reconnecting_then_live_again(browser: object, live_server: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page.goto(live_server.url + "/login")
    page.fill("#username", live_server.user("duty_officer"))
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector(".shell-header", timeout=30_000)
    page.goto(live_server.url + "/people")
    page.wait_for_selector(".live-status.ok", timeout=30_000)
    page.evaluate("""() => { window.__seen = []; const el = document.getElementById('live-status');
        new MutationObserver(() => window.__seen.push(el.innerText)).observe(el, {childList: true, characterData: true, subtree: true});
        window.crisisLive.state.socket.io.engine.close(); }""")
    page.wait_for_function("() => window.__seen.includes('RECONNECTING')", timeout=5_000)
    page.wait_for_selector(".live-status.ok", timeout=15_000)  # and it reconnects by itself
    assert set(page.evaluate("() => window.__seen")) <= STATES
    page.close()
