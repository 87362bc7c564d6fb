"""What every API blueprint shares: the process's Context, a validated JSON body, a dead letter.

Each blueprint keeps its own error handlers (they name different fields), built on these.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, abort, current_app, jsonify, request
from pydantic import BaseModel, ValidationError

from crisis.auth import current_principal, request_origin
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.errors import InputError
from crisis.feeds.schemas import QUERY_ERROR, field_errors
from crisis.http_safety import load_json, status_for


def ctx() -> Context:
    """The Context of the app serving this request."""
    return current_app.extensions["crisis"]  # type: ignore[no-any-return]


def parse_body(model: type[BaseModel]) -> Any:
    """The request's JSON body (read safely) validated by ``model``; InputError naming
    each wrong field otherwise."""
    data = load_json(request.get_data(cache=True))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None


def endpoint_feed() -> str:
    """The dead-letter feed name of this request: "api:<endpoint function>"."""
    return "api:" + (request.endpoint or "unknown").split(".")[-1]


def request_detail() -> dict[str, str]:
    """What a dead letter keeps of the request: who sent it, from where, and the method and
    path asked (with its query string: a GET's input is there)."""
    return {**request_origin(), "method": request.method, "path": request.full_path.rstrip("?")}


def dead_letter(errors: list[dict[str, Any]], feed: str | None = None) -> str:
    """Keep the refused request's body with what was wrong and ``request_detail``; the dead letter's id."""
    return ctx().feed_log.rejected(feed or endpoint_feed(), errors, request.get_data(cache=True), request_detail())


def refused_input(exc: InputError) -> tuple[Response, int]:
    """An InputError answered and dead-lettered under "api:<endpoint>", keeping the method
    and the path with its query string (for a GET, what was asked is there, not in a body):
    400 for a refused query string (``QUERY_ERROR``), else as ``status_for`` says."""
    dead = ctx().feed_log.rejected(endpoint_feed(), exc.errors, request.get_data(cache=True), request_detail())
    return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=dead), 400 if exc.message == QUERY_ERROR else status_for(exc)


NO_LOOK_UP = ("this display receives no identities, so it may not look a person up by id "
              "(answered the same whether the id exists or not)")


def refuse_person_look_up(field: str = "id") -> None:
    """403, before anything is looked up, for a caller that may not ask for a person (a
    traveller, an officer) by id (``access.may_look_up_person``: a wall): neither the person
    nor whether the id exists is told. ``field`` names the path part or parameter that holds the id."""
    if not access.may_look_up_person(current_principal()):
        response = jsonify(error="forbidden", errors=[{"field": field, "message": NO_LOOK_UP}])
        response.status_code = 403
        abort(response)


def list_order_key() -> bytes:
    """The key of ``access.unlinkable_order`` (lists of people for roles without identities),
    derived from the server's secret: the same on every instance."""
    secret = current_app.secret_key
    seed = secret.encode() if isinstance(secret, str) else bytes(secret or b"")
    return hashlib.blake2b(b"crisis people list order v1", key=seed[:64], digest_size=32).digest()
