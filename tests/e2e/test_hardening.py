"""Hostile and loose input, error answers and security headers, over a real server (and
a real browser for the Content-Security-Policy).

Every bad input gets a 4xx JSON answer naming the field, and a dead letter: JSON nested
100,000 deep, numbers of 5,000 digits, strings for numbers, booleans for numbers,
polygons of 100,000 vertices, source names that are not ours to use. No unexpected
error on /api/* or /_dash-* is answered with an HTML page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
from typing import Any

import pytest
import requests

from crisis.adapters import keys
from crisis.feeds.schemas import MAX_AREA_VERTICES
from crisis.http_safety import ContentSecurityPolicy
from tests.conftest import PASSWORD, LiveServer, random_ref

INCIDENT = {"title": "Checkpoint closed", "type": "civil_unrest", "severity": 2, "lat": 33.89, "lon": 35.5}
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
HUGE = "1" * 5_000


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def dead_letter(server: LiveServer, entry_id: str) -> dict[str, str]:
    entries = server.context.redis.xrange(keys.DEADLETTER_STREAM, min=entry_id, max=entry_id)
    assert len(entries) == 1, f"no dead letter {entry_id}"
    return entries[0][1]  # type: ignore[no-any-return]


def refused(answer: requests.Response, status: int | tuple[int, ...], *fields: str) -> dict[str, Any]:
    """A JSON refusal with that status, naming those fields, whose dead letter exists."""
    statuses = (status,) if isinstance(status, int) else status
    assert answer.status_code in statuses, (answer.status_code, answer.text[:500])
    assert answer.headers["Content-Type"].startswith("application/json"), answer.text[:500]
    body = answer.json()
    assert set(body) == {"error", "errors", "dead_letter_id"} and body["dead_letter_id"], body
    named = {e["field"] for e in body["errors"]}
    assert set(fields) <= named, (fields, body["errors"])
    assert all(e["message"] for e in body["errors"])
    return body


@pytest.fixture(scope="module")
def officer(live_server: LiveServer) -> str:
    return live_server.token("duty_officer")


@pytest.fixture(scope="module")
def incident_id(live_server: LiveServer, officer: str) -> str:
    created = requests.post(live_server.url + "/api/v1/incidents", json=INCIDENT, headers=bearer(officer))
    assert created.status_code == 201, created.text
    return created.json()["id"]  # type: ignore[no-any-return]


def _json_writes(server: LiveServer, incident_id: str) -> list[tuple[str, str]]:
    return [
        ("post", "/api/v1/incidents"),
        ("patch", f"/api/v1/incidents/{incident_id}"),
        ("post", "/api/v1/positions"),
        ("post", "/_dash-update-component"),
    ]


def test_json_nested_100000_deep_is_400_and_dead_lettered(live_server: LiveServer, officer: str, incident_id: str) -> None:
    for method, path in _json_writes(live_server, incident_id):
        answer = requests.request(method, live_server.url + path, data=DEEP_ARRAY, headers=bearer(officer), timeout=30)
        body = refused(answer, 400, "body")
        assert "nested" in body["errors"][0]["message"], path
        letter = dead_letter(live_server, body["dead_letter_id"])
        assert letter["body_size"] == str(len(DEEP_ARRAY)) and "nested" in letter["reason"], path
    # Deep inside an otherwise good document too.
    area = {"type": "Polygon", "coordinates": "HOLE"}
    raw = json.dumps({**INCIDENT, "area": area}).replace('"HOLE"', "[" * 500 + "]" * 500)
    refused(requests.post(live_server.url + "/api/v1/incidents", data=raw, headers=bearer(officer)), 400, "body")


def test_numbers_of_5000_digits_are_refused_naming_their_field(live_server: LiveServer, officer: str, incident_id: str) -> None:
    url = live_server.url
    cases = [
        ("post", "/api/v1/incidents", '{"title": "x", "severity": %s, "lat": 1, "lon": 2}' % HUGE, "severity"),
        ("post", "/api/v1/incidents", '{"title": "x", "severity": 2, "lat": 1.%s, "lon": 2}' % HUGE, "lat"),
        ("patch", f"/api/v1/incidents/{incident_id}", '{"severity": %s}' % HUGE, "severity"),
        ("post", "/api/v1/positions", '{"positions": [{"traveller_id": "T1", "lat": 1, "lon": %s}]}' % HUGE, "positions.0.lon"),
        ("post", "/api/v1/positions", '[{"traveller_id": "T1", "lat": 1e999, "lon": 2}]', "0.lat"),
        ("post", "/_dash-update-component",
         '{"output": "x.children", "inputs": [{"id": "x", "property": "n_clicks", "value": %s}]}' % HUGE, "inputs.0.value"),
    ]
    for method, path, raw, field in cases:
        body = refused(requests.request(method, url + path, data=raw, headers=bearer(officer)), 422, field)
        assert "at most 64" in body["errors"][0]["message"] or "range" in body["errors"][0]["message"], body
        assert dead_letter(live_server, body["dead_letter_id"])["body"].startswith(raw[:20])
    stored = live_server.context.deps.incidents.get(incident_id)
    assert stored is not None and stored.severity == INCIDENT["severity"]


def test_hostile_feed_documents_are_refused_and_dead_lettered(live_server: LiveServer) -> None:
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    post = lambda name, data, kind: requests.post(  # noqa: E731
        f"{live_server.url}/api/v1/feeds/{name}", data=data, headers={**feed, "Content-Type": kind}, timeout=60)
    refused(post("usgs", DEEP_ARRAY, "application/geo+json"), 400, "document")
    refused(post("usgs", b'{"type": "FeatureCollection", "features": [' + HUGE.encode() + b"]}", "application/geo+json"), 400)
    # A number too large for a float (a 400-digit integer) in one feature: that feature
    # is refused by name and dead-lettered; the document is answered (422: its only item was refused).
    quake = {"type": "Feature", "id": random_ref("us"), "properties": {"mag": "MAG", "time": 1548806400000},
             "geometry": {"type": "Point", "coordinates": [35.5, 33.9, 10]}}
    collection = json.dumps({"type": "FeatureCollection", "features": [quake]}).replace('"MAG"', "9" * 400)
    answer = post("usgs", collection.encode(), "application/geo+json")
    assert answer.status_code == 422 and answer.headers["Content-Type"].startswith("application/json"), answer.text[:300]
    (item,) = answer.json()["rejected"]
    assert item["field"] == "features[0].properties.mag" and dead_letter(live_server, item["dead_letter_id"])
    deep_xml = b"<a>" * 50_000 + b"</a>" * 50_000
    gdacs = b'<rss version="2.0"><channel><item>' + deep_xml + b"</item></channel></rss>"
    answer = post("gdacs", gdacs, "application/rss+xml")  # its one item is refused, kept whole: nothing taken in
    assert answer.status_code == 422 and answer.headers["Content-Type"].startswith("application/json"), answer.text[:300]
    (item,) = answer.json()["rejected"]
    assert item["field"].startswith("item[0].") and dead_letter(live_server, item["dead_letter_id"])["body_size"] == str(len(gdacs))
    cap = b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' + deep_xml + b"</alert>"
    refused(post("cap", cap, "application/cap+xml"), (400, 422))


def test_a_document_that_breaks_a_parser_is_a_dead_lettered_400(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import crisis.feeds.intake as intake

    def breaks(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(intake, "parse_gdacs", breaks)
    feed = {"Authorization": "Bearer " + live_server.token("feed"), "Content-Type": "application/rss+xml"}
    document = b'<rss version="2.0"><channel><item><title>x</title></item></channel></rss>'
    answer = requests.post(live_server.url + "/api/v1/feeds/gdacs", data=document, headers=feed)
    body = refused(answer, 400, "document")
    assert "recursion" not in answer.text and dead_letter(live_server, body["dead_letter_id"])["body"] == document.decode()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"severity": "3"}, "severity"),
        ({"severity": True}, "severity"),
        ({"severity": 3.0}, "severity"),
        ({"lat": "12.5"}, "lat"),
        ({"lon": False}, "lon"),
        ({"radius_km": "5"}, "radius_km"),
    ],
)
def test_numbers_must_be_numbers(live_server: LiveServer, officer: str, incident_id: str, change: dict[str, Any], field: str) -> None:
    before = live_server.context.redis.xlen(keys.INCIDENT_STREAM)
    body = refused(requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, **change}, headers=bearer(officer)), 422, field)
    assert json.dumps(change)[1:-1] in dead_letter(live_server, body["dead_letter_id"])["body"]
    patch = {**change, **({"lon": 1.0} if field == "lat" else {"lat": 1.0} if field == "lon" else {})}
    refused(requests.patch(f"{live_server.url}/api/v1/incidents/{incident_id}", json=patch, headers=bearer(officer)), 422, field)
    if field in ("lat", "lon"):
        position = {"traveller_id": random_ref("T"), "lat": 1.0, "lon": 2.0, **change}
        refused(requests.post(live_server.url + "/api/v1/positions", json=[position], headers=bearer(officer)), 422, f"0.{field}")
    assert live_server.context.redis.xlen(keys.INCIDENT_STREAM) == before


def test_ints_are_numbers(live_server: LiveServer, officer: str) -> None:
    answer = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "lat": 33, "lon": 35, "radius_km": 4}, headers=bearer(officer))
    assert answer.status_code == 201, answer.text
    assert (answer.json()["lat"], answer.json()["lon"], answer.json()["radius_km"]) == (33.0, 35.0, 4.0)


def _ring(vertices: int) -> list[list[float]]:
    points = [[round(35.5 + 0.5 * math.cos(2 * math.pi * k / (vertices - 1)), 4),
               round(33.9 + 0.5 * math.sin(2 * math.pi * k / (vertices - 1)), 4)] for k in range(vertices - 1)]
    return [*points, points[0]]


def test_a_polygon_of_100000_vertices_is_refused(live_server: LiveServer, officer: str) -> None:
    area = {"type": "Polygon", "coordinates": [_ring(100_000)]}
    before = live_server.context.redis.xlen(keys.INCIDENT_STREAM)
    body = refused(requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "area": area}, headers=bearer(officer), timeout=60), 422, "area")
    assert "100000 vertices" in body["errors"][0]["message"] and f"{MAX_AREA_VERTICES}" in body["errors"][0]["message"]
    assert live_server.context.redis.xlen(keys.INCIDENT_STREAM) == before
    small = {"type": "Polygon", "coordinates": [_ring(500)]}
    assert requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "area": small}, headers=bearer(officer)).status_code == 201


def test_source_names_are_known_feeds_or_the_senders_own(live_server: LiveServer) -> None:
    name = random_ref("nairobi-sso-")
    token = live_server.context.accounts.create_token(name, "feed", None)
    url = live_server.url + "/api/v1/incidents"
    for source in ("crisis:users", "x" * 40, "Evil", "someone-else"):
        body = refused(requests.post(url, json={**INCIDENT, "source": source, "source_id": random_ref()}, headers=bearer(token)), 422, "source")
        assert dead_letter(live_server, body["dead_letter_id"])
    assert not live_server.context.redis.exists(keys.feed_stats("crisis:users"), keys.feed_stats("someone-else"))
    for source in (name, "api"):
        answer = requests.post(url, json={**INCIDENT, "source": source, "source_id": random_ref()}, headers=bearer(token))
        assert answer.status_code == 201 and answer.json()["source"] == source, answer.text
    # A feed's own source is its intake's (tests/e2e/test_input_validation.py): known, and still refused here.
    refused(requests.post(url, json={**INCIDENT, "source": "cap", "source_id": random_ref()}, headers=bearer(token)), 403, "source")
    position = {"traveller_id": random_ref("T"), "lat": 1.0, "lon": 2.0}
    refused(requests.post(live_server.url + "/api/v1/positions", json=[position, {**position, "source": "other-system"}], headers=bearer(token)),
            422, "1.source")
    refused(requests.post(live_server.url + "/api/v1/positions", json={"positions": [{**position, "source": "bad source"}]}, headers=bearer(token)),
            422, "positions.0.source")
    live_server.know([position])
    assert requests.post(live_server.url + "/api/v1/positions", json=[{**position, "source": name}], headers=bearer(token)).status_code == 202


def test_unexpected_errors_are_json_500_without_internals(live_server: LiveServer, officer: str, incident_id: str,
                                                          monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(live_server.context.deps.incidents, "get", boom)
    monkeypatch.setattr(live_server.app.dash, "_initialize_context", boom)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR):
        for method, path, body in (
            ("get", f"/api/v1/incidents/{incident_id}", None),
            ("post", "/_dash-update-component", {"output": "x.children", "inputs": [], "changedPropIds": []}),
        ):
            answer = requests.request(method, live_server.url + path, json=body, headers=bearer(officer))
            assert answer.status_code == 500 and answer.headers["Content-Type"].startswith("application/json"), answer.text[:300]
            assert set(answer.json()) == {"error", "errors"} and answer.json()["errors"][0]["field"]
            assert "secret-internal-detail" not in answer.text and "Traceback" not in answer.text and "RuntimeError" not in answer.text
    logged = [r for r in caplog.records if r.exc_info and "secret-internal-detail" in str(r.exc_info[1])]
    assert len(logged) == 2


def test_http_errors_on_the_api_are_json(live_server: LiveServer, officer: str) -> None:
    for method, path, status in (("get", "/api/v1/no-such-thing", 404), ("delete", "/api/v1/incidents", 405), ("get", "/_dash-nothing-here", 404)):
        answer = requests.request(method, live_server.url + path, headers=bearer(officer))
        assert answer.status_code == status and answer.headers["Content-Type"].startswith("application/json"), (path, answer.text[:200])
        assert answer.json()["errors"][0]["message"]


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _policy(answer: requests.Response) -> dict[str, list[str]]:
    header = answer.headers.get("Content-Security-Policy", "")
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


def test_security_headers_on_every_response(live_server: LiveServer, officer: str) -> None:
    browser = live_server.session()
    answers = {
        "page": browser.get(live_server.url + "/"),
        "login": requests.get(live_server.url + "/login"),
        "asset": browser.get(live_server.url + "/assets/app.css"),
        "layout": browser.get(live_server.url + "/_dash-layout"),
        "api": requests.get(live_server.url + "/api/v1/incidents", headers=bearer(officer)),
        "docs": requests.get(live_server.url + "/api/v1/docs", headers=bearer(officer)),
        "refused": requests.get(live_server.url + "/api/v1/incidents"),
        "redirect": requests.get(live_server.url + "/incidents", allow_redirects=False),
    }
    for what, answer in answers.items():
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (what, name, answer.headers.get(name))
        policy = _policy(answer)
        assert policy["default-src"] == ["'self'"], what
        assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"], what
        assert policy["object-src"] == ["'none'"] and policy["connect-src"][0] == "'self'", what
        script = policy["script-src"]
        assert script[0] == "'self'" and "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, what
        assert all(s == "'self'" or s.startswith("'sha256-") for s in script), (what, script)
        assert "'unsafe-inline'" in policy["style-src"] and "blob:" in policy["worker-src"], what
    for what in ("api", "layout", "refused", "docs"):
        assert answers[what].headers.get("Cache-Control") == "no-store", what
    assert "no-store" not in answers["asset"].headers.get("Cache-Control", ""), "static files stay cacheable"
    # Every inline script the page carries is allowed by its hash, and only by that.
    html = re.sub(r"<!--.*?-->", "", answers["page"].text, flags=re.S)  # Dash's IE notice is in a comment
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", html, re.S)
    assert inline, "Dash's renderer starts from an inline script"
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'" for code in inline}
    assert hashes <= set(_policy(answers["page"])["script-src"])


# --- a real browser under the policy ---------------------------------------------------

COLLECT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
    e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));
"""




