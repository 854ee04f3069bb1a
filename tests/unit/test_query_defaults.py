"""The library's optional dates default to the as-of date of the data served, not to a literal."""

from __future__ import annotations

import datetime as dt

import pytest

from linkgraph.errors import InputError
from linkgraph.graph.queries import QUERIES

AS_OF = dt.date(2025, 3, 31)


def test_dates_left_out_count_from_the_as_of_date() -> None:
    assert QUERIES["no_trace"].bind({}, as_of=AS_OF) == {
        "since": dt.date(2024, 9, 29),
        "until": AS_OF,
    }
    assert QUERIES["certification_coverage"].bind({}, as_of=AS_OF) == {"on": AS_OF}


def test_dates_given_win_and_without_an_as_of_date_they_are_asked_for() -> None:
    given = QUERIES["no_trace"].bind({"since": "2025-01-01"}, as_of=AS_OF)
    assert given == {"since": dt.date(2025, 1, 1), "until": AS_OF}
    with pytest.raises(InputError, match="parameter 'on' is needed"):
        QUERIES["certification_coverage"].bind({})
