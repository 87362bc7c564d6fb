"""A regional desk's map opens on its region (issue 9), in a real headless Chromium;
a duty officer's on the world. The header names the desk's region in words."""

from __future__ import annotations

from typing import Any

from crisis.domain.regions import REGION_BOUNDS, initial_view
from tests.conftest import PASSWORD, LiveServer

MENA = "middle_east_north_africa"


def _open(browser: Any, live_server: LiveServer, role: str, region: str | None = None) -> Any:
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    page.goto(live_server.url + "/")
    page.fill("#username", live_server.user(role, region))
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("#live-map .js-plotly-plot", state="attached", timeout=30_000)
    return page


def _view(page: Any) -> dict[str, Any]:
    """The view the map was given (the figure's layout.map, as Plotly holds it in the page)."""
    page.wait_for_function("() => { const g = document.querySelector('#live-map .js-plotly-plot');"
                           " return g && g.layout && g.layout.map && g.layout.map.center; }", timeout=30_000)
    return page.evaluate(  # type: ignore[no-any-return]
        "() => { const m = document.querySelector('#live-map .js-plotly-plot').layout.map;"
        " return {lat: m.center.lat, lon: m.center.lon, zoom: m.zoom}; }")


def test_a_desk_map_opens_on_its_region_and_a_duty_officer_on_the_world(browser: Any, live_server: LiveServer) -> None:
    desk = _open(browser, live_server, "regional_desk", MENA)
    try:
        view = _view(desk)
        expected = initial_view([MENA])
        assert expected is not None
        west, south, east, north = REGION_BOUNDS[MENA]
        assert west < view["lon"] < east and south < view["lat"] < north, view
        assert abs(view["zoom"] - float(expected["zoom"])) < 0.5, view
        assert "Middle East and North Africa" in desk.inner_text("header")
        assert "middle_east_north_africa" not in desk.inner_text("header")
    finally:
        desk.close()
    duty = _open(browser, live_server, "duty_officer")
    try:
        assert _view(duty)["zoom"] < view["zoom"] - 1
    finally:
        duty.close()