@pytest.mark.e2e
def test_pages_run_under_the_content_security_policy(browser: Any, live_server: LiveServer) -> None:
    feed = {"Authorization": "Bearer " + live_server.token("feed")}
    area = {"type": "Polygon", "coordinates": [[[35.1, 33.1], [35.4, 33.1], [35.4, 33.4], [35.1, 33.1]]]}
    posted = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "title": "CSP check", "area": area}, headers=feed).json()
    positions = [{"traveller_id": random_ref("C"), "lat": 33.5 + i / 100, "lon": 35.5} for i in range(20)]
    live_server.know(positions)
    assert requests.post(live_server.url + "/api/v1/positions", json=positions, headers=feed).status_code == 202

    page = browser.new_page(viewport={"width": 1600, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.add_init_script(COLLECT)
    page.goto(live_server.url + "/login")
    page.fill("#username", live_server.user("duty_officer"))
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    try:
        page.wait_for_selector("#live-map .maplibregl-canvas", timeout=30_000)
        page.wait_for_selector(".live-status.ok", timeout=15_000)
        page.wait_for_function(
            "id => { const g = document.querySelector('#live-map .js-plotly-plot');"
            " return g && g.data[1] && Array.from(g.data[1].customdata || []).includes(id); }",
            arg=posted["id"], timeout=15_000,
        )
    except Exception as exc:
        raise AssertionError(f"the live map did not draw: {exc}; violations {page.evaluate('() => window.__csp')}; {problems}") from None
    # The travellers are a MapLibre layer of their own (ADR 004): held by the page, drawn by the map.
    page.wait_for_function("() => window.crisisLive.layer.stats.updates > 0", timeout=15_000)
    drawn = page.evaluate("() => window.crisisLive.state.trav.index.size")
    assert drawn >= 20
    # Drawn by the map: its source holds features (once its worker has tiled the last update).
    page.wait_for_function(
        "() => window.crisisLive.layer.map.querySourceFeatures(window.crisisLive.TRAV_SOURCE).length > 0", timeout=15_000)
    assert page.evaluate("() => document.querySelector('#live-map .maplibregl-canvas').width") > 0
    violations = page.evaluate("() => window.__csp")

    page.click("text=Incident board")  # the board: dash-ag-grid and its value formatters
    page.wait_for_selector(".ag-row", timeout=15_000)
    # Other tests' incidents may fill the grid: bring this one's row into view (rows are virtualised).
    page.wait_for_function(
        "id => { const api = window.dash_ag_grid && dash_ag_grid.getApi('incident-grid');"
        " const node = api && api.getRowNode(id); if (node) api.ensureNodeVisible(node, 'top');"
        " return !!node && document.body.innerText.includes('CSP check'); }",
        arg=posted["id"], timeout=15_000,
    )
    violations += page.evaluate("() => window.__csp")
    page.goto(live_server.url + "/feeds")  # a full load of another page, its grid's formatters too
    page.wait_for_selector(".ag-row", timeout=15_000)
    # dash-ag-grid's {"function": ...} formatters ran (no eval needed): push feeds say "push".
    page.wait_for_function("() => document.querySelector('.ag-root').innerText.includes('push')", timeout=15_000)
    page.wait_for_timeout(1_000)
    violations += page.evaluate("() => window.__csp")
    page.close()
    assert violations == [], violations
    assert problems == [], problems


def test_the_policy_names_online_basemaps_only_when_one_is_set_and_never_a_forged_host() -> None:
    class Dash:
        renderer = "var renderer = new DashRenderer();"
        _inline_scripts: list[str] = []

        def csp_hashes(self) -> list[str]:
            return ["'sha256-abc='"]

    offline = ContentSecurityPolicy(Dash()).header("crisis.example.org:8443")  # type: ignore[arg-type]
    assert "cartocdn" not in offline and "openstreetmap" not in offline
    assert "connect-src 'self' ws://crisis.example.org:8443 wss://crisis.example.org:8443;" in offline
    assert "script-src 'self' 'sha256-abc='" in offline
    online = ContentSecurityPolicy(Dash(), online_map=True).header("localhost")  # type: ignore[arg-type]
    directives = {d.split()[0]: d.split()[1:] for d in online.split("; ")}
    assert "https://tile.openstreetmap.org" in directives["connect-src"] and "https://tile.openstreetmap.org" in directives["img-src"]
    forged = ContentSecurityPolicy(Dash()).header("evil; script-src *")  # type: ignore[arg-type]
    assert "evil" not in forged and "connect-src 'self';" in forged


@pytest.mark.parametrize("trusted", [0, 1])
def test_the_client_address_comes_from_a_proxy_only_when_it_is_trusted(context: Any, trusted: int) -> None:
    """Sign-in limits and the audit key on the client's address: behind a proxy that is
    the X-Forwarded-For it adds, but only with CRISIS_TRUSTED_PROXIES set (anyone can
    send the header)."""
    from dataclasses import replace

    from crisis.adapters.audit import AuditQuery
    from crisis.web import create_app

    settings = context.settings.with_(trusted_proxies=trusted)
    app = create_app(settings, replace(context, settings=settings), start_gateway=False, start_feeds=False)
    answer = app.server.test_client().get("/api/v1/incidents", headers={"X-Forwarded-For": "203.0.113.9"},
                                          environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert answer.status_code == 401
    entries = context.audit.query(AuditQuery(action="access.denied", limit=5))
    assert entries, "the refusal was not audited"
    assert entries[0]["remote"] == ("203.0.113.9" if trusted else "10.1.2.3")
