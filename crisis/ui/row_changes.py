"""What a live grid is sent when the server re-reads its rows: only what changed (issue 9).

The people and movement grids are re-read when a live message says something changed.
Replacing their ``rowData`` every time re-drew every row, and dash-ag-grid re-applies the
selection Dash last heard of (``selectedRows``) after each update of a grid's rows: a tick
that landed while the rows were re-drawn was undone (CI: "Clicking the checkbox did not
change its state"). So a refresh compares the rows the grid shows (its ``rowData``, which
dash-ag-grid keeps in step after each transaction) with the rows read now, by row id:

- nothing changed: nothing is sent, the grid is not touched;
- otherwise one ``rowTransaction`` that removes, updates and adds rows by id. The rows
  not in it keep their place, their DOM and their tick; an updated row keeps its tick.

Left: after a transaction dash-ag-grid still re-applies ``selectedRows``, so a tick made in
the few milliseconds before Dash heard of it can still be undone when rows really changed
in that instant (measured: 3 of 48 ticks under a change every 250 ms and a refresh every
120 ms; 0 of 48 with refreshes that change nothing, 8 of 48 before).

The rows carry ``rank``, their place in the order the server chose (needs help first), and
the grids sort on it in a hidden column: a transaction keeps that order without a
replacement. Pure functions, no I/O: the page callbacks call them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

RANK = "rank"
# Hidden, sorted after any sort a grid's own columns declare (sortIndex 0).
RANK_COLUMN: dict[str, Any] = {"field": RANK, "hide": True, "sort": "asc", "sortIndex": 1, "suppressColumnsToolPanel": True}


def ranked(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the grid is sent them: each with its place in the server's order, and in
    their JSON form (lists, not tuples), so they compare equal to what the grid hands back."""
    plain: list[dict[str, Any]] = json.loads(json.dumps([{**row, RANK: n} for n, row in enumerate(rows)]))
    return plain


def row_changes(shown: list[dict[str, Any]] | None, rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The transaction that turns the rows a grid shows into ``rows`` (rows identified by
    ``key``, the field of the grid's ``getRowId``), or None when they are the same.
    Applied at once (``async: False``), so the grid's ``rowData`` is current for the next."""
    before = {str(row.get(key)): row for row in shown or [] if isinstance(row, dict) and row.get(key) is not None}
    after = {str(row[key]): row for row in rows}
    remove = [{key: row[key]} for row_id, row in before.items() if row_id not in after]
    update = [row for row_id, row in after.items() if row_id in before and before[row_id] != row]
    add = [row for row_id, row in after.items() if row_id not in before]
    if not (remove or update or add):
        return None
    return {"remove": remove, "update": update, "add": add, "async": False}
