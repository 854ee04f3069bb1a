"""``linkgraph seed``: a synthetic city shaped like Bozhou's, with its ground truth.

The product reads ``rosters/`` (one Parquet file per department) and
``events/`` (one per channel). ``truth/`` holds what really happened (who each
record and event belongs to, deaths, planted duplicates, conflicts, rings) and
is read only by evaluations and tests, never by the pipeline.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel

from linkgraph import duck
from linkgraph.catalogue import Catalogue
from linkgraph.synth.config import GeneratorConfig
from linkgraph.synth.events import generate_events
from linkgraph.synth.persons import generate_persons, window_days
from linkgraph.synth.rosters import build_rosters

__all__ = ["CitySummary", "GeneratorConfig", "generate_city"]

Progress = Callable[[str, int], None]


class CitySummary(BaseModel):
    """What a generated city holds: the figures printed after ``linkgraph seed``."""

    seed: int
    persons: int
    months: int
    start_date: str
    end_date: str
    roster_records: int
    records_by_department: dict[str, int]
    events: int
    events_by_channel: dict[str, int]
    situations: dict[str, int]
    paid_after_death_yuan: int


def _write(table: pa.Table, path: Path, as_csv: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    if as_csv:
        pacsv.write_csv(table, path.with_suffix(".csv"))


def _situations(
    persons: pa.Table,
    records: pa.Table,
    record_truth: pa.Table,
    proxy_people: pa.Array,
    catalogue: Catalogue,
) -> pa.Table:
    """Every planted situation as one row: kind, person, records, related persons, money."""
    con = duck.connect()
    con.register("persons", persons)
    con.register("records", records)
    con.register("truth", record_truth)
    con.register("proxy", pa.table({"person_id": proxy_people}))
    con.register(
        "groups",
        pa.table(
            {
                "item_code": [i.code for i in catalogue.benefit_items if i.exclusive_group],
                "exclusive_group": [
                    i.exclusive_group for i in catalogue.benefit_items if i.exclusive_group
                ],
            }
        ),
    )
    return con.sql(SITUATIONS_SQL).to_arrow_table()


SITUATIONS_SQL = """
WITH rec AS (SELECT * FROM records JOIN truth USING (record_id)),
after_death AS (
    SELECT r.person_id, r.record_id, r.monthly_amount,
           date_diff('month', date_trunc('month', p.death_date), r.paid_until) AS months
    FROM rec r JOIN persons p USING (person_id)
    WHERE p.death_date IS NOT NULL
),
conflicts AS (
    SELECT r.person_id, g.exclusive_group, list(o.record_id ORDER BY o.record_id) AS record_ids
    FROM rec r JOIN groups g USING (item_code)
    JOIN rec o ON o.person_id = r.person_id AND o.duplicate_of IS NULL
    JOIN groups og ON og.item_code = o.item_code AND og.exclusive_group = g.exclusive_group
    WHERE r.exclusive_conflict
    GROUP BY r.person_id, g.exclusive_group
)
SELECT 'death' AS kind, person_id, []::VARCHAR[] AS record_ids, []::VARCHAR[] AS related,
       0 AS months, 0::BIGINT AS amount, strftime(death_date, '%Y-%m-%d') AS detail
FROM persons WHERE death_date IS NOT NULL
UNION ALL
SELECT 'paid_after_death', person_id, [record_id], [], months, months * monthly_amount, NULL
FROM after_death WHERE months > 0
UNION ALL
SELECT 'proxy_card_use', person_id, [], [], 0, 0, NULL FROM proxy
UNION ALL
SELECT 'no_trace', person_id, [], [], 0, 0, NULL FROM persons WHERE no_trace
UNION ALL
SELECT 'duplicate_enrolment', person_id, [duplicate_of, record_id], [], 0, 0, item_code
FROM rec WHERE duplicate_of IS NOT NULL
UNION ALL
SELECT 'exclusive_conflict', person_id, record_ids, [], 0, 0, exclusive_group FROM conflicts
UNION ALL
SELECT 'shared_bank_account', person_id, [],
       list(person_id) OVER (
           PARTITION BY ring ORDER BY person_id
           ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
       ), 0, 0, bank_account
