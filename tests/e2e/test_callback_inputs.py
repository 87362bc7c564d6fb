"""A Dash callback posted by hand with malformed inputs answers "nothing to change" (204,
crisis.ui.callback_inputs) or says what was wrong, never 500: a store's 1 where a mapping is
expected, a list where a region code is, a string where a point is."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from crisis.bootstrap import Context
from tests.conftest import LiveServer


def post_callback(http: requests.Session, live_server: LiveServer, output: str, values: dict[str, Any],
                  changed: str) -> requests.Response:
    """Post the callback whose output names ``output``, its inputs and states from ``values``
    ("component.property" -> value; absent: None), as triggered by ``changed``."""
    callbacks = http.get(live_server.url + "/_dash-dependencies", timeout=30).json()
    wanted = next(c for c in callbacks if output in c["output"] and any(
        f"{i['id']}.{i['property']}" == changed for i in c["inputs"]))
    outputs = []
    for name in wanted["output"].strip(".").split("..."):
        component, _, prop = name.split("@")[0].rpartition(".")
        outputs.append({"id": component, "property": prop})

    def item(dep: dict[str, Any]) -> dict[str, Any]:
        return {"id": dep["id"], "property": dep["property"], "value": values.get(f"{dep['id']}.{dep['property']}")}

    body = {"output": wanted["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [item(i) for i in wanted["inputs"]], "state": [item(s) for s in wanted["state"]],
            "changedPropIds": [changed]}
    return http.post(live_server.url + "/_dash-update-component", data=json.dumps(body),
                     headers={"Content-Type": "application/json"}, timeout=30)


def _incident(live_server: LiveServer) -> str:
    body = {"title": "Riot at the market", "type": "riot", "severity": 3, "lat": 10.0, "lon": 10.0}
    posted = requests.post(live_server.url + "/api/v1/incidents", json=body,
                           headers={"Authorization": "Bearer " + live_server.token("duty_officer")}, timeout=30)
    assert posted.status_code == 201, posted.text
    return str(posted.json()["id"])


SOUTH = {"type": "Polygon", "coordinates": [[[35.1, 33.0], [35.9, 33.0], [35.9, 33.5], [35.1, 33.5], [35.1, 33.0]]]}

MALFORMED = [
    # (output, the trigger, its value, the other inputs and states)
    ("incident-detail-facts.children", "incident-detail-signal.data", 1, {"detail-incident.data": "inc-x"}),
    ("incident-detail-facts.children", "incident-detail-signal.data", {"id": "x"}, {"detail-incident.data": ["x"]}),
    ("areas-grid.rowTransaction", "areas-filter-region.value", ["africa"], {}),
    ("areas-grid.rowTransaction", "areas-filter-region.value", 7, {}),
    ("areas-grid.rowTransaction", "areas-selected.data", {"id": 1}, {}),
    ("areas-grid.rowTransaction", "areas-live.data", 1, {"areas-grid.rowData": "none"}),
    ("report-result.children", "report-submit.n_clicks", 1, {"report-click.data": "notadict"}),
    ("people-grid.rowTransaction", "people-live.data", "soon", {"people-incident.data": "inc-x"}),
    ("incident-coming.children", "incident-coming-live.data", 5, {"incident-coming-id.data": "inc-x"}),
    ("roll-incidents.rowTransaction", "roll-unaffected.value", "all", {}),
    ("roll-incidents.rowTransaction", "roll-unaffected.value", [1], {}),
    ("roll-incidents.rowTransaction", "roll-live.data", 1, {"roll-incidents.rowData": "none"}),
]


@pytest.mark.parametrize("output,trigger,value,others", MALFORMED)
def test_a_malformed_callback_input_is_refused_not_a_500(context: Context, live_server: LiveServer, output: str,
                                                         trigger: str, value: Any, others: dict[str, Any]) -> None:
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "South", "phase": 1, "geometry": SOUTH},
                         headers={"Authorization": "Bearer " + live_server.token("duty_officer")}, timeout=30)
    assert area.status_code == 201, area.text  # (an area to filter: the region is then used)
    http = live_server.session("duty_officer")
    answer = post_callback(http, live_server, output, {trigger: value, **others}, trigger)
    assert answer.status_code in (200, 204), (answer.status_code, answer.text[:500])
    if output == "report-result.children":
        assert answer.status_code == 200 and "Not reported: the place is not a point" in answer.text, answer.text


def test_well_formed_inputs_still_work(context: Context, live_server: LiveServer) -> None:
    incident = _incident(live_server)
    http = live_server.session("duty_officer")
    answer = post_callback(http, live_server, "incident-detail-facts.children",
                           {"incident-detail-signal.data": {"id": incident}, "detail-incident.data": incident},
                           "incident-detail-signal.data")
    assert answer.status_code == 200 and "Riot at the market" in answer.text, answer.text[:300]
    answer = post_callback(http, live_server, "areas-grid.rowTransaction", {"areas-filter-region.value": "africa"},
                           "areas-filter-region.value")
    assert answer.status_code == 200, answer.text[:300]
