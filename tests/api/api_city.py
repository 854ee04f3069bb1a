"""TEST/BENCH HELPER ONLY — a small certified city in a graph store, through its public load().

Until the pipeline hands a loaded store over, this builds one from a generated
city's ground truth: persons, enrolments and linked events as the pipeline
would give them, certifications from the events (the latest strong positive
event certifies for 12 months; a death report is a negative finding), a
door-check task for each person without a certification, and a flag for each
duplicate claim. ``spread_certification`` then sets every enrolment's status.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa

from linkgraph.catalogue import Catalogue
from linkgraph.graph import GraphStore, GraphTables, build_graph
from linkgraph.tables import ENROLLMENT, LINKED_EVENT, PERSON, conform

AS_OF = dt.date(2026, 12, 31)
DEATH_CHANNELS = ("DEATH_CERT", "CREMATION", "HUKOU_CANCEL", "VILLAGE_DEATH_REPORT")


def city_graph(city: Path) -> GraphTables:
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
    con.register(
        "channels",
        pa.table(
            {
                "channel": [c.code for c in catalogue.channels],
                "polarity": [str(c.polarity) for c in catalogue.channels],
                "strength": [str(c.strength) for c in catalogue.channels],
            }
        ),
    )
    t = city / "truth"
    persons = con.sql(
        f"""SELECT person_id, name, id_number, birth_date, gender, phone, address, village, grid,
                   district FROM read_parquet('{t}/persons.parquet')"""
    ).to_arrow_table()
    records = con.sql(
        f"SELECT * FROM read_parquet('{city}/rosters/*.parquet') ORDER BY record_id"
    ).to_arrow_table()
    resolution = con.sql(
        f"""SELECT record_id, person_id, 'match' AS band, 1.0::DOUBLE AS match_probability
            FROM read_parquet('{t}/records.parquet') ORDER BY record_id"""
    ).to_arrow_table()
    enrollments = con.sql(
        f"""SELECT r.record_id AS enrollment_id, tr.person_id, r.item_code, i.department,
                   r.enrolled_on, r.paid_until, r.monthly_amount, r.bank_account
            FROM read_parquet('{city}/rosters/*.parquet') r
            JOIN read_parquet('{t}/records.parquet') tr USING (record_id)
            JOIN items i USING (item_code) ORDER BY enrollment_id"""
    ).to_arrow_table()
    events = con.sql(
        f"""SELECT e.event_id, e.channel, e.occurred_on, e.reported_on,
                   CAST(te.person_id AS VARCHAR) AS person_id, 'id_number' AS linked_by
            FROM read_parquet('{city}/events/*.parquet') e
            JOIN read_parquet('{t}/events/*.parquet') te USING (event_id)"""
    ).to_arrow_table()
    con.register("ev", events)
    con.register("persons", persons)
    con.register("enr", enrollments)
    certifications = con.sql(
        f"""
        WITH strong AS (
            SELECT person_id, max(occurred_on) AS day, arg_max(event_id, occurred_on) AS ev
            FROM ev JOIN channels USING (channel)
            WHERE person_id IS NOT NULL AND polarity = 'positive' AND strength = 'strong'
            GROUP BY person_id
        ), death AS (
            SELECT person_id, min(occurred_on) AS day, arg_min(event_id, occurred_on) AS ev
            FROM ev WHERE person_id IS NOT NULL AND channel IN {DEATH_CHANNELS}
            GROUP BY person_id
        )
        SELECT person_id, 'certified' AS status, 'strong' AS method, day AS certified_on,
               (day + INTERVAL 12 MONTH)::DATE AS valid_until, 'S1-strong' AS rule,
               [ev]::BIGINT[] AS evidence_event_ids
        FROM strong WHERE person_id NOT IN (SELECT person_id FROM death)
        UNION ALL
        SELECT person_id, 'deceased', 'none', day, day, 'negative:death', [ev]::BIGINT[]
        FROM death
        """
    ).to_arrow_table()
    con.register("certs", certifications)
    tasks = con.sql(
        """SELECT 'T-' || p.person_id AS task_id, p.person_id, p.grid, 'door_check' AS kind,
                  DATE '2027-01-31' AS due_on, 'open' AS status,
                  'no life trace in the data' AS reason
           FROM persons p
           WHERE p.person_id NOT IN (SELECT person_id FROM certs)
             AND p.person_id IN (SELECT person_id FROM enr)"""
    ).to_arrow_table()
    flags = con.sql(
        """SELECT 'DUP-' || person_id || '-' || item_code AS flag_id, 'duplicate_claim' AS kind,
                  [person_id] AS person_ids, list(enrollment_id ORDER BY enrollment_id)
                  AS enrollment_ids, sum(monthly_amount)::BIGINT AS amount_at_risk,
                  1::BIGINT AS months, 'open' AS status, item_code AS detail
           FROM enr GROUP BY person_id, item_code HAVING count(*) > 1"""
    ).to_arrow_table()
    return build_graph(
        catalogue,
        conform(persons, PERSON, "persons"),
        records,
        resolution,
        conform(enrollments, ENROLLMENT, "enrollments"),
        conform(events, LINKED_EVENT, "events"),
        certifications=certifications,
        tasks=tasks,
        flags=flags,
    )


def load_city(store: GraphStore, city: Path) -> None:
    """Load the city into ``store`` and spread each certification to every enrolment."""
    store.load(city_graph(city))
    store.apply("spread_certification", on=AS_OF)
