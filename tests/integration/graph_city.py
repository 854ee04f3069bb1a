"""TEST/BENCH HELPER ONLY — never imported by product code.

Builds the graph of a generated city with linkage taken as perfect: roster
records resolve to their TRUE person (``truth/records.parquet``, band ``match``,
probability 1.0) and persons, enrolments and events come from
``truth_inputs`` (also truth-based). Stands in for the linkage stage until the
pipeline hands its RESOLUTION over; the graph stores are then tested alone.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
from truth_inputs import truth_inputs

from linkgraph.catalogue import Catalogue
from linkgraph.graph import GraphTables, build_graph


def truth_records(city: Path) -> tuple[pa.Table, pa.Table]:
    """(roster records, resolution by truth) of ``city``."""
    con = duckdb.connect()
    records = con.sql(
        f"SELECT * FROM read_parquet('{city}/rosters/*.parquet') ORDER BY record_id"
    ).to_arrow_table()
    resolution = con.sql(
        f"""SELECT record_id, person_id, 'match' AS band, 1.0::DOUBLE AS match_probability
            FROM read_parquet('{city}/truth/records.parquet') ORDER BY record_id"""
    ).to_arrow_table()
    return records, resolution


def truth_graph(city: Path, enrollments: pa.Table | None = None, **extra: pa.Table) -> GraphTables:
    """The graph of ``city`` (linkage by truth); ``enrollments`` replaces the city's (a planted
    case), ``extra`` passes certifications, flags, ..."""
    persons, city_enrollments, events = truth_inputs(city)
    enrollments = city_enrollments if enrollments is None else enrollments
    records, resolution = truth_records(city)
    return build_graph(Catalogue.load(), persons, records, resolution, enrollments, events, **extra)
