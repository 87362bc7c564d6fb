"""Every CSV import reads strictly (crisis/feeds/csv_text.py): a broken quote is refused
whole, at its row, in words, in the travellers' import and the roster's alike."""

from __future__ import annotations

import pytest

from crisis.errors import InputError
from crisis.feeds import roster
from crisis.feeds.csv_text import MALFORMED_CSV

HEADER = "id,name,region,home_name,home_lat,home_lon,home_country,languages,skills"
GOOD = "O1,Jean Dupont,europe_central_asia,Geneva,46.2,6.14,CHE,en;fr,close_protection"


@pytest.mark.parametrize("row,words", [
    ('O2,"Kofi Mensah,africa,Accra,5.6,-0.19,GHA,en,close_protection', 'a quote (") opened in this row is never closed'),
    ('O2,"Kofi "the" Mensah",africa,Accra,5.6,-0.19,GHA,en,close_protection', "a quoted cell goes on after its closing quote"),
])
def test_a_roster_csv_with_a_broken_quote_is_refused_at_its_row(row: str, words: str) -> None:
    document = "\n".join((HEADER, GOOD, row, GOOD.replace("O1", "O3"))) + "\n"
    with pytest.raises(InputError) as caught:
        roster.parse_csv_rows(document)
    [error] = caught.value.errors
    assert caught.value.message == MALFORMED_CSV
    assert error["field"] == "body (row 2)" and error["message"].startswith(f"{MALFORMED_CSV}: {words}"), error


def test_a_quote_written_twice_inside_a_quoted_cell_is_one_quote() -> None:
    document = "\n".join((HEADER, GOOD.replace("Jean Dupont", '"Jean ""JD"" Dupont"'))) + "\n"
    found, rejected, _ = roster.parse_csv_rows(document)
    assert rejected == [] and found[0][1].name == 'Jean "JD" Dupont', (found, rejected)
