"""Evidence tied to persons on Apache Spark: :func:`linkgraph.identity.link_events` on
shares of events and identifier keys.

Events and keys are shared out by the identifier an event carries (its kind and
normalised value), so each share holds every key its events can name; each worker then
runs the one rule for tying evidence to persons, :func:`~linkgraph.identity.link_events`.

The linked events stay on Spark until a version is written: :class:`EventsOnSpark` has
the workers sort them by person and write them in parts, which the driver streams into
the version's events file (it never holds the city's events at once).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from linkgraph.catalogue import Catalogue
from linkgraph.identity import KEYS, event_identifier_keys, key_strings, link_events
from linkgraph.link.blocking import hash_strings
from linkgraph.spark.packing import spark_schema
from linkgraph.tables import EVENT, LINKED_EVENT
from linkgraph.versions import Version, write_sorted_events

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SHARE = "_share"


def _with_share(
    shares: int, keyed: Callable[[pa.Table], pa.Array]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            hashed, present, _ = hash_strings(keyed(table))
            share = (hashed % shares).astype("int32")
            share[~present] = 0  # no identifier: tied to nobody, in any share
            yield from table.append_column(SHARE, pa.array(share, pa.int32())).to_batches()

    return run


def link_events_on_spark(
    spark: SparkSession, events: DataFrame, keys: pa.Table, catalogue: Catalogue
) -> DataFrame:
    """Linked events (:data:`~linkgraph.tables.LINKED_EVENT`) of raw ``events`` (columns of
    :data:`~linkgraph.tables.EVENT`, maybe more) through the identifier ``keys``."""
    shares = int(spark.conf.get("spark.sql.shuffle.partitions") or 8)

    def shared(
        frame: DataFrame, schema: pa.Schema, keyed: Callable[[pa.Table], pa.Array]
    ) -> DataFrame:
        with_share = schema.append(pa.field(SHARE, pa.int32()))
        return frame.select(*schema.names).mapInArrow(
            _with_share(shares, keyed), spark_schema(with_share)
        )

    def link(raw: pa.Table, known: pa.Table) -> pa.Table:
        return link_events(raw.select(EVENT.names), known.select(KEYS.names), catalogue)

    raw = shared(events, EVENT, lambda t: event_identifier_keys(t, catalogue))
    known = shared(spark.createDataFrame(keys.cast(KEYS)), KEYS, key_strings)
    return (
        raw.groupBy(SHARE)
        .cogroup(known.groupBy(SHARE))
        .applyInArrow(link, spark_schema(LINKED_EVENT))
    )


#: where the workers write a run's events, sorted, under the version being built (removed
#: once the driver has streamed them into the version's one events file)
PARTS = "events-parts"


def _file_order() -> list[Any]:
    """The order of the version's events file: by person, events tied to nobody last (the
    channel and event id only make Spark's order of a person's events reproducible)."""
    from pyspark.sql import functions as F

    return [F.col("person_id").asc_nulls_last(), F.col("channel"), F.col("event_id")]


@dataclass
class EventsOnSpark:
    """A run's linked events where Spark keeps them (``frame``: visits' evidence included,
    as :func:`~linkgraph.casework.with_visit_events` adds it), until :meth:`write` puts
    them into a version; ``cached`` is what to let go of then."""

    frame: DataFrame
    cached: DataFrame

    def write(self, version: Version) -> int:
        """The version's events file and index (:func:`~linkgraph.versions.write_events`'s),
        the driver holding no more than a batch of events at a time.

        The workers sort the events by person (a range partitioning: each task's persons
        follow the task's before) and each writes its share as an Arrow file under the
        version; the driver then streams those files, in order, through the one writer,
        :func:`~linkgraph.versions.write_sorted_events`. The version's folder must be one
        every executor writes to and the driver reads (local mode, or a shared file
        system on a cluster). Returns the rows written."""
        folder = version.path / PARTS
        folder.mkdir(parents=True, exist_ok=True)
        try:
            written = (
                self.frame.select(*LINKED_EVENT.names)
                .orderBy(*_file_order())
                .mapInArrow(_part_writer(str(folder)), spark_schema(PART))
                .toArrow()
                .sort_by("part")
            )
            _check_in_order(written)
            paths = [str(folder / _part_name(p)) for p in written["part"].to_pylist()]
            return write_sorted_events(version, _read_parts(paths))
        finally:
            self.cached.unpersist()
            shutil.rmtree(folder, ignore_errors=True)


#: what a task says of the part it wrote: its number, rows, and first and last person
PART = pa.schema(
    [
        ("part", pa.int32()),
        ("rows", pa.int64()),
        ("first_person", pa.string()),
        ("last_person", pa.string()),
        ("unlinked", pa.bool_()),
    ]
)


def _part_name(part: int) -> str:
    return f"part-{part:05d}.arrow"


def _part_writer(folder: str) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A task's sorted events as one Arrow file, named by the task's partition (a retried
    task writes the same file again)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        part = context.partitionId() if context else os.getpid()
        rows, first, last, unlinked = 0, None, None, False
        with (
            pa.OSFile(str(Path(folder) / _part_name(part)), "wb") as sink,
            pa.ipc.new_file(sink, LINKED_EVENT) as writer,
        ):
            for batch in batches:
                if not batch.num_rows:
                    continue
                table = pa.Table.from_batches([batch]).select(LINKED_EVENT.names)
                writer.write_table(table.cast(LINKED_EVENT))
                persons = table["person_id"].drop_null()
                if len(persons):
                    first = persons[0].as_py() if first is None else first
                    last = persons[-1].as_py()
                unlinked = unlinked or table["person_id"].null_count > 0
                rows += table.num_rows
        yield pa.RecordBatch.from_pylist(
            [
                {
                    "part": part,
                    "rows": rows,
                    "first_person": first,
                    "last_person": last,
                    "unlinked": unlinked,
                }
            ],
            PART,
        )

    return run


def _check_in_order(parts: pa.Table) -> None:
    """The parts, in their numbers' order, are the events in the file's order: each part's
    persons after the part's before, events tied to nobody in the last parts only."""
    last: str | None = None
    unlinked = False
    for part in parts.to_pylist():
        if not part["rows"]:
            continue
        if part["first_person"] is not None:
            if unlinked or (last is not None and part["first_person"] < last):
                raise RuntimeError(f"Spark's event parts are out of order at {part}")
            last = part["last_person"]
        unlinked = unlinked or part["unlinked"]


def _read_parts(paths: list[str]) -> Iterator[pa.RecordBatch]:
    """The parts' events a record batch at a time, in order (each file read, not mapped,
    and let go once read)."""
    for path in paths:
        with pa.OSFile(path) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
        os.remove(path)  # read: the disk holds the events once, not twice
