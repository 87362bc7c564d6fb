"""The live socket in a real headless Chromium: cross-site hijacking, and the resync
after a reconnect.

Cross-site socket hijacking:

The browser signs in to the app; a page from a second local origin (another port of the
same host: same site, so the browser does send the app's cookies along) loads the
vendored Socket.IO client and connects to the app's /live with credentials. It must get
nothing: no welcome, no snapshot, no positions. The same script run from the app's own
page is the control: there it connects and receives its snapshot.
"""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer, random_ref
from tests.e2e.test_browser import login

ASSETS = Path(__file__).resolve().parents[2] / "assets"

PAGE = """<!doctype html><html><head><title>not the crisis centre</title>
<script src="/socket.io.min.js"></script></head><body>elsewhere</body></html>"""

# Connect to the app's /live as the page's origin, with the browser's cookies; resolve with
# every event seen within a few seconds (or at the first connection error).
ATTEMPT = """([appUrl, transport]) => new Promise(resolve => {
  const seen = [];
  const socket = io(appUrl + "/live", {transports: [transport], withCredentials: true,
                                       reconnection: false, forceNew: true, timeout: 4000});
  const done = () => { socket.close(); resolve(seen); };
  socket.on("connect", () => { seen.push("connect"); socket.emit("sync", {}, () => seen.push("synced")); });
  socket.on("connect_error", err => { seen.push("connect_error: " + err.message); setTimeout(done, 300); });
  for (const name of ["welcome", "snapshot", "positions", "incident", "feeds"]) {
    socket.on(name, msg => seen.push(name + (name === "snapshot" ? ":" + msg.incidents.length : "")));
  }
  setTimeout(done, 5000);
})"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[str]:
    """A tiny static site on another port of 127.0.0.1, serving the page and the client."""
    (tmp_path / "index.html").write_text(PAGE)
    shutil.copy(ASSETS / "00_socket.io.min.js", tmp_path / "socket.io.min.js")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_page_of_another_origin_gets_nothing_from_the_socket(
    browser: object, live_server: LiveServer, other_origin: str, transport: str
) -> None:
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    incident = {"title": f"Visible to the signed-in user {random_ref()}", "type": "crime", "severity": 2,
                "lat": -1.29, "lon": 36.82}
    assert requests.post(live_server.url + "/api/v1/incidents", json=incident, headers=feed, timeout=10).status_code == 201
    app_page = login(browser, live_server)  # signed in: the browser holds the app's cookies
    try:
        # Control: the same script from the app's own origin is let in and gets the picture.
        own = app_page.evaluate(ATTEMPT, [live_server.url, transport])  # type: ignore[attr-defined]
        assert "welcome" in own and any(e.startswith("snapshot:") and e != "snapshot:0" for e in own), own

        # The same browser (same cookie jar) goes to the other origin's page.
        app_page.goto(other_origin + "/index.html")  # type: ignore[attr-defined]
        assert app_page.evaluate("() => typeof io") == "function"  # type: ignore[attr-defined]
        assert app_page.context.cookies(live_server.url), "the browser holds no cookie of the app"  # type: ignore[attr-defined]
        seen = app_page.evaluate(ATTEMPT, [live_server.url, transport])  # type: ignore[attr-defined]
        assert not {"connect", "welcome", "positions", "incident", "feeds", "synced"} & set(seen), seen
        assert not any(e.startswith("snapshot") for e in seen), seen
        assert any(e.startswith("connect_error") for e in seen), seen
    finally:
        app_page.close()  # type: ignore[attr-defined]


def test_after_a_reconnect_the_map_shows_every_traveller_from_only_what_changed(
    browser: object, live_server: LiveServer
) -> None:
    """The page sends its last positions stream id on sync and gets only the positions
    reported while it was away (no full snapshot), merged into what it shows."""
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    ref = random_ref("B")
    first = [{"traveller_id": f"{ref}-{i}", "lat": 10 + i / 100, "lon": 20.0} for i in range(300)]
    live_server.know(first)
    assert requests.post(live_server.url + "/api/v1/positions", json=first, headers=feed, timeout=10).status_code == 202
    page = login(browser, live_server)
    try:
        count = "() => window.crisisLive.state.trav.n"
        drawn = "() => window.crisisLive.layer.stats.points"  # the travellers layer (ADR 004)
        page.wait_for_function(f"n => ({count})() >= n", arg=300, timeout=10_000)  # type: ignore[attr-defined]
        before = page.evaluate(count)  # type: ignore[attr-defined]
        page.evaluate("""() => {
            const s = window.crisisLive.state.socket;
            window.__full = 0;
            s.on("positions", m => { if (m.full) { window.__full += 1; } });
            s.io.reconnection(false);
            s.io.engine.close();
        }""")  # type: ignore[attr-defined]
        page.wait_for_selector(".live-status.down", timeout=5_000)  # type: ignore[attr-defined]
        moved = [{"traveller_id": f"{ref}-0", "lat": -33.0, "lon": 151.0}]
        new = [{"traveller_id": f"{ref}-new-{i}", "lat": 50.0, "lon": i / 10} for i in range(50)]
        live_server.know(new)
        assert requests.post(live_server.url + "/api/v1/positions", json=moved + new, headers=feed,
                             timeout=10).status_code == 202
        page.evaluate("() => window.crisisLive.state.socket.connect()")  # type: ignore[attr-defined]
        page.wait_for_selector(".live-status.ok", timeout=15_000)  # type: ignore[attr-defined]
        page.wait_for_function(f"n => ({count})() >= n && ({drawn})() >= n", arg=before + 50,  # type: ignore[attr-defined]
                               timeout=10_000)
        assert page.evaluate("() => window.__full") == 0  # type: ignore[attr-defined]  # only what changed came
        index = page.evaluate(f"() => window.crisisLive.state.trav.index.get('{ref}-0')")  # type: ignore[attr-defined]
        lat = page.evaluate(f"() => window.crisisLive.state.trav.lat[{index}]")  # type: ignore[attr-defined]
        assert lat == pytest.approx(-33.0)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.close()  # type: ignore[attr-defined]