FROM persons WHERE ring IS NOT NULL
UNION ALL
SELECT 'twin', person_id, [], [twin_of], 0, 0, NULL FROM persons WHERE twin_of IS NOT NULL
UNION ALL
SELECT 'same_name_neighbour', person_id, [], [namesake_of], 0, 0, name
FROM persons WHERE namesake_of IS NOT NULL
UNION ALL
SELECT 'household_namesake', person_id, [], [household_namesake_of], 0, 0, name
FROM persons WHERE household_namesake_of IS NOT NULL
ORDER BY kind, person_id, record_ids
"""


def generate_city(
    out: Path,
    persons: int,
    months: int = 12,
    seed: int = 1,
    *,
    csv: bool = False,
    catalogue: Catalogue | None = None,
    config: GeneratorConfig | None = None,
    errors: float = 1.0,
    fraud: float = 1.0,
    progress: Progress | None = None,
) -> CitySummary:
    """Write a city of ``persons`` persons observed for ``months`` months under ``out``.

    ``errors`` multiplies the rosters' per-record error rates (``3``: the stress test);
    ``fraud`` the planted irregularities' rates (the default gives Bozhou's few a month).
    The same ``seed`` (and configuration) gives the same files, byte for byte.
    """
    catalogue = catalogue or Catalogue.load()
    config = (config or GeneratorConfig.load()).with_errors(errors).with_fraud(fraud)
    step = progress or (lambda _stage, _n: None)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    if out.exists():
        for part in ("rosters", "events", "truth"):
            shutil.rmtree(out / part, ignore_errors=True)

    people = generate_persons(streams[0], config, catalogue, persons, months)
    step("persons", people.num_rows)
    records, record_truth = build_rosters(streams[1], config, catalogue, people, months)
    for department in sorted(set(records["source"].to_pylist())):
        part = records.filter(pc.equal(records["source"], department))
        _write(part, out / "rosters" / f"{department}.parquet", csv)
    step("roster records", records.num_rows)

    events_by_channel: dict[str, int] = {}
    proxy_people = []
    for channel, feed, truth in generate_events(streams[2], config, catalogue, people, months):
        _write(feed, out / "events" / f"{channel.code}.parquet", csv)
        _write(truth, out / "truth" / "events" / f"{channel.code}.parquet", False)
        events_by_channel[channel.code] = feed.num_rows
        proxy_people.append(truth["person_id"].filter(truth["by_proxy"]).cast(pa.string()))
        step("events", feed.num_rows)

    proxy = pa.concat_arrays([p.combine_chunks() for p in proxy_people]).unique()
    situations = _situations(people, records, record_truth, proxy, catalogue)
    _write(people, out / "truth" / "persons.parquet", False)
    _write(record_truth, out / "truth" / "records.parquet", False)
    _write(situations, out / "truth" / "situations.parquet", False)

    counts = pc.value_counts(situations["kind"]).to_pylist()
    paid = situations.filter(pc.equal(situations["kind"], "paid_after_death"))
    end = config.start_date.toordinal() + window_days(config.start_date, months) - 1
    summary = CitySummary(
        seed=seed,
        persons=persons,
        months=months,
        start_date=config.start_date.isoformat(),
        end_date=type(config.start_date).fromordinal(end).isoformat(),
        roster_records=records.num_rows,
        records_by_department={
            d["values"]: d["counts"] for d in pc.value_counts(records["source"]).to_pylist()
        },
        events=sum(events_by_channel.values()),
        events_by_channel=events_by_channel,
        situations={c["values"]: c["counts"] for c in sorted(counts, key=lambda c: c["values"])},
        paid_after_death_yuan=pc.sum(paid["amount"]).as_py() or 0,
    )
    (out / "manifest.json").write_text(
        json.dumps(summary.model_dump(), ensure_ascii=False, indent=2)
    )
    return summary
