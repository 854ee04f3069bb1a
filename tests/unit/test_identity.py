"""Canonical person values: the value most records agree on, ties to the earliest record."""

from __future__ import annotations

import pyarrow as pa

from linkgraph.catalogue import Catalogue
from linkgraph.config import get_settings
from linkgraph.identity import build_persons, normalised_records
from linkgraph.tables import ROSTER


def _records(names: list[str]) -> pa.Table:
    n = len(names)
    rows = {
        "record_id": [f"R{i}" for i in range(n)],
        "source": ["MZJ"] * n,
        "item_code": ["DIBAO"] * n,
        "name": names,
        "id_number": [None] * n,
        "gender": ["女"] * n,
        "birth_date": ["1950-01-01"] * n,
        "phone": [None] * n,
        "address": [None] * n,
        "sscard_no": [None] * n,
        "bank_account": [None] * n,
        "enrolled_on": [None] * n,
        "paid_until": [None] * n,
        "monthly_amount": [100] * n,
    }
    return pa.Table.from_pydict(rows, schema=ROSTER)


def test_a_tied_name_goes_to_the_earliest_record_on_every_run() -> None:
    # Two records say 王芳, two say 王方: a tie, which the earliest record (R0) settles.
    records = _records(["王方", "王芳", "王芳", "王方", "李四", "李四", "李四"])
    resolution = pa.table(
        {
            "record_id": records["record_id"],
            "person_id": ["P1"] * 4 + ["P2"] * 3,
        }
    )
    catalogue = Catalogue(get_settings().catalogue_dir)
    normalised = normalised_records(records)
    names = set()
    for _ in range(5):
        persons = build_persons(normalised, resolution, catalogue)
        names.add(tuple(persons["name"].to_pylist()))
    assert names == {("王方", "李四")}
    reordered = build_persons(
        normalised.take([1, 0, 2, 3, 4, 5, 6]), resolution.take([1, 0, 2, 3, 4, 5, 6]), catalogue
    )
    assert reordered["name"].to_pylist() == ["王方", "李四"]
