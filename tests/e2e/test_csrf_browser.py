"""Cross-site request forgery, tried by a real headless Chromium with two origins.

A duty officer is signed in to the dashboard. A page from another origin, served here by
a tiny HTTP server (once as another port of the same host: same site, so the browser
does send the session cookies; once as ``localhost``: another site), makes the browser
post a JSON-shaped ``text/plain`` form and a ``no-cors`` fetch to the incident API.
Nothing may be stored. The dashboard's own writes (with the CSRF header its pages send)
still work, and its sign-out button ends the session.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from crisis.adapters.audit import AuditQuery
from tests.conftest import PASSWORD, LiveServer, random_ref


ATTACK = """<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="forged" enctype="text/plain" method="post" target="sink" action="{target}/api/v1/incidents">
<input type="hidden" name='{{"title":"{form_title}","type":"other","severity":3,"lat":1.5,"lon":2.5,"description":"' value='"}}'>
</form>
<script>
window.__done = 0;
document.getElementById("sink").addEventListener("load", () => {{ window.__done += 1; }});
document.getElementById("forged").submit();
fetch("{target}/api/v1/incidents", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{title: "{fetch_title}", type: "other", severity: 3, lat: 1.5, lon: 2.5}})}})
  .then(() => {{ window.__done += 1; }}, () => {{ window.__done += 1; }});
</script></body></html>"""




@pytest.fixture
def attacker(live_server: LiveServer) -> Iterator[tuple[int, dict[str, str]]]:
    """The other origin: (its port, the titles its page tries to store)."""
    titles = {"form": random_ref("CSRF form "), "fetch": random_ref("CSRF fetch ")}
    page = ATTACK.format(target=live_server.url, form_title=titles["form"], fetch_title=titles["fetch"]).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], titles
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _sign_in(browser: object, live_server: LiveServer) -> tuple[object, object, str]:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    name = live_server.user("duty_officer")
    page.goto(live_server.url + "/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector(".shell-header", timeout=30_000)
    return context, page, name


def _stored_titles(live_server: LiveServer) -> set[str]:
    return {incident.title for incident in live_server.context.deps.incidents.all()}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["same-site-other-port", "other-site"])
def test_a_page_of_another_origin_cannot_write_with_the_users_session(
    browser: object, live_server: LiveServer, attacker: tuple[int, dict[str, str]], host: str
) -> None:
    port, titles = attacker
    context, page, name = _sign_in(browser, live_server)
    try:
        cookies = {c["name"] for c in context.cookies()}  # type: ignore[attr-defined]
        assert {"session", "remember_token", "_csrf_token"} <= cookies
        denied_before = len(live_server.context.audit.query(AuditQuery(action="access.denied", actor=name)))

        evil = context.new_page()  # type: ignore[attr-defined]
        evil.goto(f"http://{host}:{port}/")
        evil.wait_for_function("() => window.__done >= 2", timeout=15_000)
        evil.wait_for_timeout(300)
        assert not set(titles.values()) & _stored_titles(live_server), "a forged request was stored"
        if host == "127.0.0.1":
            # Same site: the browser did send the session, and the server refused both.
            denied = live_server.context.audit.query(AuditQuery(action="access.denied", actor=name))
            assert len(denied) - denied_before >= 2
            assert all(e["target"] == "/api/v1/incidents" and e["detail"]["status"] == 403 for e in denied[:2])

        # The dashboard's own scripts, with the CSRF header from the cookie, still write.
        own_title = random_ref("Own write ")
        status = page.evaluate(  # type: ignore[attr-defined]
            """async title => {
                const token = document.cookie.split("; ").find(c => c.startsWith("_csrf_token=")).split("=")[1];
                const answer = await fetch("/api/v1/incidents", {method: "POST",
                    headers: {"Content-Type": "application/json", "X-CSRFToken": token},
                    body: JSON.stringify({title, type: "other", severity: 2, lat: 1.5, lon: 2.5})});
                return answer.status;
            }""",
            own_title,
        )
        assert status == 201 and own_title in _stored_titles(live_server)
    finally:
        context.close()  # type: ignore[attr-defined]


def test_the_sign_out_button_ends_the_session(browser: object, live_server: LiveServer) -> None:
    context, page, _ = _sign_in(browser, live_server)
    try:
        cookies = {c["name"]: c["value"] for c in context.cookies()}  # type: ignore[attr-defined]
        page.click("#sign-out")  # type: ignore[attr-defined]
        page.wait_for_url("**/login", timeout=15_000)  # type: ignore[attr-defined]
        replayed = requests.get(live_server.url + "/api/v1/incidents", cookies=cookies, timeout=30)
        assert replayed.status_code == 401
        page.goto(live_server.url + "/incidents")  # type: ignore[attr-defined]
        assert "/login" in page.url  # type: ignore[attr-defined]
    finally:
        context.close()  # type: ignore[attr-defined]
