"""The API description over a real server: a sound OpenAPI 3.1 document that says what
the routes really do (paths, methods, roles, shapes), and the page rendered from it."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

import crisis
from crisis.api.openapi import CAP_EXAMPLE, FIELD_NOTES, INCIDENT_EXAMPLE
from crisis.domain.model import IncidentStatus, IncidentType
from tests.conftest import LiveServer, random_ref

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ROLES = ("admin", "duty_officer", "regional_desk", "wall", "feed", "traveller", "warden")
INCIDENT = {"title": "Checkpoint closed", "type": "civil_unrest", "severity": 2, "lat": 33.89, "lon": 35.5}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def doc(live_server: LiveServer) -> dict[str, Any]:
    answer = requests.get(live_server.url + "/api/v1/openapi.json", headers=bearer(live_server.token("wall")))
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    return answer.json()  # type: ignore[no-any-return]


def _routed(live_server: LiveServer) -> dict[str, set[str]]:
    """Flask's /api/v1 routes as OpenAPI paths -> methods."""
    routes: dict[str, set[str]] = {}
    for rule in live_server.app.server.url_map.iter_rules():  # type: ignore[attr-defined]
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    return routes


def _documented(doc: dict[str, Any]) -> dict[str, set[str]]:
    return {path: {m for m in ops if m in HTTP_METHODS} for path, ops in doc["paths"].items()}


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items() if method in HTTP_METHODS]


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_document_is_openapi_3_1(doc: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert doc["info"]["title"] == "Crisis Coordination Centre API"
    assert doc["info"]["version"] == crisis.__version__
    for words in ("Bearer", "regional_desk", "source_id", "dead"):
        assert words in doc["info"]["description"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"] == {**schemes["cookieAuth"], "type": "apiKey", "in": "cookie", "name": "session"}
    assert {"bearerAuth": []} in doc["security"] and {"cookieAuth": []} in doc["security"]
    tags = {t["name"] for t in doc["tags"]}
    operation_ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(operation_ids) == len(set(operation_ids))
    for path, method, op in _operations(doc):
        where = f"{method.upper()} {path}"
        assert path.startswith("/api/v1/"), where
        assert op["summary"] and op["description"] and set(op["tags"]) <= tags, where
        assert op["x-roles"] and set(op["x-roles"]) <= set(ROLES), where
        assert "401" in op["responses"] and any(code.startswith("2") for code in op["responses"]), where
        for code, response in op["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", code), where
            response = _resolve(doc, response["$ref"]) if "$ref" in response else response
            assert response["description"], where
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), where
        if method in ("post", "patch"):
            assert op["requestBody"]["content"], where
            assert "413" in op["responses"] and {"400", "422"} & set(op["responses"]), where
        if set(op["x-roles"]) != set(ROLES):
            assert "403" in op["responses"], where
    error = doc["components"]["schemas"]["ErrorResponse"]
    assert set(error["properties"]) == {"error", "errors", "dead_letter_id"} and set(error["required"]) == {"error", "errors"}
    assert _resolve(doc, error["properties"]["errors"]["items"]["$ref"])["required"] == ["field", "message"]


def test_every_ref_resolves_inside_the_document(doc: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert len(refs) > 50
    for ref in refs:
        _resolve(doc, ref)
    assert "$defs" not in str(doc), "every $defs must be hoisted into components.schemas"


def test_every_route_is_documented_with_its_methods(doc: dict[str, Any], live_server: LiveServer) -> None:
    """A new /api/v1 endpoint (or method) without a description fails here, and so does
    a description of an endpoint that is gone."""
    routed = _routed(live_server)
    for feed_route in ("/api/v1/feeds", "/api/v1/feeds/cap", "/api/v1/feeds/gdacs", "/api/v1/feeds/usgs"):
        assert feed_route in routed, f"{feed_route} is not routed"
    assert _documented(doc) == routed


def test_documented_roles_are_the_enforced_ones(doc: dict[str, Any], live_server: LiveServer) -> None:
    # A regional desk reads only with its region (without one it is refused everything).
    tokens = {role: live_server.token(role, "africa" if role == "regional_desk" else None) for role in ROLES}
    for path, method, op in _operations(doc):
        url = live_server.url + path.replace("{incident_id}", random_ref("inc-missing-"))
        for role, token in tokens.items():
            answer = requests.request(method, url, data=b"", headers={**bearer(token), "Content-Type": "application/json"})
            if role in op["x-roles"]:
                assert answer.status_code not in (401, 403) and answer.status_code < 500, (method, path, role, answer.status_code)
            else:
                assert answer.status_code == 403, (method, path, role, answer.status_code)
                assert answer.json()["errors"][0]["field"] == "role"
                _conforms(doc, "ErrorResponse", answer.json())


def test_request_schemas_carry_the_real_constraints(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    incident = schemas["IncidentIn"]
    severity = incident["properties"]["severity"]
    assert severity["type"] == "integer" and severity["minimum"] == 1 and severity["maximum"] == 5
    kind = _resolve(doc, incident["properties"]["type"]["$ref"])
    assert kind["enum"] == [t.value for t in IncidentType]
    assert incident["properties"]["type"]["default"] == "other"
    assert set(incident["required"]) == {"title", "severity", "lat", "lon"}
    assert incident["additionalProperties"] is False
    assert incident["properties"]["lat"]["minimum"] == -90 and incident["properties"]["lon"]["maximum"] == 180
    assert incident["properties"]["country"]["anyOf"][0]["pattern"] == "^[A-Za-z]{3}$"
    assert _resolve(doc, schemas["IncidentPatch"]["properties"]["status"]["anyOf"][0]["$ref"])["enum"] == [s.value for s in IncidentStatus]
    assert schemas["PositionBatch"]["properties"]["positions"]["maxItems"] == 10_000
    post = doc["paths"]["/api/v1/incidents"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/IncidentIn"}
    assert set(post["responses"]) == {"200", "201", "400", "401", "403", "409", "413", "422"}
    assert doc["paths"]["/api/v1/incidents/{incident_id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/IncidentPatch")
    cap = doc["paths"]["/api/v1/feeds/cap"]["post"]
    assert "application/xml" in cap["requestBody"]["content"] and {"200", "201", "202", "400", "422"} <= set(cap["responses"])
    for model, notes in FIELD_NOTES.items():
        assert set(notes) <= set(schemas[model]["properties"]), f"notes for fields {model} does not have"
        assert all(schemas[model]["properties"][name]["description"] for name in notes)


def _check(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    """``value`` matches ``schema`` (the JSON Schema subset the document uses). Stricter
    than JSON Schema in one way: an object may only have the keys its schema lists, unless
    it says ``additionalProperties``, so an undocumented key in an answer fails."""
    if "$ref" in schema:
        _check(doc, _resolve(doc, schema["$ref"]), value, where)
        return
    for key in ("anyOf", "oneOf"):
        if key in schema:
            failures = []
            for option in schema[key]:
                try:
                    _check(doc, option, value, where)
                    break
                except AssertionError as exc:
                    failures.append(str(exc))
            else:
                raise AssertionError(f"{where}: matches none of {key}: {failures}")
            return
    assert "const" not in schema or value == schema["const"], f"{where}: {value!r} is not {schema['const']!r}"
    assert "enum" not in schema or value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        missing = set(schema.get("required", [])) - set(value)
        assert not missing, f"{where}: lacks {missing}"
        extra = schema.get("additionalProperties", False)
        for key, item in value.items():
            if key in schema.get("properties", {}):
                _check(doc, schema["properties"][key], item, f"{where}.{key}")
            else:
                assert extra is not False, f"{where}: {key!r} is not documented"
                if isinstance(extra, dict):
                    _check(doc, extra, item, f"{where}.{key}")
    elif kind == "array":
        assert isinstance(value, list), f"{where}: {value!r} is not an array"
        for i, item in enumerate(value):
            _check(doc, schema.get("items", {}), item, f"{where}[{i}]")
    elif kind is not None:
        python = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "null": type(None)}[kind]
        assert isinstance(value, python) and (kind == "boolean" or not isinstance(value, bool)), f"{where}: {value!r} is not {kind}"
        if schema.get("format") == "date-time":
            assert datetime.fromisoformat(value).tzinfo is not None, f"{where}: {value!r} is not an aware date-time"
        assert value is None or not isinstance(value, (int, float)) or schema.get("minimum", value) <= value <= schema.get("maximum", value), where


def _conforms(doc: dict[str, Any], name: str, body: Any) -> None:
    _check(doc, doc["components"]["schemas"][name], body, name)


def test_answers_have_the_documented_shapes(doc: dict[str, Any], live_server: LiveServer) -> None:
    token = live_server.token("duty_officer")
    created = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "source": "api", "source_id": random_ref()}, headers=bearer(token))
    assert created.status_code == 201
    _conforms(doc, "StoredIncident", created.json())
    assert set(created.json()) == set(doc["components"]["schemas"]["StoredIncident"]["properties"])
    incident_id = created.json()["id"]
    patched = requests.patch(f"{live_server.url}/api/v1/incidents/{incident_id}", json={"owner": "j.doe", "note": "on it"}, headers=bearer(token))
    _conforms(doc, "StoredIncident", patched.json())
    detail = requests.get(f"{live_server.url}/api/v1/incidents/{incident_id}", headers=bearer(token)).json()
    _conforms(doc, "IncidentDetail", detail)
    assert [h["kind"] for h in detail["history"]] == ["reported", "updated"]
    _conforms(doc, "IncidentList", requests.get(live_server.url + "/api/v1/incidents", headers=bearer(token)).json())
    live_server.know([{"traveller_id": "T1", "lat": 1.0, "lon": 2.0}])
    accepted = requests.post(live_server.url + "/api/v1/positions", json=[{"traveller_id": "T1", "lat": 1.0, "lon": 2.0}], headers=bearer(token))
    assert accepted.status_code == 202
    _conforms(doc, "PositionsAccepted", accepted.json())
    _conforms(doc, "PositionList", requests.get(live_server.url + "/api/v1/positions", headers=bearer(token)).json())
    wall = bearer(live_server.token("wall"))  # no names: the documented shapes still hold
    wall_positions = requests.get(live_server.url + "/api/v1/positions", headers=wall).json()
    _conforms(doc, "PositionList", wall_positions)
    assert wall_positions["count"] >= 1 and not any("traveller_id" in p for p in wall_positions["positions"])
    wall_detail = requests.get(f"{live_server.url}/api/v1/incidents/{incident_id}", headers=wall).json()
    _conforms(doc, "IncidentDetail", wall_detail)
    assert "owner" not in wall_detail and not any("by" in h for h in wall_detail["history"])
    _conforms(doc, "IncidentList", requests.get(live_server.url + "/api/v1/incidents", headers=wall).json())
    refused = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "severity": 9}, headers=bearer(token))
    assert refused.status_code == 422
    _conforms(doc, "ErrorResponse", refused.json())
    assert refused.json()["dead_letter_id"]
    _conforms(doc, "DeadLetterList", requests.get(live_server.url + "/api/v1/deadletters", headers=bearer(token)).json())
    with pytest.raises(AssertionError, match="not documented"):
        _conforms(doc, "Incident", {**created.json(), "stream_id": "1-0"})


