"""The batch stages on Apache Spark, behind :class:`linkgraph.pipeline.Engine`.

Where each stage runs:

- ingest: workers, a file each, checked by the core's validators; repeats kept once
  per share of keys;
- normalise: the driver (roster records only);
- link: workers prepare, block, compare, score, find components and apply the guard
  rails; the driver fits the model (EM) and keeps person IDs stable;
- tie evidence to persons: workers, by shares of identifiers
  (:func:`~linkgraph.identity.link_events`);
- certify, recognise, dispatch: workers, by shares of persons
  (:func:`~linkgraph.pipeline.decide`);
- flag: the driver (:func:`~linkgraph.pipeline.decide_flags`: flags compare persons
  with one another);
- the graph's Neo4j import files: numbered and written by the workers
  (:mod:`linkgraph.spark.graph`), from the graph tables the driver builds.

Events stay on Spark from ingest to the core's decisions, and after: the workers write
them sorted by person, in parts, under the version being built, and the driver streams
the parts into the version's events file (:class:`~linkgraph.spark.events.EventsOnSpark`);
the report and the graph read that file. The driver never holds the city's events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from linkgraph import normalise
from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings
from linkgraph.graph import GraphSchema, GraphTables
from linkgraph.identity import locate
from linkgraph.ingest import Ingested
from linkgraph.pipeline import CertificationRun, ledger_rows_unseen
from linkgraph.spark import link as spark_link
from linkgraph.spark.decide import decide_on_spark
from linkgraph.spark.events import EventsOnSpark, link_events_on_spark
from linkgraph.spark.graph import write_import_files
from linkgraph.spark.ingest import EVENTS, FILE, ROSTERS, ROW, Feed, in_read_order, read_on_spark
from linkgraph.spark.session import spark_session
from linkgraph.tables import EVENT, ROSTER
from linkgraph.versions import Version

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass
class SparkEngine:
    spark: SparkSession

    @classmethod
    def of(cls, settings: Settings) -> SparkEngine:
        return cls(spark_session(settings))

    def _read(
        self, directory: Path, catalogue: Catalogue, ledger: pa.Table, feed: Feed, name: str
    ) -> tuple[DataFrame, Ingested]:
        from pyspark.sql import functions as F

        found = read_on_spark(self.spark, directory, catalogue, feed)
        frame = found.frame
        if ledger.num_rows:
            key = "record_id" if name == "records" else "event_id"
            ids = ledger.column(key).to_pylist()
            near = frame.where(F.col(key).isin(ids)).toArrow()
            unseen = ledger_rows_unseen(near, ledger, name).select(feed.schema.names)
            placed = (
                unseen.cast(feed.schema)
                .append_column(FILE, pa.array([2**31 - 1] * unseen.num_rows, pa.int32()))
                .append_column(ROW, pa.array(range(unseen.num_rows), pa.int64()))
            )
            frame = frame.unionByName(self.spark.createDataFrame(placed, frame.schema))
        return frame, Ingested(pa.table({}), found.rejected, found.repeated)

    def read_rosters(self, directory: Path, catalogue: Catalogue, ledger: pa.Table) -> Ingested:
        frame, found = self._read(directory, catalogue, ledger, ROSTERS, "records")
        found.table = in_read_order(frame, ROSTER)
        return found

    def read_events(self, directory: Path, catalogue: Catalogue, ledger: pa.Table) -> Ingested:
        frame, found = self._read(directory, catalogue, ledger, EVENTS, "events")
        found.table = frame.select(*EVENT.names)
        return found

    def rows(self, events: Any) -> int:
        return int(events.count())

    def resolve(
        self, records: pa.Table, mapping: Any, state_dir: Path, catalogue: Catalogue
    ) -> pa.Table:
        districts = locate(normalise.addresses(records["address"]), catalogue)[2]
        return spark_link.resolve(
            self.spark, records, mapping, state_dir=state_dir, districts=districts
        ).persons

    def link_events(self, events: Any, keys: pa.Table, catalogue: Catalogue) -> Any:
        return link_events_on_spark(self.spark, events, keys, catalogue)

    def import_files(
        self, schema: GraphSchema, parts: Iterable[GraphTables], directory: Path
    ) -> tuple[list[tuple[str, list[Path]]], list[tuple[str, list[Path]]]]:
        return write_import_files(self.spark, schema, parts, directory)

    def write_events(self, version: Version, events: EventsOnSpark) -> None:
        events.write(version)

    def decide(self, *args: Any, **kwargs: Any) -> CertificationRun:
        return decide_on_spark(self.spark, *args, **kwargs)
