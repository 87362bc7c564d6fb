"""Feed endpoints under /api/v1/feeds: CAP, GDACS and USGS documents in; feed health out.

The endpoints only translate: bytes in, ``crisis.feeds.intake`` does the rest (parse,
store, count, dead-letter), and its outcome is answered:

===========================  ==========================================================
POST /api/v1/feeds/cap       201 an incident created; 200 updated, closed or unchanged;
                             202 accepted and ignored (Test, Ack, ...); 400 unusable
                             document; 422 invalid content; 409 lifecycle conflict;
                             415 not an XML content type; 413 too large
POST /api/v1/feeds/gdacs     200 with the summary; bad items are listed in "rejected"
POST /api/v1/feeds/usgs      and dead-lettered one by one (a partial success is a 200);
                             422 with the same summary when items were sent and every
                             one was refused
GET  /api/v1/feeds           the health of every feed (see ``crisis.feeds.health``)
===========================  ==========================================================

A refusal is answered as every API refusal is: {error, errors: [{field, message}],
dead_letter_id}.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, cast

from flask import Blueprint, Response, current_app, jsonify, request

from crisis.adapters.feed_log import FeedLog
from crisis.api.audit import record_feed_document
from crisis.api.common import ctx, request_detail
from crisis.api.routes import oversize_detail
from crisis.auth import current_principal, require_role
from crisis.domain import access
from crisis.domain.serialize import incident_to_dict
from crisis.feeds.intake import IntakeResult, MessageRejected, ingest
from crisis.views import feed_health_report

log = logging.getLogger(__name__)
feeds_api = Blueprint("feeds", __name__, url_prefix="/api/v1/feeds")

WRITERS = access.WRITERS  # the role tuples live in crisis.domain.access
READERS = access.READERS
CONTENT_TYPES = {
    "cap": ("application/cap+xml", "application/xml", "text/xml"),
    "gdacs": ("application/rss+xml", "application/xml", "text/xml"),
    "usgs": ("application/geo+json", "application/json"),
}


_ctx = ctx


def _feed_of_request() -> str:
    return (request.endpoint or "feeds.unknown").split(".")[-1].removeprefix("post_")


@feeds_api.errorhandler(MessageRejected)
def _rejected(exc: MessageRejected) -> tuple[Response, int]:
    return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=exc.dead_letter_id), exc.status


@feeds_api.errorhandler(413)
def _too_large(exc: Any) -> tuple[Response, int]:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    errors = [{"field": "body", "message": f"the document is larger than the limit of {limit} bytes"}]
    dead = _ctx().feed_log.rejected(_feed_of_request(), errors, b"", oversize_detail())
    return jsonify(error="payload too large", errors=errors, dead_letter_id=dead), 413


def _body(feed: str) -> bytes:
    """The raw document; an explicit non-matching Content-Type is refused (415) and
    dead-lettered. No Content-Type at all is read as the feed's format."""
    body = request.get_data(cache=True)
    mimetype = request.mimetype
    if mimetype and mimetype not in CONTENT_TYPES[feed]:
        errors = [{"field": "Content-Type", "message": f"{mimetype!r} is not accepted here; send one of "
                   f"{', '.join(CONTENT_TYPES[feed])}"}]
        dead = _ctx().feed_log.rejected(feed, errors, body, request_detail())
        raise MessageRejected(errors, "unsupported media type", 415, dead)
    return body


class _FromRequest:
    """The feed log, with who sent the document, from where and how (remote, method, path)
    added to every dead letter the intake writes, as the API's own refusals carry them."""

    def __init__(self, log: FeedLog, origin: dict[str, str]) -> None:
        self._log, self._origin = log, origin

    def rejected(self, feed: str, errors: list[dict[str, Any]], body: bytes | str,
                 detail: dict[str, str] | None = None) -> str:
        return self._log.rejected(feed, errors, body, {**self._origin, **(detail or {})})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def _intake(feed: str) -> IntakeResult:
    body = _body(feed)
    context = replace(_ctx(), feed_log=cast(FeedLog, _FromRequest(_ctx().feed_log, request_detail())))
    try:
        result = ingest(context, feed, body, current_principal().name)
    except (RecursionError, OverflowError, ValueError) as exc:
        # The parsers refuse what they know to be wrong; a document that still breaks one
        # (absurd nesting or numbers) is refused as unusable, kept, and logged to be fixed.
        log.warning("%s document refused by an unexpected %s", feed, type(exc).__name__, exc_info=True)
        errors = [{"field": "document", "message": f"the document could not be read ({type(exc).__name__})"}]
        dead = _ctx().feed_log.rejected(feed, errors, body, request_detail())
        raise MessageRejected(errors, "rejected feed message", 400, dead) from exc
    record_feed_document(result)  # one audit entry per document, with its counts
    return result


@feeds_api.post("/cap")
@require_role(*WRITERS)
def post_cap() -> tuple[Response, int]:
    result = _intake("cap")
    status = 201 if result.created else 200 if (result.updated or result.unchanged) else 202
    body = {**result.to_dict(), "incidents": [incident_to_dict(i) for i in result.incidents]}
    return jsonify(body), status


def _summary(result: IntakeResult) -> tuple[Response, int]:
    """200 with the summary; 422 (the same summary) when items were sent and none was taken
    in, as the CoT and travellers imports answer: a sender must not read "200" as "stored"."""
    return jsonify(result.to_dict()), 422 if result.rejected and not result.accepted else 200


@feeds_api.post("/gdacs")
@require_role(*WRITERS)
def post_gdacs() -> tuple[Response, int]:
    return _summary(_intake("gdacs"))


@feeds_api.post("/usgs")
@require_role(*WRITERS)
def post_usgs() -> tuple[Response, int]:
    return _summary(_intake("usgs"))


@feeds_api.get("")
@require_role(*READERS)
def feed_health_list() -> Response:
    return jsonify(feed_health_report(_ctx(), viewer=current_principal()))  # error texts for duty officers only
