"""TEST/BENCH HELPER ONLY — a small certified city in a graph store, through its public load().

Persons, enrolments, linked events and the roster records' resolution come from
the city's ground truth (``tests/integration/truth_inputs.py`` and
``graph_city.py``, shared with the integration tests). On top, this adds what the
API needs in the graph until the pipeline hands a loaded store over:
certifications from the events (the latest strong positive event certifies for
12 months; a death report is a negative finding), a door-check task for each
person without a certification, and a flag for each duplicate claim.
``spread_certification`` then sets every enrolment's status.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import duckdb
import pyarrow as pa

INTEGRATION = str(Path(__file__).resolve().parents[1] / "integration")
if INTEGRATION not in sys.path:  # bench/api.py imports this module too
    sys.path.insert(0, INTEGRATION)

from graph_city import truth_records  # noqa: E402
from truth_inputs import truth_inputs  # noqa: E402

from linkgraph.catalogue import Catalogue  # noqa: E402
from linkgraph.graph import GraphStore, GraphTables, build_graph  # noqa: E402

AS_OF = dt.date(2026, 12, 31)
DEATH_CHANNELS = ("DEATH_CERT", "CREMATION", "HUKOU_CANCEL", "VILLAGE_DEATH_REPORT")


def city_graph(city: Path) -> GraphTables:
    catalogue = Catalogue.load()
    persons, enrollments, events = truth_inputs(city)
    records, resolution = truth_records(city)
    con = duckdb.connect()
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
        persons,
        records,
        resolution,
        enrollments,
        events,
        certifications=certifications,
        tasks=tasks,
        flags=flags,
    )


def load_city(store: GraphStore, city: Path) -> None:
    """Load the city into ``store`` and spread each certification to every enrolment."""
    store.load(city_graph(city))
    store.apply("spread_certification", on=AS_OF)
