"""Reading a CSV document the same way in every import (travellers, the roster).

Strictly (``strict=True``): read leniently, a quote left open swallowed every row after it
into one cell, and the importer then named a missing cell rows further on (a traveller's
"agency" three rows below the broken quote); a quoted cell going on after its closing
quote lost the quote silently. Such a document is refused whole, at the row where the
quote is, in words.
"""

from __future__ import annotations

import csv
import io

MALFORMED_CSV = "malformed CSV"  # the document as a whole is unusable (answered 400)

_PROBLEMS = {
    "unexpected end of data": 'a quote (") opened in this row is never closed, so the rest of the document would be one cell',
    "',' expected after '\"'": 'a quoted cell goes on after its closing quote: write a quote inside a quoted cell as ""',
}


def rows(text: str) -> csv.DictReader[str]:
    """The document's rows by its header line (a ``csv.Error`` names what is broken)."""
    return csv.DictReader(io.StringIO(text, newline=""), strict=True)


def problem(exc: csv.Error) -> str:
    """What the csv module's complaint means, in words."""
    said = str(exc)
    return f"{MALFORMED_CSV}: {_PROBLEMS.get(said, said)}"
