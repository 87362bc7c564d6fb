"""crisis/web.py ``closing_bodies``: a response body is closed when the server lets go of it,
even when the server never calls ``close()`` (Werkzeug's, when the client went away
mid-response): a file being sent is closed then, not left to the garbage collector."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path
from typing import Any

from flask import Flask, send_file

from crisis.web import closing_bodies


def _app(path: Path) -> Any:
    app = Flask("closing-test")

    @app.route("/file")
    def file() -> Any:
        return send_file(path, mimetype="application/json")

    app.wsgi_app = closing_bodies(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _call(app: Any) -> Any:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/file", "SERVER_NAME": "x", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": None, "wsgi.errors": None}
    return app.wsgi_app(environ, lambda status, headers, exc_info=None: None)


def test_a_body_the_server_drops_unclosed_closes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "cell.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}' * 1000)
    body = _call(_app(path))
    first = next(iter(body))  # the server began sending, then the client went away
    assert first
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        del body  # released without close(), as Werkzeug does when the connection dropped
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)], [str(w.message) for w in seen]


def test_close_is_passed_on_once(tmp_path: Path) -> None:
    closed: list[int] = []

    class Body(list):  # type: ignore[type-arg]
        def close(self) -> None:
            closed.append(1)

    wrapped = closing_bodies(lambda environ, start_response: Body([b"x"]))({}, None)
    assert list(wrapped) == [b"x"]
    wrapped.close()
    wrapped.close()
    del wrapped
    gc.collect()
    assert closed == [1]
