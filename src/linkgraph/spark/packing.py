"""Several tables through one Spark frame: a worker's function answers one schema, so
tables of different shapes travel as rows of one packed schema and are unpacked after."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

KIND = "_table"


def packed_schema(schemas: dict[str, pa.Schema]) -> pa.Schema:
    """One schema holding several tables' rows: every column of each (a name two tables
    share has one type), and the table a row belongs to."""
    fields: dict[str, pa.Field] = {}
    for schema in schemas.values():
        for f in schema:
            if f.name in fields and fields[f.name].type != f.type:
                raise TypeError(f"column {f.name!r} has two types in the packed tables")
            fields.setdefault(f.name, f.with_nullable(True))
    return pa.schema([*fields.values(), pa.field(KIND, pa.string())])


def pack(tables: dict[str, pa.Table], schema: pa.Schema) -> pa.Table:
    """Several tables as rows of one ``schema`` (see :func:`packed_schema`)."""
    parts = []
    for name, table in tables.items():
        columns = {
            f.name: table.column(f.name)
            if f.name in table.column_names
            else pa.nulls(len(table), f.type)
            for f in schema
            if f.name != KIND
        }
        columns[KIND] = pa.array([name] * table.num_rows, pa.string())
        parts.append(pa.table(columns).cast(schema))
    return pa.concat_tables(parts)


def unpack(packed: pa.Table, name: str, schema: pa.Schema) -> pa.Table:
    """The rows of table ``name`` in a packed table, in its own schema."""
    rows = packed.filter(pc.equal(packed.column(KIND), name))
    return rows.select(schema.names).cast(schema)


def spark_schema(schema: pa.Schema) -> StructType:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)
