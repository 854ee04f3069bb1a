"""Ingest keeps the good rows, names the bad ones, and adds nothing twice."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from linkgraph.catalogue import Catalogue
from linkgraph.errors import InputError
from linkgraph.ingest import validate_events, validate_roster
from linkgraph.tables import EVENT, ROSTER


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def roster(*rows: dict) -> pa.Table:
    base = {
        "record_id": "HRSS-1", "source": "HRSS", "item_code": "URRP", "name": "王秀英",
        "id_number": "11010519491231002X", "gender": "女", "birth_date": "1949-12-31",
        "phone": None, "address": None, "sscard_no": None, "bank_account": None,
        "enrolled_on": dt.date(2020, 1, 1), "paid_until": dt.date(2026, 12, 1), "monthly_amount": 190,
    }  # fmt: skip
    return pa.Table.from_pylist([base | row for row in rows], schema=ROSTER)


def test_bad_rows_are_named_and_good_rows_go_on(catalogue: Catalogue) -> None:
    batch = roster(
        {"record_id": "HRSS-1"},
        {"record_id": "HRSS-2", "item_code": "NOPE"},
        {"record_id": "HRSS-3", "item_code": "OAA"},  # the civil affairs bureau's item
        {"record_id": "HRSS-4", "monthly_amount": 0},
        {"record_id": "HRSS-5", "name": None, "id_number": None},
        {"record_id": "HRSS-6"},
    )
    result = validate_roster(batch, catalogue, "HRSS.parquet")
    assert result.table["record_id"].to_pylist() == ["HRSS-1", "HRSS-6"]
    assert [str(r) for r in result.rejected] == [
        "HRSS.parquet, row 2 (HRSS-2), field 'item_code': unknown benefit item",
        "HRSS.parquet, row 3 (HRSS-3), field 'item_code': item not administered by this department",
        "HRSS.parquet, row 4 (HRSS-4), field 'monthly_amount': must be a positive amount",
        "HRSS.parquet, row 5 (HRSS-5), field 'name': neither a name nor an ID number: the record names nobody",
    ]


def test_a_resent_record_is_kept_once(catalogue: Catalogue) -> None:
    result = validate_roster(
        roster({"record_id": "HRSS-1"}, {"record_id": "HRSS-1"}), catalogue, "b"
    )
    assert result.table.num_rows == 1 and result.repeated == 1 and not result.rejected


def test_a_missing_column_is_named(catalogue: Catalogue) -> None:
    with pytest.raises(InputError, match=r"missing column.*monthly_amount"):
        validate_roster(roster({}).drop_columns(["monthly_amount"]), catalogue, "b")


def events(*rows: dict) -> pa.Table:
    base = {
        "event_id": 1, "channel": "HOSPITAL_STAY", "occurred_on": dt.date(2026, 3, 1),
        "reported_on": dt.date(2026, 3, 2), "id_number": "11010519491231002X",
        "sscard_no": None, "phone": None, "name": None, "birth_date": None,
    }  # fmt: skip
    return pa.Table.from_pylist([base | row for row in rows], schema=EVENT)


def test_events_need_their_channels_identifier_and_ordered_dates(catalogue: Catalogue) -> None:
    batch = events(
        {"event_id": 1},
        {"event_id": 2, "channel": "BUS_TAP"},  # a bus tap names the card, not the ID number
        {"event_id": 3, "reported_on": dt.date(2026, 2, 1)},
        {"event_id": 4, "channel": "TELEPATHY"},
        {"event_id": 1},  # delivered twice
    )
    result = validate_events(batch, catalogue, "feed")
    assert result.table["event_id"].to_pylist() == [1]
    assert result.repeated == 1
    assert [(r.row, r.field) for r in result.rejected] == [
        (2, "identifier"),
        (3, "reported_on"),
        (4, "channel"),
    ]
