"""What a Dash callback may take from a request, checked before it is used.

A callback's inputs and states come from the browser, and anyone signed in can post
``/_dash-update-component`` by hand with any JSON in them: a store's ``1`` where a mapping
is expected, a list where a region code is. Used as is, such a value raised deep inside the
callback and Dash answered 500. These helpers give the value when it has the expected shape
and otherwise stop the callback with ``PreventUpdate`` (Dash answers 204: nothing changes),
so a malformed request changes nothing and never fails the server.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from dash.exceptions import PreventUpdate


def refuse(what: str) -> PreventUpdate:
    """The exception that ends a callback given a malformed ``what`` (its text says which)."""
    return PreventUpdate(f"malformed callback input: {what}")


def text(value: Any, what: str, *, optional: bool = True) -> str | None:
    """A string (None when absent and ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise refuse(what)
    return value


def mapping(value: Any, what: str) -> dict[str, Any] | None:
    """A JSON object, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise refuse(what)
    return value


def rows(value: Any, what: str) -> list[dict[str, Any]] | None:
    """A list of JSON objects (a grid's rowData or selectedRows), or None when absent."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise refuse(what)
    return value


def clicks(value: Any, what: str) -> list[Any]:
    """The n_clicks of a pattern group (a list of numbers or None)."""
    if not isinstance(value, list) or not all(c is None or (isinstance(c, int) and not isinstance(c, bool)) for c in value):
        raise refuse(what)
    return value


def code(value: Any, what: str, allowed: Container[str]) -> str | None:
    """One of ``allowed`` (a region, a status...), or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise refuse(what)
    return value
