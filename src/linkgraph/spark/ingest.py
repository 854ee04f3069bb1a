"""Ingest on Apache Spark: each feed file read and checked on a worker, repeats kept once.

A worker reads one file and runs :func:`~linkgraph.ingest.validate_roster` or
:func:`~linkgraph.ingest.validate_events` on it, as the embedded engine does; the
accepted rows are then shared out by their key and each share keeps the first of each
key (:func:`~linkgraph.ingest.first_of_each`, in file and row order), so a row re-sent
in another file is kept once. Refused rows come back to the driver, named as ever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkgraph.catalogue import Catalogue
from linkgraph.errors import unreadable
from linkgraph.ingest import (
    EVENT_KEYS,
    ROSTER_KEYS,
    Ingested,
    Rejected,
    feed_files,
    first_of_each,
    read_feed,
    validate_events,
    validate_roster,
)
from linkgraph.spark.packing import pack, packed_schema, spark_schema, unpack
from linkgraph.spark.session import fit_partitions
from linkgraph.tables import EVENT, ROSTER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FILE, ROW = "_file", "_row"  # where a row was read: its file's place in the order, its row
ORDER = [(FILE, "ascending"), (ROW, "ascending")]
REFUSAL = pa.schema(
    [
        ("_source", pa.string()),
        ("_row_no", pa.int64()),
        ("_key", pa.string()),
        ("_field", pa.string()),
        ("_reason", pa.string()),
    ]
)
REPEATS = pa.schema([("_repeated", pa.int64())])


@dataclass(frozen=True)
class Feed:
    """A kind of feed: its schema, its check and the key a row is one by."""

    schema: pa.Schema
    validate: Callable[[pa.Table, Catalogue, str], Ingested]
    keys: list[str]

    @property
    def placed(self) -> pa.Schema:
        return self.schema.append(pa.field(FILE, pa.int32())).append(pa.field(ROW, pa.int64()))

    @property
    def packed(self) -> pa.Schema:
        return packed_schema({"rows": self.placed, "refused": REFUSAL, "repeats": REPEATS})


ROSTERS = Feed(ROSTER, validate_roster, ROSTER_KEYS)
EVENTS = Feed(EVENT, validate_events, EVENT_KEYS)


def _repeats(count: int) -> pa.Table:
    return pa.table({"_repeated": pa.array([count], pa.int64())})


def _read_files(
    feed: Feed, catalogue: Catalogue
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for index, path in zip(
                batch.column(FILE).to_pylist(), batch.column("path").to_pylist(), strict=True
            ):
                name = Path(path).name
                checked = feed.validate(read_feed(Path(path)), catalogue, name)
                rows = checked.table.append_column(
                    FILE, pa.array(np.full(checked.table.num_rows, index), pa.int32())
                ).append_column(ROW, pa.array(np.arange(checked.table.num_rows), pa.int64()))
                refused = pa.Table.from_pylist(
                    [
                        {"_source": r.source, "_row_no": r.row, "_key": r.key}
                        | {"_field": r.field, "_reason": r.reason}
                        for r in checked.rejected
                    ],
                    schema=REFUSAL,
                )
                packed = pack(
                    {"rows": rows, "refused": refused, "repeats": _repeats(checked.repeated)},
                    feed.packed,
                )
                yield from packed.to_batches()

    return run


def _keep_first(feed: Feed) -> Callable[[pa.Table], pa.Table]:
    def run(rows: pa.Table) -> pa.Table:
        placed = rows.select(feed.placed.names).cast(feed.placed)
        kept, repeated = first_of_each(placed.sort_by(ORDER), feed.keys)
        return pack({"rows": kept, "repeats": _repeats(repeated)}, feed.packed)

    return run


def _rows_in(path: Path) -> int:
    """A feed file's rows, from Parquet's footer (a CSV's guessed from its size)."""
    if path.suffix == ".parquet":
        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except pa.ArrowInvalid as exc:  # read here first, before any file reaches Spark
            raise unreadable(path, "parquet", exc) from exc
    return path.stat().st_size // 100


@dataclass
class SparkIngested:
    """The accepted rows as a Spark frame (with where each was read), and what was refused
    or repeated."""

    frame: DataFrame
    rejected: list[Rejected]
    repeated: int


def in_read_order(frame: DataFrame, schema: pa.Schema) -> pa.Table:
    """Accepted rows on the driver, in the order the embedded engine reads them (the
    linker numbers records in that order)."""
    return frame.toArrow().sort_by(ORDER).select(schema.names).cast(schema)


def read_on_spark(
    spark: SparkSession, directory: Path, catalogue: Catalogue, feed: Feed
) -> SparkIngested:
    """Every feed file under ``directory``, read, checked and de-duplicated on Spark."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    files = feed_files(directory)
    fit_partitions(spark, sum(_rows_in(f) for f in files))
    listing = spark.createDataFrame(
        pa.table({FILE: pa.array(range(len(files)), pa.int32()), "path": [str(f) for f in files]})
    ).repartition(len(files), FILE)
    schema = spark_schema(feed.packed)
    read = listing.mapInArrow(_read_files(feed, catalogue), schema).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    rows = read.where(F.col("_table") == "rows").select(*feed.placed.names)
    aside = read.where(F.col("_table") != "rows").toArrow()
    refused = unpack(aside, "refused", REFUSAL).to_pylist()
    repeated = int(pc.sum(unpack(aside, "repeats", REPEATS)["_repeated"]).as_py() or 0)
    # a key in two files (a feed re-sent): only such rows go through first_of_each
    again = rows.groupBy(*feed.keys).count().where(F.col("count") > 1).select(*feed.keys)
    if again.isEmpty():
        frame = rows.persist(StorageLevel.MEMORY_AND_DISK)
    else:
        shares = int(spark.conf.get("spark.sql.shuffle.partitions") or 8)
        kept = (
            rows.join(again, feed.keys, "left_semi")
            .groupBy((F.abs(F.xxhash64(*feed.keys)) % shares).alias("_share"))
            .applyInArrow(_keep_first(feed), schema)
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        repeats = kept.where(F.col("_table") == "repeats").select("_repeated").toArrow()
        repeated += int(pc.sum(repeats["_repeated"]).as_py() or 0)
        once = kept.where(F.col("_table") == "rows").select(*feed.placed.names)
        frame = (
            rows.join(again, feed.keys, "left_anti")
            .unionByName(once)
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
    frame.count()
    read.unpersist()
    place = {f.name: i for i, f in enumerate(files)}
    rejected = [
        Rejected(r["_source"], r["_row_no"], r["_key"], r["_field"], r["_reason"])
        for r in sorted(refused, key=lambda r: (place[r["_source"]], r["_row_no"]))
    ]
    return SparkIngested(frame, rejected, repeated)
