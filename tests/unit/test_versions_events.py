"""A version's events file written from sorted parts (Spark's) is the file written from
the whole table (the embedded engine's): one writer, the same file and index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from linkgraph.tables import LINKED_EVENT
from linkgraph.versions import Version, events_of, write_events, write_sorted_events


def _events(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    persons = [None if rng.random() < 0.1 else f"P{rng.integers(0, n // 20):06d}" for _ in range(n)]
    days = pa.array(rng.integers(0, 900, n).astype("datetime64[D]"))
    return pa.table(
        {
            "event_id": rng.integers(0, n // 2, n),  # ids repeat, as across channels
            "channel": [f"C{rng.integers(0, 4)}" for _ in range(n)],
            "occurred_on": days,
            "reported_on": days,
            "person_id": persons,
            "linked_by": ["phone"] * n,
        }
    ).cast(LINKED_EVENT)


def test_sorted_parts_write_the_file_and_index_a_whole_table_writes(tmp_path: Path) -> None:
    events = _events(20_000, 5)
    whole, parts = Version(tmp_path / "whole"), Version(tmp_path / "parts")
    for version in (whole, parts):
        version.path.mkdir()
    write_events(whole, events)
    # the same order, in batches of a few rows: persons straddle batches
    written = events_of(whole)
    assert write_sorted_events(parts, written.to_batches(max_chunksize=333)) == events.num_rows
    assert events_of(parts).equals(written)
    persons = written["person_id"]
    assert persons.null_count == pa.compute.sum(pa.compute.is_null(events["person_id"])).as_py()
    assert persons.slice(persons.length() - persons.null_count).null_count == persons.null_count
    for name in ("event_index.parquet",):
        assert pq.read_table(parts.path / name).equals(pq.read_table(whole.path / name))
    for name in ("event_ids.npy", "event_rows.npy"):
        assert np.array_equal(np.load(parts.path / name), np.load(whole.path / name))
    index = pq.read_table(whole.path / "event_index.parquet").to_pylist()
    for row in index[:50]:
        mine = written.slice(row["offset"], row["n"])["person_id"].to_pylist()
        assert mine == [row["person_id"]] * row["n"]
