"""The standby roster and surge dispatch API (issue 8): filled in by crisis/api/roster.py's owner."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

roster_api = Blueprint("roster", __name__, url_prefix="/api/v1")

OPENAPI_TAGS: tuple[dict[str, str], ...] = ()
OPENAPI_REQUEST_MODELS: tuple[Any, ...] = ()
OPENAPI_RESPONSE_MODELS: tuple[Any, ...] = ()


def openapi_operations() -> list[Any]:
    return []
