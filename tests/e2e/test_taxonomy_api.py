"""Incident categories over a real server: the API answers the category and refuses an
unknown type in words; the report form and the board filter offer the grouped list."""

import requests

from crisis.domain import taxonomy
from tests.conftest import LiveServer

INCIDENT = {"title": "Carjacking on the airport road", "severity": 3, "lat": -1.29, "lon": 36.82}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_sub_type_is_answered_with_its_category(live_server: LiveServer) -> None:
    headers = bearer(live_server.token("feed"))
    answer = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "type": "carjacking"}, headers=headers)
    assert answer.status_code == 201
    body = answer.json()
    assert (body["type"], body["category"]) == ("carjacking", "crime")
    reader = bearer(live_server.token("duty_officer"))
    one = requests.get(live_server.url + f"/api/v1/incidents/{body['id']}", headers=reader)
    assert one.status_code == 200 and one.json()["category"] == "crime"
    old = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "type": "hostage"}, headers=headers)
    assert old.status_code == 201 and old.json()["category"] == "hostage_abduction"


def test_an_unknown_type_is_422_listing_the_categories_in_words(live_server: LiveServer) -> None:
    answer = requests.post(live_server.url + "/api/v1/incidents", json={**INCIDENT, "type": "security"},
                           headers=bearer(live_server.token("feed")))
    assert answer.status_code == 422
    error = answer.json()["errors"][0]
    assert error["field"] == "type"
    assert error["message"].startswith('"security" is not an incident type we know')
    assert all(f"{label} (" in error["message"] for label in taxonomy.CATEGORIES.values())


def test_a_mismatched_category_is_422(live_server: LiveServer) -> None:
    answer = requests.post(live_server.url + "/api/v1/incidents",
                           json={**INCIDENT, "type": "riot", "category": "terrorism"},
                           headers=bearer(live_server.token("feed")))
    assert answer.status_code == 422
    assert 'belongs to category "civil_unrest"' in answer.json()["errors"][0]["message"]


def test_the_report_form_and_board_filter_offer_the_grouped_list(live_server: LiveServer) -> None:
    import inspect

    from crisis.ui import ids
    from crisis.ui.components.report_form import report_form
    from crisis.ui.pages.board import _filters  # the page registers once the app exists (live_server)

    def filters() -> object:  # the board's filter row, whatever else the board's owner adds to it
        extra = list(inspect.signature(_filters).parameters)[1:]
        return _filters(None, *[60 for _ in extra])

    def options(tree: object, wanted: str) -> list[dict[str, str]]:
        found = [node for node in _walk(tree) if getattr(node, "id", None) == wanted]
        return list(found[0].options)

    expected = [{"label": c["label"], "value": c["value"]} for c in taxonomy.choices()]
    assert options(report_form(), ids.REPORT_TYPE) == expected
    assert options(filters(), ids.BOARD_FILTER_TYPE) == expected
    labels = [o["label"] for o in expected]
    assert labels.index("Crime - Armed robbery") < labels.index("Civil unrest - Riot") < labels.index("Hazard - Earthquake")


def _walk(node: object):  # type: ignore[no-untyped-def]
    yield node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children] if children is not None else []:
        yield from _walk(child)
