"""What a live grid is sent when its rows are re-read (crisis.ui.row_changes): nothing when
nothing changed, else the rows removed, updated and added by id, in the server's order."""

from __future__ import annotations

from crisis.ui.row_changes import RANK, ranked, row_changes


def test_nothing_is_sent_when_the_grid_already_shows_the_rows() -> None:
    rows = ranked([{"id": "a", "n": 1, "where": (1.5, 2)}, {"id": "b", "n": 2, "where": None}])
    shown = [{"id": "b", "n": 2, "where": None, RANK: 1}, {"id": "a", "n": 1.0, "where": [1.5, 2], RANK: 0}]  # as the grid hands back
    assert row_changes(shown, rows, "id") is None


def test_only_the_changed_rows_are_sent_by_id() -> None:
    shown = ranked([{"id": "a", "n": 1}, {"id": "b", "n": 2}, {"id": "c", "n": 3}])
    rows = ranked([{"id": "b", "n": 5}, {"id": "a", "n": 1}, {"id": "d", "n": 4}])
    change = row_changes(shown, rows, "id")
    assert change == {"remove": [{"id": "c"}], "update": [{"id": "b", "n": 5, RANK: 0}, {"id": "a", "n": 1, RANK: 1}],
                      "add": [{"id": "d", "n": 4, RANK: 2}], "async": False}


def test_a_grid_with_no_rows_yet_gets_them_all_added() -> None:
    rows = ranked([{"traveller_id": "LB0"}, {"traveller_id": "LB2"}])
    assert row_changes(None, rows, "traveller_id") == {"remove": [], "update": [], "add": rows, "async": False}
    assert row_changes(rows, [], "traveller_id") == {"remove": [{"traveller_id": "LB0"}, {"traveller_id": "LB2"}],
                                                     "update": [], "add": [], "async": False}
