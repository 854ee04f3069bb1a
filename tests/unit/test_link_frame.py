"""Prepared fields: which resident IDs count as checksum-valid for the guard rail."""

from __future__ import annotations

import pyarrow as pa

from linkgraph.link.frame import STATUS, prepare
from linkgraph.link.mapping import LinkMapping
from linkgraph.normalise import check_character

BODY = "34160219431231028"
GOOD = BODY + check_character(BODY)


def statuses(values: list[str | None]) -> list[str | None]:
    table = pa.table({"rid": [str(i) for i in range(len(values))], "idn": values})
    mapping = LinkMapping.from_dict({"record_id": "rid", "fields": {"idn": "national_id"}})
    frame = prepare(table, mapping)
    return frame.col("idn" + STATUS).values.to_pylist()


def test_a_verified_check_character_is_valid_however_it_is_spelt() -> None:
    spaced = f" {GOOD[:6]} {GOOD[6:14]} {GOOD[14:].lower()}"
    assert statuses([GOOD, spaced]) == ["valid", "valid"]


def test_a_legacy_15_digit_number_or_a_wrong_digit_is_not_valid() -> None:
    legacy = GOOD[:6] + GOOD[8:17]
    wrong = GOOD[:3] + str((int(GOOD[3]) + 1) % 10) + GOOD[4:]
    out = statuses([legacy, wrong, None])
    assert out[0] != "valid" and out[1] != "valid" and out[2] != "valid"


def test_one_record_is_prepared_exactly_as_in_bulk() -> None:
    from link_city import MAPPING, build_city

    from linkgraph.link.frame import prepare_one

    city = build_city(persons=150, seed=3)
    mapping = LinkMapping.from_dict(MAPPING)
    bulk = prepare(city.table(), mapping)
    for i, record in enumerate(city.records):
        one = prepare_one(record, mapping, bulk.chinese_id)
        for name, column in bulk.columns.items():
            assert one.col(name).values[0].as_py() == column.values[i].as_py(), (name, record)
