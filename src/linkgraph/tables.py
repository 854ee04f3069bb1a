"""The typed tables that flow between pipeline stages.

ingest → normalise → link → graph → certify → recognise → flag → dispatch: each
stage takes and returns Arrow tables with these schemas, so each stage can be
read, tested and benchmarked alone, and the bulk path stays columnar.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.errors import InputError

STR = pa.string()
DATE = pa.date32()
STR_LIST = pa.list_(pa.string())
INT_LIST = pa.list_(pa.int64())

#: A roster record as its department holds it (``rosters/<DEPT>.parquet``): one enrolment.
ROSTER = pa.schema(
    [
        ("record_id", STR),
        ("source", STR),
        ("item_code", STR),
        ("name", STR),
        ("id_number", STR),
        ("gender", STR),
        ("birth_date", STR),
        ("phone", STR),
        ("address", STR),
        ("sscard_no", STR),
        ("bank_account", STR),
        ("enrolled_on", DATE),
        ("paid_until", DATE),
        ("monthly_amount", pa.int32()),
    ]
)

#: An evidence event as its channel delivers it (``events/<CHANNEL>.parquet``).
EVENT = pa.schema(
    [
        ("event_id", pa.int64()),
        ("channel", STR),
        ("occurred_on", DATE),
        ("reported_on", DATE),
        ("id_number", STR),
        ("sscard_no", STR),
        ("phone", STR),
        ("name", STR),
        ("birth_date", STR),
    ]
)

#: Output of linking: which person each roster record belongs to.
RESOLUTION = pa.schema(
    [
        ("record_id", STR),
        ("person_id", STR),
        ("band", STR),  # match | review | non-match (a singleton)
        ("match_probability", pa.float64()),
    ]
)

#: A resolved person, with canonical values chosen from their records.
PERSON = pa.schema(
    [
        ("person_id", STR),
        ("name", STR),
        ("id_number", STR),
        ("birth_date", DATE),
        ("gender", STR),  # M | F
        ("phone", STR),
        ("address", STR),
        ("village", STR),
        ("grid", STR),
        ("district", STR),
    ]
)

#: An enrolment of a person in a benefit item; its id is the roster record's id.
ENROLLMENT = pa.schema(
    [
        ("enrollment_id", STR),
        ("person_id", STR),
        ("item_code", STR),
        ("department", STR),
        ("enrolled_on", DATE),
        ("paid_until", DATE),
        ("monthly_amount", pa.int32()),
        ("bank_account", STR),
    ]
)

#: An evidence event tied to a person (``person_id`` null when no identifier matched).
LINKED_EVENT = pa.schema(
    [
        ("event_id", pa.int64()),
        ("channel", STR),
        ("occurred_on", DATE),
        ("reported_on", DATE),
        ("person_id", STR),
        ("linked_by", STR),  # id_number | sscard_no | phone | name_dob | null
    ]
)


def event_key(channel: str, event_id: int) -> str:
    """An event's identity across the city: its channel and the channel's own id,
    ``"RAIL:873"`` (two channels may each send an event 873)."""
    return f"{channel}:{event_id}"


def event_keys(events: pa.Table) -> pa.Array:
    """:func:`event_key` of every row of an EVENT or LINKED_EVENT table."""
    return pc.binary_join_element_wise(
        events["channel"], pc.cast(events["event_id"], pa.string()), ":"
    )


def conform(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """Select and cast ``table`` to ``schema``; a missing or mistyped column names itself."""
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise InputError(f"{what}: missing column(s) {', '.join(missing)}")
    columns = []
    for field in schema:
        column = table[field.name]
        try:
            columns.append(column.cast(field.type) if column.type != field.type else column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(
                f"{what}: column {field.name!r} is {column.type}, expected {field.type}: {exc}"
            ) from exc
    return pa.Table.from_arrays(columns, schema=schema)
