"""The exceptions the product raises on purpose, in one tree.

CrisisError
 +-- InputError        rejected input: carries a list of {field, message}
 |    +-- FeedError    a feed message that could not be parsed (XML, GeoJSON, RSS)
 +-- NotFound          no such incident, traveller, user or token
 +-- Conflict          a change the rules do not allow (e.g. a lifecycle transition)
 +-- StorageError      Redis refused or could not be reached
"""

from __future__ import annotations

from typing import Any


class CrisisError(Exception):
    """Base of every error the product raises on purpose."""


class InputError(CrisisError):
    def __init__(self, errors: list[dict[str, Any]], message: str = "invalid input") -> None:
        super().__init__(message + ": " + "; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors
        self.message = message


class FeedError(InputError):
    """A feed document that is malformed, hostile or not in the expected format."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__([{"field": field, "message": message}], "rejected feed message")


class DocumentTooLarge(FeedError):
    """A feed document over the size its parser reads (answered 413, as an HTTP body over the limit)."""


class NotFound(CrisisError):
    pass


class Conflict(CrisisError):
    pass


class StorageError(CrisisError):
    pass
