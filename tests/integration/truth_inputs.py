"""TEST/BENCH HELPER ONLY — never imported by product code.

Until the linkage pipeline hands over persons, enrollments and linked events, this
builds them from a generated city's ground truth (``truth/``): persons are the true
persons, enrollments are roster records joined to their true person, events are
linked through ``truth/events``. Certification, recognition and flags can then be
measured alone, with linkage taken as perfect.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from linkgraph.catalogue import Catalogue
from linkgraph.tables import ENROLLMENT, LINKED_EVENT, PERSON, conform


def truth_inputs(city: Path) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(persons, enrollments, linked events) of ``city`` as the pipeline would give them."""
    catalogue = Catalogue.load()
    con = duckdb.connect()
    con.register(
        "items",
        pa.table(
            {
                "item_code": [i.code for i in catalogue.benefit_items],
                "department": [i.department for i in catalogue.benefit_items],
            }
        ),
    )
    t = city / "truth"
    persons = con.sql(
        f"""SELECT person_id, name, id_number, birth_date, gender, phone, address, village, grid,
                   district FROM read_parquet('{t}/persons.parquet')"""
    ).to_arrow_table()
    enrollments = con.sql(
        f"""SELECT r.record_id AS enrollment_id, tr.person_id, r.item_code, i.department,
                   r.enrolled_on, r.paid_until, r.monthly_amount, r.bank_account
            FROM read_parquet('{city}/rosters/*.parquet') r
            JOIN read_parquet('{t}/records.parquet') tr USING (record_id)
            JOIN items i USING (item_code)
            ORDER BY enrollment_id"""
    ).to_arrow_table()
    events = con.sql(
        f"""SELECT e.event_id, e.channel, e.occurred_on, e.reported_on,
                   CAST(te.person_id AS VARCHAR) AS person_id, 'truth' AS linked_by
            FROM read_parquet('{city}/events/*.parquet') e
            JOIN read_parquet('{t}/events/*.parquet') te USING (event_id)"""
    ).to_arrow_table()
    return (
        conform(persons, PERSON, "truth persons"),
        conform(enrollments, ENROLLMENT, "truth enrollments"),
        conform(events, LINKED_EVENT, "truth events"),
    )


def write_inputs(city: Path, out: Path | None = None) -> Path:
    """Write the truth-built inputs as ``<city>/linked/{persons,enrollments,events}.parquet``."""
    out = out or city / "linked"
    out.mkdir(parents=True, exist_ok=True)
    for name, table in zip(("persons", "enrollments", "events"), truth_inputs(city), strict=True):
        pq.write_table(table, out / f"{name}.parquet")
    return out
