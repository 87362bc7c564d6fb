"""The partial plotly.js bundle is answered at the address Dash gives dcc.Graph, from memory,
to a signed-in page, with an ETag that a browser's revalidation gets a 304 for
(crisis/ui/shell.py)."""

from __future__ import annotations

from crisis.ui import shell
from tests.conftest import LiveServer

PLOTLY_PATH = "/_dash-component-suites/plotly/package_data/plotly.min.js"


def test_the_bundle_is_served_in_place_of_dash_s_and_revalidates(live_server: LiveServer) -> None:
    http = live_server.session()
    first = http.get(live_server.url + PLOTLY_PATH, timeout=30)
    assert first.status_code == 200
    assert first.content == shell.PLOTLY_BUNDLE.read_bytes()
    assert first.headers["Content-Type"].startswith("application/javascript")
    etag = first.headers["ETag"]
    again = http.get(live_server.url + PLOTLY_PATH, headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304 and not again.content
    assert http.get(live_server.url + PLOTLY_PATH, headers={"If-None-Match": '"other"'}, timeout=30).status_code == 200