def test_documented_content_types_are_the_accepted_ones(doc: dict[str, Any], live_server: LiveServer) -> None:
    for path, method, op in _operations(doc):
        if "415" not in op["responses"]:
            continue
        token = live_server.token("feed" if "feed" in op["x-roles"] else "duty_officer")  # the officers import: editors
        url = live_server.url + path
        for content_type in op["requestBody"]["content"]:
            answer = requests.request(method, url, data=b"", headers={**bearer(token), "Content-Type": content_type})
            assert answer.status_code == 400, (path, content_type, answer.status_code)
        refused = requests.request(method, url, data=b"x", headers={**bearer(token), "Content-Type": "text/plain"})
        assert refused.status_code == 415, path
        _conforms(doc, "ErrorResponse", refused.json())


def test_the_examples_work_as_documented(doc: dict[str, Any], live_server: LiveServer) -> None:
    token = live_server.token("feed")
    incident = {**INCIDENT_EXAMPLE, "source_id": random_ref()}
    first = requests.post(live_server.url + "/api/v1/incidents", json=incident, headers=bearer(token))
    again = requests.post(live_server.url + "/api/v1/incidents", json=incident, headers=bearer(token))
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    cap = CAP_EXAMPLE.replace("KE-2024-0042", random_ref("KE-")).encode()
    xml = {**bearer(token), "Content-Type": "application/cap+xml"}
    created = requests.post(live_server.url + "/api/v1/feeds/cap", data=cap, headers=xml)
    assert created.status_code == 201, created.text
    _conforms(doc, "CapResult", created.json())
    assert created.json()["incidents"][0]["type"] == "flood"
    repeated = requests.post(live_server.url + "/api/v1/feeds/cap", data=cap, headers=xml)
    assert repeated.status_code == 200 and repeated.json()["incident_ids"] == created.json()["incident_ids"]
    test_message = cap.replace(b"<status>Actual</status>", b"<status>Test</status>").replace(b"KE-", b"TEST-")
    ignored = requests.post(live_server.url + "/api/v1/feeds/cap", data=test_message, headers=xml)
    assert ignored.status_code == 202 and ignored.json()["ignored"] == 1
    _conforms(doc, "CapResult", ignored.json())
    hostile = b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x "x">]><alert>&x;</alert>'
    refused = requests.post(live_server.url + "/api/v1/feeds/cap", data=hostile, headers=xml)
    assert refused.status_code == 400 and refused.json()["dead_letter_id"]
    gdacs = requests.post(live_server.url + "/api/v1/feeds/gdacs", data=(SAMPLES / "gdacs" / "gdacs-rss.xml").read_bytes(), headers={**bearer(token), "Content-Type": "application/rss+xml"})
    assert gdacs.status_code == 200
    _conforms(doc, "FeedSummary", gdacs.json())
    usgs = requests.post(live_server.url + "/api/v1/feeds/usgs", data=(SAMPLES / "usgs" / "all_day_2019-01-30.geojson").read_bytes(), headers={**bearer(token), "Content-Type": "application/geo+json"})
    assert usgs.status_code == 200 and usgs.json()["created"] + usgs.json()["unchanged"] + usgs.json()["updated"] > 0
    _conforms(doc, "FeedSummary", usgs.json())
    health = requests.get(live_server.url + "/api/v1/feeds", headers=bearer(live_server.token("wall"))).json()
    _conforms(doc, "FeedHealthList", health)
    assert health["feeds"]["cap"]["status"] in ("ok", "failing")


