"""Evidence tied to persons on Apache Spark: :func:`linkgraph.identity.link_events` on
shares of events and identifier keys.

Events and keys are shared out by the identifier an event carries (its kind and
normalised value), so each share holds every key its events can name; each worker then
runs the one rule for tying evidence to persons, :func:`~linkgraph.identity.link_events`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from linkgraph.catalogue import Catalogue
from linkgraph.identity import KEYS, event_identifier_keys, key_strings, link_events
from linkgraph.link.blocking import hash_strings
from linkgraph.spark.packing import spark_schema
from linkgraph.tables import EVENT, LINKED_EVENT

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
