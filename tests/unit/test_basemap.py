"""The offline basemap's data and the map style setting (crisis/layers/map_figure.py,
assets/basemap/, scripts/build_basemap.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import flask
import pytest

from crisis.http_safety import ContentSecurityPolicy, init_http_safety
from crisis.layers.areas import areas_figure
from crisis.layers.map_figure import (
    DETAIL_ZOOM,
    basemap_layers,
    figure_style,
    is_online_style,
    map_figure,
    style_origin,
)

BASEMAP = Path(__file__).resolve().parents[2] / "assets" / "basemap"
STYLE = "https://tiles.example.org:8443/styles/streets/style.json?key=abc"


class _Dash:
    renderer = "var renderer = new DashRenderer();"
    _inline_scripts: ClassVar[list[str]] = []

    def csp_hashes(self) -> list[str]:
        return ["'sha256-abc='"]


def test_the_detail_files_are_there_and_modest() -> None:
    detail = [*(BASEMAP / "detail").glob("*.geojson"), BASEMAP / "places.json"]
    assert sum(p.stat().st_size for p in detail) < 15_000_000
    index = json.loads((BASEMAP / "detail" / "index.json").read_text())
    assert sorted(index["cells"]) == sorted(p.stem for p in (BASEMAP / "detail").glob("*.geojson"))
    lebanon = json.loads((BASEMAP / "detail" / "30_30.geojson").read_text())  # 30-60 E, 30-60 N
    assert {f["properties"]["k"] for f in lebanon["features"]} == {"land", "coast", "border", "admin1"}
    places = json.loads((BASEMAP / "places.json").read_text())["places"]
    beirut = [p for p in places if p[3] == "Beirut"]
    assert beirut and abs(beirut[0][0] - 35.5) < 0.1 and abs(beirut[0][1] - 33.9) < 0.1
    assert [p[2] for p in places] == sorted((p[2] for p in places), reverse=True)  # largest first


def test_the_world_layers_stop_where_the_detail_starts() -> None:
    layers = basemap_layers("white-bg")
    assert [layer["maxzoom"] for layer in layers] == [DETAIL_ZOOM, DETAIL_ZOOM]
    figure = map_figure([])
    assert figure.layout.map.layers[0].maxzoom == DETAIL_ZOOM and figure.layout.map.style == "white-bg"


@pytest.mark.parametrize("style", ["open-street-map", STYLE, "http://10.0.0.5/style.json"])
def test_an_online_style_or_a_style_address_replaces_the_offline_basemap(style: str) -> None:
    assert is_online_style(style) and figure_style(style) == style
    assert basemap_layers(style) == []
    assert map_figure([], style).layout.map.style == style
    assert areas_figure([], datetime.now(UTC), style)["layout"]["map"]["style"] == style


def test_a_style_address_names_its_server_for_the_policy() -> None:
    assert style_origin(STYLE) == "https://tiles.example.org:8443"
    assert style_origin("https://user:pw@Tiles.Example.org/s.json") == "https://tiles.example.org"
    assert style_origin("white-bg") is None and style_origin("open-street-map") is None
    assert not is_online_style("white-bg") and figure_style("anything-else") == "white-bg"


def test_the_policy_allows_the_style_server_only_when_one_is_set() -> None:
    def directives(map_style: str) -> dict[str, list[str]]:
        server = flask.Flask(__name__)
        server.config["CRISIS_MAP_STYLE"] = map_style
        server.add_url_rule("/", "page", lambda: "page")
        init_http_safety(server, _Dash())  # type: ignore[arg-type]
        header = server.test_client().get("/", headers={"Host": "localhost"}).headers["Content-Security-Policy"]
        return {d.split()[0]: d.split()[1:] for d in header.split("; ")}

    online = directives(STYLE)
    assert "https://tiles.example.org:8443" in online["connect-src"] and "https://tiles.example.org:8443" in online["img-src"]
    assert "https://tile.openstreetmap.org" not in online["connect-src"]  # only the configured server
    offline = directives("white-bg")
    assert not any("example.org" in s for s in offline["connect-src"] + offline["img-src"])
    direct = ContentSecurityPolicy(_Dash(), map_origin="https://t.example.org").header("localhost")  # type: ignore[arg-type]
    assert "connect-src 'self' ws://localhost wss://localhost https://t.example.org;" in direct