def test_both_need_authentication(live_server: LiveServer) -> None:
    for path in ("/api/v1/openapi.json", "/api/v1/docs"):
        anonymous = requests.get(live_server.url + path, allow_redirects=False)
        assert anonymous.status_code == 401, path
        assert "paths" not in anonymous.text and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert set(anonymous.json()) == {"error", "errors"} and anonymous.json()["errors"][0]["field"] == "Authorization"
        wrong = requests.get(live_server.url + path, headers=bearer("not-a-token"))
        assert wrong.status_code == 401, path
    signed_in = live_server.session("regional_desk", "africa").get(live_server.url + "/api/v1/openapi.json")
    assert signed_in.status_code == 200 and signed_in.json()["openapi"].startswith("3.1")


def test_the_page_renders_the_document(live_server: LiveServer) -> None:
    page = live_server.session("wall").get(live_server.url + "/api/v1/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert re.search(r'class="api-method post">POST</span> <code>/api/v1/incidents</code>', html)
    assert re.search(r'class="api-method patch">PATCH</span> <code>/api/v1/incidents/\{incident_id\}</code>', html)
    assert "<code>severity</code>" in html
    severity_row = re.search(r"<tr><td><code>severity</code></td>.*?</tr>", html, re.S)
    assert severity_row and "min 1" in severity_row.group(0) and "max 5" in severity_row.group(0)
    assert "one of: armed_conflict, civil_unrest" in html
    assert "curl -sS -X POST &#39;" + live_server.url + "/api/v1/incidents&#39;" in html
    assert "/api/v1/feeds/cap" in html and "&lt;alert xmlns=" in html
    assert 'href="/assets/app.css"' in html and "<style>" in html
    for link in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert link.startswith(("/", "#")), f"{link}: the page must work offline"
    assert "ErrorResponse" in html and "Roles:" in html
