"""The graph's ``neo4j-admin database import`` files, numbered and written by Spark.

The rows the in-process writer makes (:class:`linkgraph.graph.neo4j_store.ImportFileWriter`)
under the same headers, each label's and type's rows in parts, one per task, beside a
header file. Nothing about the files is written here: each task's rows go through the
core's :func:`~linkgraph.graph.neo4j_store.import_table` and Arrow's CSV writer. What
Spark does is the numbering: a string key's import id is its rank among its label's keys,
found by a distributed sort, and every relationship's ends are mapped to ids by joins
(in process, a label's nodes are numbered in the order they come).

The folder must be one every executor writes to and the Neo4j server reads (a shared
file system on a cluster).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.csv as pacsv

from linkgraph.graph.model import GraphTables, merge
from linkgraph.graph.neo4j_store import import_table
from linkgraph.graph.schema import GraphSchema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: the import id columns a task adds to a label's or type's rows
ID, START, END = "_id", "_start", "_end"
Files = list[tuple[str, list[Path]]]


def write_import_files(
    spark: SparkSession, schema: GraphSchema, parts: Iterable[GraphTables], directory: Path
) -> tuple[Files, Files]:
    """Each non-empty label's and type's import files under ``directory``: ``nodes/<Label>/``
    and ``rels/<TYPE>/``, a ``header.csv`` and one ``part-<task>.csv`` per task.
    Returns the ``(label, files)`` and ``(type, files)`` pairs ``admin_import`` takes.

    The conformed ``parts`` are joined and checked whole first (a key repeated across
    parts, an end node that is not there): a join would drop such a row unsaid."""
    tables = merge(parts).conformed(schema)
    tables.check_references(schema)
    frames = {label: spark.createDataFrame(t) for label, t in tables.nodes.items() if t.num_rows}
    ranks = {
        label: _ranked(frame, schema.node(label).key)
        for label, frame in frames.items()
        if not pa.types.is_integer(tables.nodes[label][schema.node(label).key].type)
    }
    nodes: Files = []
    for label, frame in frames.items():
        ids = _with_id(frame, schema.node(label).key, ranks.get(label), ID)
        files = _written(schema, "node", label, ids, tables.nodes[label], [ID], directory / "nodes")
        nodes.append((label, files))
    rels: Files = []
    for rtype, table in tables.relationships.items():
        if not table.num_rows:
            continue
        rspec = schema.rel(rtype)
        frame = spark.createDataFrame(table)
        frame = _with_id(frame, "start", ranks.get(rspec.start), START)
        frame = _with_id(frame, "end", ranks.get(rspec.end), END)
        files = _written(schema, "rel", rtype, frame, table, [START, END], directory / "rels")
        rels.append((rtype, files))
    for rank in ranks.values():
        rank.unpersist()
    return nodes, rels


def _ranked(frame: DataFrame, key: str) -> DataFrame:
    """``(key, _rank)``: each key's place among the label's keys in byte order.

    A global sort by key, then each row's place inside its sorted part plus the rows of
    the parts before it (the parts' sizes are gathered to the driver, one number each).
    """
    from pyspark.sql import functions as F

    numbered = (
        frame.select(key)
        .orderBy(key)
        .select(
            key,
            F.spark_partition_id().alias("part"),
            F.monotonically_increasing_id().alias("row"),
        )
        .localCheckpoint()  # the parts as counted are the parts numbered
    )
    sizes = {int(part): int(n) for part, n in numbered.groupBy("part").count().collect()}
    before, seen = [], 0
    for part in range(max(sizes, default=-1) + 1):
        before.append(seen)
        seen += sizes.get(part, 0)
    offset = F.element_at(F.array(*[F.lit(n) for n in before or [0]]), F.col("part") + 1)
    # monotonically_increasing_id is the part in the upper 31 bits, the row in the lower 33
    place = F.col("row") - F.shiftleft(F.col("part").cast("long"), 33)
    return numbered.select(key, (offset + place).alias("_rank"))


def _with_id(frame: DataFrame, key: str, ranks: DataFrame | None, name: str) -> DataFrame:
    """``frame`` with column ``name``: the import id of the node whose key is column ``key``."""
    from pyspark.sql import functions as F

    if ranks is None:  # an integer key is its own id
        return frame.withColumn(name, F.col(key).cast("long"))
    found = ranks.select(F.col(ranks.columns[0]).alias(key), F.col("_rank").alias(name))
    return frame.join(found, key)


def _written(
    schema: GraphSchema,
    kind: Literal["node", "rel"],
    name: str,
    frame: DataFrame,
    table: pa.Table,
    ids: list[str],
    directory: Path,
) -> list[Path]:
    """The header file, then each task's part, of one label or type (``table``: its rows
    as the driver has them, whose column order the files keep)."""
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    header = folder / "header.csv"
    no_ids = [pa.array([], pa.int64()) for _ in ids]
    pacsv.write_csv(import_table(schema, kind, name, table.slice(0, 0), no_ids), header)
    writer = _part_writer(schema, kind, name, [*table.column_names, *ids], ids, str(folder))
    written = frame.mapInArrow(writer, "path string").collect()
    return [header, *sorted(Path(row["path"]) for row in written)]


def _part_writer(
    schema: GraphSchema,
    kind: Literal["node", "rel"],
    name: str,
    columns: list[str],
    ids: list[str],
    folder: str,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A task's rows as one headerless CSV part, named by the task's partition (a retried
    task writes the same file again)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        part = context.partitionId() if context else os.getpid()
        path = Path(folder) / f"part-{part:05d}.csv"
        writer = None
        options = pacsv.WriteOptions(include_header=False)
        for batch in batches:
            if not batch.num_rows:
                continue
            table = pa.Table.from_batches([batch]).select(columns)
            rows = import_table(
                schema, kind, name, table.drop_columns(ids), [table.column(i) for i in ids]
            )
            if writer is None:
                writer = pacsv.CSVWriter(str(path), rows.schema, write_options=options)
            writer.write_table(rows)
        if writer is not None:
            writer.close()
            yield pa.RecordBatch.from_pydict({"path": [str(path)]})

    return run
